//! The API Gateway adapters of the HTTP functions: route enum → domain call → response. They
//! decode (`crate::http`), call the domain (`crate::recommend`, `crate::valuation`), encode,
//! and return what the request did for the log line and metrics. The domain modules never see
//! HTTP types; these never hold domain logic.

pub mod recommend;
pub mod valuation;

use crate::http::{self, ApiError, Body, Response};

/// The answer for a failed request, with its code noted for the request log.
fn failure(
    e: &ApiError,
    request_id: &str,
    error_code: &mut Option<&'static str>,
) -> Response<Body> {
    *error_code = Some(e.code());
    if let ApiError::Internal(detail) = e {
        tracing::error!(detail = %detail, "internal error");
    }
    http::problem_response(e, request_id)
}
