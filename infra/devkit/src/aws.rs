//! SDK plumbing for local emulators (the embedded stores of [`crate::stores`], and moto in the
//! tests that check against a second implementation): configuration with the dummy
//! credentials emulators accept, clients, and the tables of template.yaml.

use warmstart_core::aws::sdk::config::{BehaviorVersion, SdkConfig};
use warmstart_core::aws::sdk::dynamodb::{
    self,
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    },
};
use warmstart_core::aws::sdk::s3;

/// Region of every local emulator.
pub const REGION: &str = "us-east-1";
/// Access key and secret the local emulators accept.
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "test";

/// An SDK error with its cause chain (an `SdkError`'s `Display` alone is "service error").
pub fn sdk_message(e: &(dyn std::error::Error + 'static)) -> String {
    s3::error::DisplayErrorContext(e).to_string()
}

/// SDK configuration with [`REGION`] and the `test` / `test` credentials, for `endpoint`
/// (every service) when given.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = warmstart_core::aws::sdk::config::defaults(BehaviorVersion::latest())
        .region(s3::config::Region::new(REGION))
        .credentials_provider(s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "local",
        ))
        .http_client(warmstart_core::aws::https_client());
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An object key as S3 writes it into an event notification: form-URL-encoded (a space
/// becomes `+`) with the `/` separators kept.
pub fn notification_key(key: &str) -> String {
    key.split('/')
        .map(|segment| form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>())
        .collect::<Vec<_>>()
        .join("/")
}

/// SDK clients pointed at local emulators.
#[derive(Clone)]
pub struct Clients {
    pub sdk: SdkConfig,
    pub s3: s3::Client,
    pub dynamodb: dynamodb::Client,
}

impl Clients {
    /// Clients for an S3 and a DynamoDB endpoint (the same one for moto). S3 is path-style:
    /// an emulator on 127.0.0.1 has no per-bucket host names.
    pub async fn new(s3_endpoint: &str, dynamodb_endpoint: &str) -> Clients {
        let sdk = sdk_config(None).await;
        let s3 = s3::Client::from_conf(
            s3::config::Builder::from(&sdk)
                .endpoint_url(s3_endpoint)
                .force_path_style(true)
                .build(),
        );
        let dynamodb = dynamodb::Client::from_conf(
            dynamodb::config::Builder::from(&sdk)
                .endpoint_url(dynamodb_endpoint)
                .build(),
        );
        Clients { sdk, s3, dynamodb }
    }
}

/// Creates an on-demand table with string hash key `key`, and TTL on `ttl` when given.
pub async fn create_table(
    client: &dynamodb::Client,
    name: &str,
    key: &str,
    ttl: Option<&str>,
) -> Result<(), String> {
    let err = |e: &(dyn std::error::Error + 'static)| sdk_message(e);
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

#[cfg(test)]
mod tests {
    use super::notification_key;

    #[test]
    fn notification_keys_are_form_encoded_per_path_segment() {
        assert_eq!(
            notification_key("models/product-recommender/v 1/manifest.json"),
            "models/product-recommender/v+1/manifest.json"
        );
        assert_eq!(notification_key("a+b/é%/x"), "a%2Bb/%C3%A9%25/x");
    }
}
