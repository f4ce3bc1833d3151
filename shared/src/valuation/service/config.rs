//! The endpoint's deadlines, cache lifetime, breaker cool-down and capture rate.

use crate::telemetry::capture::CaptureConfig;
use std::time::Duration;

/// Deadlines and cache lifetime.
#[derive(Debug, Clone, Copy)]
pub struct ValuationConfig {
    /// Company read, cache read and cache write, each.
    pub store_deadline: Duration,
    /// The peers read (an index GetItem plus a BatchGetItem of up to 100 items).
    pub peers_deadline: Duration,
    /// Lifetime of a cached answer; 0 turns the cache off.
    pub cache_ttl_secs: u64,
    /// After a failed or timed-out company read, skip the store for this long (one probe
    /// then); zero: always read ([`crate::store::Breaker`]).
    pub store_cool_down: Duration,
    /// `CAPTURE_SAMPLE_RATE`: the share of requests whose scored company is logged as a
    /// `capture` record.
    pub capture: CaptureConfig,
}

impl ValuationConfig {
    /// `STORE_DEADLINE_MS` (150), `PEERS_DEADLINE_MS` (4 × the store deadline: one index
    /// GetItem plus one BatchGetItem of up to 100 companies), `CACHE_TTL_SECS` (3600) when
    /// there is a cache table, else 0 (no cache), and `STORE_COOL_DOWN_MS` (1000).
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
            store_cool_down: Duration::from_millis(number("STORE_COOL_DOWN_MS", 1000, 0)?),
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
            store_cool_down: Duration::ZERO,
            capture: CaptureConfig::default(),
        }
    }
}
