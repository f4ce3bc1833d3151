//! The reload function: validates model bundles uploaded to S3 and administers the
//! model registry. One binary, two event shapes:
//!
//! - **S3 notifications** (`s3:ObjectCreated:*` on `models/…/manifest.json`; see
//!   `events/s3-*.json`): each record is handled on its own, in delivery order — one bad
//!   record never blocks the others. A key that is not `<MODEL_PREFIX><name>/<version>/manifest.json` in
//!   `MODEL_BUCKET` is ignored. A version the registry already knows (active, candidate,
//!   shadow, history) is a no-op, as S3 delivers at least once. Otherwise the bundle is
//!   validated before anything changes (every file's size and sha256, models parse, the kind's
//!   contract, metrics, golden rows bit for bit), then put through the quality gate
//!   (`registry::gate`: its holdout metrics against the active version's, within the model's
//!   tolerance, and against its own baseline): a failure is appended to the item's
//!   `rejected` list (code + reason), logged at ERROR and counted in `ModelRejected`; a
//!   success is promoted per the manifest's `rollout` (`immediate` when absent) with a write
//!   conditional on the item's `revision`, re-read and re-applied on conflict (and judged
//!   again when the active version changed meanwhile). A version older
//!   than the active one (or than the candidate/shadow it would replace) is recorded in
//!   `rejected` as `stale_version` and logged at WARN, but not counted in `ModelRejected`:
//!   out-of-order delivery is not a broken bundle. The answer summarises every record; it is
//!   an invocation error (so Lambda retries the event) only when a record failed for a
//!   transient reason (S3 or DynamoDB unreachable, write contention) — the retry is safe
//!   because every step is idempotent.
//! - **EventBridge events** (`events/schedule-tick.json`, `events/cloudwatch-alarm-canary.json`):
//!   the every-minute `Scheduled Event` advances staged rollouts; a `CloudWatch Alarm State
//!   Change` of a candidate alarm clears the candidates it covers, or rolls back an active
//!   version inside its bake window (`ModelRolledBack`); see `registry::rollout`. The event's
//!   time is the clock.
//! - **Admin payloads** (direct invocation; `events/admin-*.json`): `list`, `show`, `promote`,
//!   `set_canary`, `set_rollout`, `clear_candidate`, `clear_shadow`, `rollback`, `set_tolerance`, and
//!   `promote` with `force` (the quality gate overridden for one version, with a reason). Each change is conditional on
//!   the revision read and recorded in history with who/when/why. Every answer, including a
//!   refused request, is `{"ok": true|false, …}`; the handler never panics on input.

mod admin;
mod rollout;
mod upload;

use crate::aws::{ModelStore, RegistryTable};
use crate::lambda::env::{required, var};
use crate::registry::metric;
use crate::telemetry::Metrics;
use aws_lambda_events::s3::S3Event;
use serde_json::Value;

/// The `Function` dimension of reload's metrics.
pub const FUNCTION: &str = "reload";

/// `MODEL_BUCKET`, `MODEL_PREFIX` (default `models/`), `REGISTRY_TABLE`.
#[derive(Debug, Clone)]
pub struct ReloadConfig {
    pub bucket: String,
    pub models_prefix: String,
    pub registry_table: String,
}

impl ReloadConfig {
    pub fn from_env() -> Result<Self, String> {
        Ok(ReloadConfig {
            bucket: required("MODEL_BUCKET")?,
            models_prefix: var("MODEL_PREFIX").unwrap_or_else(|| "models/".into()),
            registry_table: required("REGISTRY_TABLE")?,
        })
    }
}

/// Everything a reload container holds between invocations.
pub struct ReloadApp {
    config: ReloadConfig,
    table: RegistryTable,
    store: ModelStore,
    metrics: Option<Metrics>,
}

impl ReloadApp {
    /// Installs the metrics recorder (logged and skipped if it cannot be).
    pub fn new(
        config: ReloadConfig,
        s3: aws_sdk_s3::Client,
        dynamo: aws_sdk_dynamodb::Client,
    ) -> Self {
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
                metrics::describe_counter!(
                    metric::MODEL_ROLLED_BACK,
                    metrics::Unit::Count,
                    "candidates cleared or active versions rolled back by an alarm"
                );
                metrics::counter!(metric::MODEL_REJECTED).increment(0);
                metrics::counter!(metric::MODEL_PROMOTED).increment(0);
                metrics::counter!(metric::MODEL_ROLLED_BACK).increment(0);
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
        ReloadApp {
            table: RegistryTable::new(dynamo, &config.registry_table),
            store: ModelStore::new(s3, &config.bucket, &config.models_prefix),
            config,
            metrics,
        }
    }

    /// One invocation: an S3 notification or an admin payload. `Err` (an invocation error,
    /// so Lambda retries the event) only when an S3 record failed for a transient reason.
    pub async fn handle(&self, payload: Value, request_id: &str) -> Result<Value, String> {
        let result = if payload.get("detail-type").is_some() {
            self.handle_eventbridge(payload).await
        } else if payload.get("Records").is_some() {
            match serde_json::from_value::<S3Event>(payload) {
                Ok(e) => self.handle_s3(e).await,
                Err(e) => Ok(crate::registry::AdminError::new(
                    "invalid_event",
                    format!("not an S3 notification: {e}"),
                )
                .to_response()),
            }
        } else {
            Ok(self.handle_admin(&payload).await)
        };
        if let Some(m) = &self.metrics {
            m.set_property("request_id", request_id.to_string());
            m.flush();
        }
        result
    }

    fn count(&self, name: &'static str) {
        if self.metrics.is_some() {
            metrics::counter!(name).increment(1);
        }
    }
}
