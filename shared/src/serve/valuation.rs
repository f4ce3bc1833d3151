//! The valuation function: the adapter of [`crate::api::valuation`] with registry following,
//! the request log line and the metrics around it.

use super::served::{follow, Serves};
use crate::aws::Refresher;
use crate::http::{Body, Request, Response};
use crate::registry::ServingSet;
use crate::telemetry::{variants_of, InvocationMetrics, Metrics, RequestFigures, ShadowFigures};
use crate::valuation::service::FUNCTION;
use crate::valuation::{CompanyStore, FairMultipleModel, ResultCache, ValuationService};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The metric counting answers served from `ValuationCache`.
pub const CACHE_HIT: &str = "CacheHit";

impl<S: CompanyStore + 'static, C: ResultCache + 'static> Serves<FairMultipleModel>
    for ValuationService<S, C>
{
    fn current(&self) -> Option<Arc<ServingSet<FairMultipleModel>>> {
        self.serving()
    }

    fn serve(&self, set: ServingSet<FairMultipleModel>) -> Result<(), String> {
        self.swap_serving(set);
        Ok(())
    }
}

/// Everything a valuation container holds between invocations. `Send + Sync`.
pub struct ValuationApp<S, C> {
    pub service: Arc<ValuationService<S, C>>,
    pub follower: Option<Arc<Refresher<FairMultipleModel>>>,
    metrics: Option<Metrics>,
    invoked: AtomicBool,
}

impl<S: CompanyStore, C: ResultCache> ValuationApp<S, C> {
    /// Installs the metrics recorder (logged and skipped if it cannot be).
    pub fn new(
        service: ValuationService<S, C>,
        follower: Option<Arc<Refresher<FairMultipleModel>>>,
    ) -> Self {
        ValuationApp {
            service: Arc::new(service),
            follower,
            metrics: super::serving_metrics(
                FUNCTION,
                &[(CACHE_HIT, "answers from ValuationCache")],
            ),
            invoked: AtomicBool::new(false),
        }
    }
}

impl<S: CompanyStore + 'static, C: ResultCache + 'static> super::HttpApp for ValuationApp<S, C> {
    /// One invocation: registry check when due, the request, its log line and metrics.
    async fn serve(&self, req: Request) -> Response<Body> {
        let started = Instant::now();
        follow(self.follower.as_ref(), &self.service);
        let (resp, stats) = crate::api::valuation::handle(&self.service, &req).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let cold_start = !self.invoked.swap(true, Ordering::Relaxed);
        let request_id = crate::http::request_id(&req);
        let model_version = stats.model_version.as_deref().unwrap_or("none");
        tracing::info!(
            request_id = %request_id,
            route = stats.route,
            status = stats.status,
            ts_code = stats.ts_code.as_deref(),
            latency_ms,
            store_ms = stats.store_ms,
            compute_ms = stats.compute_ms,
            cache_hit = stats.cache_hit,
            degraded = stats.degraded,
            store_failure = stats.store_failure,
            peers_failure = stats.peers_failure,
            cache_failure = stats.cache_failure,
            error_code = stats.error_code,
            model_version = %model_version,
            variant = stats.variant,
            shadow_version = stats.shadow.as_ref().map(|(v, _)| v.as_str()),
            shadow_score_delta = stats.shadow.as_ref().map(|(_, d)| *d),
            cold_start,
            "request"
        );
        let model = self.service.model();
        let model_name = model.as_ref().map(|m| m.name());
        if let Some(name) = model_name {
            crate::telemetry::capture::log(FUNCTION, request_id, name, &stats.capture);
        }
        if let Some(metrics) = &self.metrics {
            metrics.record(&InvocationMetrics {
                request: stats.counted.then(|| RequestFigures {
                    // The Model dimension only when a model answered (not a degraded answer
                    // without one).
                    model: model_name.filter(|_| stats.variant.is_some()),
                    variants: variants_of(stats.variant),
                    status: stats.status,
                    error_code: stats.error_code,
                    latency_ms,
                    store_ms: stats.store_ms,
                    degraded: stats.degraded,
                    popular: false,
                    shadow: stats.shadow.as_ref().map(|(_, delta)| ShadowFigures {
                        score_delta: Some(*delta),
                        ..ShadowFigures::default()
                    }),
                }),
                cold_start,
                init_ms: cold_start.then(|| self.service.init_ms()),
                model_version,
                request_id,
            });
            if stats.counted {
                metrics::counter!(CACHE_HIT).increment(u64::from(stats.cache_hit));
            }
            metrics.flush();
        }
        resp
    }
}
