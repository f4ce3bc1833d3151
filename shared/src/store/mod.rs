//! The feature store: where customer profiles come from. DynamoDB serves production
//! ([`crate::aws::DynamoFeatureStore`]); [`MemoryStore`] serves unit tests, and can be made slow
//! or failing to exercise the degraded paths.

pub mod breaker;

pub use breaker::{Breaker, BREAKER_OPEN};

use crate::recommend::Customer;
use std::collections::HashMap;
use std::future::Future;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Arc, Mutex};
#[cfg(any(test, feature = "test-util"))]
use std::time::Duration;

/// Most keys one batch read takes (DynamoDB BatchGetItem's limit).
pub const MAX_BATCH_GET: usize = 100;

/// Partition key of a customer item in the Features table.
pub fn customer_key(id: &str) -> String {
    format!("customer#{id}")
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The store answered with an error (throttling, missing table, access denied, network).
    #[error("feature store {op} failed: {message}")]
    Backend { op: &'static str, message: String },
    /// The item exists but does not decode into a profile.
    #[error("item `{key}` is not a valid profile: {message}")]
    Decode { key: String, message: String },
    /// Keys the store still had not processed after the bounded retries.
    #[error("{remaining} keys/items still unprocessed after {attempts} attempts")]
    Unprocessed { remaining: usize, attempts: u32 },
    #[error("a batch takes 1..={max} keys, got {got}")]
    BatchSize { got: usize, max: usize },
}

impl StoreError {
    /// Short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Backend { .. } => "backend",
            StoreError::Decode { .. } => "decode",
            StoreError::Unprocessed { .. } => "unprocessed",
            StoreError::BatchSize { .. } => "batch_size",
        }
    }
}

/// Per-id answer of a batch read: absent id = no such customer; `Err` = that item failed
/// (undecodable, or left unprocessed), which never fails the other ids.
pub type BatchCustomers = HashMap<String, Result<Customer, StoreError>>;

/// Read access to customer profiles.
pub trait FeatureStore: Send + Sync {
    /// One customer by id; `Ok(None)` when there is no such customer.
    fn get_customer(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Customer>, StoreError>> + Send;

    /// Up to [`MAX_BATCH_GET`] distinct ids in one round trip (plus bounded retries).
    fn batch_get_customers(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<BatchCustomers, StoreError>> + Send;
}

#[cfg(any(test, feature = "test-util"))]
/// How a [`MemoryStore`] misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every call sleeps this long first.
    pub delay: Duration,
    /// Every call then fails with this error.
    pub fail: Option<StoreError>,
    /// These ids come back as per-item failures from batch reads.
    pub bad_ids: Vec<String>,
}

#[cfg(any(test, feature = "test-util"))]
impl Faults {
    /// Every call fails as the backend answering `op` with `message`.
    pub fn failing(op: &'static str, message: &str) -> Self {
        Faults {
            fail: Some(StoreError::Backend {
                op,
                message: message.into(),
            }),
            ..Faults::default()
        }
    }

    /// Every call answers only after `delay`.
    pub fn slow(delay: Duration) -> Self {
        Faults {
            delay,
            ..Faults::default()
        }
    }
}

/// Counts the call, then misbehaves as `faults` says: sleeps, then fails or returns them.
#[cfg(any(test, feature = "test-util"))]
pub(crate) async fn misbehave(
    faults: &Mutex<Faults>,
    calls: &AtomicUsize,
) -> Result<Faults, StoreError> {
    calls.fetch_add(1, Ordering::Relaxed);
    let faults = faults.lock().expect("faults lock").clone();
    if !faults.delay.is_zero() {
        tokio::time::sleep(faults.delay).await;
    }
    match &faults.fail {
        Some(e) => Err(e.clone()),
        None => Ok(faults),
    }
}

#[cfg(any(test, feature = "test-util"))]
/// In-memory [`FeatureStore`] for tests.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    customers: Arc<Mutex<HashMap<String, Customer>>>,
    faults: Arc<Mutex<Faults>>,
    calls: Arc<AtomicUsize>,
}

#[cfg(any(test, feature = "test-util"))]
impl MemoryStore {
    pub fn new(customers: impl IntoIterator<Item = Customer>) -> Self {
        let store = MemoryStore::default();
        for c in customers {
            store.insert(c);
        }
        store
    }

    pub fn insert(&self, c: Customer) {
        self.customers
            .lock()
            .expect("store lock")
            .insert(c.customer_id.clone(), c);
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().expect("store lock") = faults;
    }

    /// Store calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    async fn misbehave(&self) -> Result<Faults, StoreError> {
        misbehave(&self.faults, &self.calls).await
    }
}

#[cfg(any(test, feature = "test-util"))]
impl FeatureStore for MemoryStore {
    async fn get_customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        self.misbehave().await?;
        Ok(self.customers.lock().expect("store lock").get(id).cloned())
    }

    async fn batch_get_customers(&self, ids: &[String]) -> Result<BatchCustomers, StoreError> {
        if ids.is_empty() || ids.len() > MAX_BATCH_GET {
            return Err(StoreError::BatchSize {
                got: ids.len(),
                max: MAX_BATCH_GET,
            });
        }
        let faults = self.misbehave().await?;
        let customers = self.customers.lock().expect("store lock");
        let mut out = BatchCustomers::new();
        for id in ids {
            if faults.bad_ids.contains(id) {
                out.insert(
                    id.clone(),
                    Err(StoreError::Decode {
                        key: customer_key(id),
                        message: "injected fault".into(),
                    }),
                );
            } else if let Some(c) = customers.get(id) {
                out.insert(id.clone(), Ok(c.clone()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(id: &str) -> Customer {
        Customer {
            customer_id: id.into(),
            as_of: "2016-05-28".into(),
            ..Customer::default()
        }
    }

    #[tokio::test]
    async fn memory_store_reads_and_misbehaves_on_demand() {
        let store = MemoryStore::new([customer("1"), customer("2")]);
        assert!(store.get_customer("1").await.unwrap().is_some());
        assert!(store.get_customer("3").await.unwrap().is_none());
        let got = store
            .batch_get_customers(&["1".into(), "3".into()])
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        store.set_faults(Faults::failing("GetItem", "boom"));
        assert!(store.get_customer("1").await.is_err());
        assert_eq!(store.calls(), 4);
        assert!(matches!(
            store.batch_get_customers(&[]).await,
            Err(StoreError::BatchSize { .. })
        ));
    }
}
