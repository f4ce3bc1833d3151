//! What the recommend service answers, and what each request did (for the log line and the
//! metrics).

use super::Recommendation;
use crate::bundle::Bundle;
use crate::registry::ServingSet;
use serde::Serialize;
use serde_json::Value;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Model,
    Popular,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendResponse {
    pub customer_id: String,
    pub recommendations: Vec<Recommendation>,
    pub model: ModelRef,
    pub variant: &'static str,
    pub source: Source,
    pub degraded: bool,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchItem {
    pub customer_id: String,
    pub recommendations: Vec<Recommendation>,
    pub source: Source,
    pub degraded: bool,
    /// `active` or `candidate`: which version answered this customer.
    pub variant: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
    /// The version that answered every result, or the active one when the canary split them.
    pub model: ModelRef,
    /// `active`, `candidate`, or `mixed` (see each result's `variant`).
    pub variant: &'static str,
    /// True when any result is degraded.
    pub degraded: bool,
    pub request_id: String,
}

/// What one request did, for metrics and the request log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestStats {
    pub route: &'static str,
    pub status: u16,
    /// A recommendation request (single or batch): counts in `Requests`/`Degraded`.
    pub counted: bool,
    pub degraded: bool,
    pub popular: bool,
    /// Time spent waiting for the feature store, when it was called.
    pub store_ms: Option<f64>,
    /// Why the store could not answer: `timeout`, or the [`StoreError::kind`].
    pub store_failure: Option<&'static str>,
    pub error_code: Option<&'static str>,
    /// The version that answered (the active one for non-scoring routes).
    pub model_version: String,
    /// `active`, `candidate` or `mixed`.
    pub variant: &'static str,
    /// The shadow comparison, when a shadow scored this request.
    pub shadow: Option<ShadowStats>,
    /// The scored rows of a request sampled for the data capture (`CAPTURE_SAMPLE_RATE`).
    pub capture: Vec<crate::telemetry::capture::CaptureRow>,
}

/// How the shadow model's answer compared with the served one (means over a batch).
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowStats {
    pub version: String,
    /// Mean absolute difference of the 24 scores.
    pub score_delta: f64,
    /// |top-k ∩ shadow top-k| / k over the products the customer does not own.
    pub topk_overlap: f64,
    /// Customers compared (1 for a single request).
    pub compared: usize,
}

/// What a container serves (part of `GET /health`): the active version, the candidate (with its
/// weight) and the shadow, each described by its manifest.
pub fn models(set: &ServingSet<Bundle>) -> Vec<Value> {
    let describe = |bundle: &Bundle, role: &str, weight: Option<u8>| {
        let m = bundle.manifest();
        serde_json::json!({
            "name": m.name,
            "version": m.version,
            "role": role,
            "weight": weight,
            "kind": m.kind.as_str(),
            "created_at": m.created_at,
            "features": m.features.len(),
            "outputs": m.outputs.iter().map(|o| serde_json::json!({"code": o.code, "name": o.name})).collect::<Vec<_>>(),
            "metrics": m.metrics,
            "rollout": m.rollout,
            "golden_rows": m.golden.len(),
            "files": m.files.len(),
        })
    };
    let mut all = vec![describe(&set.active.model, super::VARIANT_ACTIVE, None)];
    if let Some((c, w)) = &set.candidate {
        all.push(describe(&c.model, super::VARIANT_CANDIDATE, Some(*w)));
    }
    if let Some(s) = &set.shadow {
        all.push(describe(&s.model, "shadow", None));
    }
    all
}
