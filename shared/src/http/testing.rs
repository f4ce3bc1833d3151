//! What the functions' unit tests share: the API Gateway events of `events/`, and an event
//! taken through the runtime's conversions to a function's adapter and back.

use super::{to_apigw_response, to_request, Body, Request, Response};
use crate::recommend::{Recommender, RequestStats};
use crate::store::FeatureStore;
use crate::valuation::{CompanyStore, ResultCache, ValuationService, ValuationStats};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as EventBody;
use serde_json::Value;
use std::future::Future;

/// A service with its function's HTTP adapter (`crate::api::<function>::handle`).
pub trait Adapter {
    /// What the adapter reports about one request besides the response.
    type Stats;
    fn adapt(&self, req: &Request) -> impl Future<Output = (Response<Body>, Self::Stats)>;
}

impl<S: FeatureStore> Adapter for Recommender<S> {
    type Stats = RequestStats;
    async fn adapt(&self, req: &Request) -> (Response<Body>, RequestStats) {
        crate::api::recommend::handle(self, req).await
    }
}

impl<S: CompanyStore, C: ResultCache> Adapter for ValuationService<S, C> {
    type Stats = ValuationStats;
    async fn adapt(&self, req: &Request) -> (Response<Body>, ValuationStats) {
        crate::api::valuation::handle(self, req).await
    }
}

/// The event through the function's runtime path (`to_request`: lambda_http's conversion,
/// base64 checked first) with Lambda request id `lambda_rid`, answered by `svc`'s adapter,
/// and turned back into the payload-2.0 answer API Gateway receives.
pub async fn handle<A: Adapter>(
    svc: &A,
    ev: &ApiGatewayV2httpRequest,
    lambda_rid: &str,
) -> (ApiGatewayV2httpResponse, A::Stats) {
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = lambda_rid.into();
    let (resp, stats) = svc.adapt(&to_request(ev.clone(), Some(ctx))).await;
    (to_apigw_response(resp), stats)
}

/// The event `events/<name>` of the repository.
pub fn event(name: &str) -> ApiGatewayV2httpRequest {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `ev` with a plain-text `body`.
pub fn with_body(mut ev: ApiGatewayV2httpRequest, body: &str) -> ApiGatewayV2httpRequest {
    ev.body = Some(body.to_string());
    ev.is_base64_encoded = false;
    ev
}

/// The text body of an answer.
pub fn text(resp: &ApiGatewayV2httpResponse) -> &str {
    match &resp.body {
        Some(EventBody::Text(t)) => t,
        other => panic!("expected a text body, got {other:?}"),
    }
}

/// The JSON body of an answer.
pub fn body_json(resp: &ApiGatewayV2httpResponse) -> Value {
    serde_json::from_str(text(resp)).unwrap()
}
