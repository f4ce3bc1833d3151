//! AWS plumbing: SDK configuration (endpoints overridable for local emulators), the S3
//! [`crate::bundle::BundleSource`], the DynamoDB feature store, the model registry (conditional
//! writes) and bundle publishing.
//!
//! TLS is rustls with the `ring` provider (no aws-lc, no OpenSSL), so `cargo lambda build
//! --arm64` cross-compiles with zig alone.

mod dynamo;
mod publish;
mod registry;
mod s3;
pub mod valuation_store;

pub use dynamo::{DynamoFeatureStore, PutReport, RetryPolicy};
pub use publish::{publish_bundle, PublishError};
pub use registry::{
    apply_change, bundle_prefix, read_active, source_for, ActiveModel, ChangeError, ModelStore,
    PutError, Refresher, RegistryError, RegistryTable, S3Loader, Updated, MAX_ATTEMPTS,
};
pub use s3::S3Source;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Formats an SDK error with its whole cause chain (the `Display` of an `SdkError` alone is
/// just "service error").
pub(crate) fn sdk_message(e: &(dyn std::error::Error + 'static)) -> String {
    aws_sdk_s3::error::DisplayErrorContext(e).to_string()
}

/// The HTTPS client of every SDK client: hyper + rustls/ring, plain HTTP allowed for local
/// endpoints.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL` and the
/// service-specific `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_DYNAMODB`, which the SDK reads
/// itself).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Whether S3 talks to a custom endpoint (an emulator), which needs path-style addressing.
pub fn custom_s3_endpoint(conf: &SdkConfig) -> bool {
    conf.endpoint_url().is_some() || env_set("AWS_ENDPOINT_URL") || env_set("AWS_ENDPOINT_URL_S3")
}

/// An S3 client; path-style when the endpoint is custom (emulators answer on one host).
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(conf);
    if custom_s3_endpoint(conf) {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

pub fn dynamodb_client(conf: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(conf)
}

/// The SDK crates this module is built on, for callers that need their types (clients,
/// errors) without depending on them separately and risking a version skew.
pub mod sdk {
    pub use aws_config as config;
    pub use aws_sdk_dynamodb as dynamodb;
    pub use aws_sdk_s3 as s3;
}
