//! The model registry (`ModelRegistry` table, pk `model`): which version of a model is active.
//! Reading only; the reload function owns the writes.

use super::sdk_message;
use aws_sdk_dynamodb::types::AttributeValue;

/// `active {version, prefix?, sha256?}` of a registry item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveModel {
    pub version: String,
    /// S3 key prefix of the bundle when the registry records it.
    pub prefix: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry table `{0}` does not exist")]
    NoTable(String),
    #[error("registry read failed: {0}")]
    Backend(String),
    #[error("registry item `{model}` is malformed: {reason}")]
    Malformed { model: String, reason: String },
}

/// The active version of `model`, `None` when the registry has no item (or no `active`) for it.
pub async fn read_active(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    model: &str,
) -> Result<Option<ActiveModel>, RegistryError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("model", AttributeValue::S(model.to_string()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                RegistryError::NoTable(table.to_string())
            } else {
                RegistryError::Backend(sdk_message(&e))
            }
        })?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let malformed = |reason: &str| RegistryError::Malformed {
        model: model.to_string(),
        reason: reason.to_string(),
    };
    let active = match item.get("active") {
        None | Some(AttributeValue::Null(_)) => return Ok(None),
        Some(AttributeValue::M(m)) => m,
        Some(_) => return Err(malformed("`active` is not a map")),
    };
    let text = |k: &str| match active.get(k) {
        Some(AttributeValue::S(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let version = text("version").ok_or_else(|| malformed("`active.version` is missing"))?;
    Ok(Some(ActiveModel {
        version,
        prefix: text("prefix"),
        sha256: text("sha256"),
    }))
}
