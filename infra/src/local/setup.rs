//! What the SAM template declares, created on the local emulators: the model bucket and the
//! three tables with the template's key schemas (TTL `expires_at` on the cache). Idempotent:
//! existing resources are kept with their data.

use anyhow::{Context, Result};
use std::collections::HashMap;
use warmstart_core::aws::sdk::dynamodb::{self, types::AttributeValue};
use warmstart_core::aws::sdk::s3;
use warmstart_devkit::aws as local_aws;

pub use local_aws::{sdk_message, Clients};

/// Local names of the template's resources.
pub const BUCKET: &str = "warmstart-models-local";
pub const FEATURES_TABLE: &str = "Features";
pub const REGISTRY_TABLE: &str = "ModelRegistry";
pub const CACHE_TABLE: &str = "ValuationCache";
pub const MODELS_PREFIX: &str = "models/";
pub use local_aws::REGION;

/// (table, partition key, TTL attribute) as in template.yaml.
pub const TABLES: [(&str, &str, Option<&str>); 3] = [
    (FEATURES_TABLE, "pk", None),
    (REGISTRY_TABLE, "model", None),
    (CACHE_TABLE, "pk", Some("expires_at")),
];

/// Creates the bucket unless it exists.
pub async fn ensure_bucket(s3: &s3::Client, bucket: &str) -> Result<bool> {
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(false);
    }
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("creating bucket {bucket}: {}", sdk_message(&e)))?;
    Ok(true)
}

/// Creates the tables that do not exist (on-demand, string hash key, TTL where declared).
/// Returns the names created.
pub async fn ensure_tables(db: &dynamodb::Client) -> Result<Vec<&'static str>> {
    let existing = db
        .list_tables()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ListTables: {}", sdk_message(&e)))?
        .table_names
        .unwrap_or_default();
    let mut created = Vec::new();
    for (name, key, ttl) in TABLES {
        if !existing.iter().any(|t| t == name) {
            local_aws::create_table(db, name, key, ttl)
                .await
                .map_err(anyhow::Error::msg)?;
            created.push(name);
        }
    }
    Ok(created)
}

/// Whether the Features table holds `pk`.
pub async fn has_item(db: &dynamodb::Client, table: &str, pk: &str) -> Result<bool> {
    let out = db
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .send()
        .await
        .with_context(|| format!("GetItem {pk}"))?;
    Ok(out.item.is_some())
}

/// Writes `active {version, prefix}` for `model` unless the registry already has an item for
/// it (the reload function owns the item once it exists). Returns whether it wrote.
pub async fn activate_if_unset(
    db: &dynamodb::Client,
    model: &str,
    version: &str,
    prefix: &str,
) -> Result<bool> {
    let active = HashMap::from([
        ("version".to_string(), AttributeValue::S(version.into())),
        ("prefix".to_string(), AttributeValue::S(prefix.into())),
    ]);
    let put = db
        .put_item()
        .table_name(REGISTRY_TABLE)
        .item("model", AttributeValue::S(model.into()))
        .item("active", AttributeValue::M(active))
        .item("revision", AttributeValue::N("1".into()))
        .condition_expression("attribute_not_exists(#m)")
        .expression_attribute_names("#m", "model")
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::anyhow!(
            "registry item for {model}: {}",
            sdk_message(&e)
        )),
    }
}
