//! What a serving function runs around its HTTP adapter: model settings from the environment
//! ([`config`]), the served model — resolve the version from the registry or `MODEL_VERSION`,
//! load it with its candidate and shadow, follow the registry per TTL and swap ([`served`]) —
//! and, per function, the app that ties the adapter to registry following, the request log
//! line and the metrics ([`recommend`], [`valuation`]). The function mains only build clients
//! and call these.

pub mod config;
mod fetch;
pub mod predict;
pub mod recommend;
pub mod reload;
pub mod served;
pub mod valuation;

pub use config::ModelConfig;
pub use served::{load_served, Served, Serves};

use crate::http::{Body, Request, Response};
use crate::telemetry::{self, Metrics};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An HTTP function's state between invocations: answers one request at a time.
pub trait HttpApp: Send + Sync + 'static {
    fn serve(&self, req: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// The main of an HTTP function: installs logging, awaits `init` (an init failure is reported
/// to the Runtime API and ends the process), then runs the HTTP loop over the app.
pub async fn run_http<A: HttpApp>(
    init: impl Future<Output = Result<A, String>>,
) -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let app = match init.await {
        Ok(app) => Arc::new(app),
        Err(e) => crate::lambda::fail_init(&e).await,
    };
    crate::http::run(|req| {
        let app = Arc::clone(&app);
        async move { app.serve(req).await }
    })
    .await
}

/// The EMF recorder of a serving function with the registry-following counters and the
/// function's own `(name, description)` counters (emitted from zero), or `None` (logged) when
/// it cannot be installed.
pub(crate) fn serving_metrics(
    function: &'static str,
    counters: &[(&'static str, &'static str)],
) -> Option<Metrics> {
    match Metrics::init(function) {
        Ok(m) => {
            crate::registry::metric::describe_serving();
            for &(name, description) in counters {
                metrics::describe_counter!(name, metrics::Unit::Count, description);
                metrics::counter!(name).increment(0);
            }
            Some(m)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics disabled");
            None
        }
    }
}

/// Awaits a warm-up read, logging (not failing) when it fails: it only opens the connection so
/// the first request does not pay the TLS handshake inside its store deadline.
pub async fn warm_up<T, E: std::fmt::Display>(
    table: &str,
    read: impl std::future::Future<Output = Result<T, E>>,
) -> Duration {
    let t = Instant::now();
    if let Err(e) = read.await {
        tracing::warn!(error = %e, table, "store warm-up read failed; requests will degrade if this persists");
    }
    t.elapsed()
}
