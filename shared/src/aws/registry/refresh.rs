//! A warm container following the registry: the loader of the bundles it names and the
//! inline check that runs once per TTL.

use super::store::{source_for, ModelStore};
use super::table::RegistryTable;
use crate::bundle::{Bundle, BundleSource};
use crate::registry::{
    load_for_serving, refresh, Loader, RefreshGate, RefreshReport, ServingSet, VersionRef,
};
use std::time::Duration;

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
        let key = crate::registry::serving::load_key(item.as_ref());
        if !self.gate.may_load(&key) {
            tracing::debug!(
                model,
                "versions that failed to load are waiting for their retry"
            );
            return (None, RefreshReport::default());
        }
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
        if report.failed.is_empty() {
            self.gate.load_succeeded();
        } else {
            self.gate.load_failed(&key);
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
