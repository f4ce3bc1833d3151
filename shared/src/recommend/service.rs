//! The recommend service: strict request validation, the scoring path with popularity fallback
//! and the route handlers, independent of AWS (the store is a [`FeatureStore`]) so all of it is
//! unit-tested in-process. The Lambda binary only adds init, the runtime loop, the registry
//! refresh and telemetry.
//!
//! What is served is a [`ServingSet`] of bundles: the active one, optionally a canary
//! candidate (the customers [`crate::registry::bucket`] puts under its weight get it, sticky
//! across calls and containers; the answer's `variant` says `candidate` and `model.version` is
//! the candidate's) and optionally a shadow, which scores every model answer too: the
//! difference (mean absolute score difference, top-k overlap) lands in [`RequestStats::shadow`]
//! for logs and metrics and is never returned.

use super::{
    feature_names, popular, product_index, top_k, Customer, OverrideError, Recommendation,
    NUM_FEATURES, NUM_PRODUCTS, PRODUCTS,
};
use crate::bundle::{Bundle, BundleError, ModelKind};
use crate::http::{self, ApiError, RouteKey, MAX_BODY_BYTES};
use crate::registry::serving::{mean_abs_diff, top_k_overlap, ServingSet, Variant};
use crate::registry::VersionRef;
use crate::store::{customer_key, FeatureStore, StoreError, MAX_BATCH_GET};
use arc_swap::ArcSwap;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const DEFAULT_K: usize = 7;
pub const MAX_K: usize = NUM_PRODUCTS;
pub const MAX_BATCH: usize = MAX_BATCH_GET;
pub const MAX_ID_LEN: usize = 64;
/// The `variant` of answers from the active version.
pub const VARIANT_ACTIVE: &str = "active";
/// The `variant` of answers from the canary candidate.
pub const VARIANT_CANDIDATE: &str = "candidate";
/// The top-level `variant` of a batch answered partly by each.
pub const VARIANT_MIXED: &str = "mixed";

const RECOMMEND_FIELDS: &str = "customer_id, k, features, owned_products, return_scores";
const BATCH_FIELDS: &str = "customer_ids, k, return_scores";

/// `POST /recommend` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendRequest {
    pub customer_id: String,
    pub k: usize,
    /// What-if profile overrides, already checked against the overridable fields.
    pub features: Option<Map<String, Value>>,
    /// What-if ownership, already checked against the product codes.
    pub owned_products: Option<Vec<String>>,
    pub return_scores: bool,
}

/// `POST /recommend/batch` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub customer_ids: Vec<String>,
    pub k: usize,
    pub return_scores: bool,
}

impl RecommendRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(
            &obj,
            &[
                "customer_id",
                "k",
                "features",
                "owned_products",
                "return_scores",
            ],
            RECOMMEND_FIELDS,
        )?;
        let customer_id = match present(&obj, "customer_id") {
            Some(v) => parse_id(v, "customer_id")?,
            None => {
                return Err(ApiError::MissingField {
                    field: "customer_id",
                })
            }
        };
        let features = match present(&obj, "features") {
            None => None,
            Some(Value::Object(m)) => {
                let mut scratch = Customer::default();
                for (name, value) in m {
                    scratch
                        .apply_override(name, value)
                        .map_err(override_error)?;
                }
                Some(m.clone())
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "features",
                    format!("must be an object of feature values, not {}", kind(other)),
                ))
            }
        };
        let owned_products = match present(&obj, "owned_products") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::String(s) if product_index(s).is_some() => Ok(s.clone()),
                        Value::String(s) => Err(ApiError::UnknownProduct(http::clip(s, 64))),
                        other => Err(ApiError::invalid(
                            format!("owned_products[{i}]"),
                            format!("must be a product code string, not {}", kind(other)),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(ApiError::invalid(
                    "owned_products",
                    format!("must be an array of product codes, not {}", kind(other)),
                ))
            }
        };
        Ok(RecommendRequest {
            customer_id,
            k: parse_k(present(&obj, "k"))?,
            features,
            owned_products,
            return_scores: parse_bool(present(&obj, "return_scores"), "return_scores")?,
        })
    }

    /// The stored profile with this request's overrides applied.
    fn overlay(&self, base: Customer) -> Customer {
        let mut c = base;
        if let Some(features) = &self.features {
            for (name, value) in features {
                // Validated at parse time; a failure here would leave the stored value.
                let _ = c.apply_override(name, value);
            }
        }
        if let Some(owned) = &self.owned_products {
            let _ = c.set_owned(owned);
        }
        c
    }

    fn has_overrides(&self) -> bool {
        self.features.is_some() || self.owned_products.is_some()
    }
}

impl BatchRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(&obj, &["customer_ids", "k", "return_scores"], BATCH_FIELDS)?;
        let customer_ids = match present(&obj, "customer_ids") {
            None => {
                return Err(ApiError::MissingField {
                    field: "customer_ids",
                })
            }
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    return Err(ApiError::BatchEmpty);
                }
                if items.len() > MAX_BATCH {
                    return Err(ApiError::BatchTooLarge {
                        got: items.len(),
                        max: MAX_BATCH,
                    });
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_id(v, &format!("customer_ids[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "customer_ids",
                    format!("must be an array of ids, not {}", kind(other)),
                ))
            }
        };
        Ok(BatchRequest {
            customer_ids,
            k: parse_k(present(&obj, "k"))?,
            return_scores: parse_bool(present(&obj, "return_scores"), "return_scores")?,
        })
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("the body is empty".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::invalid(
            "body",
            format!("must be a JSON object, not {}", kind(&other)),
        )),
        Err(e) => Err(json_error(&e)),
    }
}

/// serde_json refuses numbers that overflow f64 (`1e999`) as "number out of range": those are
/// non-finite numbers to the client, everything else is malformed JSON.
fn json_error(e: &serde_json::Error) -> ApiError {
    let msg = e.to_string();
    if msg.starts_with("number out of range") {
        ApiError::NonFiniteNumber {
            field: format!("body (line {}, column {})", e.line(), e.column()),
        }
    } else {
        ApiError::MalformedJson(msg)
    }
}

/// A field's value, with `null` meaning absent.
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    accepted: &'static str,
) -> Result<(), ApiError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::UnknownField {
            field: http::clip(k, 64),
            accepted,
        }),
        None => Ok(()),
    }
}

/// A customer id: a string of letters, digits and `-_.:` (≤ 64), or a non-negative integer
/// (stringified: `15889` is `"15889"`).
fn parse_id(v: &Value, field: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(ApiError::invalid(field, "must not be empty"));
            }
            if s.len() > MAX_ID_LEN {
                return Err(ApiError::invalid(
                    field,
                    format!("must be at most {MAX_ID_LEN} characters"),
                ));
            }
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
            {
                return Err(ApiError::invalid(
                    field,
                    "may only hold letters, digits and - _ . :",
                ));
            }
            Ok(s.to_string())
        }
        Value::Number(n) => match n.as_u64() {
            Some(u) => Ok(u.to_string()),
            None => Err(ApiError::invalid(
                field,
                "must be a string or a non-negative integer",
            )),
        },
        Value::Null => Err(ApiError::invalid(field, "must not be null")),
        other => Err(ApiError::invalid(
            field,
            format!(
                "must be a string or a non-negative integer, not {}",
                kind(other)
            ),
        )),
    }
}

fn parse_k(v: Option<&Value>) -> Result<usize, ApiError> {
    let Some(v) = v else { return Ok(DEFAULT_K) };
    let k: i128 = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 => f as i128,
                    _ => return Err(ApiError::invalid("k", "must be an integer")),
                }
            }
        }
        other => {
            return Err(ApiError::invalid(
                "k",
                format!(
                    "must be an integer between 1 and {MAX_K}, not {}",
                    kind(other)
                ),
            ))
        }
    };
    if (1..=MAX_K as i128).contains(&k) {
        Ok(k as usize)
    } else {
        Err(ApiError::KOutOfRange { k, max: MAX_K })
    }
}

fn parse_bool(v: Option<&Value>, field: &str) -> Result<bool, ApiError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("must be true or false, not {}", kind(other)),
        )),
    }
}

fn override_error(e: OverrideError) -> ApiError {
    match e {
        OverrideError::Unknown { .. } => ApiError::UnknownFeature(e.to_string()),
        OverrideError::NotNumber { name } => ApiError::invalid(
            format!("features.{name}"),
            "must be a finite number or null",
        ),
        OverrideError::NotString { name } => {
            ApiError::invalid(format!("features.{name}"), "must be a string or null")
        }
        OverrideError::UnknownProduct(code) => ApiError::UnknownProduct(code),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Model,
    Popular,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendResponse {
    pub customer_id: String,
    pub recommendations: Vec<Recommendation>,
    pub model: ModelRef,
    pub variant: &'static str,
    pub source: Source,
    pub degraded: bool,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchItem {
    pub customer_id: String,
    pub recommendations: Vec<Recommendation>,
    pub source: Source,
    pub degraded: bool,
    /// `active` or `candidate`: which version answered this customer.
    pub variant: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
    /// The version that answered every result, or the active one when the canary split them.
    pub model: ModelRef,
    /// `active`, `candidate`, or `mixed` (see each result's `variant`).
    pub variant: &'static str,
    /// True when any result is degraded.
    pub degraded: bool,
    pub request_id: String,
}

/// What one request did, for metrics and the request log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestStats {
    pub route: &'static str,
    pub status: u16,
    /// A recommendation request (single or batch): counts in `Requests`/`Degraded`.
    pub counted: bool,
    pub degraded: bool,
    pub popular: bool,
    /// Time spent waiting for the feature store, when it was called.
    pub store_ms: Option<f64>,
    /// Why the store could not answer: `timeout`, or the [`StoreError::kind`].
    pub store_failure: Option<&'static str>,
    pub error_code: Option<&'static str>,
    /// The version that answered (the active one for non-scoring routes).
    pub model_version: String,
    /// `active`, `candidate` or `mixed`.
    pub variant: &'static str,
    /// The shadow comparison, when a shadow scored this request.
    pub shadow: Option<ShadowStats>,
}

/// How the shadow model's answer compared with the served one (means over a batch).
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowStats {
    pub version: String,
    /// Mean absolute difference of the 24 scores.
    pub score_delta: f64,
    /// |top-k ∩ shadow top-k| / k over the products the customer does not own.
    pub topk_overlap: f64,
    /// Customers compared (1 for a single request).
    pub compared: usize,
}

/// Deadlines of the feature-store calls.
#[derive(Debug, Clone, Copy)]
pub struct ServiceConfig {
    pub store_deadline: Duration,
    pub batch_store_deadline: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            store_deadline: Duration::from_millis(150),
            batch_store_deadline: Duration::from_millis(1000),
        }
    }
}

/// The outcome of asking the store for one customer. Lives on the stack for one request;
/// boxing the profile would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Lookup {
    Found(Customer),
    Missing,
    Failed(&'static str),
}

const ROUTES: &[RouteKey] = &[
    ("POST", "/recommend"),
    ("POST", "/recommend/batch"),
    ("GET", "/health"),
    ("GET", "/models"),
];

/// The recommend service over a store `S`. `Send + Sync`; the served set can be swapped while
/// requests are in flight (each request scores with the set it started with).
pub struct Recommender<S> {
    set: ArcSwap<ServingSet<Bundle>>,
    store: S,
    config: ServiceConfig,
    process_start: Instant,
    init_ms: f64,
    first_invocation_ms: OnceLock<f64>,
}

/// Checks that a bundle is a product recommender this code can serve: the recommender's
/// features in order and the 24 products in order.
pub fn check_recommender_bundle(bundle: &Bundle) -> Result<(), BundleError> {
    let m = bundle.manifest();
    let invalid = |msg: String| Err(BundleError::Invalid(msg));
    if m.kind != ModelKind::ProductRecommender {
        return invalid(format!(
            "kind is `{}`, not product-recommender",
            m.kind.as_str()
        ));
    }
    let names = feature_names();
    if m.features.len() != NUM_FEATURES || m.features.iter().zip(&names).any(|(f, n)| f.name != *n)
    {
        return invalid(format!(
            "features must be the {NUM_FEATURES} recommender features in order"
        ));
    }
    if m.outputs.len() != NUM_PRODUCTS
        || m.outputs
            .iter()
            .zip(PRODUCTS)
            .any(|(o, (code, _))| o.code != code)
    {
        return invalid(format!(
            "outputs must be the {NUM_PRODUCTS} products in order"
        ));
    }
    Ok(())
}

impl<S: FeatureStore> Recommender<S> {
    /// `process_start` is when the container's process started: init time is measured from it.
    pub fn new(
        bundle: Bundle,
        store: S,
        config: ServiceConfig,
        process_start: Instant,
    ) -> Result<Self, BundleError> {
        check_recommender_bundle(&bundle)?;
        let set = ServingSet::single(
            bundle.name().to_string(),
            VersionRef::new(bundle.version()),
            bundle,
        );
        Ok(Recommender {
            set: ArcSwap::from_pointee(set),
            store,
            config,
            process_start,
            init_ms: process_start.elapsed().as_secs_f64() * 1e3,
            first_invocation_ms: OnceLock::new(),
        })
    }

    /// The active bundle.
    pub fn bundle(&self) -> Arc<Bundle> {
        Arc::clone(&self.set.load().active.model)
    }

    /// What is served: active, candidate, shadow.
    pub fn serving(&self) -> Arc<ServingSet<Bundle>> {
        self.set.load_full()
    }

    /// Serves `bundle` as the active version from now on (candidate and shadow stay).
    pub fn swap_bundle(&self, bundle: Bundle) -> Result<(), BundleError> {
        check_recommender_bundle(&bundle)?;
        let mut next = ServingSet::clone(&self.set.load());
        next.active = crate::registry::Slot::new(VersionRef::new(bundle.version()), bundle);
        next.revision = None;
        self.set.store(Arc::new(next));
        Ok(())
    }

    /// Serves `set` from now on (hot reload; requests in flight finish on the old set). Every
    /// bundle of the set must be a servable recommender.
    pub fn swap_serving(&self, set: ServingSet<Bundle>) -> Result<(), BundleError> {
        check_recommender_bundle(&set.active.model)?;
        if let Some((c, _)) = &set.candidate {
            check_recommender_bundle(&c.model)?;
        }
        if let Some(s) = &set.shadow {
            check_recommender_bundle(&s.model)?;
        }
        self.set.store(Arc::new(set));
        Ok(())
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn init_ms(&self) -> f64 {
        self.init_ms
    }

    /// Process start to the first invocation, once there was one.
    pub fn cold_start_ms(&self) -> Option<f64> {
        self.first_invocation_ms.get().copied()
    }

    /// Handles one API Gateway request. Never fails: every problem is an HTTP response.
    pub async fn handle(
        &self,
        event: &ApiGatewayV2httpRequest,
        lambda_request_id: &str,
    ) -> (ApiGatewayV2httpResponse, RequestStats) {
        self.first_invocation_ms
            .get_or_init(|| self.process_start.elapsed().as_secs_f64() * 1e3);
        let rid = http::request_id(event, lambda_request_id);
        let (method, path) = http::method_and_path(event);
        let set = self.set.load_full();
        let mut stats = RequestStats {
            model_version: set.active.version().to_string(),
            variant: VARIANT_ACTIVE,
            ..RequestStats::default()
        };
        let result = match http::dispatch(ROUTES, method, path) {
            Ok(0) => {
                stats.route = "recommend";
                stats.counted = true;
                match http::body_bytes(event, MAX_BODY_BYTES)
                    .and_then(|b| RecommendRequest::parse(&b))
                {
                    Ok(req) => {
                        let resp = self.recommend_with(&set, &req, rid, &mut stats).await;
                        Ok(http::json_response(200, &resp, rid))
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(1) => {
                stats.route = "recommend_batch";
                stats.counted = true;
                match http::body_bytes(event, MAX_BODY_BYTES).and_then(|b| BatchRequest::parse(&b))
                {
                    Ok(req) => {
                        let resp = self.batch_with(&set, &req, rid, &mut stats).await;
                        Ok(http::json_response(200, &resp, rid))
                    }
                    Err(e) => Err(e),
                }
            }
            Ok(2) => {
                stats.route = "health";
                Ok(http::json_response(200, &self.health(&set, rid), rid))
            }
            Ok(3) => {
                stats.route = "models";
                Ok(http::json_response(200, &models(&set, rid), rid))
            }
            Ok(_) => Err(ApiError::Internal("route table out of sync".into())),
            Err(e) => {
                stats.route = "unrouted";
                Err(e)
            }
        };
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                stats.error_code = Some(e.code());
                if let ApiError::Internal(detail) = &e {
                    tracing::error!(detail = %detail, "internal error");
                }
                http::problem_response(&e, rid)
            }
        };
        stats.status = u16::try_from(resp.status_code).unwrap_or(500);
        (resp, stats)
    }

    /// `POST /recommend` for a validated request.
    pub async fn recommend(
        &self,
        req: &RecommendRequest,
        request_id: &str,
    ) -> (RecommendResponse, RequestStats) {
        let set = self.set.load_full();
        let mut stats = RequestStats {
            route: "recommend",
            status: 200,
            counted: true,
            model_version: set.active.version().to_string(),
            variant: VARIANT_ACTIVE,
            ..RequestStats::default()
        };
        let resp = self.recommend_with(&set, req, request_id, &mut stats).await;
        (resp, stats)
    }

    /// `POST /recommend/batch` for a validated request.
    pub async fn batch(
        &self,
        req: &BatchRequest,
        request_id: &str,
    ) -> (BatchResponse, RequestStats) {
        let set = self.set.load_full();
        let mut stats = RequestStats {
            route: "recommend_batch",
            status: 200,
            counted: true,
            model_version: set.active.version().to_string(),
            variant: VARIANT_ACTIVE,
            ..RequestStats::default()
        };
        let resp = self.batch_with(&set, req, request_id, &mut stats).await;
        (resp, stats)
    }

    async fn recommend_with(
        &self,
        set: &ServingSet<Bundle>,
        req: &RecommendRequest,
        request_id: &str,
        stats: &mut RequestStats,
    ) -> RecommendResponse {
        let started = Instant::now();
        let lookup = match tokio::time::timeout(
            self.config.store_deadline,
            self.store.get_customer(&req.customer_id),
        )
        .await
        {
            Ok(Ok(Some(c))) => Lookup::Found(c),
            Ok(Ok(None)) => Lookup::Missing,
            Ok(Err(e)) => {
                tracing::warn!(customer_id = %req.customer_id, error = %e, "feature store read failed; answering from popularity");
                Lookup::Failed(e.kind())
            }
            Err(_) => {
                tracing::warn!(customer_id = %req.customer_id, deadline_ms = self.config.store_deadline.as_millis() as u64, "feature store read timed out; answering from popularity");
                Lookup::Failed("timeout")
            }
        };
        stats.store_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        if let Lookup::Failed(why) = lookup {
            stats.store_failure = Some(why);
        }
        let (variant, slot) = set.route(&req.customer_id);
        let bundle: &Bundle = &slot.model;
        let shadow = set.shadow().map(|s| s.model.as_ref());
        let (recommendations, source, degraded, compared) = answer(bundle, shadow, req, lookup);
        stats.degraded = degraded;
        stats.popular = source == Source::Popular;
        stats.variant = variant.as_str();
        stats.model_version = bundle.version().to_string();
        stats.shadow = compared.map(|(score_delta, topk_overlap)| ShadowStats {
            version: shadow.map(|s| s.version().to_string()).unwrap_or_default(),
            score_delta,
            topk_overlap,
            compared: 1,
        });
        RecommendResponse {
            customer_id: req.customer_id.clone(),
            recommendations,
            model: model_ref(bundle),
            variant: variant.as_str(),
            source,
            degraded,
            request_id: request_id.to_string(),
        }
    }

    async fn batch_with(
        &self,
        set: &ServingSet<Bundle>,
        req: &BatchRequest,
        request_id: &str,
        stats: &mut RequestStats,
    ) -> BatchResponse {
        let mut unique: Vec<String> = Vec::with_capacity(req.customer_ids.len());
        for id in &req.customer_ids {
            if !unique.contains(id) {
                unique.push(id.clone());
            }
        }
        let started = Instant::now();
        let fetched: Result<HashMap<String, Result<Customer, StoreError>>, &'static str> =
            match tokio::time::timeout(
                self.config.batch_store_deadline,
                self.store.batch_get_customers(&unique),
            )
            .await
            {
                Ok(Ok(m)) => Ok(m),
                Ok(Err(e)) => {
                    tracing::warn!(ids = unique.len(), error = %e, "feature store batch read failed; answering from popularity");
                    Err(e.kind())
                }
                Err(_) => {
                    tracing::warn!(
                        ids = unique.len(),
                        "feature store batch read timed out; answering from popularity"
                    );
                    Err("timeout")
                }
            };
        stats.store_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        let single = |id: &String| RecommendRequest {
            customer_id: id.clone(),
            k: req.k,
            features: None,
            owned_products: None,
            return_scores: req.return_scores,
        };
        let shadow = set.shadow().map(|s| s.model.as_ref());
        let (mut delta_sum, mut overlap_sum, mut compared) = (0.0, 0.0, 0usize);
        let mut variants = (false, false);
        let results: Vec<BatchItem> = req
            .customer_ids
            .iter()
            .map(|id| {
                let lookup = match &fetched {
                    Err(why) => Lookup::Failed(why),
                    Ok(m) => match m.get(id) {
                        None => Lookup::Missing,
                        Some(Ok(c)) => Lookup::Found(c.clone()),
                        Some(Err(e)) => {
                            tracing::warn!(customer_id = %id, error = %e, "batch item failed; answering from popularity");
                            Lookup::Failed(e.kind())
                        }
                    },
                };
                let (variant, slot) = set.route(id);
                match variant {
                    Variant::Active => variants.0 = true,
                    Variant::Candidate => variants.1 = true,
                }
                let (recommendations, source, degraded, cmp) =
                    answer(&slot.model, shadow, &single(id), lookup);
                if let Some((d, o)) = cmp {
                    delta_sum += d;
                    overlap_sum += o;
                    compared += 1;
                }
                BatchItem {
                    customer_id: id.clone(),
                    recommendations,
                    source,
                    degraded,
                    variant: variant.as_str(),
                }
            })
            .collect();
        let (variant, bundle): (&'static str, &Bundle) = match variants {
            (false, true) => (
                VARIANT_CANDIDATE,
                &set.candidate.as_ref().expect("routed to it").0.model,
            ),
            (true, true) => (VARIANT_MIXED, &set.active.model),
            _ => (VARIANT_ACTIVE, &set.active.model),
        };
        stats.variant = variant;
        stats.model_version = bundle.version().to_string();
        if compared > 0 {
            stats.shadow = Some(ShadowStats {
                version: shadow.map(|s| s.version().to_string()).unwrap_or_default(),
                score_delta: delta_sum / compared as f64,
                topk_overlap: overlap_sum / compared as f64,
                compared,
            });
        }
        let degraded = results.iter().any(|r| r.degraded);
        stats.degraded = degraded;
        stats.popular = results.iter().any(|r| r.source == Source::Popular);
        if let Err(why) = fetched {
            stats.store_failure = Some(why);
        }
        BatchResponse {
            results,
            model: model_ref(bundle),
            variant,
            degraded,
            request_id: request_id.to_string(),
        }
    }

    fn health(&self, set: &ServingSet<Bundle>, request_id: &str) -> Value {
        serde_json::json!({
            "status": "ok",
            "model": model_ref(&set.active.model),
            "variant": VARIANT_ACTIVE,
            "candidate": set.candidate.as_ref().map(|(c, w)| serde_json::json!({"version": c.version(), "weight": w})),
            "shadow": set.shadow.as_ref().map(|s| serde_json::json!({"version": s.version()})),
            "registry_revision": set.revision,
            "cold_start_ms": self.cold_start_ms().map(round3),
            "init_ms": round3(self.init_ms),
            "uptime_s": round3(self.process_start.elapsed().as_secs_f64()),
            "request_id": request_id,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn model_ref(bundle: &Bundle) -> ModelRef {
    ModelRef {
        name: bundle.name().to_string(),
        version: bundle.version().to_string(),
    }
}

/// `GET /models`: what this container serves: the active version, the candidate (with its
/// weight) and the shadow.
fn models(set: &ServingSet<Bundle>, request_id: &str) -> Value {
    let describe = |bundle: &Bundle, role: &str, weight: Option<u8>| {
        let m = bundle.manifest();
        serde_json::json!({
            "name": m.name,
            "version": m.version,
            "role": role,
            "weight": weight,
            "kind": m.kind.as_str(),
            "created_at": m.created_at,
            "features": m.features.len(),
            "outputs": m.outputs.iter().map(|o| serde_json::json!({"code": o.code, "name": o.name})).collect::<Vec<_>>(),
            "metrics": m.metrics,
            "rollout": m.rollout,
            "golden_rows": m.golden.len(),
            "files": m.files.len(),
        })
    };
    let mut all = vec![describe(&set.active.model, VARIANT_ACTIVE, None)];
    if let Some((c, w)) = &set.candidate {
        all.push(describe(&c.model, VARIANT_CANDIDATE, Some(*w)));
    }
    if let Some(s) = &set.shadow {
        all.push(describe(&s.model, "shadow", None));
    }
    serde_json::json!({
        "models": all,
        "registry_revision": set.revision,
        "request_id": request_id,
    })
}

/// What [`answer`] returns: recommendations, where they came from, degraded, and the shadow
/// comparison `(mean abs score difference, top-k overlap)` when a shadow scored the row.
type Answer = (Vec<Recommendation>, Source, bool, Option<(f64, f64)>);

/// The scoring path: stored profile (or, for a what-if call about an unknown customer, an empty
/// one) → overrides → row → scores → top-k of the products not owned. Unknown customers without
/// overrides get popularity; store failures get popularity, degraded. A `shadow` bundle scores
/// the same row; only the comparison comes back.
fn answer(
    bundle: &Bundle,
    shadow: Option<&Bundle>,
    req: &RecommendRequest,
    lookup: Lookup,
) -> Answer {
    let profile = match lookup {
        Lookup::Found(c) => Some(c),
        Lookup::Missing if req.has_overrides() => Some(Customer {
            customer_id: req.customer_id.clone(),
            ..Customer::default()
        }),
        Lookup::Missing => None,
        Lookup::Failed(_) => {
            return (popular_for(bundle, req), Source::Popular, true, None);
        }
    };
    let Some(profile) = profile else {
        return (popular_for(bundle, req), Source::Popular, false, None);
    };
    let customer = if req.has_overrides() {
        req.overlay(profile)
    } else {
        profile
    };
    let mut row = [0.0f64; NUM_FEATURES];
    customer.write_row(&mut row);
    let mut scores = [0.0f64; NUM_PRODUCTS];
    match bundle.score_into(&row, &mut scores) {
        Ok(()) => {
            let compared = shadow.and_then(|sb| {
                let mut shadow_scores = [0.0f64; NUM_PRODUCTS];
                match sb.score_into(&row, &mut shadow_scores) {
                    Ok(()) => {
                        let mut owned = [false; NUM_PRODUCTS];
                        for i in customer.owned_indices() {
                            owned[i] = true;
                        }
                        Some((
                            mean_abs_diff(&scores, &shadow_scores),
                            top_k_overlap(&scores, &shadow_scores, |i| !owned[i], req.k),
                        ))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, shadow = %sb.version(), "shadow scoring failed");
                        None
                    }
                }
            });
            (
                top_k(&scores, customer.owned_indices(), req.k, req.return_scores),
                Source::Model,
                false,
                compared,
            )
        }
        Err(e) => {
            // Unreachable for a bundle that passed `check_recommender_bundle`.
            tracing::error!(error = %e, key = %customer_key(&req.customer_id), "scoring failed; answering from popularity");
            (popular_for(bundle, req), Source::Popular, true, None)
        }
    }
}

fn popular_for(bundle: &Bundle, req: &RecommendRequest) -> Vec<Recommendation> {
    let owned = req
        .owned_products
        .iter()
        .flatten()
        .filter_map(|c| product_index(c));
    popular(
        &bundle.manifest().base_rates,
        owned,
        req.k,
        req.return_scores,
    )
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
