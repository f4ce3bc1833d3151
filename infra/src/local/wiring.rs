//! How each function process reaches the stores: endpoints, registry TTL, log level, and the
//! Lambda environment (template.yaml's globals) built from them.

use super::setup::{self, BUCKET, FEATURES_TABLE, MODELS_PREFIX, REGISTRY_TABLE};
use warmstart_devkit::aws::{ACCESS_KEY, SECRET_KEY};
use warmstart_devkit::Stores;

/// Where functions reach S3 and DynamoDB: the stores themselves, or (`warmstart local
/// chaos`) fault proxies in front of them.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub s3: String,
    pub dynamodb: String,
}

impl Endpoints {
    pub fn of(stores: &Stores) -> Endpoints {
        Endpoints {
            s3: stores.s3_endpoint.clone(),
            dynamodb: stores.dynamodb_endpoint.clone(),
        }
    }
}

/// How the functions are wired.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// recommend, valuation and predict.
    pub serving: Endpoints,
    pub reload: Endpoints,
    /// `REGISTRY_TTL_SECS` of the serving functions.
    pub registry_ttl_secs: u32,
    /// The functions' `RUST_LOG` (default: the caller's, else `info`).
    pub rust_log: Option<String>,
}

pub(super) fn function_env(
    endpoints: &Endpoints,
    json_logs: bool,
    registry_ttl: &str,
    rust_log: Option<&str>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL_S3", endpoints.s3.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoints.dynamodb.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", setup::REGION),
        ("AWS_DEFAULT_REGION", setup::REGION),
        // Globals of template.yaml.
        ("MODEL_BUCKET", BUCKET),
        ("MODEL_PREFIX", MODELS_PREFIX),
        ("REGISTRY_TABLE", REGISTRY_TABLE),
        ("FEATURES_TABLE", FEATURES_TABLE),
        ("METRICS_NAMESPACE", "WarmstartLocal"),
        ("RUST_LOG", "info"),
        ("REGISTRY_TTL_SECS", registry_ttl),
        (
            "AWS_LAMBDA_LOG_FORMAT",
            if json_logs { "JSON" } else { "Text" },
        ),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Let the caller's RUST_LOG through (e.g. RUST_LOG=debug make run).
    if let Ok(level) = std::env::var("RUST_LOG") {
        env.push(("RUST_LOG".into(), level));
    }
    if let Some(level) = rust_log {
        env.push(("RUST_LOG".into(), level.to_string()));
    }
    env
}
