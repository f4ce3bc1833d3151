//! The recommend function's routes: `POST /recommend`, `POST /recommend/batch`,
//! `POST /recommend/fairness`, `GET /health` (which also describes the served versions; `GET
//! /models` is the predict function's).

use super::answer;
use crate::http::{self, Body, Request, Response, MAX_BODY_BYTES};
use crate::recommend::{
    BatchRequest, FairnessRequest, RecommendRequest, Recommender, RequestStats,
    MAX_FAIRNESS_BODY_BYTES, VARIANT_ACTIVE,
};
use crate::store::FeatureStore;

#[derive(Debug, Clone, Copy)]
enum Route {
    Recommend,
    Batch,
    Fairness,
    Health,
}

const ROUTES: &[(&str, &str, Route)] = &[
    ("POST", "/recommend", Route::Recommend),
    ("POST", "/recommend/batch", Route::Batch),
    ("POST", "/recommend/fairness", Route::Fairness),
    ("GET", "/health", Route::Health),
];

/// Handles one request. Never fails: every problem is a problem-JSON response.
pub async fn handle<S: FeatureStore>(
    svc: &Recommender<S>,
    req: &Request,
) -> (Response<Body>, RequestStats) {
    svc.note_invocation();
    let rid = http::request_id(req);
    let mut stats = RequestStats {
        model_version: svc.serving().active.version().to_string(),
        variant: VARIANT_ACTIVE,
        ..RequestStats::default()
    };
    let result = match http::route(ROUTES, req) {
        Ok(Route::Recommend) => {
            stats.route = "recommend";
            stats.counted = true;
            match http::body(req, MAX_BODY_BYTES).and_then(RecommendRequest::parse) {
                Ok(r) => {
                    let (answer, s) = svc.recommend(&r, rid).await;
                    stats = s;
                    Ok(http::json_response(200, &answer, rid))
                }
                Err(e) => Err(e),
            }
        }
        Ok(Route::Batch) => {
            stats.route = "recommend_batch";
            stats.counted = true;
            match http::body(req, MAX_BODY_BYTES).and_then(BatchRequest::parse) {
                Ok(r) => {
                    let (answer, s) = svc.batch(&r, rid).await;
                    stats = s;
                    Ok(http::json_response(200, &answer, rid))
                }
                Err(e) => Err(e),
            }
        }
        Ok(Route::Fairness) => {
            stats.route = "recommend_fairness";
            stats.counted = true;
            match http::body(req, MAX_FAIRNESS_BODY_BYTES).and_then(FairnessRequest::parse) {
                Ok(r) => (svc.fairness(&r, rid).await)
                    .map(|report| http::json_response(200, &report, rid)),
                Err(e) => Err(e),
            }
        }
        Ok(Route::Health) => {
            stats.route = "health";
            Ok(http::json_response(200, &svc.health(rid), rid))
        }
        Err(e) => {
            stats.route = "unrouted";
            Err(e)
        }
    };
    let resp = answer(result, rid, &mut stats.status, &mut stats.error_code);
    (resp, stats)
}
