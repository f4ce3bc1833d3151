//! The valuation endpoint, independent of AWS (company data through a [`CompanyStore`],
//! answers cached in a [`ResultCache`]) and of HTTP (the adapter is `crate::api::valuation`), so
//! all of it is unit-tested in-process.
//!
//! `POST /valuation`: parse and validate (400 naming the field) → company (GetItem; none → 404;
//! store failure/timeout → 503) → cache lookup by [`ValuationRequest::cache_key`] (hit →
//! `cached: true`, the stored numbers unchanged) → industry peers (failure → answer without
//! peer medians, `degraded`) → fair P/E from the `fair-multiple` model (missing → no ML
//! section, `degraded`) → [`value`] → cache write (not for degraded answers; best effort,
//! awaited before answering because Lambda freezes the container afterwards).
//! `GET /health`: liveness and what is loaded.
//!
//! The fair-multiple model is a [`ServingSet`]: the active version, optionally a canary
//! candidate serving the companies whose `ts_code` [`crate::registry::bucket`] puts under its
//! weight (the answer's `variant` is `candidate` and `model` names it; cached answers are keyed
//! by model version, so the two never mix), and optionally a shadow that also scores each
//! computed answer — the absolute fair P/E difference lands in [`ValuationStats::shadow`],
//! never in the answer.

use super::error::ValuationError;
use super::fair_multiple::{Fundamentals, FAIR_MULTIPLE_FEATURES};
use super::request::ValuationRequest;
use super::response::ValuationResponse;
use super::store::{CacheEntry, CompanyStore, ResultCache, MAX_PEERS};
use super::value::{value, FairMultipleInput, NO_PEERS_WARNING};
use crate::bundle::{Bundle, BundleError, ModelKind};
use crate::http::{self, ApiError};
use crate::model::ModelError;
use crate::registry::serving::{ServingSet, Slot};
use crate::registry::VersionRef;
use crate::telemetry::capture::{named, CaptureConfig, CaptureRow};
use arc_swap::ArcSwapOption;
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `Function` dimension of this endpoint's metrics.
pub const FUNCTION: &str = "valuation";

/// The `fair-multiple` bundle, checked to be servable: kind `fair-multiple`, the
/// [`FAIR_MULTIPLE_FEATURES`] in order, one output (the fair P/E).
pub struct FairMultipleModel {
    bundle: Bundle,
}

impl FairMultipleModel {
    /// The model of `bundle` when it is a servable fair-multiple (what the registry loader
    /// builds).
    pub fn servable(bundle: Bundle) -> Result<Self, String> {
        Self::new(bundle).map_err(|e| e.to_string())
    }

    pub fn new(bundle: Bundle) -> Result<Self, BundleError> {
        let m = bundle.manifest();
        let invalid = |msg: String| Err(BundleError::Invalid(msg));
        if m.kind != ModelKind::FairMultiple {
            return invalid(format!("kind is `{}`, not fair-multiple", m.kind.as_str()));
        }
        if m.features.len() != FAIR_MULTIPLE_FEATURES.len()
            || m.features
                .iter()
                .zip(FAIR_MULTIPLE_FEATURES)
                .any(|(f, n)| f.name != n)
        {
            return invalid(format!(
                "features must be the {} fair-multiple features in order ({})",
                FAIR_MULTIPLE_FEATURES.len(),
                FAIR_MULTIPLE_FEATURES.join(", ")
            ));
        }
        if bundle.num_outputs() != 1 {
            return invalid(format!(
                "a fair-multiple bundle has one output (the fair P/E), not {}",
                bundle.num_outputs()
            ));
        }
        Ok(FairMultipleModel { bundle })
    }

    pub fn name(&self) -> &str {
        self.bundle.name()
    }

    pub fn version(&self) -> &str {
        self.bundle.version()
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The model's fair P/E for these fundamentals.
    pub fn fair_pe(&self, f: &Fundamentals) -> Result<f64, ModelError> {
        let mut out = [0.0];
        self.bundle.score_into(&f.row(), &mut out)?;
        Ok(out[0])
    }
}

/// Deadlines and cache lifetime.
#[derive(Debug, Clone, Copy)]
pub struct ValuationConfig {
    /// Company read, cache read and cache write, each.
    pub store_deadline: Duration,
    /// The peers read (an index GetItem plus a BatchGetItem of up to 100 items).
    pub peers_deadline: Duration,
    /// Lifetime of a cached answer; 0 turns the cache off.
    pub cache_ttl_secs: u64,
    /// `CAPTURE_SAMPLE_RATE`: the share of requests whose scored company is logged as a
    /// `capture` record.
    pub capture: CaptureConfig,
}

impl ValuationConfig {
    /// `STORE_DEADLINE_MS` (150), `PEERS_DEADLINE_MS` (4 × the store deadline: one index
    /// GetItem plus one BatchGetItem of up to 100 companies), and `CACHE_TTL_SECS` (3600) when
    /// there is a cache table, else 0 (no cache).
    pub fn from_env(cache_table: bool) -> Result<Self, String> {
        use crate::lambda::env::number;
        let store_ms = number("STORE_DEADLINE_MS", 150, 1)?;
        Ok(ValuationConfig {
            store_deadline: Duration::from_millis(store_ms),
            peers_deadline: Duration::from_millis(number("PEERS_DEADLINE_MS", 4 * store_ms, 1)?),
            cache_ttl_secs: if cache_table {
                number("CACHE_TTL_SECS", 3600, 0)?
            } else {
                0
            },
            capture: CaptureConfig::from_env()?,
        })
    }
}

impl Default for ValuationConfig {
    fn default() -> Self {
        ValuationConfig {
            store_deadline: Duration::from_millis(150),
            peers_deadline: Duration::from_millis(600),
            cache_ttl_secs: 3600,
            capture: CaptureConfig::default(),
        }
    }
}

/// What one request did, for metrics and the request log line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValuationStats {
    pub route: &'static str,
    pub status: u16,
    /// A `POST /valuation`: counts in `Requests`, `Latency`, `Degraded`, `CacheHit`.
    pub counted: bool,
    pub degraded: bool,
    pub cache_hit: bool,
    pub ts_code: Option<String>,
    /// Time spent waiting for the company store and the cache.
    pub store_ms: Option<f64>,
    /// Time spent in the valuation itself (model scoring included).
    pub compute_ms: Option<f64>,
    /// Why the company read failed: `timeout` or the store error kind.
    pub store_failure: Option<&'static str>,
    pub peers_failure: Option<&'static str>,
    pub cache_failure: Option<&'static str>,
    pub error_code: Option<&'static str>,
    pub model_version: Option<String>,
    /// `active` or `candidate` (None without a model).
    pub variant: Option<&'static str>,
    /// The shadow model's comparison: `(shadow version, |fair P/E − shadow fair P/E|)`.
    pub shadow: Option<(String, f64)>,
    /// The scored company of a request sampled for the data capture.
    pub capture: Vec<CaptureRow>,
}

#[derive(Serialize)]
pub struct ModelInfo<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
pub struct CandidateInfo<'a> {
    version: &'a str,
    weight: u8,
}

/// `GET /health`: liveness and what is loaded.
#[derive(Serialize)]
pub struct Health<'a> {
    status: &'static str,
    function: &'static str,
    model: Option<ModelInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate: Option<CandidateInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<&'a str>,
    /// True when answers lack the ML section (no model loaded).
    degraded: bool,
    cache_ttl_secs: u64,
    init_ms: f64,
    cold_start_ms: Option<f64>,
    request_id: &'a str,
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Awaits `fut` for at most `deadline`; `Err("timeout")` or `Err(kind)` of a store error.
async fn within<T>(
    deadline: Duration,
    fut: impl Future<Output = Result<T, crate::store::StoreError>>,
    ms: &mut f64,
) -> Result<T, (&'static str, String)> {
    let t = Instant::now();
    let r = tokio::time::timeout(deadline, fut).await;
    *ms += t.elapsed().as_secs_f64() * 1e3;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err((e.kind(), e.to_string())),
        Err(_) => Err((
            "timeout",
            format!("no answer within {} ms", deadline.as_millis()),
        )),
    }
}

/// The valuation service over a company store `S` and a cache `C`. `Send + Sync`; the model
/// set can be swapped while requests are in flight.
pub struct ValuationService<S, C> {
    store: S,
    cache: C,
    model: ArcSwapOption<ServingSet<FairMultipleModel>>,
    config: ValuationConfig,
    process_start: Instant,
    init_ms: f64,
    first_invocation_ms: OnceLock<f64>,
}

impl<S: CompanyStore, C: ResultCache> ValuationService<S, C> {
    /// `model` is `None` when no fair-multiple bundle could be loaded: answers then omit the
    /// ML section and are `degraded`. `process_start` is when the container's process started.
    pub fn new(
        store: S,
        cache: C,
        model: Option<FairMultipleModel>,
        config: ValuationConfig,
        process_start: Instant,
    ) -> Self {
        ValuationService {
            store,
            cache,
            model: ArcSwapOption::from(model.map(|m| Arc::new(single(m)))),
            config,
            process_start,
            init_ms: process_start.elapsed().as_secs_f64() * 1e3,
            first_invocation_ms: OnceLock::new(),
        }
    }

    /// The active model.
    pub fn model(&self) -> Option<Arc<FairMultipleModel>> {
        self.model
            .load()
            .as_ref()
            .map(|s| Arc::clone(&s.active.model))
    }

    /// What is served: active, candidate, shadow (`None` without a model).
    pub fn serving(&self) -> Option<Arc<ServingSet<FairMultipleModel>>> {
        self.model.load_full()
    }

    /// Serves `model` as the active version from now on (candidate and shadow stay).
    pub fn swap_model(&self, model: FairMultipleModel) {
        let next = match self.model.load_full() {
            Some(cur) => {
                let mut next = ServingSet::clone(&cur);
                next.active = Slot::new(VersionRef::new(model.version()), model);
                next.revision = None;
                next
            }
            None => single(model),
        };
        self.model.store(Some(Arc::new(next)));
    }

    /// Serves `set` from now on (hot reload; requests in flight finish on the old set).
    pub fn swap_serving(&self, set: ServingSet<FairMultipleModel>) {
        self.model.store(Some(Arc::new(set)));
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn cache(&self) -> &C {
        &self.cache
    }

    pub fn init_ms(&self) -> f64 {
        self.init_ms
    }

    pub fn config(&self) -> &ValuationConfig {
        &self.config
    }

    /// Records the first invocation (for `cold_start_ms`); later calls do nothing.
    pub fn note_invocation(&self) {
        self.first_invocation_ms
            .get_or_init(|| self.process_start.elapsed().as_secs_f64() * 1e3);
    }

    /// What is loaded, for `GET /health`.
    pub fn health<'a>(
        &self,
        set: Option<&'a ServingSet<FairMultipleModel>>,
        request_id: &'a str,
    ) -> Health<'a> {
        let model = set.map(|s| &s.active.model);
        Health {
            status: "ok",
            function: FUNCTION,
            model: model.map(|m| ModelInfo {
                name: m.name(),
                version: m.version(),
            }),
            candidate: set.and_then(|s| {
                s.candidate.as_ref().map(|(c, w)| CandidateInfo {
                    version: c.version(),
                    weight: *w,
                })
            }),
            shadow: set.and_then(|s| s.shadow.as_ref().map(|s| s.version())),
            degraded: model.is_none(),
            cache_ttl_secs: self.config.cache_ttl_secs,
            init_ms: self.init_ms,
            cold_start_ms: self.first_invocation_ms.get().copied(),
            request_id,
        }
    }

    /// `POST /valuation` for a parsed request: validation (400 naming the field), company
    /// (404, or 503 when the store fails), cache, peers, model, valuation, cache write. `stats`
    /// records what happened, also when the answer is an error.
    pub async fn valuation(
        &self,
        request: &ValuationRequest,
        rid: &str,
        stats: &mut ValuationStats,
    ) -> Result<ValuationResponse, ApiError> {
        let set = self.model.load_full();
        self.valuation_with(request, set.as_deref(), rid, stats)
            .await
    }

    async fn valuation_with(
        &self,
        request: &ValuationRequest,
        set: Option<&ServingSet<FairMultipleModel>>,
        rid: &str,
        stats: &mut ValuationStats,
    ) -> Result<ValuationResponse, ApiError> {
        request.validate()?;
        for (field, present) in [
            ("company", request.company.is_some()),
            ("peers", request.peers.is_some()),
        ] {
            if present {
                return Err(ApiError::invalid(
                    field,
                    "is only accepted by the offline `warmstart value`; the endpoint reads \
                     company data from the store",
                ));
            }
        }
        let ts_code = request
            .normalized_ts_code()
            .ok_or(ApiError::MissingField { field: "ts_code" })?;
        stats.ts_code = Some(ts_code.clone());
        let routed = set.map(|s| s.route(&ts_code));
        let variant = routed.map(|(v, _)| v.as_str());
        let model: Option<&FairMultipleModel> = routed.map(|(_, slot)| slot.model.as_ref());
        stats.variant = variant;
        stats.model_version = model.map(|m| m.version().to_string());
        let mut store_ms = 0.0;

        // Company.
        let company = match within(
            self.config.store_deadline,
            self.store.get_company(&ts_code),
            &mut store_ms,
        )
        .await
        {
            Ok(Some(c)) => c,
            Ok(None) => {
                stats.store_ms = Some(store_ms);
                return Err(ValuationError::NotFound { ts_code }.into());
            }
            Err((kind, detail)) => {
                stats.store_ms = Some(store_ms);
                stats.store_failure = Some(kind);
                tracing::warn!(ts_code = %ts_code, error = %detail, "company read failed");
                return Err(ApiError::StoreUnavailable(format!(
                    "company data for `{ts_code}` could not be read ({kind}); retry later"
                )));
            }
        };

        // Cache.
        let model_version = model.map(FairMultipleModel::version);
        let key = request.cache_key(model_version, &company.as_of)?;
        let caching = self.config.cache_ttl_secs > 0;
        if caching {
            match within(
                self.config.store_deadline,
                self.cache.get(&key, now_epoch()),
                &mut store_ms,
            )
            .await
            {
                Ok(Some(body)) => match serde_json::from_str::<ValuationResponse>(&body) {
                    Ok(mut r) => {
                        r.cached = true;
                        r.variant = variant.map(str::to_string);
                        r.request_id = Some(rid.to_string());
                        stats.cache_hit = true;
                        stats.store_ms = Some(store_ms);
                        return Ok(r);
                    }
                    Err(e) => {
                        stats.cache_failure = Some("decode");
                        tracing::warn!(key = %key, error = %e, "cached valuation undecodable; recomputing");
                    }
                },
                Ok(None) => {}
                Err((kind, detail)) => {
                    stats.cache_failure = Some(kind);
                    tracing::warn!(key = %key, error = %detail, "cache read failed; computing");
                }
            }
        }

        // Peers.
        let mut degraded = false;
        let mut warnings = Vec::new();
        let peers = match &company.industry {
            None => Vec::new(),
            Some(industry) => match within(
                self.config.peers_deadline,
                self.store.industry_peers(industry, MAX_PEERS),
                &mut store_ms,
            )
            .await
            {
                Ok(p) => p,
                Err((kind, detail)) => {
                    degraded = true;
                    stats.peers_failure = Some(kind);
                    tracing::warn!(industry = %industry, error = %detail, "peers read failed; answering without peer medians");
                    warnings.push(format!(
                        "industry peers could not be read ({kind}): no peer medians"
                    ));
                    Vec::new()
                }
            },
        };
        stats.store_ms = Some(store_ms);

        // ML fair multiple, then the valuation.
        let compute = Instant::now();
        let fair = match model {
            None => {
                degraded = true;
                warnings.push("no fair-multiple model is loaded: ML section omitted".to_string());
                None
            }
            Some(m) => match m.fair_pe(&company.fundamentals()) {
                Ok(fair_pe) => {
                    let mut shadow_pe = None;
                    stats.shadow = set.and_then(|s| s.shadow()).and_then(|sh| {
                        match sh.model.fair_pe(&company.fundamentals()) {
                            Ok(p) => {
                                shadow_pe = Some((sh.version().to_string(), p));
                                Some((sh.version().to_string(), (p - fair_pe).abs()))
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, shadow = %sh.version(), "shadow scoring failed");
                                None
                            }
                        }
                    });
                    if self.config.capture.sampled(rid) {
                        let outputs =
                            || m.bundle().manifest().outputs.iter().map(|o| o.code.clone());
                        stats.capture.push(CaptureRow {
                            version: m.version().to_string(),
                            variant: variant.unwrap_or("active"),
                            entity: Some(ts_code.clone()),
                            input: named(FAIR_MULTIPLE_FEATURES, &company.fundamentals().row()),
                            output: named(outputs(), &[fair_pe]),
                            shadow: shadow_pe.map(|(v, p)| (v, named(outputs(), &[p]))),
                        });
                    }
                    Some(FairMultipleInput {
                        fair_pe,
                        name: m.name().to_string(),
                        version: m.version().to_string(),
                    })
                }
                Err(e) => {
                    degraded = true;
                    tracing::error!(error = %e, "fair-multiple scoring failed");
                    warnings.push("the fair-multiple model could not score this company".into());
                    None
                }
            },
        };
        let mut resp = value(request, Some(&company), &peers, fair)?;
        stats.compute_ms = Some(compute.elapsed().as_secs_f64() * 1e3);
        if stats.peers_failure.is_some() {
            // value() only saw an empty peer list; say why instead.
            resp.valuation_results
                .data_warnings
                .retain(|w| w != NO_PEERS_WARNING);
        }
        resp.valuation_results.data_warnings.extend(warnings);
        resp.degraded = degraded;
        stats.degraded = degraded;

        if caching && !degraded {
            let now = now_epoch();
            match serde_json::to_string(&resp) {
                Ok(body) => {
                    let entry = CacheEntry {
                        key,
                        body,
                        expires_at: now + self.config.cache_ttl_secs as i64,
                        ts_code: ts_code.clone(),
                        as_of: company.as_of.clone(),
                        model_version: model_version.map(str::to_string),
                        created_at: now,
                    };
                    if let Err((kind, detail)) = within(
                        self.config.store_deadline,
                        self.cache.put(&entry),
                        &mut store_ms,
                    )
                    .await
                    {
                        stats.cache_failure = Some(kind);
                        tracing::warn!(error = %detail, "cache write failed");
                    }
                    stats.store_ms = Some(store_ms);
                }
                Err(e) => tracing::error!(error = %e, "valuation did not serialize for the cache"),
            }
        }
        resp.variant = variant.map(str::to_string);
        resp.request_id = Some(rid.to_string());
        Ok(resp)
    }
}

fn single(model: FairMultipleModel) -> ServingSet<FairMultipleModel> {
    ServingSet::single(
        model.name().to_string(),
        VersionRef::new(model.version()),
        model,
    )
}

/// The `POST /valuation` body: the API's usual JSON problems, then a field of the wrong type
/// names the field.
pub fn parse_request(body: &[u8]) -> Result<ValuationRequest, ApiError> {
    Ok(ValuationRequest::from_value(http::parse_json(body)?)?)
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
