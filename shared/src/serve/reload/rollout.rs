//! EventBridge events: the `Scheduled Event` that advances staged rollouts (every minute in
//! template.yaml) and the `CloudWatch Alarm State Change` of the candidate alarms. The
//! decisions are [`crate::registry::rollout`]'s; this adapter parses the event, picks the
//! items it concerns and writes each change conditionally (see `RegistryTable::update`).

use super::ReloadApp;
use crate::aws::{RegistryError, Updated};
use crate::registry::rollout::{current_rollout, AlarmEffect};
use crate::registry::{
    metric, now_rfc3339, on_alarm, rfc3339, tick, AdminError, AlarmChange, AlarmScope, AlarmState,
    RegistryItem,
};
use aws_lambda_events::cloudwatch_alarms::{CloudWatchAlarmData, CloudWatchAlarmStateValue};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::{json, Value};

/// EventBridge's `detail-type` of a schedule (EventBridge rules and EventBridge Scheduler).
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
/// EventBridge's `detail-type` of a CloudWatch alarm state change.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";

/// The alarm's `detail`: the same `alarmName`/`state`/`previousState`/`configuration` as the
/// Lambda alarm-action payload's `alarmData`, so the crate's type is reused. `configuration`
/// stays JSON because a metric-math alarm lists expression entries without `metricStat`,
/// which `CloudWatchMetricAlarmConfiguration` requires.
type AlarmEvent = EventBridgeEvent<CloudWatchAlarmData<Value, Value>>;

/// A `chrono` instant of the event types in the registry's timestamp format (a macro, so this
/// crate need not name `chrono`).
macro_rules! stamp {
    ($t:expr) => {{
        let t = $t;
        rfc3339(t.timestamp(), t.timestamp_subsec_millis())
    }};
}

/// What the alarm's metrics say about its scope: the `Function`, `Model` and `Variant`
/// dimensions of any of its metrics (metric-math alarms list several).
pub fn alarm_scope(configuration: &Value) -> AlarmScope {
    let mut scope = AlarmScope::default();
    let metrics = configuration["metrics"].as_array().into_iter().flatten();
    for m in metrics {
        let dims = &m["metricStat"]["metric"]["dimensions"];
        let dim = |name: &str| dims[name].as_str().map(str::to_string);
        if dim("Variant").as_deref() == Some("candidate") {
            scope.candidate = true;
        }
        scope.function = scope.function.or_else(|| dim("Function"));
        scope.model = scope.model.or_else(|| dim("Model"));
    }
    scope
}

/// Per model: what happened.
fn model_outcome(model: &str, outcome: &str, summary: &str, revision: Option<u64>) -> Value {
    json!({"model": model, "outcome": outcome, "summary": summary, "revision": revision})
}

impl ReloadApp {
    /// An EventBridge event: a tick or an alarm state change; anything else is refused as an
    /// answer. `Err` (an invocation error, retried by Lambda) only when the registry cannot
    /// be read or written.
    pub(super) async fn handle_eventbridge(&self, payload: Value) -> Result<Value, String> {
        let detail_type = payload["detail-type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match detail_type.as_str() {
            SCHEDULED_EVENT => match serde_json::from_value::<EventBridgeEvent<Value>>(payload) {
                Ok(e) => {
                    let now = e.time.as_ref().map_or_else(now_rfc3339, |t| stamp!(t));
                    self.tick(&now).await
                }
                Err(e) => Ok(invalid(format!("not a Scheduled Event: {e}"))),
            },
            ALARM_STATE_CHANGE => match serde_json::from_value::<AlarmEvent>(payload) {
                Ok(e) => self.alarm(e).await,
                Err(e) => Ok(invalid(format!("not a CloudWatch Alarm State Change: {e}"))),
            },
            other => Ok(invalid(format!(
                "unsupported EventBridge detail-type `{}`: reload takes `{SCHEDULED_EVENT}` and \
                 `{ALARM_STATE_CHANGE}`",
                other.chars().take(64).collect::<String>()
            ))),
        }
    }

    /// Every model with a staged rollout: its next step when due.
    async fn tick(&self, now: &str) -> Result<Value, String> {
        let items = self.table.list().await.map_err(|e| transient("tick", &e))?;
        let mut models = Vec::new();
        for item in items.iter().filter(|i| current_rollout(i).is_some()) {
            let model = item.model.as_str();
            let candidate = item.candidate.as_ref().map(|c| c.version.clone());
            let updated = self
                .table
                .update(model, |cur| tick(cur, model, now))
                .await
                .map_err(|e| transient("tick", &e))?;
            models.push(match updated {
                Updated::Written { item, summary, .. } => {
                    let promoted = item.active.as_ref().map(|a| &a.version) == candidate.as_ref();
                    if promoted {
                        self.count(metric::MODEL_PROMOTED);
                    }
                    tracing::info!(model, now, revision = item.revision, summary = %summary, "rollout step");
                    model_outcome(
                        model,
                        if promoted { "promoted" } else { "stepped" },
                        &summary,
                        Some(item.revision),
                    )
                }
                Updated::Unchanged { item, why } => {
                    tracing::debug!(model, now, why = %why, "rollout waits");
                    model_outcome(model, "waiting", &why, item.map(|i| i.revision))
                }
            });
        }
        Ok(json!({"ok": true, "event": "tick", "time": now, "models": models}))
    }

    /// A candidate alarm changed state: its covered models' candidates are cleared (or their
    /// active rolled back inside a bake window) on ALARM; OK and INSUFFICIENT_DATA only
    /// forget a recorded ALARM.
    async fn alarm(&self, event: AlarmEvent) -> Result<Value, String> {
        let detail = event.detail;
        let Some(state) = detail.state.as_ref() else {
            return Ok(invalid("the alarm event has no `detail.state`"));
        };
        let value = match state.value {
            CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
            CloudWatchAlarmStateValue::Ok => AlarmState::Ok,
            _ => AlarmState::InsufficientData,
        };
        let change = AlarmChange {
            name: detail.alarm_name.clone(),
            state: value,
            reason: state.reason.clone(),
            at: stamp!(&state.timestamp),
        };
        let scope = alarm_scope(&detail.configuration);
        let head = |models: Vec<Value>, note: &str| {
            json!({
                "ok": true, "event": "alarm", "alarm": change.name, "state": value.as_str(),
                "time": change.at, "function": scope.function, "model": scope.model,
                "note": note, "models": models,
            })
        };
        if !scope.candidate {
            tracing::info!(alarm = %change.name, "not a candidate alarm (no Variant=candidate dimension); ignored");
            return Ok(head(
                vec![],
                "not a candidate alarm (no Variant=candidate dimension)",
            ));
        }
        let items = self
            .table
            .list()
            .await
            .map_err(|e| transient("alarm", &e))?;
        let covered: Vec<&RegistryItem> = items.iter().filter(|i| scope.covers(i)).collect();
        let mut models = Vec::new();
        for item in covered {
            let model = item.model.as_str();
            let mut effect = None;
            let updated = self
                .table
                .update(model, |cur| {
                    let (applied, e) = on_alarm(cur, model, &change)?;
                    effect = e;
                    Ok(applied)
                })
                .await
                .map_err(|e| transient("alarm", &e))?;
            models.push(match updated {
                Updated::Written { item, summary, .. } => {
                    let effect = effect.unwrap_or(AlarmEffect::Recorded);
                    if effect == AlarmEffect::Recorded {
                        tracing::info!(model, alarm = %change.name, state = value.as_str(), revision = item.revision, summary = %summary, "alarm recorded");
                    } else {
                        self.count(metric::MODEL_ROLLED_BACK);
                        tracing::warn!(model, alarm = %change.name, reason = %change.reason, revision = item.revision, summary = %summary, "auto-rollback");
                    }
                    model_outcome(model, effect.as_str(), &summary, Some(item.revision))
                }
                Updated::Unchanged { item, why } => {
                    model_outcome(model, "unchanged", &why, item.map(|i| i.revision))
                }
            });
        }
        let note = if models.is_empty() {
            "no registry model is covered by this alarm"
        } else {
            ""
        };
        Ok(head(models, note))
    }
}

fn invalid(message: impl Into<String>) -> Value {
    AdminError::new("invalid_event", message).to_response()
}

fn transient(what: &str, e: &RegistryError) -> String {
    tracing::error!(error = %e, "registry unavailable during the {what}; the event will be retried");
    format!("{what}: {e} [{}]", e.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn the_alarm_fixture_parses_with_its_scope_and_time() {
        let e: AlarmEvent =
            serde_json::from_value(fixture("cloudwatch-alarm-canary.json")).unwrap();
        assert_eq!(e.detail_type, ALARM_STATE_CHANGE);
        assert_eq!(e.source, "aws.cloudwatch");
        let d = e.detail;
        assert_eq!(
            d.alarm_name,
            "warmstart-candidate-product-recommender-error-rate"
        );
        let state = d.state.unwrap();
        assert_eq!(state.value, CloudWatchAlarmStateValue::Alarm);
        assert_eq!(stamp!(&state.timestamp), "2026-11-22T10:05:00.125Z");
        assert_eq!(
            alarm_scope(&d.configuration),
            AlarmScope {
                function: Some("recommend".into()),
                model: Some("product-recommender".into()),
                candidate: true
            }
        );
    }

    #[test]
    fn the_schedule_fixture_parses_with_its_time() {
        let e: EventBridgeEvent<Value> =
            serde_json::from_value(fixture("schedule-tick.json")).unwrap();
        assert_eq!(e.detail_type, SCHEDULED_EVENT);
        assert_eq!(stamp!(e.time.as_ref().unwrap()), "2026-11-22T10:01:00.000Z");
    }

    #[test]
    fn alarms_without_the_candidate_variant_cover_nothing() {
        let conf = json!({"metrics": [{"id": "m", "metricStat": {"metric": {
            "name": "Errors", "dimensions": {"Function": "recommend"}}, "period": 60, "stat": "Sum"}}]});
        let s = alarm_scope(&conf);
        assert!(!s.candidate);
        assert_eq!(s.function.as_deref(), Some("recommend"));
        assert_eq!(alarm_scope(&json!({})), AlarmScope::default());
    }
}
