//! The `predict` Lambda function: any model in the registry behind `POST /models/{name}/predict`,
//! plus `GET /models` and `GET /models/{name}`. Init only reads the configuration, builds the
//! SDK clients and opens the registry connection; models load on first use and stay warm
//! within `MODEL_MEMORY_MB` (`warmstart_core::serve::predict`, routes in
//! `warmstart_core::api::predict`).

use std::time::Instant;
use warmstart_core::aws;
use warmstart_core::serve::predict::{PredictApp, PredictConfig, RegistryModels};
use warmstart_core::serve::{self, warm_up};

async fn init(process_start: Instant) -> Result<PredictApp, String> {
    let config = PredictConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    let (s3, dynamo) = (aws::s3_client(&sdk), aws::dynamodb_client(&sdk));
    let models = RegistryModels::new(config, &s3, &dynamo);
    let table = models.table().table().to_string();
    let warm = warm_up(&table, models.table().get("__warmup__")).await;
    let app = PredictApp::new(models, process_start);
    tracing::info!(
        registry_warmup_ms = warm.as_secs_f64() * 1e3,
        init_ms = app.init_ms(),
        "init complete"
    );
    Ok(app)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve::run_http(init(Instant::now())).await
}
