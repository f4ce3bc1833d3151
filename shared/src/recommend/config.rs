//! The recommend service's deadlines, breaker cool-down and capture rate, from the
//! environment.

use crate::telemetry::capture::CaptureConfig;
use std::time::Duration;

/// Deadlines of the feature-store calls.
#[derive(Debug, Clone, Copy)]
pub struct ServiceConfig {
    pub store_deadline: Duration,
    pub batch_store_deadline: Duration,
    /// After a failed or timed-out store call, answer degraded without calling the store for
    /// this long (one probe call then); zero: always call ([`crate::store::Breaker`]).
    pub store_cool_down: Duration,
    /// `CAPTURE_SAMPLE_RATE`: the share of requests whose scored rows are logged as `capture`
    /// records.
    pub capture: CaptureConfig,
}

impl ServiceConfig {
    /// `STORE_DEADLINE_MS` (150), `BATCH_STORE_DEADLINE_MS` (1000), `STORE_COOL_DOWN_MS`
    /// (1000; 0 turns the breaker off) and `CAPTURE_SAMPLE_RATE` (0).
    pub fn from_env() -> Result<Self, String> {
        use crate::lambda::env::{millis, number};
        Ok(ServiceConfig {
            store_deadline: millis("STORE_DEADLINE_MS", 150)?,
            batch_store_deadline: millis("BATCH_STORE_DEADLINE_MS", 1000)?,
            store_cool_down: Duration::from_millis(number("STORE_COOL_DOWN_MS", 1000, 0)?),
            capture: CaptureConfig::from_env()?,
        })
    }
}

impl Default for ServiceConfig {
    /// The deadlines' defaults, without the breaker (each call reaches the store).
    fn default() -> Self {
        ServiceConfig {
            store_deadline: Duration::from_millis(150),
            batch_store_deadline: Duration::from_millis(1000),
            store_cool_down: Duration::ZERO,
            capture: CaptureConfig::default(),
        }
    }
}
