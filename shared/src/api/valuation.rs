//! The valuation function's routes: `POST /valuation`, `GET /valuation/health` (the API's
//! route to it: recommend owns `GET /health`; `GET /health` is still answered when invoked
//! directly, e.g. `sam local invoke` with the shared health event).

use super::answer;
use crate::http::{self, Body, Request, Response, MAX_BODY_BYTES};
use crate::registry::Variant;
use crate::valuation::{
    parse_request, CompanyStore, ResultCache, ValuationService, ValuationStats,
};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Route {
    Valuation,
    Health,
}

pub(crate) const ROUTES: &[(&str, &str, Route)] = &[
    ("POST", "/valuation", Route::Valuation),
    ("GET", "/valuation/health", Route::Health),
    ("GET", "/health", Route::Health),
];

/// Handles one request. Never fails: every problem is a problem-JSON response.
pub async fn handle<S: CompanyStore, C: ResultCache>(
    svc: &ValuationService<S, C>,
    req: &Request,
) -> (Response<Body>, ValuationStats) {
    svc.note_invocation();
    let rid = http::request_id(req);
    let set = svc.serving();
    let model = set.as_ref().map(|s| &s.active.model);
    let mut stats = ValuationStats {
        model_version: model.map(|m| m.version().to_string()),
        variant: model.map(|_| Variant::Active.as_str()),
        ..ValuationStats::default()
    };
    let result = match http::route(ROUTES, req) {
        Ok(Route::Valuation) => {
            stats.route = "valuation";
            stats.counted = true;
            match http::body(req, MAX_BODY_BYTES).and_then(parse_request) {
                Ok(r) => svc
                    .valuation(&r, rid, &mut stats)
                    .await
                    .map(|answer| http::json_response(200, &answer, rid)),
                Err(e) => Err(e),
            }
        }
        Ok(Route::Health) => {
            stats.route = "health";
            Ok(http::json_response(
                200,
                &svc.health(set.as_deref(), rid),
                rid,
            ))
        }
        Err(e) => {
            stats.route = "unrouted";
            Err(e)
        }
    };
    let resp = answer(result, rid, &mut stats.status, &mut stats.error_code);
    (resp, stats)
}
