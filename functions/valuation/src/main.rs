//! The `valuation` Lambda function. Init happens once per container — configuration, SDK
//! clients, registry read of the active `fair-multiple` version (else `MODEL_VERSION`), bundle
//! download with checksum and golden-row verification, a warm-up read of the Features table —
//! then `lambda_runtime` drives a thin handler over shared `Send + Sync` state
//! ([`warmstart_core::valuation::ValuationService`]). A missing or broken model does not stop
//! the function: answers then lack the ML section and are `degraded`. Every request problem is
//! an HTTP answer; the handler never returns an error to the runtime.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warmstart_core::aws::valuation_store::{DynamoCompanyStore, DynamoValuationCache};
use warmstart_core::aws::{self, sdk, RegistryError, S3Source};
use warmstart_core::bundle::{Bundle, BundleSource};
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
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn number(name: &str, default: u64, min: u64) -> Result<u64, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name} must be a whole number ≥ {min}, got `{v}`")),
        },
    }
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
            features_table: var("FEATURES_TABLE").ok_or("FEATURES_TABLE is not set")?,
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
        })
    }
}

struct State {
    service: ValuationService<DynamoCompanyStore, DynamoValuationCache>,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
}

/// Which bundle to serve: the registry's active version, else `MODEL_VERSION`; `Ok(None)` when
/// neither names one.
async fn resolve_source(
    config: &Config,
    bucket: &str,
    s3: sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Result<Option<(S3Source, String, &'static str)>, String> {
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
                v.clone(),
                "env",
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
    match aws::read_active(dynamo, table, &config.model_name).await {
        Ok(Some(active)) => {
            let source = match &active.prefix {
                Some(p) => S3Source::new(s3, bucket, p),
                None => S3Source::for_version(
                    s3,
                    bucket,
                    &config.models_prefix,
                    &config.model_name,
                    &active.version,
                ),
            };
            Ok(Some((source, active.version, "registry")))
        }
        Ok(None) => from_env(format!("registry table `{table}` has no active version")),
        Err(RegistryError::NoTable(t)) => from_env(format!("registry table `{t}` does not exist")),
        Err(e) => {
            tracing::warn!(error = %e, "registry read failed");
            from_env(e.to_string())
        }
    }
}

/// Loads and checks the fair-multiple bundle; `None` (logged) when there is none to serve or
/// it cannot be served.
async fn load_model(
    config: &Config,
    s3: sdk::s3::Client,
    dynamo: &sdk::dynamodb::Client,
) -> Option<FairMultipleModel> {
    let Some(bucket) = &config.bucket else {
        tracing::warn!("MODEL_BUCKET is not set: serving without the fair-multiple model");
        return None;
    };
    let (source, version, origin) = match resolve_source(config, bucket, s3, dynamo).await {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => return None,
    };
    let location = source.location();
    let t = Instant::now();
    let checked = async {
        let bundle = Bundle::load(&source)
            .await
            .map_err(|e| format!("loading bundle from {location}: {e}"))?;
        if bundle.name() != config.model_name || bundle.version() != version {
            return Err(format!(
                "bundle at {location} is {}/{}, expected {}/{version}",
                bundle.name(),
                bundle.version(),
                config.model_name
            ));
        }
        let golden = bundle
            .verify_golden()
            .map_err(|e| format!("bundle at {location} fails its golden rows: {e}"))?;
        let model = FairMultipleModel::new(bundle)
            .map_err(|e| format!("bundle at {location} cannot be served: {e}"))?;
        Ok::<_, String>((model, golden))
    };
    match checked.await {
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
            Some(model)
        }
        Err(e) => {
            tracing::error!(error = %e, "serving without the fair-multiple model");
            None
        }
    }
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
    let ((warm_result, warm_took), model) = tokio::join!(warm, load_model(&config, s3, &dynamo));
    if let Err(e) = warm_result {
        tracing::warn!(error = %e, table = %config.features_table, "Features table warm-up read failed; requests will fail with 503 if this persists");
    }
    let model_version = model.as_ref().map(|m| m.version().to_string());
    let service = ValuationService::new(store, cache, model, config.service, process_start);
    let metrics = match Metrics::init(FUNCTION) {
        Ok(m) => {
            metrics::describe_counter!(
                CACHE_HIT,
                metrics::Unit::Count,
                "answers from ValuationCache"
            );
            metrics::counter!(CACHE_HIT).increment(0);
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
        metrics,
        invoked: AtomicBool::new(false),
    })
}

async fn handle(
    state: &State,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, Infallible> {
    let started = Instant::now();
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
        metrics.flush();
    }
    Ok(resp)
}

/// Tells the Lambda service why init failed (`/runtime/init/error`), as the runtime client
/// has no API for it. Best effort: the process exits non-zero either way.
async fn report_init_error(message: &str) {
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API").ok() else {
        return;
    };
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": message,
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let send = async {
        let mut conn = tokio::net::TcpStream::connect(&api).await?;
        conn.write_all(request.as_bytes()).await?;
        let mut sink = Vec::new();
        conn.read_to_end(&mut sink).await?;
        Ok::<_, std::io::Error>(())
    };
    if let Err(e) = tokio::time::timeout(Duration::from_secs(2), send)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    {
        eprintln!("could not report the init error to the runtime API: {e}");
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let process_start = Instant::now();
    telemetry::init_tracing();
    let state = match init(process_start).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "init failed");
            report_init_error(&e).await;
            std::process::exit(1);
        }
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
