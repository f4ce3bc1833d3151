//! The Lambda runtime loop of the HTTP functions: API Gateway HTTP API (payload 2.0) events in,
//! `lambda_http::Request` to the handler, its `Response` back as the payload-2.0 answer.
//!
//! Why not `lambda_http::run`: its event conversion decodes base64 bodies with `expect`
//! (aws_lambda_events `Body::from_maybe_encoded`), so a direct invocation with
//! `isBase64Encoded: true` and a broken body panics inside the runtime and becomes an
//! invocation error instead of the 400 problem JSON the API promises. [`to_request`] checks
//! the body first and otherwise uses lambda_http's own conversion, so handlers see exactly the
//! `Request` lambda_http would give them.

use super::{ApiError, MAX_BODY_BYTES};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_runtime::{service_fn, Context, LambdaEvent};
use std::convert::Infallible;
use std::future::Future;

/// A body problem found while converting the event; [`super::body`] answers it.
#[derive(Debug, Clone)]
pub struct BodyError(pub ApiError);

/// Runs the Lambda runtime loop with `handler`, which never fails: every problem is a response.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let resp = handler(to_request(event.payload, Some(event.context))).await;
            Ok::<_, Infallible>(to_apigw_response(resp))
        },
    ))
    .await
}

/// The `lambda_http::Request` of a payload-2.0 event. A body that is not valid base64, or
/// whose encoded size already exceeds [`MAX_BODY_BYTES`], is dropped and its problem attached
/// as a [`BodyError`] extension (checked before decoding: base64 is 4 characters per 3 bytes).
pub fn to_request(mut event: ApiGatewayV2httpRequest, context: Option<Context>) -> Request {
    let mut problem = None;
    if event.is_base64_encoded {
        if let Some(b) = event.body.as_deref() {
            // Decoded here and again by lambda_http: at most 64 KiB, cheaper than owning the
            // conversion.
            if b.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
                problem = Some(ApiError::BodyTooLarge {
                    limit: MAX_BODY_BYTES,
                });
            } else if base64::engine::general_purpose::STANDARD.decode(b).is_err() {
                problem = Some(ApiError::BadBase64);
            }
        }
    }
    if problem.is_some() {
        event.body = None;
        event.is_base64_encoded = false;
    }
    let mut req: Request = LambdaRequest::ApiGatewayV2(event).into();
    if let Some(p) = problem {
        req.extensions_mut().insert(BodyError(p));
    }
    match context {
        Some(c) => req.with_lambda_context(c),
        None => req,
    }
}

/// The payload-2.0 answer for `resp` (binary bodies base64-encoded).
pub fn to_apigw_response(resp: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = resp.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    let (body, encoded) = match body {
        Body::Empty => (None, false),
        Body::Text(t) => (Some(Body::Text(t)), false),
        Body::Binary(b) => (
            Some(Body::Text(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            true,
        ),
        _ => (None, false),
    };
    out.body = body;
    out.is_base64_encoded = encoded;
    out
}
