//! What a serving function runs around its HTTP adapter: model settings from the environment
//! ([`config`]), the served model — resolve the version from the registry or `MODEL_VERSION`,
//! load it with its candidate and shadow, follow the registry per TTL and swap ([`served`]) —
//! and, per function, the app that ties the adapter to registry following, the request log
//! line and the metrics ([`recommend`], [`valuation`]). The function mains only build clients
//! and call these.

pub mod config;
pub mod recommend;
pub mod reload;
pub mod served;
pub mod valuation;

pub use config::ModelConfig;
pub use served::{load_served, Served, Serves};

use std::time::{Duration, Instant};

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
