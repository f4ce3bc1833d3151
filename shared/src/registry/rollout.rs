//! Rollouts that guard themselves, pure (no AWS): staged promotion advanced by a clock tick,
//! and alarm rollback. The reload function feeds it EventBridge events (a `Scheduled Event`
//! every minute, `CloudWatch Alarm State Change` of the candidate alarms) and writes each
//! result conditionally on the revision it read, like every other registry change.
//!
//! - **Staged rollouts** (`canary:<w>,bake:<minutes>` or `linear:<step>%/<minutes>`, set by a
//!   manifest's `rollout` or by `set_rollout`): the candidate starts at `w` % (`step` % for
//!   linear). A tick at time `t` advances it once `t - stepped_at >= minutes` and no alarm is
//!   recorded in ALARM on the item: a bake promotes the candidate; linear raises the weight by
//!   `step` and promotes instead when that would reach 100 %. A promotion by a rollout opens a
//!   bake window of the same length on the new active version. Ticks are idempotent: a
//!   repeated or older tick finds the step already taken (`stepped_at` moved), and two
//!   containers ticking at once serialise on the conditional write.
//! - **Alarm rollback**: an alarm entering ALARM is recorded on the items it covers and
//!   clears their candidate, or — when there is none and the active version is inside its
//!   bake window — rolls the active back to the previous version. History records the change
//!   with `by: auto-rollback` and the alarm's name and reason. The same transition delivered
//!   twice is a no-op. OK and INSUFFICIENT_DATA change nothing but forget the recorded ALARM.
//! - **Why alarms are recorded on the item** rather than read from CloudWatch at each tick:
//!   the registry item is already read and conditionally written by every step, so the hold
//!   and the step are decided on one consistent snapshot (a tick can never promote past an
//!   alarm write it did not see: one of the two writes fails its condition and re-reads); the
//!   local stack and the tests exercise exactly what runs in AWS (no second CloudWatch
//!   implementation); and reload needs no `cloudwatch:DescribeAlarms` permission or SDK. The
//!   case an event alone cannot cover — an alarm still in ALARM from the previous candidate
//!   when a new one is staged (no state *change*, so no event) — is covered by the record: the
//!   tick holds the new candidate until the alarm's OK transition arrives.
//!
//! The clock is the event's: a tick's `time`, an alarm's state timestamp. That is what AWS
//! sends, and it lets tests advance time without sleeping.

use super::item::{clip_reason, rfc3339, Action, RegistryItem};
use super::ops::{apply, Applied, Change, Context, OpError};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Who history records for a step of a staged rollout.
pub const ROLLOUT_ACTOR: &str = "rollout";
/// Who history records for a change made because an alarm fired.
pub const AUTO_ROLLBACK_ACTOR: &str = "auto-rollback";
/// Longest bake or step: a week.
pub const MAX_MINUTES: u32 = 7 * 24 * 60;

/// How a staged rollout grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Keep the weight for `minutes`, then promote.
    Bake { minutes: u32 },
    /// Add `step` % every `minutes`; promote when the next step reaches 100 %.
    Linear { step: u8, minutes: u32 },
}

/// A staged rollout: `canary:<w>,bake:<minutes>` or `linear:<step>%/<minutes>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Staged {
    /// The candidate's weight when the rollout starts.
    pub weight: u8,
    pub plan: Plan,
}

impl Staged {
    /// Minutes between two steps (the bake, or the linear interval).
    pub fn minutes(&self) -> u32 {
        match self.plan {
            Plan::Bake { minutes } | Plan::Linear { minutes, .. } => minutes,
        }
    }

    /// The weight after one step from `weight`, or `None` when the next step is promotion.
    pub fn next_weight(&self, weight: u8) -> Option<u8> {
        match self.plan {
            Plan::Bake { .. } => None,
            Plan::Linear { step, .. } => {
                let next = u16::from(weight) + u16::from(step);
                (next < 100).then_some(next as u8)
            }
        }
    }
}

impl fmt::Display for Staged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.plan {
            Plan::Bake { minutes } => write!(f, "canary:{},bake:{minutes}", self.weight),
            Plan::Linear { step, minutes } => write!(f, "linear:{step}%/{minutes}"),
        }
    }
}

fn minutes(s: &str) -> Option<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|m| (1..=MAX_MINUTES).contains(m))
}

fn percent(s: &str) -> Option<u8> {
    s.parse::<u8>().ok().filter(|w| (1..=100).contains(w))
}

impl std::str::FromStr for Staged {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "rollout `{s}` must be `canary:<1..100>,bake:<1..{MAX_MINUTES} minutes>` or \
                 `linear:<1..100>%/<1..{MAX_MINUTES} minutes>`"
            )
        };
        if let Some(rest) = s.strip_prefix("canary:") {
            let (w, bake) = rest.split_once(",bake:").ok_or_else(err)?;
            return Ok(Staged {
                weight: percent(w).ok_or_else(err)?,
                plan: Plan::Bake {
                    minutes: minutes(bake).ok_or_else(err)?,
                },
            });
        }
        if let Some(rest) = s.strip_prefix("linear:") {
            let (step, every) = rest.split_once("%/").ok_or_else(err)?;
            let step = percent(step).ok_or_else(err)?;
            return Ok(Staged {
                weight: step,
                plan: Plan::Linear {
                    step,
                    minutes: minutes(every).ok_or_else(err)?,
                },
            });
        }
        Err(err())
    }
}

impl TryFrom<String> for Staged {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Staged> for String {
    fn from(s: Staged) -> String {
        s.to_string()
    }
}

/// The staged rollout driving the candidate `version` (item attribute `rollout`). One that
/// names another version than the current candidate (an operator replaced or cleared it) is
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    pub version: String,
    pub plan: Staged,
    /// When the candidate got its current weight (RFC 3339): the next step is due
    /// `plan.minutes()` later.
    pub stepped_at: String,
}

/// After a rollout promoted `version`: until `until` an alarm rolls it back (item attribute
/// `bake`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BakeWindow {
    pub version: String,
    pub until: String,
    pub plan: Staged,
}

/// An alarm in ALARM that covers this model (item attribute `alarms`), until its OK or
/// INSUFFICIENT_DATA transition arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRecord {
    pub name: String,
    /// The state change's timestamp (RFC 3339).
    pub since: String,
    pub reason: String,
}

/// CloudWatch alarm states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ALARM" => Some(AlarmState::Alarm),
            "OK" => Some(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// One alarm state change, as reload reads it from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmChange {
    pub name: String,
    pub state: AlarmState,
    pub reason: String,
    /// When the state changed (RFC 3339, [`rfc3339`]'s format).
    pub at: String,
}

/// What an alarm's metric dimensions cover: `Function` (recommend, valuation, predict), an
/// optional `Model`, and whether it watches the candidate variant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlarmScope {
    pub function: Option<String>,
    pub model: Option<String>,
    pub candidate: bool,
}

impl AlarmScope {
    /// Whether the alarm covers the model of `item`: the model it names, else every model the
    /// function serves (recommend: `product-recommender` models, valuation: `fair-multiple`
    /// models, predict: any model, as `POST /models/{name}/predict` serves every one).
    pub fn covers(&self, item: &RegistryItem) -> bool {
        if !self.candidate {
            return false;
        }
        if let Some(m) = &self.model {
            return *m == item.model;
        }
        let kind = item.kind.as_deref();
        match self.function.as_deref() {
            Some("recommend") => kind == Some("product-recommender"),
            Some("valuation") => kind == Some("fair-multiple"),
            Some("predict") => true,
            _ => false,
        }
    }
}

/// `s` (RFC 3339) as an instant.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `t` in the registry's timestamp format.
pub fn format_time(t: OffsetDateTime) -> String {
    rfc3339(t.unix_timestamp(), u32::from(t.millisecond()))
}

fn plus_minutes(at: &str, minutes: u32) -> String {
    parse_time(at).map_or_else(
        || at.to_string(),
        |t| format_time(t + time::Duration::minutes(i64::from(minutes))),
    )
}

/// The rollout that drives the item's current candidate.
pub fn current_rollout(item: &RegistryItem) -> Option<&RolloutState> {
    let candidate = item.candidate.as_ref()?;
    item.rollout
        .as_ref()
        .filter(|r| r.version == candidate.version)
}

/// Sets (`Some`) or removes (`None`: the candidate stays where it is, advanced by hand) the
/// staged rollout of the candidate. Setting one puts the candidate at the rollout's starting
/// weight and starts its clock at `ctx.at`.
pub(super) fn set_rollout(
    item: &mut RegistryItem,
    model: &str,
    plan: Option<Staged>,
    ctx: &Context<'_>,
    rev: u64,
) -> Result<Result<String, String>, OpError> {
    let Some(candidate) = item.candidate.clone() else {
        return Err(OpError::NoCandidate(model.to_string()));
    };
    let current = current_rollout(item).map(|r| r.plan);
    if current == plan && plan.is_none_or(|p| p.weight == candidate.weight) {
        return Ok(Err(match plan {
            Some(p) => format!("the candidate already follows {p}"),
            None => "the candidate follows no rollout".into(),
        }));
    }
    let r = item.candidate_ref().expect("candidate");
    let mut e = ctx.entry(Action::SetRollout, &r, rev);
    let summary = match plan {
        Some(p) => {
            if let Some(c) = item.candidate.as_mut() {
                c.weight = p.weight;
            }
            e.weight = Some(p.weight);
            item.rollout = Some(RolloutState {
                version: candidate.version.clone(),
                plan: p,
                stepped_at: ctx.at.to_string(),
            });
            format!(
                "candidate {} follows {p} (at {}%, next step after {} min)",
                candidate.version,
                p.weight,
                p.minutes()
            )
        }
        None => {
            item.rollout = None;
            format!(
                "candidate {} follows no rollout (at {}%; promote or change it by hand)",
                candidate.version, candidate.weight
            )
        }
    };
    item.push_history(e);
    Ok(Ok(summary))
}

fn changed(item: RegistryItem, summary: String) -> Result<Applied, OpError> {
    Ok(Applied::Changed {
        item: Box::new(item),
        summary,
    })
}

fn unchanged(why: impl Into<String>) -> Result<Applied, OpError> {
    Ok(Applied::Unchanged { why: why.into() })
}

/// One clock tick at `now` (RFC 3339) for the item as read: the next step of its staged
/// rollout when it is due and no alarm holds it, else unchanged (with why).
pub fn tick(current: Option<&RegistryItem>, model: &str, now: &str) -> Result<Applied, OpError> {
    let Some(item) = current else {
        return unchanged("no registry item");
    };
    let (Some(candidate), Some(rollout)) = (item.candidate.as_ref(), current_rollout(item)) else {
        return unchanged("no staged rollout");
    };
    if let Some(a) = item.alarms.first() {
        return unchanged(format!("held: alarm {} in ALARM since {}", a.name, a.since));
    }
    if candidate.weight == 0 {
        return unchanged(format!(
            "held: candidate {} paused at 0%",
            candidate.version
        ));
    }
    let plan = rollout.plan;
    let (Some(t), Some(since)) = (parse_time(now), parse_time(&rollout.stepped_at)) else {
        return unchanged(format!(
            "unreadable time (tick {now}, step {})",
            rollout.stepped_at
        ));
    };
    let elapsed = t - since;
    let due = time::Duration::minutes(i64::from(plan.minutes()));
    if elapsed < due {
        return unchanged(format!(
            "{plan}: {} of {} s at {}%",
            elapsed.whole_seconds().max(0),
            due.whole_seconds(),
            candidate.weight
        ));
    }
    let version = candidate.version.clone();
    match plan.next_weight(candidate.weight) {
        Some(weight) => {
            let reason = format!(
                "{plan}: {} min at {}% without an alarm; {weight}% next",
                elapsed.whole_minutes(),
                candidate.weight
            );
            let ctx = Context {
                by: ROLLOUT_ACTOR,
                reason: &reason,
                at: now,
            };
            match apply(Some(item), model, &Change::SetCanary { weight }, &ctx)? {
                Applied::Changed { mut item, summary } => {
                    if let Some(r) = item.rollout.as_mut() {
                        r.stepped_at = now.to_string();
                    }
                    changed(*item, summary)
                }
                same => Ok(same),
            }
        }
        None => {
            let reason = format!(
                "{plan}: {} min at {}% without an alarm; promoted (bake window {} min)",
                elapsed.whole_minutes(),
                candidate.weight,
                plan.minutes()
            );
            let ctx = Context {
                by: ROLLOUT_ACTOR,
                reason: &reason,
                at: now,
            };
            let change = Change::Promote {
                version: Some(version.clone()),
            };
            match apply(Some(item), model, &change, &ctx)? {
                Applied::Changed { mut item, summary } => {
                    item.rollout = None;
                    item.bake = Some(BakeWindow {
                        version,
                        until: plus_minutes(now, plan.minutes()),
                        plan,
                    });
                    changed(*item, format!("{summary} ({plan})"))
                }
                same => Ok(same),
            }
        }
    }
}

/// What an alarm did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmEffect {
    /// The candidate was cleared.
    ClearedCandidate,
    /// The active version, inside its bake window, was rolled back.
    RolledBack,
    /// Recorded (ALARM) or forgotten (OK) without touching what is served.
    Recorded,
}

impl AlarmEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmEffect::ClearedCandidate => "candidate_cleared",
            AlarmEffect::RolledBack => "rolled_back",
            AlarmEffect::Recorded => "recorded",
        }
    }
}

/// The effect of `alarm` on the item as read (the caller checked that the alarm covers it).
pub fn on_alarm(
    current: Option<&RegistryItem>,
    model: &str,
    alarm: &AlarmChange,
) -> Result<(Applied, Option<AlarmEffect>), OpError> {
    let Some(read) = current else {
        return Ok((
            Applied::Unchanged {
                why: "no registry item".into(),
            },
            None,
        ));
    };
    let recorded = read.alarms.iter().position(|a| a.name == alarm.name);
    let mut item = read.clone();
    if alarm.state != AlarmState::Alarm {
        let Some(i) = recorded else {
            return Ok((
                Applied::Unchanged {
                    why: format!(
                        "alarm {} is {}: nothing to do",
                        alarm.name,
                        alarm.state.as_str()
                    ),
                },
                None,
            ));
        };
        item.alarms.remove(i);
        item.revision += 1;
        item.updated_at = Some(alarm.at.clone());
        let summary = format!(
            "alarm {} is {}: no longer holds rollouts",
            alarm.name,
            alarm.state.as_str()
        );
        return Ok((
            Applied::Changed {
                item: Box::new(item),
                summary,
            },
            Some(AlarmEffect::Recorded),
        ));
    }
    if recorded.is_some_and(|i| read.alarms[i].since == alarm.at) {
        return Ok((
            Applied::Unchanged {
                why: format!("alarm {} at {} was handled already", alarm.name, alarm.at),
            },
            None,
        ));
    }
    let record = AlarmRecord {
        name: alarm.name.clone(),
        since: alarm.at.clone(),
        reason: clip_reason(&alarm.reason),
    };
    match recorded {
        Some(i) => item.alarms[i] = record,
        None => {
            item.alarms.push(record);
            item.alarms.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    let reason = format!("alarm {} in ALARM: {}", alarm.name, alarm.reason);
    let ctx = Context {
        by: AUTO_ROLLBACK_ACTOR,
        reason: &reason,
        at: &alarm.at,
    };
    if item.candidate.is_some() {
        if let Applied::Changed {
            item: mut next,
            summary,
        } = apply(Some(&item), model, &Change::ClearCandidate, &ctx)?
        {
            next.rollout = None;
            return Ok((
                Applied::Changed {
                    item: next,
                    summary: format!("{summary} by alarm {}", alarm.name),
                },
                Some(AlarmEffect::ClearedCandidate),
            ));
        }
    }
    let in_bake = match (&item.bake, &item.active) {
        (Some(b), Some(a)) => b.version == a.version && alarm.at.as_str() < b.until.as_str(),
        _ => false,
    };
    if in_bake {
        let rollback = Change::Rollback {
            to: None,
            validated: None,
        };
        match apply(Some(&item), model, &rollback, &ctx) {
            Ok(Applied::Changed {
                item: mut next,
                summary,
            }) => {
                next.bake = None;
                return Ok((
                    Applied::Changed {
                        item: next,
                        summary: format!(
                            "{summary} by alarm {} (inside the bake window)",
                            alarm.name
                        ),
                    },
                    Some(AlarmEffect::RolledBack),
                ));
            }
            Ok(Applied::Unchanged { .. }) | Err(OpError::NothingToRollBack(_)) => {}
            Err(e) => return Err(e),
        }
    }
    item.revision += 1;
    item.updated_at = Some(alarm.at.clone());
    let summary = format!(
        "alarm {} recorded: no candidate and no bake window; staged rollouts hold until it leaves ALARM",
        alarm.name
    );
    Ok((
        Applied::Changed {
            item: Box::new(item),
            summary,
        },
        Some(AlarmEffect::Recorded),
    ))
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
