//! The `reload` Lambda function: reads its configuration, builds the SDK clients and runs the
//! runtime loop over `warmstart_core::serve::reload`, which validates bundles uploaded to S3,
//! promotes them per their rollout and answers the registry's admin payloads.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use warmstart_core::serve::reload::{ReloadApp, ReloadConfig};
use warmstart_core::{aws, lambda, telemetry};

async fn init() -> Result<ReloadApp, String> {
    let config = ReloadConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    Ok(ReloadApp::new(
        config,
        aws::s3_client(&sdk),
        aws::dynamodb_client(&sdk),
    ))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let app = match init().await {
        Ok(app) => Arc::new(app),
        Err(e) => lambda::fail_init(&e).await,
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = Arc::clone(&app);
        async move { app.handle(event.payload, &event.context.request_id).await }
    }))
    .await
}
