//! SDK plumbing for local emulators (moto in the tests, the embedded stores of
//! `warmstart local up`): configuration with the dummy credentials emulators accept, and the
//! tables of template.yaml.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

/// Region of every local emulator.
pub const REGION: &str = "us-east-1";
/// Access key and secret the local emulators accept.
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

/// SDK configuration with [`REGION`] and the `test` / `test` credentials, for `endpoint`
/// (every service) when given.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "local",
        ))
        .http_client(crate::aws::https_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Creates an on-demand table with string hash key `key`, and TTL on `ttl` when given.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
    ttl: Option<&str>,
) -> Result<(), String> {
    let err = |e: &(dyn std::error::Error + 'static)| crate::aws::sdk_message(e);
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| err(&e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| err(&e))?,
        )
        .send()
        .await
        .map_err(|e| format!("creating table {name}: {}", err(&e)))?;
    if let Some(attr) = ttl {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| err(&e))?,
            )
            .send()
            .await
            .map_err(|e| format!("TTL on {name}: {}", err(&e)))?;
    }
    Ok(())
}
