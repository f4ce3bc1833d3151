//! The served model of a function, the same for every model kind `T`: at init, resolve the
//! version (the registry's active one, else `MODEL_VERSION`), load and verify it (name,
//! version, sha256, checksums, golden rows), build it into `T`, and load the registry's
//! candidate and shadow beside it so the canary holds from the first request; then, per
//! request, let the invocation that crosses the TTL check the registry and swap
//! ([`follow`]). A failed load keeps what is served (`ModelLoadFailed`); a swap emits
//! `ModelSwap`.

use super::fetch::{ReadAhead, TimedSource};
use super::ModelConfig;
use crate::aws::{
    self, sdk, ModelStore, Refresher, RegistryError, RegistryTable, S3Loader, S3Source,
};
use crate::bundle::{Bundle, BundleSource, MANIFEST_FILE};
use crate::registry::{
    load_for_serving_timed, metric, refresh, RefreshGate, RegistryItem, ServingSet, VersionRef,
};
use std::sync::Arc;
use std::time::Instant;

/// A service that serves a [`ServingSet`] of `T` and takes a new one (recommend, valuation,
/// each model of the predict function).
pub trait Serves<T>: Send + Sync + 'static {
    fn current(&self) -> Option<Arc<ServingSet<T>>>;
    /// Serves `set` from now on; requests in flight finish on the old one.
    fn serve(&self, set: ServingSet<T>) -> Result<(), String>;
}

/// What init loaded and how the function follows the registry.
pub struct Served<T> {
    /// The set to serve, or why there is none.
    pub set: Result<ServingSet<T>, String>,
    /// The registry check of warm containers (`None` without `REGISTRY_TABLE` or a bucket).
    pub follower: Option<Arc<Refresher<T>>>,
    /// Where the active version came from: `registry` or `env` (`none` without one).
    pub origin: &'static str,
}

/// Loads the model `config` names (see the module docs); `build` checks that a bundle is this
/// function's kind and builds its model.
pub async fn load_served<T: Send + Sync>(
    config: &ModelConfig,
    s3: &sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
    build: fn(Bundle) -> Result<T, String>,
) -> Served<T> {
    let Some(bucket) = &config.bucket else {
        return Served {
            set: Err("MODEL_BUCKET is not set".into()),
            follower: None,
            origin: "none",
        };
    };
    let follower = config.registry_table.as_ref().map(|table| {
        Arc::new(Refresher {
            gate: RefreshGate::new(config.registry_ttl),
            table: RegistryTable::new(dynamo.clone(), table),
            loader: S3Loader {
                store: ModelStore::new(s3.clone(), bucket, &config.models_prefix),
                model_name: config.model_name.clone(),
                build,
            },
            registry_timeout: config.registry_timeout,
            load_timeout: config.load_timeout,
        })
    });
    let resolving = Instant::now();
    let (source, reference, origin, item) = match resolve(config, bucket, s3, dynamo).await {
        Ok(r) => r,
        Err(e) => {
            return Served {
                set: Err(e),
                follower,
                origin: "none",
            }
        }
    };
    let registry_ms = resolving.elapsed().as_secs_f64() * 1e3;
    let location = source.location();
    let started = Instant::now();
    let timed = TimedSource::new(&source);
    // The manifest and the compiled file it names in one round trip instead of two.
    let source_ahead = ReadAhead::new(&timed, MANIFEST_FILE, crate::model::compiled::FILE_NAME);
    let loaded = async {
        let (bundle, times) = load_for_serving_timed(&source_ahead, &config.model_name, &reference)
            .await
            .map_err(|e| format!("loading bundle from {location}: {e}"))?;
        let golden = bundle.manifest().golden.len();
        let compiled = bundle.is_compiled();
        let model =
            build(bundle).map_err(|e| format!("bundle at {location} cannot be served: {e}"))?;
        Ok::<_, String>((model, golden, compiled, times))
    };
    let (model, golden, compiled, times) = match loaded.await {
        Ok(m) => m,
        Err(e) => {
            return Served {
                set: Err(e),
                follower,
                origin,
            }
        }
    };
    let bundle_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut set = ServingSet::single(config.model_name.clone(), reference, model);
    let others = Instant::now();
    // The registry's candidate and shadow, loaded now so the canary holds from the first
    // request; the active model just loaded is reused.
    if let (Some(f), Some(item)) = (&follower, &item) {
        let refreshed = tokio::time::timeout(
            config.load_timeout,
            refresh(&config.model_name, Some(&set), Some(item), &f.loader),
        )
        .await;
        if let Ok((next, report)) = refreshed {
            for (v, e) in &report.failed {
                tracing::error!(version = %v, error = %e, "registry model failed to load at init; serving without it");
            }
            if let Some(next) = next {
                set = next;
            }
        }
    }
    tracing::info!(
        model_name = %config.model_name,
        model_version = %set.active.version(),
        candidate = set.candidate.as_ref().map(|(c, _)| c.version()),
        canary_weight = set.candidate.as_ref().map(|(_, w)| *w),
        shadow = set.shadow.as_ref().map(|s| s.version()),
        registry_revision = set.revision,
        version_from = origin,
        location = %location,
        golden_rows = golden,
        compiled,
        registry_ms,
        fetch_ms = timed.waited().as_secs_f64() * 1e3,
        load_ms = times.load_ms,
        golden_ms = times.golden_ms,
        bundle_ms,
        candidates_ms = others.elapsed().as_secs_f64() * 1e3,
        "{} model loaded",
        config.model_name
    );
    Served {
        set: Ok(set),
        follower,
        origin,
    }
}

/// Which bundle to serve: the registry's active version, else `MODEL_VERSION`; with the
/// registry item when there is one.
async fn resolve(
    config: &ModelConfig,
    bucket: &str,
    s3: &sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Result<(S3Source, VersionRef, &'static str, Option<RegistryItem>), String> {
    let from_env = |why: String| match &config.model_version {
        Some(v) => {
            tracing::info!(reason = %why, version = %v, "serving MODEL_VERSION");
            let source = S3Source::for_version(
                s3.clone(),
                bucket,
                &config.models_prefix,
                &config.model_name,
                v,
            );
            Ok((source, VersionRef::new(v.clone()), "env", None))
        }
        None => Err(format!(
            "no model version to serve for `{}`: {why}, and MODEL_VERSION is not set",
            config.model_name
        )),
    };
    let Some(table) = &config.registry_table else {
        return from_env("REGISTRY_TABLE is not set".into());
    };
    match RegistryTable::new(dynamo.clone(), table)
        .get(&config.model_name)
        .await
    {
        Ok(Some(item)) if item.active.is_some() => {
            let active = item.active_ref().expect("active");
            let source = aws::source_for(
                s3.clone(),
                bucket,
                &config.models_prefix,
                &config.model_name,
                &active,
            );
            Ok((source, active, "registry", Some(item)))
        }
        Ok(_) => from_env(format!("registry table `{table}` has no active version")),
        Err(RegistryError::NoTable(t)) => from_env(format!("registry table `{t}` does not exist")),
        Err(e) => {
            tracing::warn!(error = %e, "registry read failed");
            from_env(e.to_string())
        }
    }
}

/// The registry check, when this invocation is the one that crosses the TTL: started on a
/// task of its own, so neither this request nor any other waits for the registry read or a
/// model load; requests keep the current set until the new one is built, then it is swapped
/// in (`ModelSwap`; a failure keeps the current set, `ModelLoadFailed`).
///
/// On Lambda the environment is frozen between invocations, so the task makes progress while
/// this and the following invocations run (and finishes in one of them); a swap that needs
/// more than one invocation's worth of time simply lands a few requests later.
pub fn follow<T: Send + Sync + 'static>(
    follower: Option<&Arc<Refresher<T>>>,
    target: &Arc<impl Serves<T>>,
) {
    let Some(follower) = follower else {
        return;
    };
    if !follower.gate.claim() {
        return;
    }
    let (follower, target) = (Arc::clone(follower), Arc::clone(target));
    tokio::spawn(async move {
        // Released even if the check panics, so the container keeps following.
        let _release = Release(&follower.gate);
        let current = target.current();
        let (next, report) = follower.check(current.as_deref()).await;
        let mut failed = report.failed.len() as u64;
        if let Some(next) = next {
            match target.serve(next) {
                Ok(()) if report.swapped => metrics::counter!(metric::MODEL_SWAP).increment(1),
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "registry models cannot be served; keeping the current ones");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            metrics::counter!(metric::MODEL_LOAD_FAILED).increment(failed);
        }
    });
}

struct Release<'a>(&'a RefreshGate);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}
