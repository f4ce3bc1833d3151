//! S3 notifications: each `manifest.json` upload is validated and promoted per its rollout,
//! recorded as rejected or stale, or ignored (see the module docs of [`super`]).

use super::ReloadApp;
use crate::aws::{source_for, RegistryError, Updated};
use crate::bundle::{BundleSource, Manifest, Rollout, SourceError, MANIFEST_FILE};
use crate::registry::{
    apply, classify, gate, metric, now_rfc3339, record_rejection, Change, Context, Novelty,
    OpError, RegistryItem, Rejected, Rejection, VersionRef,
};
use aws_lambda_events::s3::{S3Event, S3EventRecord};
use serde_json::{json, Value};
use std::time::Instant;
use tracing::Instrument;

/// Who published an S3 upload, as history records it.
const S3_ACTOR: &str = "s3";
/// Times the quality gate runs for one upload when the active version keeps changing under it.
const GATE_ATTEMPTS: u32 = 3;

/// Decodes an S3 event key: keys arrive form-encoded (`+` is a space, `%XX` a byte); an
/// invalid escape stays as it is.
fn decode_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
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

impl ReloadApp {
    async fn handle_record(&self, record: &S3EventRecord) -> RecordOutcome {
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
        if bucket != self.config.bucket {
            out.message = format!(
                "bucket `{bucket}` is not MODEL_BUCKET `{}`",
                self.config.bucket
            );
            tracing::error!(key = %key, bucket, "record from another bucket ignored");
            return out;
        }
        let Some((model, version)) = manifest_key(&self.config.models_prefix, &key) else {
            out.message = format!(
                "not a bundle manifest (<{}><name>/<version>/{MANIFEST_FILE})",
                self.config.models_prefix
            );
            tracing::info!(key = %key, "not a bundle manifest; ignored");
            return out;
        };
        out.model = Some(model.to_string());
        out.version = Some(version.to_string());
        let span = tracing::info_span!("record", model, version);
        self.handle_manifest(out, &key, model, version)
            .instrument(span)
            .await
    }

    /// A `<name>/<version>/manifest.json` upload: no-op, stale, rejected (validation or the
    /// quality gate) or promoted.
    async fn handle_manifest(
        &self,
        mut out: RecordOutcome,
        key: &str,
        model: &str,
        version: &str,
    ) -> RecordOutcome {
        let key = key.to_string();

        // Known or stale before downloading anything.
        let current = match self
            .read_new(&out, &key, model, version, Rollout::Immediate)
            .await
        {
            Ok(current) => current,
            Err(done) => return done,
        };

        let started = Instant::now();
        let validated = match self.store.validate(model, version).await {
            Ok(v) => v,
            Err(rej) if rej.transient => {
                return retry(
                    out,
                    rej,
                    "bundle could not be read; the event will be retried",
                )
            }
            Err(rej) => {
                return self.reject(out, &key, &rej.code, &rej.reason).await;
            }
        };
        let validated = self.store.compile_missing(model, validated).await;
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
            target: self.store.reference(model, &validated),
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
        let mut current = current;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                // The active version changed while the gate ran: judge against the new one.
                current = match self.read_new(&out, &key, model, version, rollout).await {
                    Ok(current) => current,
                    Err(done) => return done,
                };
            }
            let gated = match self.gate(model, current.as_ref(), manifest).await {
                Ok(gated) => gated,
                Err(rej) if rej.transient => {
                    let why = "the active version's manifest could not be read; the event will be retried";
                    return retry(out, rej, why);
                }
                Err(rej) => return self.reject(out, &key, &rej.code, &rej.reason).await,
            };
            let written = self
                .table
                .update(model, |cur| {
                    let now = cur.and_then(|c| c.active.as_ref()).map(|a| &a.version);
                    if now != gated.as_ref()
                        && !matches!(classify(cur, version, rollout), Novelty::Known(_))
                    {
                        return Err(OpError::ActiveChanged {
                            model: model.to_string(),
                            gated: gated.clone().unwrap_or_else(|| "none".into()),
                            now: now.cloned().unwrap_or_else(|| "none".into()),
                        });
                    }
                    apply(cur, model, &change, &ctx)
                })
                .await;
            return match written {
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
                    self.count(metric::MODEL_PROMOTED);
                    out
                }
                Ok(Updated::Unchanged { item, why }) => {
                    tracing::info!(why = %why, "already recorded; no-op");
                    out.outcome = "unchanged";
                    out.message = why;
                    out.revision = item.map(|i| i.revision);
                    out
                }
                Err(RegistryError::Op(e @ OpError::ActiveChanged { .. }))
                    if attempt < GATE_ATTEMPTS =>
                {
                    tracing::info!(error = %e, attempt, "running the quality gate again");
                    continue;
                }
                Err(RegistryError::Op(e @ OpError::Stale { .. })) => {
                    self.stale(out, &key, &e).await
                }
                Err(RegistryError::Op(e @ OpError::ActiveChanged { .. })) => {
                    let e = RegistryError::Contention {
                        model: format!("{model} ({e})"),
                        attempts: GATE_ATTEMPTS,
                    };
                    error(out, &e)
                }
                Err(RegistryError::Op(e)) => self.reject(out, &key, e.code(), &e.to_string()).await,
                Err(e) => error(out, &e),
            };
        }
    }

    /// The item of `model` as read now when `version` is new to it; otherwise the outcome to
    /// answer with: a duplicate delivery (a no-op), a stale version (recorded) or a read error.
    async fn read_new(
        &self,
        out: &RecordOutcome,
        key: &str,
        model: &str,
        version: &str,
        rollout: Rollout,
    ) -> Result<Option<RegistryItem>, RecordOutcome> {
        let current = (self.table.get(model).await).map_err(|e| error(out.clone(), &e))?;
        match classify(current.as_ref(), version, rollout) {
            Novelty::New => Ok(current),
            Novelty::Known(why) => {
                tracing::info!(why = %why, "duplicate delivery; no-op");
                Err(RecordOutcome {
                    outcome: "unchanged",
                    message: why,
                    revision: current.map(|c| c.revision),
                    ..out.clone()
                })
            }
            Novelty::Stale(e) => Err(self.stale(out.clone(), key, &e).await),
        }
    }

    /// The quality gate (see [`crate::registry::gate`]) of `manifest` against the active
    /// version of `item` and the item's tolerance: `Ok` with the active version it was judged
    /// against, `Err` with code `quality_gate` (or a transient error when the active version's
    /// manifest cannot be read now).
    async fn gate(
        &self,
        model: &str,
        item: Option<&RegistryItem>,
        manifest: &Manifest,
    ) -> Result<Option<String>, Rejected> {
        let tolerance = item.map_or(gate::DEFAULT_TOLERANCE_PCT, RegistryItem::tolerance_pct);
        let active = item.and_then(RegistryItem::active_ref);
        let active_manifest = match &active {
            Some(r) => self.active_manifest(model, r).await?,
            None => None,
        };
        let against = active
            .as_ref()
            .zip(active_manifest.as_ref())
            .map(|(r, m)| (r.version.as_str(), m));
        let report = gate::check(manifest, against, tolerance)?;
        tracing::info!(
            against = active.as_ref().map(|r| r.version.as_str()),
            tolerance_pct = tolerance,
            figures = %report.summary(),
            "quality gate passed"
        );
        Ok(active.map(|r| r.version))
    }

    /// The manifest of the active version, to compare with. A read that may succeed later is a
    /// transient error; a manifest that is gone or unreadable is logged, and the new version
    /// is judged by its own baseline alone (the active version cannot be loaded by new
    /// containers either, which the `ModelLoadFailed` alarm reports).
    async fn active_manifest(
        &self,
        model: &str,
        r: &VersionRef,
    ) -> Result<Option<Manifest>, Rejected> {
        let source = source_for(
            self.store.s3.clone(),
            &self.store.bucket,
            &self.store.models_prefix,
            model,
            r,
        );
        let parsed = match source.read(MANIFEST_FILE).await {
            Ok(bytes) => Manifest::from_json(&bytes).map_err(|e| e.to_string()),
            Err(e @ SourceError::Io { .. }) => {
                return Err(Rejected {
                    code: "source_error".into(),
                    reason: format!("{}: {e}", source.location()),
                    transient: true,
                })
            }
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                tracing::warn!(active = %r.version, location = %source.location(), error = %e, "the active version's manifest is unreadable; the quality gate checks the baseline only");
                Ok(None)
            }
        }
    }

    async fn record(
        &self,
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
        match self
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
        &self,
        mut out: RecordOutcome,
        key: &str,
        code: &str,
        reason: &str,
    ) -> RecordOutcome {
        match self.record(&out, key, code, reason).await {
            Ok(revision) => {
                tracing::error!(
                    code,
                    reason,
                    newly_recorded = revision.is_some(),
                    "bundle rejected; the registry's active, candidate and shadow are unchanged"
                );
                if revision.is_some() {
                    self.count(metric::MODEL_REJECTED);
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
    async fn stale(&self, mut out: RecordOutcome, key: &str, e: &OpError) -> RecordOutcome {
        let reason = e.to_string();
        match self.record(&out, key, e.code(), &reason).await {
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

    pub(super) async fn handle_s3(&self, event: S3Event) -> Result<Value, String> {
        // In delivery order, one at a time: two versions of a model in one batch are handled
        // predictably, and a failure of one record never stops the next.
        let mut outcomes = Vec::with_capacity(event.records.len());
        for r in &event.records {
            outcomes.push(self.handle_record(r).await);
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

/// An S3 read that may succeed on the next delivery: `error`, transient, logged with `why`.
fn retry(mut out: RecordOutcome, rej: Rejected, why: &str) -> RecordOutcome {
    tracing::error!(code = %rej.code, reason = %rej.reason, "{why}");
    out.outcome = "error";
    out.code = Some(rej.code);
    out.message = rej.reason;
    out.transient = true;
    out
}

fn error(mut out: RecordOutcome, e: &RegistryError) -> RecordOutcome {
    tracing::error!(error = %e, "registry unavailable; the event will be retried");
    out.outcome = "error";
    out.code = Some(e.code().to_string());
    out.message = e.to_string();
    out.transient = e.is_transient() || matches!(e, RegistryError::NoTable(_));
    out
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
            let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
            let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            let e: S3Event = serde_json::from_value(v).unwrap();
            assert!(!e.records.is_empty(), "{name}");
        }
    }
}
