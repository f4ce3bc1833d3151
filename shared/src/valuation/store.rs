//! Where the valuation endpoint reads company data and keeps its answers, as traits so the
//! service is tested in-process ([`MemoryCompanyStore`], [`MemoryCache`]) and served from
//! DynamoDB in production (`crate::aws::valuation_store`).
//!
//! Access patterns (Features table, pk `pk`):
//! * company: GetItem `company#<ts_code>`;
//! * peers: GetItem of the industry index item `industry#<industry>` (its `members` list of
//!   ts_codes, written when companies are seeded), then BatchGetItem of ≤ [`MAX_PEERS`]
//!   `company#…` keys. Without an index item the DynamoDB store falls back to a bounded,
//!   filtered Scan (`begins_with(pk, "company#") AND industry = :industry`).
//!
//! ValuationCache table: pk = [`super::ValuationRequest::cache_key`], `body` (the response JSON
//! without `cached`/`request_id`), `expires_at` (epoch seconds, the table's TTL attribute; an
//! expired item still present is a miss, since DynamoDB deletes lazily).

use super::company::Company;
use crate::store::StoreError;
#[cfg(any(test, feature = "test-util"))]
use std::collections::HashMap;
use std::future::Future;
#[cfg(any(test, feature = "test-util"))]
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(any(test, feature = "test-util"))]
use std::sync::{Arc, Mutex};

/// Most peers one valuation reads (one BatchGetItem).
pub const MAX_PEERS: usize = 100;

/// Partition key of a company item in the Features table.
pub fn company_key(ts_code: &str) -> String {
    format!("company#{ts_code}")
}

/// Partition key of an industry's member index in the Features table.
pub fn industry_key(industry: &str) -> String {
    format!("industry#{industry}")
}

/// Read access to company data.
pub trait CompanyStore: Send + Sync {
    /// One company; `Ok(None)` when there is no item.
    fn get_company(
        &self,
        ts_code: &str,
    ) -> impl Future<Output = Result<Option<Company>, StoreError>> + Send;

    /// Up to `limit` companies of `industry` (the company itself may be among them).
    fn industry_peers(
        &self,
        industry: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Company>, StoreError>> + Send;
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    pub key: String,
    /// The response JSON, `cached: false`, no `request_id`.
    pub body: String,
    /// Epoch seconds after which the entry is not served.
    pub expires_at: i64,
    pub ts_code: String,
    pub as_of: String,
    pub model_version: Option<String>,
    pub created_at: i64,
}

/// A cached answer as read back: its body and when it stops being served.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub body: String,
    pub expires_at: i64,
}

/// Partition key of the latest answer to a request's inputs whatever the company data's date
/// and the model version ([`super::ValuationRequest::request_key`]): what a store outage is
/// answered from.
pub fn latest_key(request_key: &str) -> String {
    format!("latest#{request_key}")
}

/// The valuation answer cache.
pub trait ResultCache: Send + Sync {
    /// The body of an entry that has not expired at `now` (epoch seconds).
    fn get(
        &self,
        key: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// [`ResultCache::get`] with the entry's expiry.
    fn get_cached(
        &self,
        key: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<Cached>, StoreError>> + Send;

    fn put(&self, entry: &CacheEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest answer written by [`ResultCache::put_latest`] for `request_key`, unless it
    /// has expired at `now`.
    fn get_latest(
        &self,
        request_key: &str,
        now: i64,
    ) -> impl Future<Output = Result<Option<Cached>, StoreError>> + Send;

    /// Records `entry` as the latest answer to `request_key` (beside `put`'s exact entry:
    /// the company data's date, hence the exact key, is unknown when the company read fails).
    fn put_latest(
        &self,
        request_key: &str,
        entry: &CacheEntry,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(any(test, feature = "test-util"))]
use crate::store::misbehave;
/// How a memory store misbehaves (tests of the degraded paths): the feature store's, whose
/// `bad_ids` only batch reads of customers look at.
#[cfg(any(test, feature = "test-util"))]
pub use crate::store::Faults;

#[cfg(any(test, feature = "test-util"))]
/// In-memory [`CompanyStore`]. Company and peer reads can misbehave separately.
#[derive(Debug, Clone, Default)]
pub struct MemoryCompanyStore {
    companies: Arc<Mutex<HashMap<String, Company>>>,
    company_faults: Arc<Mutex<Faults>>,
    peer_faults: Arc<Mutex<Faults>>,
    calls: Arc<AtomicUsize>,
}

#[cfg(any(test, feature = "test-util"))]
impl MemoryCompanyStore {
    pub fn new(companies: impl IntoIterator<Item = Company>) -> Self {
        let s = MemoryCompanyStore::default();
        for c in companies {
            s.companies
                .lock()
                .expect("store lock")
                .insert(c.ts_code.clone(), c);
        }
        s
    }

    pub fn set_company_faults(&self, f: Faults) {
        *self.company_faults.lock().expect("faults lock") = f;
    }

    pub fn set_peer_faults(&self, f: Faults) {
        *self.peer_faults.lock().expect("faults lock") = f;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

#[cfg(any(test, feature = "test-util"))]
impl CompanyStore for MemoryCompanyStore {
    async fn get_company(&self, ts_code: &str) -> Result<Option<Company>, StoreError> {
        misbehave(&self.company_faults, &self.calls).await?;
        Ok(self
            .companies
            .lock()
            .expect("store lock")
            .get(ts_code)
            .cloned())
    }

    async fn industry_peers(
        &self,
        industry: &str,
        limit: usize,
    ) -> Result<Vec<Company>, StoreError> {
        misbehave(&self.peer_faults, &self.calls).await?;
        let map = self.companies.lock().expect("store lock");
        let mut peers: Vec<Company> = map
            .values()
            .filter(|c| c.industry.as_deref() == Some(industry))
            .cloned()
            .collect();
        peers.sort_by(|a, b| a.ts_code.cmp(&b.ts_code));
        peers.truncate(limit);
        Ok(peers)
    }
}

#[cfg(any(test, feature = "test-util"))]
/// In-memory [`ResultCache`].
#[derive(Debug, Clone, Default)]
pub struct MemoryCache {
    entries: Arc<Mutex<HashMap<String, CacheEntry>>>,
    latest: Arc<Mutex<HashMap<String, CacheEntry>>>,
    faults: Arc<Mutex<Faults>>,
    calls: Arc<AtomicUsize>,
}

#[cfg(any(test, feature = "test-util"))]
impl MemoryCache {
    pub fn set_faults(&self, f: Faults) {
        *self.faults.lock().expect("faults lock") = f;
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entry(&self, key: &str) -> Option<CacheEntry> {
        self.entries.lock().expect("cache lock").get(key).cloned()
    }

    /// How many requests have a latest answer.
    pub fn latest_len(&self) -> usize {
        self.latest.lock().expect("cache lock").len()
    }

    /// Rewrites an entry's expiry (to test expiry).
    pub fn set_expiry(&self, key: &str, expires_at: i64) {
        if let Some(e) = self.entries.lock().expect("cache lock").get_mut(key) {
            e.expires_at = expires_at;
        }
    }
}

/// The entry under `key` of one of [`MemoryCache`]'s maps, unless it expired by `now`.
#[cfg(any(test, feature = "test-util"))]
fn unexpired(map: &Mutex<HashMap<String, CacheEntry>>, key: &str, now: i64) -> Option<Cached> {
    (map.lock().expect("cache lock").get(key))
        .filter(|e| e.expires_at > now)
        .map(|e| Cached {
            body: e.body.clone(),
            expires_at: e.expires_at,
        })
}

#[cfg(any(test, feature = "test-util"))]
fn keep(map: &Mutex<HashMap<String, CacheEntry>>, key: &str, entry: &CacheEntry) {
    (map.lock().expect("cache lock")).insert(key.to_string(), entry.clone());
}

#[cfg(any(test, feature = "test-util"))]
impl ResultCache for MemoryCache {
    async fn get(&self, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        misbehave(&self.faults, &self.calls).await?;
        Ok(unexpired(&self.entries, key, now).map(|c| c.body))
    }

    async fn put(&self, entry: &CacheEntry) -> Result<(), StoreError> {
        misbehave(&self.faults, &self.calls).await?;
        keep(&self.entries, &entry.key, entry);
        Ok(())
    }

    async fn get_cached(&self, key: &str, now: i64) -> Result<Option<Cached>, StoreError> {
        misbehave(&self.faults, &self.calls).await?;
        Ok(unexpired(&self.entries, key, now))
    }

    async fn get_latest(&self, request_key: &str, now: i64) -> Result<Option<Cached>, StoreError> {
        misbehave(&self.faults, &self.calls).await?;
        Ok(unexpired(&self.latest, request_key, now))
    }

    async fn put_latest(&self, request_key: &str, entry: &CacheEntry) -> Result<(), StoreError> {
        misbehave(&self.faults, &self.calls).await?;
        keep(&self.latest, request_key, entry);
        Ok(())
    }
}
