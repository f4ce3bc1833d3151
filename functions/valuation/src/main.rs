//! The `valuation` Lambda function: reads its configuration, builds the SDK clients, the
//! company store, the result cache and the served fair-multiple model (registry or
//! `MODEL_VERSION`), then runs the HTTP loop. Without a servable model it still starts: answers
//! then lack the ML section and are `degraded`. Routes, registry following and telemetry live in
//! the core (`warmstart_core::api::valuation`, `warmstart_core::serve`).

use std::time::Instant;
use warmstart_core::aws;
use warmstart_core::aws::valuation_store::{DynamoCompanyStore, DynamoValuationCache};
use warmstart_core::lambda::env::{required, var};
use warmstart_core::serve::{self, load_served, valuation::ValuationApp, warm_up, ModelConfig};
use warmstart_core::valuation::{FairMultipleModel, ValuationConfig, ValuationService};

type App = ValuationApp<DynamoCompanyStore, DynamoValuationCache>;

async fn init(process_start: Instant) -> Result<App, String> {
    let config = ModelConfig::from_env("fair-multiple")?;
    let features_table = required("FEATURES_TABLE")?;
    let cache_table = var("VALUATION_CACHE_TABLE");
    let service = ValuationConfig::from_env(cache_table.is_some())?;
    let sdk = aws::sdk_config().await;
    let (s3, dynamo) = (aws::s3_client(&sdk), aws::dynamodb_client(&sdk));
    let config_ms = process_start.elapsed().as_secs_f64() * 1e3;
    let store = DynamoCompanyStore::new(dynamo.clone(), &features_table);
    let cache = DynamoValuationCache::new(dynamo.clone(), cache_table.clone().unwrap_or_default());
    let (warm_ms, served) = tokio::join!(
        warm_up(&features_table, store.get_company("__warmup__")),
        load_served(&config, &s3, &dynamo, FairMultipleModel::servable)
    );
    let service = ValuationService::new(store, cache, None, service, process_start);
    match served.set {
        Ok(set) => service.swap_serving(set),
        Err(e) => tracing::error!(error = %e, "serving without the fair-multiple model"),
    }
    tracing::info!(
        model_version = service.model().map(|m| m.version().to_string()),
        version_from = served.origin,
        cache_table = cache_table.as_deref().unwrap_or("none"),
        cache_ttl_secs = service.config().cache_ttl_secs,
        config_ms,
        store_warmup_ms = warm_ms.as_secs_f64() * 1e3,
        init_ms = service.init_ms(),
        "init complete"
    );
    Ok(ValuationApp::new(service, served.follower))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve::run_http(init(Instant::now())).await
}
