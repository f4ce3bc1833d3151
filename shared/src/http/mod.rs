//! API Gateway HTTP API (payload format 2.0) plumbing shared by the functions: body decoding with
//! a size limit, route dispatch, JSON and problem-JSON responses. Every request problem maps to
//! exactly one [`ApiError`], and [`ApiError`] maps to a status and a code in one place.

mod error;

pub use error::{ApiError, Problem};

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use serde::Serialize;
use std::borrow::Cow;

/// Largest accepted request body, after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request id clients see: API Gateway's `requestContext.requestId`, else the Lambda one.
pub fn request_id<'a>(req: &'a ApiGatewayV2httpRequest, fallback: &'a str) -> &'a str {
    req.request_context
        .request_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(fallback)
}

/// HTTP method and path of a request: from `requestContext.http` and `rawPath`, which are what
/// API Gateway fills for every payload-2.0 request (`routeKey` is `$default` behind a catch-all).
pub fn method_and_path(req: &ApiGatewayV2httpRequest) -> (&str, &str) {
    let method = req.request_context.http.method.as_str();
    let path = req
        .raw_path
        .as_deref()
        .or(req.request_context.http.path.as_deref())
        .unwrap_or("/");
    (method, path)
}

/// A route table entry: `(method, path)`.
pub type RouteKey = (&'static str, &'static str);

/// Finds `(method, path)` in `routes` and returns its index; an unknown path is `not_found`, a
/// known path with another method is `method_not_allowed` (naming the allowed methods).
/// A trailing slash is tolerated (`/health/` is `/health`).
pub fn dispatch(routes: &[RouteKey], method: &str, path: &str) -> Result<usize, ApiError> {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let mut allowed: Vec<&'static str> = Vec::new();
    for (i, (m, p)) in routes.iter().enumerate() {
        if *p == path {
            if m.eq_ignore_ascii_case(method) {
                return Ok(i);
            }
            allowed.push(m);
        }
    }
    if allowed.is_empty() {
        Err(ApiError::NotFound {
            method: clip(method, 16),
            path: clip(path, 128),
        })
    } else {
        Err(ApiError::MethodNotAllowed {
            method: clip(method, 16),
            allowed: allowed.join(", "),
        })
    }
}

/// The request body as bytes: base64-decoded when `isBase64Encoded`, at most `limit` bytes.
/// A missing body is empty.
pub fn body_bytes(req: &ApiGatewayV2httpRequest, limit: usize) -> Result<Cow<'_, [u8]>, ApiError> {
    let Some(body) = req.body.as_deref() else {
        return Ok(Cow::Borrowed(&[]));
    };
    if req.is_base64_encoded {
        // Reject before decoding: base64 is 4 characters per 3 bytes.
        if body.len() / 4 * 3 > limit + 3 {
            return Err(ApiError::BodyTooLarge { limit });
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| ApiError::BadBase64)?;
        if decoded.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        Ok(Cow::Owned(decoded))
    } else {
        if body.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        Ok(Cow::Borrowed(body.as_bytes()))
    }
}

/// A JSON response with `content-type: application/json`.
pub fn json_response(
    status: u16,
    body: &impl Serialize,
    request_id: &str,
) -> ApiGatewayV2httpResponse {
    let text = match serde_json::to_string(body) {
        Ok(t) => t,
        // Only non-string map keys or a failing Serialize impl get here; never a request's doing.
        Err(e) => {
            return problem_response(
                &ApiError::Internal(format!("response did not serialize: {e}")),
                request_id,
            )
        }
    };
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(status);
    resp.headers = base_headers(request_id);
    resp.body = Some(Body::Text(text));
    resp.is_base64_encoded = false;
    resp
}

/// The problem-JSON response for `err`: `{status, code, message, request_id}`.
pub fn problem_response(err: &ApiError, request_id: &str) -> ApiGatewayV2httpResponse {
    let problem = Problem::new(err, request_id);
    let mut resp = ApiGatewayV2httpResponse::default();
    resp.status_code = i64::from(problem.status);
    let mut headers = base_headers(request_id);
    if let ApiError::MethodNotAllowed { allowed, .. } = err {
        if let Ok(v) = HeaderValue::from_str(allowed) {
            headers.insert("allow", v);
        }
    }
    resp.headers = headers;
    resp.body = Some(Body::Text(
        serde_json::to_string(&problem).unwrap_or_else(|_| String::from("{}")),
    ));
    resp
}

fn base_headers(request_id: &str) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(3);
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    h
}

/// At most `max` characters of `s`, for echoing client input into messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> ApiGatewayV2httpRequest {
        serde_json::from_str(json).unwrap()
    }

    fn post(body: &str, b64: bool) -> ApiGatewayV2httpRequest {
        let v = serde_json::json!({
            "version": "2.0", "routeKey": "POST /recommend", "rawPath": "/recommend",
            "requestContext": {"requestId": "rid-1", "http": {"method": "POST", "path": "/recommend"}},
            "body": body, "isBase64Encoded": b64,
        });
        event(&v.to_string())
    }

    #[test]
    fn dispatch_distinguishes_unknown_paths_from_wrong_methods() {
        let routes: &[RouteKey] = &[("POST", "/recommend"), ("GET", "/health")];
        assert_eq!(dispatch(routes, "POST", "/recommend").unwrap(), 0);
        assert_eq!(dispatch(routes, "get", "/health/").unwrap(), 1);
        assert!(matches!(
            dispatch(routes, "GET", "/nope"),
            Err(ApiError::NotFound { .. })
        ));
        match dispatch(routes, "GET", "/recommend") {
            Err(ApiError::MethodNotAllowed { allowed, .. }) => assert_eq!(allowed, "POST"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_are_base64_decoded_and_limited() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
        assert_eq!(&*body_bytes(&post(&b64, true), 100).unwrap(), br#"{"a":1}"#);
        assert!(matches!(
            body_bytes(&post("not base64!", true), 100),
            Err(ApiError::BadBase64)
        ));
        let big = "x".repeat(101);
        assert!(matches!(
            body_bytes(&post(&big, false), 100),
            Err(ApiError::BodyTooLarge { limit: 100 })
        ));
        let big64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 101]);
        assert!(matches!(
            body_bytes(&post(&big64, true), 100),
            Err(ApiError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn problem_json_has_the_contract_shape() {
        let resp = problem_response(&ApiError::KOutOfRange { k: 25, max: 24 }, "rid-1");
        assert_eq!(resp.status_code, 400);
        assert_eq!(resp.headers["content-type"], "application/json");
        let Some(Body::Text(text)) = resp.body else {
            panic!("text body")
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["code", "message", "request_id", "status"]);
        assert_eq!(v["status"], 400);
        assert_eq!(v["code"], "k_out_of_range");
        assert_eq!(v["request_id"], "rid-1");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let err = ApiError::MethodNotAllowed {
            method: "DELETE".into(),
            allowed: "GET".into(),
        };
        let resp = problem_response(&err, "r");
        assert_eq!(resp.status_code, 405);
        assert_eq!(resp.headers["allow"], "GET");
    }

    #[test]
    fn request_id_prefers_api_gateway_then_lambda() {
        let req = post("{}", false);
        assert_eq!(request_id(&req, "lambda"), "rid-1");
        let bare = ApiGatewayV2httpRequest::default();
        assert_eq!(request_id(&bare, "lambda"), "lambda");
    }
}
