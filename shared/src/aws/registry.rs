//! The model registry (`ModelRegistry` table, pk `model`) in DynamoDB: items read with a
//! consistent GetItem, written whole with PutItem conditional on the revision that was read
//! (`attribute_not_exists(model)` for a new item, `revision = :read` otherwise). A conflict —
//! another writer got there first — re-reads the item and re-applies the change, up to
//! [`MAX_ATTEMPTS`] times, so two racing promotions both end up recorded and nothing is lost.
//! The change logic itself is [`crate::registry::ops`], pure.

use super::s3::{dir_prefix, S3Source};
use super::sdk_message;
use crate::bundle::{compile_bundle, sha256_hex, Bundle, BundleSource, MANIFEST_FILE};
use crate::model::compiled::FILE_NAME;
use crate::registry::{
    apply, load_for_serving, now_rfc3339, refresh, validate_source, Applied, Change, Context,
    Loader, OpError, RefreshGate, RefreshReport, RegistryItem, Rejected, ServingSet, Validated,
    VersionRef,
};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Conditional writes tried per change before giving up with [`RegistryError::Contention`].
pub const MAX_ATTEMPTS: u32 = 8;

/// `active {version, prefix?, sha256?}` of a registry item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveModel {
    pub version: String,
    /// S3 key prefix of the bundle when the registry records it.
    pub prefix: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry table `{0}` does not exist")]
    NoTable(String),
    #[error("registry read failed: {0}")]
    Backend(String),
    #[error("registry item `{model}` is malformed: {reason}")]
    Malformed { model: String, reason: String },
    #[error("registry item `{model}` changed under us {attempts} times in a row; try again")]
    Contention { model: String, attempts: u32 },
    #[error(transparent)]
    Op(#[from] OpError),
}

impl RegistryError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::NoTable(_) => "no_table",
            RegistryError::Backend(_) => "registry_unavailable",
            RegistryError::Malformed { .. } => "registry_malformed",
            RegistryError::Contention { .. } => "contention",
            RegistryError::Op(e) => e.code(),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Backend(_) | RegistryError::Contention { .. }
        )
    }
}

/// What [`RegistryTable::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// The item was written at `item.revision`; `attempts` > 1 means conflicts were retried.
    Written {
        item: Box<RegistryItem>,
        summary: String,
        attempts: u32,
    },
    /// Nothing to write (the item as last read is `item`).
    Unchanged {
        item: Option<Box<RegistryItem>>,
        why: String,
    },
}

/// Outcome of one conditional write.
#[derive(Debug)]
pub enum PutError {
    /// The revision was no longer the one read.
    Conflict,
    Other(RegistryError),
}

/// The registry table.
#[derive(Debug, Clone)]
pub struct RegistryTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn read_error<E, R>(table: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> RegistryError
where
    E: std::error::Error + 'static + aws_sdk_dynamodb::error::ProvideErrorMetadata,
    R: std::fmt::Debug + 'static,
{
    if e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ResourceNotFoundException")
    {
        RegistryError::NoTable(table.to_string())
    } else {
        RegistryError::Backend(sdk_message(&e))
    }
}

fn decode(
    model: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<RegistryItem, RegistryError> {
    serde_dynamo::from_item(item).map_err(|e| RegistryError::Malformed {
        model: model.to_string(),
        reason: e.to_string(),
    })
}

impl RegistryTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RegistryTable {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item of `model` (consistent read); `None` when there is none.
    pub async fn get(&self, model: &str) -> Result<Option<RegistryItem>, RegistryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("model", AttributeValue::S(model.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| read_error(&self.table, e))?;
        out.item.map(|i| decode(model, i)).transpose()
    }

    /// Every item (Scan; the table holds one item per model), sorted by model.
    pub async fn list(&self) -> Result<Vec<RegistryItem>, RegistryError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| read_error(&self.table, e))?;
            for item in resp.items.unwrap_or_default() {
                let model = match item.get("model") {
                    Some(AttributeValue::S(m)) => m.clone(),
                    _ => "?".into(),
                };
                out.push(decode(&model, item)?);
            }
            start = resp.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.model.cmp(&b.model));
        Ok(out)
    }

    /// Writes `item` if the stored revision is still `read_revision` (`None`: no item yet).
    pub async fn put(
        &self,
        item: &RegistryItem,
        read_revision: Option<u64>,
    ) -> Result<(), PutError> {
        let attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).map_err(|e| {
            PutError::Other(RegistryError::Malformed {
                model: item.model.clone(),
                reason: e.to_string(),
            })
        })?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .expression_attribute_names("#m", "model");
        req = match read_revision {
            None => req.condition_expression("attribute_not_exists(#m)"),
            Some(rev) => req
                .condition_expression("attribute_exists(#m) AND #r = :r")
                .expression_attribute_names("#r", "revision")
                .expression_attribute_values(":r", AttributeValue::N(rev.to_string())),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(PutError::Conflict)
            }
            Err(e) => Err(PutError::Other(read_error(&self.table, e))),
        }
    }

    /// Reads the item of `model`, computes the change with `f` and writes it conditionally;
    /// on a conflict, re-reads and re-applies (after a short jittered pause), at most
    /// [`MAX_ATTEMPTS`] times. `f` sees the item as read each time.
    pub async fn update<F>(&self, model: &str, mut f: F) -> Result<Updated, RegistryError>
    where
        F: FnMut(Option<&RegistryItem>) -> Result<Applied, OpError>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.get(model).await?;
            match f(current.as_ref())? {
                Applied::Unchanged { why } => {
                    return Ok(Updated::Unchanged {
                        item: current.map(Box::new),
                        why,
                    })
                }
                Applied::Changed { item, summary } => {
                    match self.put(&item, current.as_ref().map(|c| c.revision)).await {
                        Ok(()) => {
                            return Ok(Updated::Written {
                                item,
                                summary,
                                attempts: attempt,
                            })
                        }
                        Err(PutError::Conflict) => {
                            tracing::info!(
                                model,
                                attempt,
                                read_revision = current.as_ref().map(|c| c.revision),
                                "registry write conflict; re-reading"
                            );
                            tokio::time::sleep(conflict_pause(attempt)).await;
                        }
                        Err(PutError::Other(e)) => return Err(e),
                    }
                }
            }
        }
        Err(RegistryError::Contention {
            model: model.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// 5–10 ms, 10–20 ms, … capped at 200 ms: writers that collided spread out.
fn conflict_pause(attempt: u32) -> Duration {
    let base = (5u64 << attempt.min(6)).min(200);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base + nanos % (base + 1))
}

/// Where the bundle of `reference` lives: its recorded prefix, else
/// `<models_prefix><model>/<version>/`.
pub fn source_for(
    s3: aws_sdk_s3::Client,
    bucket: &str,
    models_prefix: &str,
    model: &str,
    reference: &VersionRef,
) -> S3Source {
    match &reference.prefix {
        Some(p) => S3Source::new(s3, bucket, p),
        None => S3Source::for_version(s3, bucket, models_prefix, model, &reference.version),
    }
}

/// The key prefix a bundle of `model`/`version` is published under.
pub fn bundle_prefix(models_prefix: &str, model: &str, version: &str) -> String {
    format!("{}{model}/{version}/", dir_prefix(models_prefix))
}

/// The active version of `model`, `None` when the registry has no item (or no `active`) for it.
pub async fn read_active(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    model: &str,
) -> Result<Option<ActiveModel>, RegistryError> {
    let item = RegistryTable::new(client.clone(), table).get(model).await?;
    Ok(item.and_then(|i| i.active).map(|a| ActiveModel {
        version: a.version,
        prefix: a.prefix.filter(|p| !p.is_empty()),
        sha256: a.sha256.filter(|s| !s.is_empty()),
    }))
}

/// Counted when reload could not add the compiled models file to an upload lacking it.
pub const COMPILE_FAILED_METRIC: &str = "CompileFailed";

/// Where bundles live: the bucket and the models prefix (`MODEL_BUCKET`, `MODEL_PREFIX`).
#[derive(Debug, Clone)]
pub struct ModelStore {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub models_prefix: String,
}

impl ModelStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>, models_prefix: &str) -> Self {
        ModelStore {
            s3,
            bucket: bucket.into(),
            models_prefix: dir_prefix(models_prefix),
        }
    }

    /// The bundle of `model`/`version` as published: `<models_prefix><model>/<version>/`.
    pub fn source(&self, model: &str, version: &str) -> S3Source {
        S3Source::new(
            self.s3.clone(),
            &self.bucket,
            &bundle_prefix(&self.models_prefix, model, version),
        )
    }

    /// Loads and validates `model`/`version` from S3 (see [`crate::registry::validate`]).
    pub async fn validate(&self, model: &str, version: &str) -> Result<Validated, Rejected> {
        validate_source(&self.source(model, version), model, version).await
    }

    /// A validated bundle uploaded without the compiled models file gets one: built from its
    /// text models and proven to score exactly as they do ([`compile_bundle`]: golden rows and
    /// 1,000 random rows, bit for bit), written next to the manifest, then the manifest is
    /// rewritten to list it, so every container that loads this version skips parsing the
    /// text. The returned bundle is the one the rewritten manifest describes (its sha256 is
    /// what the registry pins). Any failure keeps the upload as it is, served from its text
    /// (logged, `CompileFailed`): the compiled file is an optimisation, never a reason to
    /// refuse a model. The manifest rewrite is itself an upload event; it arrives for a
    /// version the registry already knows and is a no-op.
    pub async fn compile_missing(&self, model: &str, v: Validated) -> Validated {
        if v.bundle
            .manifest()
            .files
            .iter()
            .any(|f| f.compiled.is_some())
        {
            return v;
        }
        let started = std::time::Instant::now();
        match self.write_compiled(model, &v).await {
            Ok(compiled) => {
                tracing::info!(
                    file = FILE_NAME,
                    compile_ms = started.elapsed().as_secs_f64() * 1e3,
                    manifest_sha256 = %compiled.manifest_sha256,
                    "compiled models written beside the manifest"
                );
                compiled
            }
            Err(e) => {
                tracing::warn!(error = %e, "no compiled models file; the bundle is served from its text models");
                metrics::counter!(COMPILE_FAILED_METRIC).increment(1);
                v
            }
        }
    }

    async fn write_compiled(&self, model: &str, v: &Validated) -> Result<Validated, String> {
        let manifest = v.bundle.manifest();
        let source = self.source(model, &manifest.version);
        let mut files = Vec::with_capacity(manifest.files.len() + 1);
        for f in &manifest.files {
            let bytes =
                (source.read(&f.path).await).map_err(|e| format!("reading {}: {e}", f.path))?;
            files.push((f.path.clone(), bytes));
        }
        let (entry, bytes) = compile_bundle(manifest, &files).map_err(|e| e.to_string())?;
        let mut next = manifest.clone();
        next.files.push(entry);
        let manifest_bytes = next.to_json().into_bytes();
        let prefix = bundle_prefix(&self.models_prefix, model, &manifest.version);
        // The compiled file first: the manifest must never list a file that is not there yet.
        for (name, body, content_type) in [
            (FILE_NAME, bytes.clone(), "application/octet-stream"),
            (MANIFEST_FILE, manifest_bytes.clone(), "application/json"),
        ] {
            let key = format!("{prefix}{name}");
            (self.s3.put_object().bucket(&self.bucket).key(&key))
                .content_type(content_type)
                .body(aws_sdk_s3::primitives::ByteStream::from(body))
                .send()
                .await
                .map_err(|e| format!("writing s3://{}/{key}: {}", self.bucket, sdk_message(&e)))?;
        }
        files.push((FILE_NAME.to_string(), bytes));
        let bundle = Bundle::from_parts(next, files).map_err(|e| e.to_string())?;
        if !bundle.is_compiled() {
            return Err("the rewritten bundle does not use its compiled file".into());
        }
        Ok(Validated {
            bundle,
            manifest_sha256: sha256_hex(&manifest_bytes),
            golden_rows: v.golden_rows,
        })
    }

    /// The registry reference of a validated bundle.
    pub fn reference(&self, model: &str, v: &Validated) -> VersionRef {
        VersionRef {
            version: v.bundle.version().to_string(),
            prefix: Some(bundle_prefix(
                &self.models_prefix,
                model,
                v.bundle.version(),
            )),
            sha256: Some(v.manifest_sha256.clone()),
        }
    }
}

/// Why an admin change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A rollback (or forced promotion) target unknown to history failed re-validation from S3.
    #[error("version `{version}` cannot be made active: {rejected}")]
    Invalid { version: String, rejected: Rejected },
}

impl ChangeError {
    pub fn code(&self) -> String {
        match self {
            ChangeError::Registry(e) => e.code().to_string(),
            ChangeError::Invalid { rejected, .. } => rejected.code.clone(),
        }
    }
}

/// Applies an admin change with conditional writes (see [`RegistryTable::update`]). A rollback
/// (or a forced promotion) to a version history does not know is re-validated from S3 first
/// (when `store` is given), so only a bundle that passes validation can become active.
pub async fn apply_change(
    table: &RegistryTable,
    store: Option<&ModelStore>,
    model: &str,
    change: &Change,
    by: &str,
    reason: &str,
) -> Result<Updated, ChangeError> {
    let at = now_rfc3339();
    let ctx = Context {
        by,
        reason,
        at: &at,
    };
    let first = table
        .update(model, |cur| apply(cur, model, change, &ctx))
        .await;
    match (first, change, store) {
        (
            Err(RegistryError::Op(OpError::UnknownVersion { version, .. })),
            Change::Rollback { to: Some(_), .. } | Change::ForcePromote { .. },
            Some(store),
        ) => {
            tracing::info!(model, version = %version, action = change.name(), "version not in history; re-validating it from S3");
            // Everything but the quality gate, which a forced promotion overrides.
            let validated =
                store
                    .validate(model, &version)
                    .await
                    .map_err(|rejected| ChangeError::Invalid {
                        version: version.clone(),
                        rejected,
                    })?;
            let validated = Some(store.reference(model, &validated));
            let change = match change {
                Change::ForcePromote { .. } => Change::ForcePromote { version, validated },
                _ => Change::Rollback {
                    to: Some(version),
                    validated,
                },
            };
            Ok(table
                .update(model, |cur| apply(cur, model, &change, &ctx))
                .await?)
        }
        (other, _, _) => Ok(other?),
    }
}

/// Loads the bundles a warm container is told to serve from S3, verified
/// ([`crate::registry::validate::load_for_serving`]) and built into the function's model type.
pub struct S3Loader<T> {
    pub store: ModelStore,
    pub model_name: String,
    pub build: fn(Bundle) -> Result<T, String>,
}

impl<T: Send + Sync> Loader<T> for S3Loader<T> {
    async fn load(&self, reference: &VersionRef) -> Result<T, String> {
        let source = source_for(
            self.store.s3.clone(),
            &self.store.bucket,
            &self.store.models_prefix,
            &self.model_name,
            reference,
        );
        let bundle = load_for_serving(&source, &self.model_name, reference)
            .await
            .map_err(|e| format!("{}: {e}", source.location()))?;
        (self.build)(bundle).map_err(|e| format!("{}: {e}", source.location()))
    }
}

/// The inline registry check of a warm container: at most once per TTL (the invocation that
/// crosses it), read the registry item within `registry_timeout`, and load what changed within
/// `load_timeout`. Never fails: problems are logged and reported.
pub struct Refresher<T> {
    pub gate: RefreshGate,
    pub table: RegistryTable,
    pub loader: S3Loader<T>,
    pub registry_timeout: Duration,
    pub load_timeout: Duration,
}

impl<T: Send + Sync> Refresher<T> {
    /// One registry check: read the item (short timeout), load what it names (load timeout).
    pub async fn check(
        &self,
        current: Option<&ServingSet<T>>,
    ) -> (Option<ServingSet<T>>, RefreshReport) {
        let model = self.loader.model_name.as_str();
        let started = std::time::Instant::now();
        let item = match tokio::time::timeout(self.registry_timeout, self.table.get(model)).await {
            Ok(Ok(item)) => item,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, model, "registry check failed; keeping the current models");
                return (None, RefreshReport::default());
            }
            Err(_) => {
                tracing::warn!(
                    model,
                    timeout_ms = self.registry_timeout.as_millis() as u64,
                    "registry check timed out; keeping the current models"
                );
                return (None, RefreshReport::default());
            }
        };
        let refresh = refresh(model, current, item.as_ref(), &self.loader);
        let (next, report) = match tokio::time::timeout(self.load_timeout, refresh).await {
            Ok(r) => r,
            Err(_) => {
                let report = RefreshReport {
                    failed: vec![(
                        item.as_ref()
                            .and_then(|i| i.active.as_ref())
                            .map_or_else(String::new, |a| a.version.clone()),
                        format!(
                            "loading did not finish within {} ms",
                            self.load_timeout.as_millis()
                        ),
                    )],
                    ..RefreshReport::default()
                };
                (None, report)
            }
        };
        for (version, error) in &report.failed {
            tracing::error!(model, version = %version, error = %error, "model load failed; keeping the current models");
        }
        if report.swapped {
            if let Some(n) = &next {
                tracing::info!(
                    model,
                    revision = item.as_ref().map(|i| i.revision),
                    active = %n.active.version(),
                    candidate = n.candidate.as_ref().map(|(c, _)| c.version()),
                    weight = n.candidate.as_ref().map(|(_, w)| *w),
                    shadow = n.shadow.as_ref().map(|s| s.version()),
                    loaded = ?report.loaded,
                    took_ms = started.elapsed().as_secs_f64() * 1e3,
                    "model swap"
                );
            }
        }
        (next, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_through_dynamodb_attributes() {
        let ctx = Context {
            by: "alice",
            reason: "r",
            at: "2026-11-22T10:00:00.000Z",
        };
        let mut item: Option<RegistryItem> = None;
        for (v, rollout) in [
            ("v1", crate::bundle::Rollout::Immediate),
            ("v2", crate::bundle::Rollout::Canary(10)),
            ("v3", crate::bundle::Rollout::Shadow),
        ] {
            let change = Change::Publish {
                target: VersionRef {
                    version: v.into(),
                    prefix: Some(bundle_prefix("models", "m", v)),
                    sha256: Some("ab".repeat(32)),
                },
                kind: "product-recommender".into(),
                rollout,
            };
            match apply(item.as_ref(), "m", &change, &ctx).unwrap() {
                Applied::Changed { item: i, .. } => item = Some(*i),
                Applied::Unchanged { why } => panic!("{why}"),
            }
        }
        let item = item.unwrap();
        let attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(&item).unwrap();
        assert_eq!(attrs["model"], AttributeValue::S("m".into()));
        assert_eq!(attrs["revision"], AttributeValue::N("3".into()));
        assert!(matches!(attrs["active"], AttributeValue::M(_)));
        assert_eq!(decode("m", attrs).unwrap(), item);
        assert_eq!(
            item.active.as_ref().unwrap().prefix.as_deref(),
            Some("models/m/v1/")
        );
    }

    #[test]
    fn conflict_pauses_grow_and_stay_bounded() {
        assert!(conflict_pause(1) >= Duration::from_millis(10));
        assert!(conflict_pause(30) <= Duration::from_millis(401));
    }
}
