//! Fail fast while a store is down. A warm container serves one request at a time: when every
//! feature read waits out its deadline (150 ms; 1 s for a batch) before the degraded answer,
//! an outage turns into a queue of requests each paying it, and throughput falls tenfold
//! (measured by `make chaos`, docs/RELIABILITY.md). After a failed or timed-out call the
//! breaker is open for a cool-down: calls are not made and answer degraded at once; when it
//! ends, one call is let through as a probe, and its outcome closes or re-opens the breaker.
//!
//! Hand-written (a mutex and an instant): the circuit-breaker crates bring their own
//! timers, futures wrappers and error types for what is one comparison per call here.

use std::sync::Mutex;

/// The store failure kind of a call an open breaker did not make.
pub const BREAKER_OPEN: &str = "breaker_open";
use std::time::{Duration, Instant};

/// One store's breaker; `Send + Sync`. A zero cool-down never opens.
#[derive(Debug)]
pub struct Breaker {
    cool_down: Duration,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(cool_down: Duration) -> Self {
        Breaker {
            cool_down,
            open_until: Mutex::new(None),
        }
    }

    /// Whether a call may go to the store now: closed, or the cool-down is over (this caller
    /// is the probe; others keep failing fast for another cool-down unless it succeeds).
    pub fn allow(&self) -> bool {
        let mut open = self.open_until.lock().expect("breaker lock");
        match *open {
            None => true,
            Some(until) if Instant::now() >= until => {
                *open = Some(Instant::now() + self.cool_down);
                true
            }
            Some(_) => false,
        }
    }

    /// The store answered (found or not): close.
    pub fn succeeded(&self) {
        *self.open_until.lock().expect("breaker lock") = None;
    }

    /// The store failed or timed out: open for a cool-down.
    pub fn failed(&self) {
        if !self.cool_down.is_zero() {
            *self.open_until.lock().expect("breaker lock") = Some(Instant::now() + self.cool_down);
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until
            .lock()
            .expect("breaker lock")
            .is_some_and(|until| Instant::now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_probes_after_the_cool_down_and_closes_on_success() {
        let b = Breaker::new(Duration::from_millis(50));
        assert!(b.allow() && !b.is_open());
        b.failed();
        assert!(b.is_open());
        assert!(!b.allow() && !b.allow());
        std::thread::sleep(Duration::from_millis(60));
        // One probe; the others keep failing fast meanwhile.
        assert!(b.allow());
        assert!(!b.allow());
        b.failed();
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.allow());
        b.succeeded();
        assert!(b.allow() && b.allow() && !b.is_open());
    }

    #[test]
    fn a_zero_cool_down_never_opens() {
        let b = Breaker::new(Duration::ZERO);
        b.failed();
        assert!(b.allow() && !b.is_open());
    }
}
