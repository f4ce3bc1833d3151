//! The recommend service: the scoring path with popularity fallback, batch answers, health and
//! the model listing, independent of AWS (the store is a [`FeatureStore`]) and of HTTP (the
//! adapter is `crate::api::recommend`), so all of it is unit-tested in-process.
//!
//! What is served is a [`ServingSet`] of bundles: the active one, optionally a canary
//! candidate (the customers [`crate::registry::bucket`] puts under its weight get it, sticky
//! across calls and containers; the answer's `variant` says `candidate` and `model.version` is
//! the candidate's) and optionally a shadow, which scores every model answer too: the
//! difference (mean absolute score difference, top-k overlap) lands in [`RequestStats::shadow`]
//! for logs and metrics and is never returned.

use super::answer::{answer, Lookup};
use super::config::ServiceConfig;
use super::fairness::{fairness, FairnessReport, FairnessRequest, Skipped};
use super::request::{BatchRequest, RecommendRequest};
use super::response::{
    BatchItem, BatchResponse, ModelRef, RecommendResponse, RequestStats, ShadowStats, Source,
};
use super::servable::{check_recommender_bundle, check_set};
use super::Customer;
use crate::bundle::{Bundle, BundleError};
use crate::http::ApiError;
use crate::registry::serving::{ServingSet, Variant};
use crate::registry::VersionRef;
use crate::store::{Breaker, FeatureStore, StoreError, BREAKER_OPEN, MAX_BATCH_GET};
use arc_swap::ArcSwap;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The `variant` of answers from the active version.
pub const VARIANT_ACTIVE: &str = "active";
/// The `variant` of answers from the canary candidate.
pub const VARIANT_CANDIDATE: &str = "candidate";
/// The top-level `variant` of a batch answered partly by each.
pub const VARIANT_MIXED: &str = "mixed";

/// The recommend service over a store `S`. `Send + Sync`; the served set can be swapped while
/// requests are in flight (each request scores with the set it started with).
pub struct Recommender<S> {
    set: ArcSwap<ServingSet<Bundle>>,
    store: S,
    config: ServiceConfig,
    breaker: Breaker,
    process_start: Instant,
    init_ms: f64,
    first_invocation_ms: OnceLock<f64>,
}

impl<S: FeatureStore> Recommender<S> {
    /// `process_start` is when the container's process started: init time is measured from it.
    pub fn new(
        bundle: Bundle,
        store: S,
        config: ServiceConfig,
        process_start: Instant,
    ) -> Result<Self, BundleError> {
        let set = ServingSet::single(
            bundle.name().to_string(),
            VersionRef::new(bundle.version()),
            bundle,
        );
        Self::from_set(set, store, config, process_start)
    }

    /// Serves `set` (active, candidate, shadow); every bundle must be a servable recommender.
    pub fn from_set(
        set: ServingSet<Bundle>,
        store: S,
        config: ServiceConfig,
        process_start: Instant,
    ) -> Result<Self, BundleError> {
        check_set(&set)?;
        Ok(Recommender {
            set: ArcSwap::from_pointee(set),
            store,
            config,
            breaker: Breaker::new(config.store_cool_down),
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
        check_set(&set)?;
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

    /// Records the first invocation (for `cold_start_ms`); later calls do nothing.
    pub fn note_invocation(&self) {
        self.first_invocation_ms
            .get_or_init(|| self.process_start.elapsed().as_secs_f64() * 1e3);
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
        let lookup = if !self.breaker.allow() {
            Lookup::Failed(BREAKER_OPEN)
        } else {
            match tokio::time::timeout(
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
            }
        };
        match lookup {
            Lookup::Failed(BREAKER_OPEN) => {}
            // A bad item is not the store failing.
            Lookup::Failed(kind) if kind != "decode" => self.breaker.failed(),
            _ => self.breaker.succeeded(),
        }
        stats.store_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        if let Lookup::Failed(why) = lookup {
            stats.store_failure = Some(why);
        }
        let (variant, slot) = set.route(&req.customer_id);
        let bundle: &Bundle = &slot.model;
        let shadow = set.shadow().map(|s| s.model.as_ref());
        let sampled = self.config.capture.sampled(request_id);
        let (recommendations, source, degraded, compared, captured) =
            answer(bundle, shadow, req, lookup, sampled);
        if let Some(c) = captured {
            stats
                .capture
                .push(c.row(bundle, variant.as_str(), &req.customer_id));
        }
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
        let fetched: Result<HashMap<String, Result<Customer, StoreError>>, &'static str> = if !self
            .breaker
            .allow()
        {
            Err(BREAKER_OPEN)
        } else {
            match tokio::time::timeout(
                self.config.batch_store_deadline,
                self.store.batch_get_customers(&unique),
            )
            .await
            {
                Ok(Ok(m)) => {
                    self.breaker.succeeded();
                    Ok(m)
                }
                Ok(Err(e)) => {
                    self.breaker.failed();
                    tracing::warn!(ids = unique.len(), error = %e, "feature store batch read failed; answering from popularity");
                    Err(e.kind())
                }
                Err(_) => {
                    self.breaker.failed();
                    tracing::warn!(
                        ids = unique.len(),
                        "feature store batch read timed out; answering from popularity"
                    );
                    Err("timeout")
                }
            }
        };
        stats.store_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        let single = |id: &String| RecommendRequest {
            customer_id: id.clone(),
            k: req.k,
            features: None,
            owned_products: None,
            return_scores: req.return_scores,
            explain: false,
        };
        let shadow = set.shadow().map(|s| s.model.as_ref());
        let sampled = self.config.capture.sampled(request_id);
        let mut captured_rows = Vec::new();
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
                let (recommendations, source, degraded, cmp, captured) =
                    answer(&slot.model, shadow, &single(id), lookup, sampled);
                if let Some(c) = captured {
                    captured_rows.push(c.row(&slot.model, variant.as_str(), id));
                }
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
        stats.capture = captured_rows;
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

    /// `POST /recommend/fairness` for a validated request, on the active version. The
    /// profiles are read in BatchGetItem pages, concurrently, under the batch deadline; a
    /// report cannot be degraded, so a store failure is a 503.
    pub async fn fairness(
        &self,
        req: &FairnessRequest,
        request_id: &str,
    ) -> Result<FairnessReport, ApiError> {
        let set = self.set.load_full();
        let pages = req.customer_ids.chunks(MAX_BATCH_GET);
        let reads = futures::future::try_join_all(pages.map(|p| self.store.batch_get_customers(p)));
        let fetched = match tokio::time::timeout(self.config.batch_store_deadline, reads).await {
            Ok(Ok(pages)) => pages,
            Ok(Err(e)) => {
                return Err(ApiError::StoreUnavailable(format!(
                    "the feature store failed: {e}"
                )))
            }
            Err(_) => {
                return Err(ApiError::StoreUnavailable(format!(
                    "the feature store did not answer within {} ms",
                    self.config.batch_store_deadline.as_millis()
                )))
            }
        };
        let mut found = HashMap::with_capacity(req.customer_ids.len());
        for page in fetched {
            found.extend(page);
        }
        let mut customers = Vec::with_capacity(found.len());
        let mut skipped = Vec::new();
        for id in &req.customer_ids {
            match found.remove(id) {
                Some(Ok(c)) => customers.push(c),
                Some(Err(e)) => {
                    tracing::warn!(customer_id = %id, error = %e, "profile left out of the fairness report");
                    skipped.push(Skipped {
                        customer_id: id.clone(),
                        reason: "unreadable",
                    });
                }
                None => skipped.push(Skipped {
                    customer_id: id.clone(),
                    reason: "unknown",
                }),
            }
        }
        fairness(
            &set.active.model,
            &customers,
            skipped,
            &req.grouping,
            request_id,
        )
    }

    /// `GET /health`: what is served, init and cold-start times.
    pub fn health(&self, request_id: &str) -> Value {
        let set = self.set.load();
        serde_json::json!({
            "status": "ok",
            "model": model_ref(&set.active.model),
            "variant": VARIANT_ACTIVE,
            "candidate": set.candidate.as_ref().map(|(c, w)| serde_json::json!({"version": c.version(), "weight": w})),
            "shadow": set.shadow.as_ref().map(|s| serde_json::json!({"version": s.version()})),
            "registry_revision": set.revision,
            "models": super::models(&set),
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

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
