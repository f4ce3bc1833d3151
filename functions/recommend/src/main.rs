//! The `recommend` Lambda function: reads its configuration, builds the SDK clients, the
//! feature store and the served recommender (registry or `MODEL_VERSION`, with candidate and
//! shadow), then runs the HTTP loop. Routes, registry following and telemetry live in the core
//! (`warmstart_core::api::recommend`, `warmstart_core::serve`).

use std::time::Instant;
use warmstart_core::aws::{self, DynamoFeatureStore};
use warmstart_core::lambda::env::required;
use warmstart_core::recommend::{servable_recommender, Recommender, ServiceConfig};
use warmstart_core::serve::{self, load_served, recommend::RecommendApp, warm_up, ModelConfig};

type App = RecommendApp<DynamoFeatureStore>;

async fn init(process_start: Instant) -> Result<App, String> {
    let config = ModelConfig::from_env("product-recommender")?;
    let features_table = required("FEATURES_TABLE")?;
    let service = ServiceConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    let (s3, dynamo) = (aws::s3_client(&sdk), aws::dynamodb_client(&sdk));
    let config_ms = process_start.elapsed().as_secs_f64() * 1e3;
    let store = DynamoFeatureStore::new(dynamo.clone(), &features_table);
    let (warm_ms, served) = tokio::join!(
        warm_up(&features_table, store.get_customer("__warmup__")),
        load_served(&config, &s3, &dynamo, servable_recommender)
    );
    let set = served.set?;
    let version = set.active.version().to_string();
    let service = Recommender::from_set(set, store, service, process_start)
        .map_err(|e| format!("the registry models cannot be served: {e}"))?;
    tracing::info!(
        model_version = %version,
        version_from = served.origin,
        config_ms,
        store_warmup_ms = warm_ms.as_secs_f64() * 1e3,
        init_ms = service.init_ms(),
        "init complete"
    );
    Ok(RecommendApp::new(service, served.follower))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve::run_http(init(Instant::now())).await
}
