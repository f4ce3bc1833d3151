//! The `reload` Lambda function: validates model bundles uploaded to S3 and administers the
//! model registry. One binary, two event shapes:
//!
//! - **S3 notifications** (`s3:ObjectCreated:*` on `models/…/manifest.json`; see
//!   `events/s3-*.json`): each record is handled on its own, in delivery order — one bad
//!   record never blocks the others. A key that is not `<MODEL_PREFIX><name>/<version>/manifest.json` in
//!   `MODEL_BUCKET` is ignored. A version the registry already knows (active, candidate,
//!   shadow, history) is a no-op, as S3 delivers at least once. Otherwise the bundle is
//!   validated before anything changes (every file's size and sha256, models parse, the kind's
//!   contract, metrics, golden rows bit for bit): a failure is appended to the item's
//!   `rejected` list (code + reason), logged at ERROR and counted in `ModelRejected`; a
//!   success is promoted per the manifest's `rollout` (`immediate` when absent) with a write
//!   conditional on the item's `revision`, re-read and re-applied on conflict. A version older
//!   than the active one (or than the candidate/shadow it would replace) is recorded in
//!   `rejected` as `stale_version` and logged at WARN, but not counted in `ModelRejected`:
//!   out-of-order delivery is not a broken bundle. The answer summarises every record; it is
//!   an invocation error (so Lambda retries the event) only when a record failed for a
//!   transient reason (S3 or DynamoDB unreachable, write contention) — the retry is safe
//!   because every step is idempotent.
//! - **Admin payloads** (direct invocation; `events/admin-*.json`): `list`, `show`, `promote`,
//!   `set_canary`, `clear_candidate`, `clear_shadow`, `rollback`. Each change is conditional on
//!   the revision read and recorded in history with who/when/why. Every answer, including a
//!   refused request, is `{"ok": true|false, …}`; the handler never panics on input.

use aws_lambda_events::s3::{S3Event, S3EventRecord};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use warmstart_core::aws::{
    self, apply_change, ChangeError, ModelStore, RegistryError, RegistryTable, Updated,
};
use warmstart_core::bundle::{Rollout, MANIFEST_FILE};
use warmstart_core::lambda::env::{required, var};
use warmstart_core::registry::{
    self, apply, classify, metric, now_rfc3339, record_rejection, AdminCommand, AdminError, Change,
    Context, Novelty, OpError, RegistryItem, Rejection,
};
use warmstart_core::telemetry::{self, Metrics};

const FUNCTION: &str = "reload";
/// Who published an S3 upload, as history records it.
const S3_ACTOR: &str = "s3";

#[derive(Debug, Clone)]
struct Config {
    bucket: String,
    models_prefix: String,
    registry_table: String,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        Ok(Config {
            bucket: required("MODEL_BUCKET")?,
            models_prefix: var("MODEL_PREFIX").unwrap_or_else(|| "models/".into()),
            registry_table: required("REGISTRY_TABLE")?,
        })
    }
}

struct State {
    config: Config,
    table: RegistryTable,
    store: ModelStore,
    metrics: Option<Metrics>,
}

/// Decodes an S3 event key: `+` is a space and `%XX` a byte (keys arrive URL-encoded).
fn decode_key(key: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(name, version)` of a `<prefix><name>/<version>/manifest.json` key, else `None`.
fn manifest_key<'a>(models_prefix: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    let prefix = models_prefix.trim_matches('/');
    let rest = if prefix.is_empty() {
        key
    } else {
        key.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let mut parts = rest.split('/');
    let (name, version, file) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && file == MANIFEST_FILE && !name.is_empty() && !version.is_empty())
        .then_some((name, version))
}

/// What happened to one S3 record.
#[derive(Debug, Clone)]
struct RecordOutcome {
    key: String,
    model: Option<String>,
    version: Option<String>,
    /// `ignored`, `unchanged`, `active`, `candidate`, `shadow`, `rejected`, `stale`, `error`.
    outcome: &'static str,
    code: Option<String>,
    message: String,
    revision: Option<u64>,
    /// An `error` that a retry may fix.
    transient: bool,
}

impl RecordOutcome {
    fn json(&self) -> Value {
        json!({
            "key": self.key,
            "model": self.model,
            "version": self.version,
            "outcome": self.outcome,
            "code": self.code,
            "message": self.message,
            "revision": self.revision,
        })
    }
}

fn count(metrics: bool, name: &'static str) {
    if metrics {
        metrics::counter!(name).increment(1);
    }
}

async fn handle_record(state: &State, record: &S3EventRecord) -> RecordOutcome {
    let raw_key = record.s3.object.key.clone().unwrap_or_default();
    let key = decode_key(&raw_key);
    let mut out = RecordOutcome {
        key: key.clone(),
        model: None,
        version: None,
        outcome: "ignored",
        code: None,
        message: String::new(),
        revision: None,
        transient: false,
    };
    let event_name = record.event_name.as_deref().unwrap_or("ObjectCreated:Put");
    if !event_name.starts_with("ObjectCreated") {
        out.message = format!("`{event_name}` is not an upload");
        tracing::info!(key = %key, event_name, "not an ObjectCreated record; ignored");
        return out;
    }
    let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
    if bucket != state.config.bucket {
        out.message = format!(
            "bucket `{bucket}` is not MODEL_BUCKET `{}`",
            state.config.bucket
        );
        tracing::error!(key = %key, bucket, "record from another bucket ignored");
        return out;
    }
    let Some((model, version)) = manifest_key(&state.config.models_prefix, &key) else {
        out.message = format!(
            "not a bundle manifest (<{}><name>/<version>/{MANIFEST_FILE})",
            state.config.models_prefix
        );
        tracing::info!(key = %key, "not a bundle manifest; ignored");
        return out;
    };
    out.model = Some(model.to_string());
    out.version = Some(version.to_string());
    let span = tracing::info_span!("record", model, version);
    handle_manifest(state, out, &key, model, version)
        .instrument(span)
        .await
}

/// A `<name>/<version>/manifest.json` upload: no-op, stale, rejected or promoted.
async fn handle_manifest(
    state: &State,
    mut out: RecordOutcome,
    key: &str,
    model: &str,
    version: &str,
) -> RecordOutcome {
    let key = key.to_string();
    let metrics = state.metrics.is_some();

    // Known or stale before downloading anything.
    let current = match state.table.get(model).await {
        Ok(c) => c,
        Err(e) => return error(out, &e),
    };
    match classify(current.as_ref(), version, Rollout::Immediate) {
        Novelty::Known(why) => {
            tracing::info!(why = %why, "duplicate delivery; no-op");
            out.outcome = "unchanged";
            out.message = why;
            out.revision = current.map(|c| c.revision);
            return out;
        }
        Novelty::Stale(e) => return stale(state, out, &key, &e).await,
        Novelty::New => {}
    }

    let started = Instant::now();
    let validated = match state.store.validate(model, version).await {
        Ok(v) => v,
        Err(rej) if rej.transient => {
            tracing::error!(code = %rej.code, reason = %rej.reason, "bundle could not be read; the event will be retried");
            out.outcome = "error";
            out.code = Some(rej.code);
            out.message = rej.reason;
            out.transient = true;
            return out;
        }
        Err(rej) => {
            return reject(state, out, &key, &rej.code, &rej.reason).await;
        }
    };
    let manifest = validated.bundle.manifest();
    let rollout = manifest.rollout.unwrap_or(Rollout::Immediate);
    let kind = manifest.kind.as_str().to_string();
    tracing::info!(
        golden_rows = validated.golden_rows,
        rollout = %rollout,
        kind = %kind,
        validate_ms = started.elapsed().as_secs_f64() * 1e3,
        "bundle validated"
    );
    let change = Change::Publish {
        target: state.store.reference(model, &validated),
        kind,
        rollout,
    };
    let at = now_rfc3339();
    let reason = format!("published {key} (rollout {rollout})");
    let ctx = Context {
        by: S3_ACTOR,
        reason: &reason,
        at: &at,
    };
    match state
        .table
        .update(model, |cur| apply(cur, model, &change, &ctx))
        .await
    {
        Ok(Updated::Written {
            item,
            summary,
            attempts,
        }) => {
            out.outcome = served_as(&item, version);
            out.message = summary;
            out.revision = Some(item.revision);
            tracing::info!(
                outcome = out.outcome,
                revision = item.revision,
                attempts,
                "model promoted"
            );
            count(metrics, metric::MODEL_PROMOTED);
            out
        }
        Ok(Updated::Unchanged { item, why }) => {
            tracing::info!(why = %why, "already recorded; no-op");
            out.outcome = "unchanged";
            out.message = why;
            out.revision = item.map(|i| i.revision);
            out
        }
        Err(RegistryError::Op(e @ OpError::Stale { .. })) => stale(state, out, &key, &e).await,
        Err(RegistryError::Op(e)) => reject(state, out, &key, e.code(), &e.to_string()).await,
        Err(e) => error(out, &e),
    }
}

/// Which slot `version` now holds.
fn served_as(item: &RegistryItem, version: &str) -> &'static str {
    if item.active.as_ref().is_some_and(|a| a.version == version) {
        "active"
    } else if item
        .candidate
        .as_ref()
        .is_some_and(|c| c.version == version)
    {
        "candidate"
    } else if item.shadow.as_ref().is_some_and(|s| s.version == version) {
        "shadow"
    } else {
        "unchanged"
    }
}

fn error(mut out: RecordOutcome, e: &RegistryError) -> RecordOutcome {
    tracing::error!(error = %e, "registry unavailable; the event will be retried");
    out.outcome = "error";
    out.code = Some(e.code().to_string());
    out.message = e.to_string();
    out.transient = e.is_transient() || matches!(e, RegistryError::NoTable(_));
    out
}

async fn record(
    state: &State,
    out: &RecordOutcome,
    key: &str,
    code: &str,
    reason: &str,
) -> Result<Option<u64>, RegistryError> {
    let model = out.model.as_deref().expect("model");
    let rejection = Rejection {
        version: out.version.clone().expect("version"),
        code: code.to_string(),
        reason: reason.to_string(),
        at: now_rfc3339(),
        key: Some(key.to_string()),
    };
    match state
        .table
        .update(model, |cur| Ok(record_rejection(cur, model, &rejection)))
        .await?
    {
        Updated::Written { item, .. } => Ok(Some(item.revision)),
        Updated::Unchanged { .. } => Ok(None),
    }
}

/// Records a validation failure: registry `rejected`, ERROR log, `ModelRejected`.
async fn reject(
    state: &State,
    mut out: RecordOutcome,
    key: &str,
    code: &str,
    reason: &str,
) -> RecordOutcome {
    match record(state, &out, key, code, reason).await {
        Ok(revision) => {
            tracing::error!(
                code,
                reason,
                newly_recorded = revision.is_some(),
                "bundle rejected; the registry's active, candidate and shadow are unchanged"
            );
            if revision.is_some() {
                count(state.metrics.is_some(), metric::MODEL_REJECTED);
            }
            out.outcome = "rejected";
            out.code = Some(code.to_string());
            out.message = reason.to_string();
            out.revision = revision;
            out
        }
        Err(e) => error(out, &e),
    }
}

/// Records an out-of-order version: registry `rejected` (`stale_version`), WARN log.
async fn stale(state: &State, mut out: RecordOutcome, key: &str, e: &OpError) -> RecordOutcome {
    let reason = e.to_string();
    match record(state, &out, key, e.code(), &reason).await {
        Ok(revision) => {
            tracing::warn!(reason = %reason, "older version arrived after a newer one; not promoted");
            out.outcome = "stale";
            out.code = Some(e.code().to_string());
            out.message = reason;
            out.revision = revision;
            out
        }
        Err(e) => error(out, &e),
    }
}

async fn handle_s3(state: &State, event: S3Event) -> Result<Value, String> {
    // In delivery order, one at a time: two versions of a model in one batch are handled
    // predictably, and a failure of one record never stops the next.
    let mut outcomes = Vec::with_capacity(event.records.len());
    for r in &event.records {
        outcomes.push(handle_record(state, r).await);
    }
    let summary = json!({
        "ok": outcomes.iter().all(|o| o.outcome != "error"),
        "records": outcomes.iter().map(RecordOutcome::json).collect::<Vec<_>>(),
    });
    let transient: Vec<&RecordOutcome> = outcomes.iter().filter(|o| o.transient).collect();
    if transient.is_empty() {
        Ok(summary)
    } else {
        Err(format!(
            "{} of {} records failed transiently (retry): {summary}",
            transient.len(),
            outcomes.len()
        ))
    }
}

fn admin_error(e: &ChangeError) -> AdminError {
    AdminError::new(e.code(), e.to_string())
}

async fn handle_admin(state: &State, payload: &Value) -> Value {
    let cmd = match registry::parse_admin(payload) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(code = %e.code, message = %e.message, "admin request refused");
            return e.to_response();
        }
    };
    match cmd {
        AdminCommand::List => match state.table.list().await {
            Ok(items) => json!({"ok": true, "action": "list", "models": items}),
            Err(e) => AdminError::new(e.code(), e.to_string()).to_response(),
        },
        AdminCommand::Show { model } => match state.table.get(&model).await {
            Ok(Some(item)) => json!({"ok": true, "action": "show", "model": model, "item": item}),
            Ok(None) => AdminError::new(
                "unknown_model",
                format!("the registry has no item for `{model}`"),
            )
            .to_response(),
            Err(e) => AdminError::new(e.code(), e.to_string()).to_response(),
        },
        AdminCommand::Apply {
            model,
            change,
            actor,
            reason,
        } => {
            let action = change.name();
            match apply_change(
                &state.table,
                Some(&state.store),
                &model,
                &change,
                &actor,
                &reason,
            )
            .await
            {
                Ok(Updated::Written {
                    item,
                    summary,
                    attempts,
                }) => {
                    tracing::info!(model = %model, action, actor = %actor, reason = %reason, revision = item.revision, attempts, summary = %summary, "registry changed");
                    if matches!(change, Change::Promote { .. } | Change::Rollback { .. }) {
                        count(state.metrics.is_some(), metric::MODEL_PROMOTED);
                    }
                    json!({
                        "ok": true, "action": action, "model": model, "changed": true,
                        "summary": summary, "revision": item.revision, "attempts": attempts,
                        "item": item,
                    })
                }
                Ok(Updated::Unchanged { item, why }) => {
                    tracing::info!(model = %model, action, actor = %actor, why = %why, "registry unchanged");
                    json!({
                        "ok": true, "action": action, "model": model, "changed": false,
                        "summary": why, "revision": item.as_ref().map(|i| i.revision),
                        "item": item,
                    })
                }
                Err(e) => {
                    tracing::warn!(model = %model, action, actor = %actor, error = %e, "admin change refused");
                    admin_error(&e).to_response()
                }
            }
        }
    }
}

async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let payload = event.payload;
    let result = if payload.get("Records").is_some() {
        match serde_json::from_value::<S3Event>(payload) {
            Ok(e) => handle_s3(state, e).await,
            Err(e) => Ok(
                AdminError::new("invalid_event", format!("not an S3 notification: {e}"))
                    .to_response(),
            ),
        }
    } else {
        Ok(handle_admin(state, &payload).await)
    };
    if let Some(m) = &state.metrics {
        m.set_property("request_id", event.context.request_id.clone());
        m.flush();
    }
    result.map_err(Into::into)
}

async fn init() -> Result<State, String> {
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let s3 = aws::s3_client(&sdk);
    let dynamo = aws::dynamodb_client(&sdk);
    let metrics = match Metrics::init_bare(FUNCTION) {
        Ok(m) => {
            metrics::describe_counter!(
                metric::MODEL_REJECTED,
                metrics::Unit::Count,
                "bundles that failed validation"
            );
            metrics::describe_counter!(
                metric::MODEL_PROMOTED,
                metrics::Unit::Count,
                "versions made active, candidate or shadow"
            );
            // Zeros from the first document on: the ModelRejected alarm sees 0, not missing.
            metrics::counter!(metric::MODEL_REJECTED).increment(0);
            metrics::counter!(metric::MODEL_PROMOTED).increment(0);
            Some(m)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    };
    tracing::info!(
        bucket = %config.bucket,
        models_prefix = %config.models_prefix,
        registry_table = %config.registry_table,
        "init complete"
    );
    Ok(State {
        table: RegistryTable::new(dynamo, &config.registry_table),
        store: ModelStore::new(s3, &config.bucket, &config.models_prefix),
        config,
        metrics,
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let state = match init().await {
        Ok(s) => Arc::new(s),
        Err(e) => warmstart_core::lambda::fail_init(&e).await,
    };
    lambda_runtime::run(service_fn(move |event| {
        let state = Arc::clone(&state);
        async move { handle(&state, event).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_decoded() {
        assert_eq!(
            decode_key("models/a+b/v%3A1/manifest.json"),
            "models/a b/v:1/manifest.json"
        );
        assert_eq!(decode_key("plain"), "plain");
        assert_eq!(decode_key("bad%zz%4"), "bad%zz%4");
        assert_eq!(decode_key("%E2%9C%93"), "✓");
    }

    #[test]
    fn only_bundle_manifests_are_handled() {
        let k = "models/product-recommender/2026-11-22T10-00-00Z-abc1234/manifest.json";
        assert_eq!(
            manifest_key("models/", k),
            Some(("product-recommender", "2026-11-22T10-00-00Z-abc1234"))
        );
        assert_eq!(manifest_key("models", k), manifest_key("models/", k));
        for bad in [
            "models/product-recommender/v1/model.txt",
            "models/product-recommender/manifest.json",
            "models/a/v1/extra/manifest.json",
            "other/a/v1/manifest.json",
            "models//v1/manifest.json",
            "modelsx/a/v1/manifest.json",
        ] {
            assert_eq!(manifest_key("models/", bad), None, "{bad}");
        }
        assert_eq!(manifest_key("", "a/v1/manifest.json"), Some(("a", "v1")));
    }

    #[test]
    fn the_sample_s3_events_parse() {
        for name in [
            "s3-put-manifest.json",
            "s3-put-manifest-batch.json",
            "s3-put-non-manifest.json",
        ] {
            let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
            let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let e: S3Event = serde_json::from_value(v).unwrap();
            assert!(!e.records.is_empty(), "{name}");
        }
    }
}
