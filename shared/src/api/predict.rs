//! The predict function's routes: `GET /models`, `GET /models/{name}`,
//! `POST /models/{name}/predict`, `POST /models/{name}/explain`, `POST /models/{name}/fairness`. The models come from a [`ModelSource`]: the S3 + registry
//! one of the function (`crate::serve::predict`), or bundles in memory in tests.

use super::answer;
use crate::http::{self, ApiError, Body, Request, Response};
use crate::predict::{
    explain, fairness, predict, FairnessRequest, ModelDetail, ModelSummary, PredictRequest,
    PredictStats, Predictor, MAX_PREDICT_BODY_BYTES,
};
use crate::registry::ServingSet;
use crate::telemetry::capture::CaptureConfig;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// Where the predict routes get models from.
pub trait ModelSource: Sync {
    /// What serves `name` now (loading it on first use). Unknown model: `UnknownModel`; a
    /// model that cannot be loaded now: `ModelUnavailable`.
    fn serving(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Arc<ServingSet<Predictor>>, ApiError>> + Send;
    fn list(&self) -> impl Future<Output = Result<Vec<ModelSummary>, ApiError>> + Send;
    fn describe(&self, name: &str) -> impl Future<Output = Result<ModelDetail, ApiError>> + Send;
    /// Which requests are sampled for the data capture (none by default).
    fn capture(&self) -> CaptureConfig {
        CaptureConfig::default()
    }
}

#[derive(Debug, Clone, Copy)]
enum Route {
    List,
    Describe,
    Predict,
    Explain,
    Fairness,
}

const ROUTES: &[(&str, &str, Route)] = &[
    ("GET", "/models", Route::List),
    ("GET", "/models/{name}", Route::Describe),
    ("POST", "/models/{name}/predict", Route::Predict),
    ("POST", "/models/{name}/explain", Route::Explain),
    ("POST", "/models/{name}/fairness", Route::Fairness),
];

/// What one request did, for the log line and metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub route: &'static str,
    pub status: u16,
    pub error_code: Option<&'static str>,
    pub model: Option<String>,
    pub model_version: Option<String>,
    /// A prediction request (counts in `Requests` and `Latency`).
    pub counted: bool,
    pub predict: PredictStats,
}

#[derive(Serialize)]
struct Listing {
    models: Vec<ModelSummary>,
    request_id: String,
}

#[derive(Serialize)]
struct Detail {
    #[serde(flatten)]
    detail: ModelDetail,
    request_id: String,
}

/// Handles one request. Never fails: every problem is a problem-JSON response.
pub async fn handle<M: ModelSource>(models: &M, req: &Request) -> (Response<Body>, Stats) {
    let rid = http::request_id(req);
    let mut stats = Stats::default();
    let name = http::segment(req, 1).unwrap_or_default().to_string();
    let result = match http::route(ROUTES, req) {
        Ok(Route::List) => {
            stats.route = "models";
            models.list().await.map(|models| {
                let listing = Listing {
                    models,
                    request_id: rid.to_string(),
                };
                http::json_response(200, &listing, rid)
            })
        }
        Ok(Route::Describe) => {
            stats.route = "model";
            stats.model = Some(name.clone());
            models.describe(&name).await.map(|detail| {
                let detail = Detail {
                    detail,
                    request_id: rid.to_string(),
                };
                http::json_response(200, &detail, rid)
            })
        }
        Ok(Route::Predict) => {
            stats.route = "predict";
            stats.counted = true;
            stats.model = Some(name.clone());
            // The body is checked before the model is needed: a bad request costs no load.
            match http::body(req, MAX_PREDICT_BODY_BYTES).and_then(PredictRequest::parse) {
                Ok(mut body) => match models.serving(&name).await {
                    Ok(set) => {
                        stats.model_version = Some(set.active.version().to_string());
                        body.capture = models.capture().sampled(rid);
                        predict(&set, &body, rid).map(|(answer, s)| {
                            stats.predict = s;
                            http::json_response(200, &answer, rid)
                        })
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Ok(Route::Explain) => {
            stats.route = "explain";
            stats.counted = true;
            stats.model = Some(name.clone());
            match http::body(req, MAX_PREDICT_BODY_BYTES).and_then(PredictRequest::parse_explain) {
                Ok(body) => match models.serving(&name).await {
                    Ok(set) => {
                        stats.model_version = Some(set.active.version().to_string());
                        stats.predict.rows = body.rows.len();
                        explain(&set, &body, rid)
                            .map(|answer| http::json_response(200, &answer, rid))
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Ok(Route::Fairness) => {
            stats.route = "fairness";
            stats.model = Some(name.clone());
            match http::body(req, MAX_PREDICT_BODY_BYTES).and_then(FairnessRequest::parse) {
                Ok(body) => match models.serving(&name).await {
                    Ok(set) => {
                        stats.model_version = Some(set.active.version().to_string());
                        stats.predict.rows = body.rows.len();
                        fairness(&set, &body, rid)
                            .map(|report| http::json_response(200, &report, rid))
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            stats.route = "unrouted";
            Err(e)
        }
    };
    let resp = answer(result, rid, &mut stats.status, &mut stats.error_code);
    (resp, stats)
}
