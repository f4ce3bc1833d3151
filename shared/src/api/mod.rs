//! The API Gateway adapters of the HTTP functions: route enum → domain call → response. They
//! decode (`crate::http`), call the domain (`crate::recommend`, `crate::valuation`), encode,
//! and return what the request did for the log line and metrics. The domain modules never see
//! HTTP types; these never hold domain logic.

pub mod console;
pub mod openapi;
pub mod predict;
pub mod recommend;
pub mod valuation;

use crate::http::{self, ApiError, Body, Response};

/// The response for a route's result: a failure becomes problem JSON. The status and any
/// error code are noted for the request log.
fn answer(
    result: Result<Response<Body>, ApiError>,
    request_id: &str,
    status: &mut u16,
    error_code: &mut Option<&'static str>,
) -> Response<Body> {
    let resp = result.unwrap_or_else(|e| {
        *error_code = Some(e.code());
        if let ApiError::Internal(detail) = &e {
            tracing::error!(detail = %detail, "internal error");
        }
        http::problem_response(&e, request_id)
    });
    *status = resp.status().as_u16();
    resp
}

#[cfg(test)]
pub(crate) mod tests {
    /// Every API Gateway sample event in `events/`, as `lambda_http` reads it.
    pub(crate) fn sample_events() -> Vec<(String, crate::http::Request)> {
        let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("apigw-") && n.ends_with(".json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let text = std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
                let req =
                    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{n}: {e}"));
                (n, req)
            })
            .collect()
    }

    #[test]
    fn every_sample_event_is_an_http_api_request_with_a_route() {
        let events = sample_events();
        assert!(events.len() >= 20, "{}", events.len());
        for (name, req) in events {
            assert_ne!(crate::http::request_id(&req), "-", "{name}");
            assert!(crate::http::path(&req).starts_with('/'), "{name}");
        }
    }
}
