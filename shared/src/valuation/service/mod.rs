//! The valuation endpoint, independent of AWS (company data through a [`CompanyStore`],
//! answers cached in a [`ResultCache`]) and of HTTP (the adapter is `crate::api::valuation`), so
//! all of it is unit-tested in-process.
//!
//! `POST /valuation`: parse and validate (400 naming the field) → company (GetItem; none → 404;
//! store failure/timeout → the latest cached answer to the same inputs, `cached` and
//! `degraded`, from the container's memory or the cache table; without one 503) → cache lookup by [`ValuationRequest::cache_key`] (hit →
//! `cached: true`, the stored numbers unchanged) → industry peers (failure → answer without
//! peer medians, `degraded`) → fair P/E from the `fair-multiple` model (missing → no ML
//! section, `degraded`) → [`value`] → cache write, exact key and the request's latest (not
//! for degraded answers; best effort,
//! awaited before answering because Lambda freezes the container afterwards).
//! `GET /health`: liveness and what is loaded.
//!
//! The fair-multiple model is a [`ServingSet`]: the active version, optionally a canary
//! candidate serving the companies whose `ts_code` [`crate::registry::bucket`] puts under its
//! weight (the answer's `variant` is `candidate` and `model` names it; cached answers are keyed
//! by model version, so the two never mix), and optionally a shadow that also scores each
//! computed answer — the absolute fair P/E difference lands in [`ValuationStats::shadow`],
//! never in the answer.

mod cache;
mod config;
mod model;
mod stats;

pub use config::ValuationConfig;
pub use model::FairMultipleModel;
pub use stats::{CandidateInfo, Health, ModelInfo, ValuationStats};

use super::error::ValuationError;
use super::fair_multiple::FAIR_MULTIPLE_FEATURES;
use super::request::ValuationRequest;
use super::response::ValuationResponse;
use super::store::{CacheEntry, Cached, CompanyStore, ResultCache, MAX_PEERS};
use super::value::{value, FairMultipleInput, NO_PEERS_WARNING};
use crate::http::{self, ApiError};
use crate::registry::serving::{ServingSet, Slot};
use crate::registry::VersionRef;
use crate::telemetry::capture::{named, CaptureRow};
use arc_swap::ArcSwapOption;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The `Function` dimension of this endpoint's metrics.
pub const FUNCTION: &str = "valuation";

/// Answers a container remembers (by [`ValuationRequest::request_key`]) to serve when the
/// store, cache table included, cannot be read: a few hundred small JSON bodies.
pub const RECENT_ANSWERS: usize = 256;

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
    /// The latest answers of this container, by request key (a full store outage takes the
    /// cache table with it).
    recent: Mutex<lru::LruCache<String, Cached>>,
    /// Skips company reads for a while after one failed.
    breaker: crate::store::Breaker,
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
            recent: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(RECENT_ANSWERS).expect("non-zero"),
            )),
            breaker: crate::store::Breaker::new(config.store_cool_down),
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
        let read = if self.breaker.allow() {
            let r = within(
                self.config.store_deadline,
                self.store.get_company(&ts_code),
                &mut store_ms,
            )
            .await;
            match &r {
                Err((kind, _)) if *kind != "decode" => self.breaker.failed(),
                _ => self.breaker.succeeded(),
            }
            r
        } else {
            Err((
                crate::store::BREAKER_OPEN,
                "a recent read failed; not reading for a cool-down".to_string(),
            ))
        };
        let company = match read {
            Ok(Some(c)) => c,
            Ok(None) => {
                stats.store_ms = Some(store_ms);
                return Err(ValuationError::NotFound { ts_code }.into());
            }
            Err((kind, detail)) => {
                stats.store_failure = Some(kind);
                tracing::warn!(ts_code = %ts_code, error = %detail, "company read failed");
                let stale = self
                    .latest_answer(request, kind, model, variant, &mut store_ms, stats)
                    .await;
                stats.store_ms = Some(store_ms);
                if let Some(mut r) = stale {
                    r.request_id = Some(rid.to_string());
                    return Ok(r);
                }
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
                self.cache.get_cached(&key, now_epoch()),
                &mut store_ms,
            )
            .await
            {
                Ok(Some(hit)) => match serde_json::from_str::<ValuationResponse>(&hit.body) {
                    Ok(mut r) => {
                        self.remember(request, hit);
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
                    self.keep(request, entry, &mut store_ms, stats).await?;
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
mod tests;
