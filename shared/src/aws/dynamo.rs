//! The Features table in DynamoDB: `customer#<id>` items read with GetItem/BatchGetItem and
//! written with BatchWriteItem, converted with `serde_dynamo`.

use super::sdk_message;
use crate::recommend::Customer;
use crate::store::{customer_key, BatchCustomers, FeatureStore, StoreError, MAX_BATCH_GET};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Partition key attribute of the Features table.
pub const PK: &str = "pk";
/// Most items one BatchWriteItem takes.
pub const MAX_BATCH_WRITE: usize = 25;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Bounded exponential backoff for unprocessed keys/items: `attempts` calls in all, sleeping
/// `base * 2^n` (capped at `max`, with jitter) between them.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Reads: 5 attempts, 10 ms doubling, at most 160 ms between attempts (≤ 310 ms of sleep).
    pub const READS: RetryPolicy = RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(10),
        max: Duration::from_millis(160),
    };
    /// Bulk writes (seeding): 10 attempts, 50 ms doubling, at most 5 s between attempts.
    pub const WRITES: RetryPolicy = RetryPolicy {
        attempts: 10,
        base: Duration::from_millis(50),
        max: Duration::from_secs(5),
    };

    /// The pause after failed attempt `n` (0-based): half fixed, half jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX))
            .min(self.max);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = exp.mul_f64(f64::from(nanos % 1000) / 2000.0);
        exp / 2 + jitter
    }
}

/// What `put_customers` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Items written (after dropping repeated ids: the last one wins).
    pub written: usize,
    /// BatchWriteItem calls, retries included.
    pub requests: usize,
    /// Calls that only resent unprocessed items.
    pub retries: usize,
}

/// [`FeatureStore`] over the DynamoDB Features table.
#[derive(Debug, Clone)]
pub struct DynamoFeatureStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    reads: RetryPolicy,
    writes: RetryPolicy,
}

pub(crate) fn backend(op: &'static str, e: &(dyn std::error::Error + 'static)) -> StoreError {
    StoreError::Backend {
        op,
        message: sdk_message(e),
    }
}

/// `value`'s fields (`serde_dynamo`) as an item with partition key `key`.
pub(crate) fn to_item<T: Serialize>(value: &T, key: String) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Decode {
        key: key.clone(),
        message: e.to_string(),
    })?;
    item.insert(PK.into(), AttributeValue::S(key));
    Ok(item)
}

/// The item of partition key `key` read back into `T`.
pub(crate) fn from_item<T: DeserializeOwned>(key: &str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Decode {
        key: key.to_string(),
        message: e.to_string(),
    })
}

/// One GetItem of `pk = key`.
pub(crate) async fn get_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &str,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key(PK, AttributeValue::S(key.to_string()))
        .send()
        .await
        .map_err(|e| backend("GetItem", &e))?;
    Ok(out.item)
}

/// The DynamoDB item of a customer: its fields plus `pk = customer#<id>`.
pub fn customer_item(c: &Customer) -> Result<Item, StoreError> {
    to_item(c, customer_key(&c.customer_id))
}

impl DynamoFeatureStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoFeatureStore {
            client,
            table: table.into(),
            reads: RetryPolicy::READS,
            writes: RetryPolicy::WRITES,
        }
    }

    pub fn with_retries(mut self, reads: RetryPolicy, writes: RetryPolicy) -> Self {
        self.reads = reads;
        self.writes = writes;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One GetItem of `pk = customer#<id>`.
    pub async fn get_customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        let key = customer_key(id);
        let item = get_item(&self.client, &self.table, &key).await?;
        item.map(|item| from_item(&key, item)).transpose()
    }

    /// BatchGetItem of up to 100 ids (repeats are read once), retrying `UnprocessedKeys` with
    /// bounded backoff. Ids still unprocessed at the end come back as per-id errors.
    pub async fn batch_get_customers(&self, ids: &[String]) -> Result<BatchCustomers, StoreError> {
        let mut unique: Vec<&String> = Vec::with_capacity(ids.len());
        for id in ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        if unique.is_empty() || unique.len() > MAX_BATCH_GET {
            return Err(StoreError::BatchSize {
                got: unique.len(),
                max: MAX_BATCH_GET,
            });
        }
        let key_to_id: HashMap<String, &String> =
            unique.iter().map(|id| (customer_key(id), *id)).collect();
        let keys = key_to_id.keys().cloned().collect();
        let got = batch_get(&self.client, &self.table, keys, self.reads).await?;
        let mut out = BatchCustomers::new();
        for (key, item) in got.items {
            if let Some(id) = key_to_id.get(&key) {
                out.insert((*id).clone(), from_item(&key, item));
            }
        }
        let remaining = got.unprocessed.len();
        for key in &got.unprocessed {
            if let Some(id) = key_to_id.get(key) {
                out.insert(
                    (*id).clone(),
                    Err(StoreError::Unprocessed {
                        remaining,
                        attempts: got.attempts,
                    }),
                );
            }
        }
        Ok(out)
    }

    /// Writes customer items with BatchWriteItem (25 per call, 4 calls in flight), retrying
    /// `UnprocessedItems` with bounded backoff. Repeated ids: the last one wins.
    pub async fn put_customers(&self, customers: &[Customer]) -> Result<PutReport, StoreError> {
        self.put_customers_with_progress(customers, |_| {}).await
    }

    /// [`Self::put_customers`], calling `progress(written_so_far)` after each batch.
    pub async fn put_customers_with_progress(
        &self,
        customers: &[Customer],
        progress: impl FnMut(usize),
    ) -> Result<PutReport, StoreError> {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(customers.len());
        for (i, c) in customers.iter().enumerate() {
            last.insert(c.customer_id.as_str(), i);
        }
        let items: Vec<Item> = customers
            .iter()
            .enumerate()
            .filter(|(i, c)| last.get(c.customer_id.as_str()) == Some(i))
            .map(|(_, c)| customer_item(c))
            .collect::<Result<_, _>>()?;
        batch_put(&self.client, &self.table, items, self.writes, progress).await
    }
}

/// What [`batch_get`] read.
pub(crate) struct BatchGot {
    /// Items found, with their `pk`.
    pub items: Vec<(String, Item)>,
    /// Keys DynamoDB still left unprocessed when the policy's attempts ran out (logged).
    pub unprocessed: Vec<String>,
    /// BatchGetItem calls made.
    pub attempts: u32,
}

/// BatchGetItem of `keys` (`pk` values, at most 100, distinct) from `table`, resending
/// `UnprocessedKeys` under `policy`. Keys not found are simply absent from the answer.
pub(crate) async fn batch_get(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: Vec<String>,
    policy: RetryPolicy,
) -> Result<BatchGot, StoreError> {
    let mut pending: Vec<Item> = keys
        .into_iter()
        .map(|k| HashMap::from([(PK.to_string(), AttributeValue::S(k))]))
        .collect();
    let mut got = BatchGot {
        items: Vec::with_capacity(pending.len()),
        unprocessed: Vec::new(),
        attempts: 0,
    };
    while !pending.is_empty() {
        if got.attempts > 0 {
            if got.attempts >= policy.attempts {
                tracing::warn!(
                    remaining = pending.len(),
                    attempts = got.attempts,
                    "BatchGetItem left keys unprocessed"
                );
                got.unprocessed = pending
                    .iter()
                    .filter_map(|k| match k.get(PK) {
                        Some(AttributeValue::S(k)) => Some(k.clone()),
                        _ => None,
                    })
                    .collect();
                break;
            }
            tokio::time::sleep(policy.delay(got.attempts - 1)).await;
        }
        got.attempts += 1;
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut pending)))
            .build()
            .map_err(|e| backend("BatchGetItem", &e))?;
        let resp = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| backend("BatchGetItem", &e))?;
        for item in resp
            .responses
            .and_then(|mut r| r.remove(table))
            .unwrap_or_default()
        {
            if let Some(AttributeValue::S(k)) = item.get(PK) {
                got.items.push((k.clone(), item));
            }
        }
        pending = resp
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    Ok(got)
}

/// Writes `items` to `table` with BatchWriteItem: 25 per call, 4 calls in flight, each call's
/// `UnprocessedItems` resent under `policy`. Calls `progress(written_so_far)` after each call
/// completes. Items must have distinct keys (DynamoDB refuses duplicates within one call).
pub(crate) async fn batch_put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
    policy: RetryPolicy,
    mut progress: impl FnMut(usize),
) -> Result<PutReport, StoreError> {
    let mut report = PutReport::default();
    let mut batches = futures::stream::iter(
        items
            .chunks(MAX_BATCH_WRITE)
            .map(|chunk| write_batch(client, table, chunk.to_vec(), policy)),
    )
    .buffer_unordered(4);
    while let Some((written, requests)) = batches.try_next().await? {
        report.written += written;
        report.requests += requests;
        report.retries += requests - 1;
        progress(report.written);
    }
    Ok(report)
}

/// One chunk of ≤ 25 items, resending unprocessed ones. Returns (written, calls).
async fn write_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<Item>,
    policy: RetryPolicy,
) -> Result<(usize, usize), StoreError> {
    let total = items.len();
    let mut pending: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|p| WriteRequest::builder().put_request(p).build())
                .map_err(|e| backend("BatchWriteItem", &e))
        })
        .collect::<Result<_, _>>()?;
    let mut calls = 0u32;
    while !pending.is_empty() {
        if calls > 0 {
            if calls >= policy.attempts {
                return Err(StoreError::Unprocessed {
                    remaining: pending.len(),
                    attempts: calls,
                });
            }
            tokio::time::sleep(policy.delay(calls - 1)).await;
        }
        calls += 1;
        let resp = client
            .batch_write_item()
            .request_items(table, std::mem::take(&mut pending))
            .send()
            .await
            .map_err(|e| backend("BatchWriteItem", &e))?;
        pending = resp
            .unprocessed_items
            .and_then(|mut u| u.remove(table))
            .unwrap_or_default();
    }
    Ok((total, calls as usize))
}

impl FeatureStore for DynamoFeatureStore {
    async fn get_customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        DynamoFeatureStore::get_customer(self, id).await
    }

    async fn batch_get_customers(&self, ids: &[String]) -> Result<BatchCustomers, StoreError> {
        DynamoFeatureStore::batch_get_customers(self, ids).await
    }
}

#[cfg(test)]
#[path = "dynamo_wire_tests.rs"]
mod wire_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        let p = RetryPolicy::READS;
        let d: Vec<Duration> = (0..8).map(|n| p.delay(n)).collect();
        assert!(d.iter().all(|x| *x <= p.max));
        assert!(d[0] >= p.base / 2 && d[0] <= p.base);
        assert!(d[3] >= Duration::from_millis(40));
        assert!(RetryPolicy::WRITES.delay(40) <= RetryPolicy::WRITES.max);
    }

    #[test]
    fn customer_items_round_trip_with_their_key() {
        let c = Customer {
            customer_id: "15889".into(),
            as_of: "2016-05-28".into(),
            age: Some(56.0),
            sexo: Some("V".into()),
            owned: vec!["ind_cco_fin_ult1".into()],
            ..Customer::default()
        };
        let item = customer_item(&c).unwrap();
        assert_eq!(item[PK], AttributeValue::S("customer#15889".into()));
        assert_eq!(from_item::<Customer>("customer#15889", item).unwrap(), c);
    }
}
