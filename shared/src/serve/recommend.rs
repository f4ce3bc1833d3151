//! The recommend function: the adapter of [`crate::api::recommend`] with registry following,
//! the request log line and the metrics around it.

use super::served::{follow, Serves};
use crate::aws::Refresher;
use crate::bundle::Bundle;
use crate::http::{Body, Request, Response};
use crate::recommend::Recommender;
use crate::registry::ServingSet;
use crate::store::FeatureStore;
use crate::telemetry::{variants_of, InvocationMetrics, Metrics, RequestFigures, ShadowFigures};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The `Function` dimension of recommend's metrics.
pub const FUNCTION: &str = "recommend";

impl<S: FeatureStore + 'static> Serves<Bundle> for Recommender<S> {
    fn current(&self) -> Option<Arc<ServingSet<Bundle>>> {
        Some(self.serving())
    }

    fn serve(&self, set: ServingSet<Bundle>) -> Result<(), String> {
        self.swap_serving(set).map_err(|e| e.to_string())
    }
}

/// Everything a recommend container holds between invocations. `Send + Sync`.
pub struct RecommendApp<S> {
    pub service: Arc<Recommender<S>>,
    pub follower: Option<Arc<Refresher<Bundle>>>,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
}

impl<S: FeatureStore> RecommendApp<S> {
    /// Installs the metrics recorder (logged and skipped if it cannot be).
    pub fn new(service: Recommender<S>, follower: Option<Arc<Refresher<Bundle>>>) -> Self {
        RecommendApp {
            service: Arc::new(service),
            follower,
            metrics: super::serving_metrics(FUNCTION, &[]),
            invoked: AtomicBool::new(false),
        }
    }
}

impl<S: FeatureStore + 'static> super::HttpApp for RecommendApp<S> {
    /// One invocation: registry check when due, the request, its log line and metrics.
    async fn serve(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        follow(self.follower.as_ref(), &self.service);
        let (resp, stats) = crate::api::recommend::handle(&self.service, &req).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let cold_start = !self.invoked.swap(true, Ordering::Relaxed);
        let request_id = crate::http::request_id(&req);
        let store_ms = stats.store_ms.unwrap_or(0.0);
        tracing::info!(
            request_id = %request_id,
            route = stats.route,
            status = stats.status,
            latency_ms,
            handler_ms = latency_ms - store_ms,
            store_ms = stats.store_ms,
            degraded = stats.degraded,
            source = if stats.popular { "popular" } else { "model" },
            store_failure = stats.store_failure,
            error_code = stats.error_code,
            model_version = %stats.model_version,
            variant = stats.variant,
            shadow_version = stats.shadow.as_ref().map(|s| s.version.as_str()),
            shadow_score_delta = stats.shadow.as_ref().map(|s| s.score_delta),
            shadow_topk_overlap = stats.shadow.as_ref().map(|s| s.topk_overlap),
            cold_start,
            "request"
        );
        crate::telemetry::capture::log(
            FUNCTION,
            request_id,
            self.service.bundle().name(),
            &stats.capture,
        );
        if let Some(metrics) = &self.metrics {
            let model = self.service.bundle();
            metrics.record(&InvocationMetrics {
                request: stats.counted.then(|| RequestFigures {
                    model: Some(model.name()),
                    variants: variants_of(Some(stats.variant)),
                    status: stats.status,
                    error_code: stats.error_code,
                    latency_ms,
                    store_ms: stats.store_ms,
                    degraded: stats.degraded,
                    popular: stats.popular,
                    shadow: stats.shadow.as_ref().map(|sh| ShadowFigures {
                        score_delta: Some(sh.score_delta),
                        topk_overlap: Some(sh.topk_overlap),
                        failed: None,
                    }),
                }),
                cold_start,
                init_ms: cold_start.then(|| self.service.init_ms()),
                model_version: &stats.model_version,
                request_id,
            });
            metrics.flush();
        }
        resp
    }
}
