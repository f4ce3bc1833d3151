//! The `recommend` Lambda function. Init happens once per container — configuration, SDK
//! clients, registry read (active version, canary candidate, shadow), bundle downloads with
//! checksum and golden-row verification — then `lambda_runtime` drives a thin handler over
//! shared `Send + Sync` state. Every request problem is an HTTP answer; the handler never
//! returns an error to the runtime.
//!
//! Warm containers follow the registry: the first invocation after `REGISTRY_TTL_SECS`
//! (default 30) reads the registry item (within `REGISTRY_TIMEOUT_MS`, default 200) and, on a
//! new revision, loads what changed (within `MODEL_LOAD_TIMEOUT_MS`, default 5000) and swaps
//! it in (`ModelSwap`); requests in flight finish on the old models. A failed load keeps the
//! old models (`ModelLoadFailed`) and never fails the request.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmstart_core::aws::{
    self, sdk, DynamoFeatureStore, ModelStore, Refresher, RegistryError, RegistryTable, S3Loader,
    S3Source,
};
use warmstart_core::bundle::{Bundle, BundleSource};
use warmstart_core::lambda::env::{millis, required, seconds, var};
use warmstart_core::recommend::{check_recommender_bundle, Recommender, ServiceConfig};
use warmstart_core::registry::{
    metric, RefreshGate, RefreshReport, RegistryItem, ServingSet, VersionRef,
};
use warmstart_core::store::FeatureStore;
use warmstart_core::telemetry::{self, InvocationMetrics, Metrics};

const FUNCTION: &str = "recommend";

/// Configuration from the environment (see template.yaml).
#[derive(Debug, Clone)]
struct Config {
    bucket: String,
    models_prefix: String,
    model_name: String,
    /// Served when the registry has no item for the model (empty = unset).
    model_version: Option<String>,
    registry_table: Option<String>,
    features_table: String,
    service: ServiceConfig,
    registry_ttl: Duration,
    registry_timeout: Duration,
    load_timeout: Duration,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        Ok(Config {
            bucket: required("MODEL_BUCKET")?,
            models_prefix: var("MODEL_PREFIX").unwrap_or_else(|| "models/".into()),
            model_name: var("MODEL_NAME").unwrap_or_else(|| "product-recommender".into()),
            model_version: var("MODEL_VERSION"),
            registry_table: var("REGISTRY_TABLE"),
            features_table: required("FEATURES_TABLE")?,
            service: ServiceConfig {
                store_deadline: millis("STORE_DEADLINE_MS", 150)?,
                batch_store_deadline: millis("BATCH_STORE_DEADLINE_MS", 1000)?,
            },
            registry_ttl: seconds("REGISTRY_TTL_SECS", 30)?,
            registry_timeout: millis("REGISTRY_TIMEOUT_MS", 200)?,
            load_timeout: millis("MODEL_LOAD_TIMEOUT_MS", 5000)?,
        })
    }
}

struct State {
    service: Recommender<DynamoFeatureStore>,
    /// The registry check of warm containers (`None` without REGISTRY_TABLE).
    refresher: Option<Refresher<Bundle>>,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
}

/// Which bundle to serve: the registry's active version, else `MODEL_VERSION`; with the
/// registry item when there is one.
async fn resolve_source(
    config: &Config,
    s3: sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Result<(S3Source, VersionRef, &'static str, Option<RegistryItem>), String> {
    let from_env = |why: String| match &config.model_version {
        Some(v) => {
            tracing::info!(reason = %why, version = %v, "serving MODEL_VERSION");
            Ok((
                S3Source::for_version(
                    s3.clone(),
                    &config.bucket,
                    &config.models_prefix,
                    &config.model_name,
                    v,
                ),
                VersionRef::new(v.clone()),
                "env",
                None,
            ))
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
                s3,
                &config.bucket,
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

async fn init(process_start: Instant) -> Result<State, String> {
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let s3 = aws::s3_client(&sdk);
    let dynamo = aws::dynamodb_client(&sdk);
    let store = DynamoFeatureStore::new(dynamo.clone(), &config.features_table);

    let (source, reference, origin, item) = resolve_source(&config, s3.clone(), &dynamo).await?;
    let version = reference.version.clone();
    let location = source.location();
    // Open the DynamoDB connection while the bundle downloads, so the first request does not
    // pay the TLS handshake inside its store deadline.
    let warm = async {
        let t = Instant::now();
        let r = store.get_customer("__warmup__").await;
        (r, t.elapsed())
    };
    let load = async {
        let t = Instant::now();
        let b = warmstart_core::registry::load_for_serving(&source, &config.model_name, &reference)
            .await;
        (b, t.elapsed())
    };
    let ((warm_result, warm_took), (bundle, load_took)) = tokio::join!(warm, load);
    if let Err(e) = warm_result {
        tracing::warn!(error = %e, table = %config.features_table, "feature store warm-up read failed; requests will degrade if this persists");
    }
    // Name, version, sha256 (when the registry records it), checksums and golden rows.
    let bundle = bundle.map_err(|e| format!("loading bundle from {location}: {e}"))?;
    let golden = bundle.manifest().golden.len();
    let service = Recommender::new(bundle, store, config.service, process_start)
        .map_err(|e| format!("bundle at {location} cannot be served: {e}"))?;
    let refresher = config.registry_table.as_ref().map(|table| Refresher {
        gate: RefreshGate::new(config.registry_ttl),
        table: RegistryTable::new(dynamo.clone(), table),
        loader: S3Loader {
            store: ModelStore::new(s3.clone(), &config.bucket, &config.models_prefix),
            model_name: config.model_name.clone(),
            build: |b: Bundle| {
                check_recommender_bundle(&b).map_err(|e| e.to_string())?;
                Ok(b)
            },
        },
        registry_timeout: config.registry_timeout,
        load_timeout: config.load_timeout,
    });
    // The registry's candidate and shadow, loaded now so the canary holds from the first
    // request; the active bundle just loaded is reused.
    if let (Some(refresher), Some(item)) = (&refresher, &item) {
        let mut set = ServingSet::clone(&service.serving());
        set.active.reference = reference.clone();
        let (next, report): (_, RefreshReport) = tokio::time::timeout(
            config.load_timeout,
            warmstart_core::registry::refresh(
                &config.model_name,
                Some(&set),
                Some(item),
                &refresher.loader,
            ),
        )
        .await
        .unwrap_or_default();
        for (v, e) in &report.failed {
            tracing::error!(version = %v, error = %e, "registry model failed to load at init; serving without it");
        }
        service
            .swap_serving(next.unwrap_or(set))
            .map_err(|e| format!("registry models cannot be served: {e}"))?;
    }
    let metrics = match Metrics::init(FUNCTION) {
        Ok(m) => {
            metric::describe_serving();
            Some(m)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    };
    let served = service.serving();
    tracing::info!(
        model_name = %config.model_name,
        model_version = %version,
        candidate = served.candidate.as_ref().map(|(c, _)| c.version()),
        canary_weight = served.candidate.as_ref().map(|(_, w)| *w),
        shadow = served.shadow.as_ref().map(|s| s.version()),
        registry_revision = served.revision,
        registry_ttl_secs = config.registry_ttl.as_secs(),
        version_from = origin,
        location = %location,
        golden_rows = golden,
        bundle_ms = load_took.as_secs_f64() * 1e3,
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
    let Some((next, report)) = refresher.check(Some(&current)).await else {
        return;
    };
    let mut failed = report.failed.len() as u64;
    if let Some(next) = next {
        let swapped = report.swapped;
        match state.service.swap_serving(next) {
            Ok(()) if swapped => metrics::counter!(metric::MODEL_SWAP).increment(1),
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
    let store_ms = stats.store_ms.unwrap_or(0.0);
    tracing::info!(
        request_id = %request_id,
        route = stats.route,
        status = stats.status,
        latency_ms,
        handler_ms = latency_ms - store_ms,
        store_ms = stats.store_ms,
        degraded = stats.degraded,
        source = if stats.popular { "popular" } else { "model" },
        store_failure = stats.store_failure,
        error_code = stats.error_code,
        model_version = %stats.model_version,
        variant = stats.variant,
        shadow_version = stats.shadow.as_ref().map(|s| s.version.as_str()),
        shadow_score_delta = stats.shadow.as_ref().map(|s| s.score_delta),
        shadow_topk_overlap = stats.shadow.as_ref().map(|s| s.topk_overlap),
        cold_start,
        "request"
    );
    if let Some(metrics) = &state.metrics {
        metrics.record(&InvocationMetrics {
            counted: stats.counted,
            latency_ms,
            store_ms: stats.store_ms,
            degraded: stats.degraded,
            popular: stats.popular,
            cold_start,
            init_ms: cold_start.then(|| state.service.init_ms()),
            model_version: &stats.model_version,
            request_id,
        });
        if let Some(sh) = &stats.shadow {
            metrics::histogram!(metric::SHADOW_SCORE_DELTA).record(sh.score_delta);
            metrics::histogram!(metric::SHADOW_TOPK_OVERLAP).record(sh.topk_overlap);
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
    fn store<T: FeatureStore>() {}
    store::<DynamoFeatureStore>();
}
