//! What the endpoint reports besides its answers: per-request stats for the log line and
//! metrics, and the `GET /health` body.

use crate::telemetry::capture::CaptureRow;
use serde::Serialize;

/// What one request did, for metrics and the request log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValuationStats {
    pub route: &'static str,
    pub status: u16,
    /// A `POST /valuation`: counts in `Requests`, `Latency`, `Degraded`, `CacheHit`.
    pub counted: bool,
    pub degraded: bool,
    pub cache_hit: bool,
    pub ts_code: Option<String>,
    /// Time spent waiting for the company store and the cache.
    pub store_ms: Option<f64>,
    /// Time spent in the valuation itself (model scoring included).
    pub compute_ms: Option<f64>,
    /// Why the company read failed: `timeout` or the store error kind.
    pub store_failure: Option<&'static str>,
    pub peers_failure: Option<&'static str>,
    pub cache_failure: Option<&'static str>,
    pub error_code: Option<&'static str>,
    pub model_version: Option<String>,
    /// `active` or `candidate` (None without a model).
    pub variant: Option<&'static str>,
    /// The shadow model's comparison: `(shadow version, |fair P/E − shadow fair P/E|)`.
    pub shadow: Option<(String, f64)>,
    /// The scored company of a request sampled for the data capture.
    pub capture: Vec<CaptureRow>,
}

#[derive(Serialize)]
pub struct ModelInfo<'a> {
    pub(super) name: &'a str,
    pub(super) version: &'a str,
}

#[derive(Serialize)]
pub struct CandidateInfo<'a> {
    pub(super) version: &'a str,
    pub(super) weight: u8,
}

/// `GET /health`: liveness and what is loaded.
#[derive(Serialize)]
pub struct Health<'a> {
    pub(super) status: &'static str,
    pub(super) function: &'static str,
    pub(super) model: Option<ModelInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) candidate: Option<CandidateInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) shadow: Option<&'a str>,
    /// True when answers lack the ML section (no model loaded).
    pub(super) degraded: bool,
    pub(super) cache_ttl_secs: u64,
    pub(super) init_ms: f64,
    pub(super) cold_start_ms: Option<f64>,
    pub(super) request_id: &'a str,
}
