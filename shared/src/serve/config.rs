//! The model settings every serving function reads (template.yaml sets them). Empty values
//! count as unset (SAM passes "" for optional parameters left blank).

use crate::lambda::env::{millis, seconds, var};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// `MODEL_BUCKET`; without it there is no model to load.
    pub bucket: Option<String>,
    /// `MODEL_PREFIX`, default `models/`.
    pub models_prefix: String,
    /// `MODEL_NAME`, default per function.
    pub model_name: String,
    /// `MODEL_VERSION`: served when the registry has no active version for the model.
    pub model_version: Option<String>,
    /// `REGISTRY_TABLE`; without it the version comes from `MODEL_VERSION` and is never
    /// followed.
    pub registry_table: Option<String>,
    /// `REGISTRY_TTL_SECS` (30): how often a warm container reads the registry.
    pub registry_ttl: Duration,
    /// `REGISTRY_TIMEOUT_MS` (200): the registry read's budget.
    pub registry_timeout: Duration,
    /// `MODEL_LOAD_TIMEOUT_MS` (5000): loading what changed.
    pub load_timeout: Duration,
}

impl ModelConfig {
    pub fn from_env(default_name: &str) -> Result<Self, String> {
        Ok(ModelConfig {
            bucket: var("MODEL_BUCKET"),
            models_prefix: var("MODEL_PREFIX").unwrap_or_else(|| "models/".into()),
            model_name: var("MODEL_NAME").unwrap_or_else(|| default_name.into()),
            model_version: var("MODEL_VERSION"),
            registry_table: var("REGISTRY_TABLE"),
            registry_ttl: seconds("REGISTRY_TTL_SECS", 30)?,
            registry_timeout: millis("REGISTRY_TIMEOUT_MS", 200)?,
            load_timeout: millis("MODEL_LOAD_TIMEOUT_MS", 5000)?,
        })
    }
}
