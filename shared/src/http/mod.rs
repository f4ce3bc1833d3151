//! The HTTP surface every HTTP function shares, on `lambda_http` types: the runtime loop
//! ([`run`], [`to_request`]), routing, body limits, the one JSON-body classifier, and JSON /
//! problem-JSON responses. Every request problem is exactly one [`ApiError`], and
//! [`ApiError`] maps to a status and a code in one place ([`error`]).

mod error;
pub(crate) mod fields;
mod runtime;
#[cfg(test)]
pub(crate) mod testing;

pub use error::{ApiError, Problem};
pub use lambda_http::{Body, Request, Response};
pub use runtime::{run, to_apigw_response, to_request, BodyError};

use lambda_http::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use serde::Serialize;
use serde_json::Value;

/// Largest accepted request body, after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request id clients see: API Gateway's `requestContext.requestId`, else the Lambda one,
/// else `-` (a request built without either, as in some unit tests).
pub fn request_id(req: &Request) -> &str {
    let apigw = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.as_deref(),
        _ => None,
    };
    apigw
        .filter(|s| !s.is_empty())
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.as_str()))
        .filter(|s| !s.is_empty())
        .unwrap_or("-")
}

/// The path API Gateway received (`rawPath`), else the URI's.
pub fn path(req: &Request) -> &str {
    let raw = req.raw_http_path();
    if raw.is_empty() {
        req.uri().path()
    } else {
        raw
    }
}

/// Finds the request's `(method, path)` in `routes` and returns its route; an unknown path is
/// `not_found`, a known path with another method is `method_not_allowed` (naming the allowed
/// methods). A trailing slash is tolerated (`/health/` is `/health`). A pattern segment in
/// braces (`/models/{name}`) matches any one non-empty segment; read it with [`segment`].
pub fn route<R: Copy>(
    routes: &[(&'static str, &'static str, R)],
    req: &Request,
) -> Result<R, ApiError> {
    let method = req.method().as_str();
    let full = path(req);
    let path = match full.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => full,
    };
    let mut allowed: Vec<&'static str> = Vec::new();
    for (m, p, r) in routes {
        if path_matches(p, path) {
            if m.eq_ignore_ascii_case(method) {
                return Ok(*r);
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

/// Whether `path` fits the route `pattern`, whose `{…}` segments match any one non-empty
/// segment (API Gateway's path parameters).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The `i`-th segment of the request path (`/models/x/predict`: 0 `models`, 1 `x`).
pub fn segment(req: &Request, i: usize) -> Option<&str> {
    path(req).split('/').filter(|s| !s.is_empty()).nth(i)
}

/// The request body (already base64-decoded by [`to_request`]), at most `limit` bytes.
pub fn body(req: &Request, limit: usize) -> Result<&[u8], ApiError> {
    if let Some(BodyError(e)) = req.extensions().get::<BodyError>() {
        return Err(e.clone());
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > limit {
        return Err(ApiError::BodyTooLarge { limit });
    }
    Ok(bytes)
}

/// Parses a JSON body. An empty body and malformed JSON are `malformed_json`; serde_json refuses
/// numbers that overflow f64 (`1e999`) as "number out of range", which to the client is a
/// non-finite number.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("number out of range") {
            ApiError::NonFiniteNumber {
                field: format!("body (line {}, column {})", e.line(), e.column()),
            }
        } else {
            ApiError::MalformedJson(msg)
        }
    })
}

/// A JSON response with `content-type: application/json`.
pub fn json_response(status: u16, body: &impl Serialize, request_id: &str) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => response(status, text, request_id),
        // Only non-string map keys or a failing Serialize impl get here; never a request's doing.
        Err(e) => problem_response(
            &ApiError::Internal(format!("response did not serialize: {e}")),
            request_id,
        ),
    }
}

/// The problem-JSON response for `err`: `{status, code, message, request_id}`, with an
/// `allow` header on 405.
pub fn problem_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let problem = Problem::new(err, request_id);
    let text = serde_json::to_string(&problem).unwrap_or_else(|_| String::from("{}"));
    let mut resp = response(problem.status, text, request_id);
    if let ApiError::MethodNotAllowed { allowed, .. } = err {
        if let Ok(v) = HeaderValue::from_str(allowed) {
            resp.headers_mut().insert("allow", v);
        }
    }
    resp
}

fn response(status: u16, text: String, request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(text));
    *resp.status_mut() = lambda_http::http::StatusCode::from_u16(status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

/// The response body as text (tests and the request log read it).
pub fn body_text(resp: &Response<Body>) -> &str {
    match resp.body() {
        Body::Text(t) => t,
        Body::Binary(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

/// At most `max` characters of `s`, for echoing client input into messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
