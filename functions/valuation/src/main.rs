//! The `valuation` Lambda function. Init happens once per container — configuration, SDK
//! clients, registry read of the active `fair-multiple` version (else `MODEL_VERSION`), bundle
//! download with checksum and golden-row verification, a warm-up read of the Features table —
//! then `lambda_runtime` drives a thin handler over shared `Send + Sync` state
//! ([`warmstart_core::valuation::ValuationService`]). A missing or broken model does not stop
//! the function: answers then lack the ML section and are `degraded`. Every request problem is
//! an HTTP answer; the handler never returns an error to the runtime.
//!
//! Warm containers follow the registry like recommend does: at most every `REGISTRY_TTL_SECS`
//! (default 30) the crossing invocation reads the registry item (`REGISTRY_TIMEOUT_MS`, default
//! 200) and loads what changed (`MODEL_LOAD_TIMEOUT_MS`, default 5000): a new active version,
//! a canary candidate (companies whose `ts_code` falls under its weight), a shadow. A failed
//! load keeps the current model (`ModelLoadFailed`); a swap emits `ModelSwap`.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmstart_core::aws::valuation_store::{DynamoCompanyStore, DynamoValuationCache};
use warmstart_core::aws::{
    self, sdk, ModelStore, Refresher, RegistryError, RegistryTable, S3Loader, S3Source,
};
use warmstart_core::bundle::{Bundle, BundleSource};
use warmstart_core::lambda::env::{millis, number, required, seconds, var};
use warmstart_core::registry::{metric, RefreshGate, RegistryItem, ServingSet, VersionRef};
use warmstart_core::telemetry::{self, InvocationMetrics, Metrics};
use warmstart_core::valuation::service::FUNCTION;
use warmstart_core::valuation::{FairMultipleModel, ValuationConfig, ValuationService};

/// The metric counting answers served from `ValuationCache`.
const CACHE_HIT: &str = "CacheHit";

/// Configuration from the environment (see template.yaml).
#[derive(Debug, Clone)]
struct Config {
    bucket: Option<String>,
    models_prefix: String,
    model_name: String,
    /// Served when the registry has no item for the model (empty = unset).
    model_version: Option<String>,
    registry_table: Option<String>,
    features_table: String,
    /// Unset: no cache.
    cache_table: Option<String>,
    service: ValuationConfig,
    registry_ttl: Duration,
    registry_timeout: Duration,
    load_timeout: Duration,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let store_ms = number("STORE_DEADLINE_MS", 150, 1)?;
        let cache_table = var("VALUATION_CACHE_TABLE");
        Ok(Config {
            bucket: var("MODEL_BUCKET"),
            models_prefix: var("MODEL_PREFIX").unwrap_or_else(|| "models/".into()),
            model_name: var("MODEL_NAME").unwrap_or_else(|| "fair-multiple".into()),
            model_version: var("MODEL_VERSION"),
            registry_table: var("REGISTRY_TABLE"),
            features_table: required("FEATURES_TABLE")?,
            service: ValuationConfig {
                store_deadline: Duration::from_millis(store_ms),
                // One index GetItem plus one BatchGetItem of up to 100 companies.
                peers_deadline: Duration::from_millis(number(
                    "PEERS_DEADLINE_MS",
                    4 * store_ms,
                    1,
                )?),
                cache_ttl_secs: if cache_table.is_some() {
                    number("CACHE_TTL_SECS", 3600, 0)?
                } else {
                    0
                },
            },
            cache_table,
            registry_ttl: seconds("REGISTRY_TTL_SECS", 30)?,
            registry_timeout: millis("REGISTRY_TIMEOUT_MS", 200)?,
            load_timeout: millis("MODEL_LOAD_TIMEOUT_MS", 5000)?,
        })
    }
}

struct State {
    service: ValuationService<DynamoCompanyStore, DynamoValuationCache>,
    /// The registry check of warm containers (`None` without REGISTRY_TABLE or MODEL_BUCKET).
    refresher: Option<Refresher<FairMultipleModel>>,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
}

/// What init resolved: the source and reference of the bundle to serve, where the version came
/// from, and the registry item when there is one.
type Resolved = (S3Source, VersionRef, &'static str, Option<RegistryItem>);

/// Which bundle to serve: the registry's active version, else `MODEL_VERSION`; `Ok(None)` when
/// neither names one.
async fn resolve_source(
    config: &Config,
    bucket: &str,
    s3: sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Result<Option<Resolved>, String> {
    let from_env = |why: String| match &config.model_version {
        Some(v) => {
            tracing::info!(reason = %why, version = %v, "serving MODEL_VERSION");
            Ok(Some((
                S3Source::for_version(
                    s3.clone(),
                    bucket,
                    &config.models_prefix,
                    &config.model_name,
                    v,
                ),
                VersionRef::new(v.clone()),
                "env",
                None,
            )))
        }
        None => {
            tracing::warn!(reason = %why, model = %config.model_name, "no model version to serve and MODEL_VERSION is not set");
            Ok(None)
        }
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
                s3,
                bucket,
                &config.models_prefix,
                &config.model_name,
                &active,
            );
            Ok(Some((source, active, "registry", Some(item))))
        }
        Ok(Some(item)) => {
            let fallback = from_env(format!("registry table `{table}` has no active version"))?;
            Ok(fallback.map(|(s, r, o, _)| (s, r, o, Some(item))))
        }
        Ok(None) => from_env(format!("registry table `{table}` has no active version")),
        Err(RegistryError::NoTable(t)) => from_env(format!("registry table `{t}` does not exist")),
        Err(e) => {
            tracing::warn!(error = %e, "registry read failed");
            from_env(e.to_string())
        }
    }
}

/// What init loaded: the model (if any) with its registry reference, and the registry item.
type Loaded = (
    Option<(FairMultipleModel, VersionRef)>,
    Option<RegistryItem>,
);

/// Loads and checks the fair-multiple bundle; no model (logged) when there is none to serve or
/// it cannot be served.
async fn load_model(
    config: &Config,
    s3: sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Loaded {
    let Some(bucket) = &config.bucket else {
        tracing::warn!("MODEL_BUCKET is not set: serving without the fair-multiple model");
        return (None, None);
    };
    let (source, reference, origin, item) = match resolve_source(config, bucket, s3, dynamo).await {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => return (None, None),
    };
    let version = reference.version.clone();
    let location = source.location();
    let t = Instant::now();
    let checked = async {
        // Name, version, sha256 (when the registry records it), checksums, golden rows.
        let bundle =
            warmstart_core::registry::load_for_serving(&source, &config.model_name, &reference)
                .await
                .map_err(|e| format!("loading bundle from {location}: {e}"))?;
        let golden = bundle.manifest().golden.len();
        let model = FairMultipleModel::new(bundle)
            .map_err(|e| format!("bundle at {location} cannot be served: {e}"))?;
        Ok::<_, String>((model, golden))
    };
    let model = match checked.await {
        Ok((model, golden)) => {
            tracing::info!(
                model_name = %config.model_name,
                model_version = %version,
                version_from = origin,
                location = %location,
                golden_rows = golden,
                bundle_ms = t.elapsed().as_secs_f64() * 1e3,
                "fair-multiple model loaded"
            );
            Some((model, reference))
        }
        Err(e) => {
            tracing::error!(error = %e, "serving without the fair-multiple model");
            None
        }
    };
    (model, item)
}

async fn init(process_start: Instant) -> Result<State, String> {
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let s3 = aws::s3_client(&sdk);
    let dynamo = aws::dynamodb_client(&sdk);
    let store = DynamoCompanyStore::new(dynamo.clone(), &config.features_table);
    let cache = DynamoValuationCache::new(
        dynamo.clone(),
        config.cache_table.clone().unwrap_or_default(),
    );

    // Open the DynamoDB connection while the bundle downloads, so the first request does not
    // pay the TLS handshake inside its store deadline.
    let warm = async {
        let t = Instant::now();
        let r = store.get_company("__warmup__").await;
        (r, t.elapsed())
    };
    let ((warm_result, warm_took), (model, item)) =
        tokio::join!(warm, load_model(&config, s3.clone(), &dynamo));
    if let Err(e) = warm_result {
        tracing::warn!(error = %e, table = %config.features_table, "Features table warm-up read failed; requests will fail with 503 if this persists");
    }
    let model_version = model.as_ref().map(|(m, _)| m.version().to_string());
    let (model, reference) = match model {
        Some((m, r)) => (Some(m), Some(r)),
        None => (None, None),
    };
    let service = ValuationService::new(store, cache, model, config.service, process_start);
    let refresher = match (&config.registry_table, &config.bucket) {
        (Some(table), Some(bucket)) => Some(Refresher {
            gate: RefreshGate::new(config.registry_ttl),
            table: RegistryTable::new(dynamo.clone(), table),
            loader: S3Loader {
                store: ModelStore::new(s3.clone(), bucket, &config.models_prefix),
                model_name: config.model_name.clone(),
                build: |b: Bundle| FairMultipleModel::new(b).map_err(|e| e.to_string()),
            },
            registry_timeout: config.registry_timeout,
            load_timeout: config.load_timeout,
        }),
        _ => None,
    };
    // The registry's candidate and shadow, loaded now; the active model just loaded is reused.
    if let (Some(refresher), Some(item)) = (&refresher, &item) {
        let current = service.serving().map(|cur| {
            let mut set = ServingSet::clone(&cur);
            if let Some(r) = &reference {
                set.active.reference = r.clone();
            }
            set
        });
        let refresh = warmstart_core::registry::refresh(
            &config.model_name,
            current.as_ref(),
            Some(item),
            &refresher.loader,
        );
        if let Ok((next, report)) = tokio::time::timeout(config.load_timeout, refresh).await {
            for (v, e) in &report.failed {
                tracing::error!(version = %v, error = %e, "registry model failed to load at init; serving without it");
            }
            if let Some(next) = next.or(current) {
                service.swap_serving(next);
            }
        }
    }
    let metrics = match Metrics::init(FUNCTION) {
        Ok(m) => {
            metrics::describe_counter!(
                CACHE_HIT,
                metrics::Unit::Count,
                "answers from ValuationCache"
            );
            metrics::counter!(CACHE_HIT).increment(0);
            metric::describe_serving();
            Some(m)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    };
    tracing::info!(
        model_version = model_version.as_deref().unwrap_or("none"),
        cache_table = config.cache_table.as_deref().unwrap_or("none"),
        cache_ttl_secs = config.service.cache_ttl_secs,
        store_warmup_ms = warm_took.as_secs_f64() * 1e3,
        init_ms = service.init_ms(),
        "init complete"
    );
    Ok(State {
        service,
        refresher,
        metrics,
        invoked: AtomicBool::new(false),
    })
}

/// The registry check, when this invocation is the one that crosses the TTL.
async fn follow_registry(state: &State) {
    let Some(refresher) = &state.refresher else {
        return;
    };
    let current = state.service.serving();
    let Some((next, report)) = refresher.check(current.as_deref()).await else {
        return;
    };
    if let Some(next) = next {
        state.service.swap_serving(next);
        if report.swapped {
            metrics::counter!(metric::MODEL_SWAP).increment(1);
        }
    }
    if !report.failed.is_empty() {
        metrics::counter!(metric::MODEL_LOAD_FAILED).increment(report.failed.len() as u64);
    }
}

async fn handle(
    state: &State,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, Infallible> {
    let started = Instant::now();
    follow_registry(state).await;
    let (resp, stats) = state
        .service
        .handle(&event.payload, &event.context.request_id)
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let cold_start = !state.invoked.swap(true, Ordering::Relaxed);
    let request_id = warmstart_core::http::request_id(&event.payload, &event.context.request_id);
    let model_version = stats.model_version.as_deref().unwrap_or("none");
    tracing::info!(
        request_id = %request_id,
        route = stats.route,
        status = stats.status,
        ts_code = stats.ts_code.as_deref(),
        latency_ms,
        store_ms = stats.store_ms,
        compute_ms = stats.compute_ms,
        cache_hit = stats.cache_hit,
        degraded = stats.degraded,
        store_failure = stats.store_failure,
        peers_failure = stats.peers_failure,
        cache_failure = stats.cache_failure,
        error_code = stats.error_code,
        model_version = %model_version,
        variant = stats.variant,
        shadow_version = stats.shadow.as_ref().map(|(v, _)| v.as_str()),
        shadow_score_delta = stats.shadow.as_ref().map(|(_, d)| *d),
        cold_start,
        "request"
    );
    if let Some(metrics) = &state.metrics {
        metrics.record(&InvocationMetrics {
            counted: stats.counted,
            latency_ms,
            store_ms: stats.store_ms,
            degraded: stats.degraded,
            popular: false,
            cold_start,
            init_ms: cold_start.then(|| state.service.init_ms()),
            model_version,
            request_id,
        });
        if stats.counted {
            metrics::counter!(CACHE_HIT).increment(u64::from(stats.cache_hit));
        }
        if let Some((_, delta)) = &stats.shadow {
            metrics::histogram!(metric::SHADOW_SCORE_DELTA).record(*delta);
        }
        metrics.flush();
    }
    Ok(resp)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let process_start = Instant::now();
    telemetry::init_tracing();
    let state = match init(process_start).await {
        Ok(s) => Arc::new(s),
        Err(e) => warmstart_core::lambda::fail_init(&e).await,
    };
    lambda_runtime::run(service_fn(move |event| {
        let state = Arc::clone(&state);
        async move { handle(&state, event).await }
    }))
    .await
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<State>();
}
