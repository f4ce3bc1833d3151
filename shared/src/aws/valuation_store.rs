//! DynamoDB side of the valuation endpoint: `company#<ts_code>` items and `industry#<name>`
//! member indexes in the Features table ([`DynamoCompanyStore`]), answers in the
//! ValuationCache table ([`DynamoValuationCache`]). Access patterns are documented in
//! [`crate::valuation::store`].

use super::dynamo::{backend, batch_get, batch_put, from_item, get_item, to_item, Item};
use super::RetryPolicy;
use crate::store::StoreError;
use crate::valuation::store::{
    company_key, industry_key, latest_key, CacheEntry, Cached, CompanyStore, ResultCache, MAX_PEERS,
};
use crate::valuation::Company;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

/// Partition key attribute of the Features and ValuationCache tables.
pub use super::dynamo::PK;
/// Most Scan pages the no-index fallback reads for one industry.
pub const MAX_SCAN_PAGES: usize = 20;

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The DynamoDB item of a company: its fields plus `pk = company#<ts_code>`.
pub fn company_item(c: &Company) -> Result<Item, StoreError> {
    to_item(c, company_key(&c.ts_code))
}

/// What [`DynamoCompanyStore::put_companies`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyPutReport {
    /// Company items written (repeated ts_codes: the last one wins).
    pub companies: usize,
    /// Industry index items written.
    pub industries: usize,
    /// BatchWriteItem calls, retries included.
    pub requests: usize,
}

/// Company data in the Features table.
#[derive(Debug, Clone)]
pub struct DynamoCompanyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    reads: RetryPolicy,
    writes: RetryPolicy,
}

impl DynamoCompanyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoCompanyStore {
            client,
            table: table.into(),
            reads: RetryPolicy::READS,
            writes: RetryPolicy::WRITES,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// GetItem `company#<ts_code>`.
    pub async fn get_company(&self, ts_code: &str) -> Result<Option<Company>, StoreError> {
        let key = company_key(ts_code);
        let item = get_item(&self.client, &self.table, &key).await?;
        item.map(|item| from_item(&key, item)).transpose()
    }

    /// The ts_codes listed in `industry#<industry>`; `None` when there is no index item.
    pub async fn industry_members(
        &self,
        industry: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let item = get_item(&self.client, &self.table, &industry_key(industry)).await?;
        Ok(item.map(|item| match item.get("members") {
            Some(AttributeValue::L(l)) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            Some(AttributeValue::Ss(s)) => s.clone(),
            _ => Vec::new(),
        }))
    }

    /// BatchGetItem of up to 100 companies, retrying `UnprocessedKeys` with bounded backoff.
    /// Missing or undecodable items are left out (logged); keys still unprocessed at the end
    /// are an error.
    pub async fn batch_get_companies(&self, codes: &[String]) -> Result<Vec<Company>, StoreError> {
        let unique: BTreeSet<&String> = codes.iter().collect();
        if unique.len() > MAX_PEERS {
            return Err(StoreError::BatchSize {
                got: unique.len(),
                max: MAX_PEERS,
            });
        }
        let keys = unique.iter().map(|c| company_key(c)).collect();
        let got = batch_get(&self.client, &self.table, keys, self.reads).await?;
        if !got.unprocessed.is_empty() {
            return Err(StoreError::Unprocessed {
                remaining: got.unprocessed.len(),
                attempts: got.attempts,
            });
        }
        let mut out = Vec::with_capacity(got.items.len());
        for (key, item) in got.items {
            match from_item::<Company>(&key, item) {
                Ok(c) => out.push(c),
                Err(e) => tracing::warn!(error = %e, "peer item skipped"),
            }
        }
        out.sort_by(|a, b| a.ts_code.cmp(&b.ts_code));
        Ok(out)
    }

    /// Fallback without an index item: Scan with `begins_with(pk, "company#") AND industry =
    /// :industry`, at most [`MAX_SCAN_PAGES`] pages, stopping at `limit` companies.
    pub async fn scan_industry(
        &self,
        industry: &str,
        limit: usize,
    ) -> Result<Vec<Company>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_SCAN_PAGES {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(#pk, :prefix) AND #industry = :industry")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#industry", "industry")
                .expression_attribute_values(":prefix", AttributeValue::S("company#".into()))
                .expression_attribute_values(":industry", AttributeValue::S(industry.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend("Scan", &e))?;
            for item in resp.items.unwrap_or_default() {
                let key = match item.get(PK) {
                    Some(AttributeValue::S(k)) => k.clone(),
                    _ => continue,
                };
                match from_item::<Company>(&key, item) {
                    Ok(c) => out.push(c),
                    Err(e) => tracing::warn!(error = %e, "peer item skipped"),
                }
            }
            start = resp.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || out.len() >= limit {
                break;
            }
        }
        out.sort_by(|a, b| a.ts_code.cmp(&b.ts_code));
        out.truncate(limit);
        Ok(out)
    }

    /// Companies of `industry`: the index item's members (first `limit` in code order) read
    /// with one BatchGetItem; without an index item, [`Self::scan_industry`].
    pub async fn industry_peers(
        &self,
        industry: &str,
        limit: usize,
    ) -> Result<Vec<Company>, StoreError> {
        let limit = limit.min(MAX_PEERS);
        match self.industry_members(industry).await? {
            Some(mut members) => {
                members.sort();
                members.dedup();
                members.truncate(limit);
                if members.is_empty() {
                    return Ok(Vec::new());
                }
                self.batch_get_companies(&members).await
            }
            None => {
                tracing::warn!(industry = %industry, "no industry index item; scanning the Features table");
                self.scan_industry(industry, limit).await
            }
        }
    }

    /// Writes company items (BatchWriteItem, 25 per call, 4 in flight, unprocessed items
    /// retried) and then each touched industry's index item, merged with the members it
    /// already lists.
    pub async fn put_companies(
        &self,
        companies: &[Company],
    ) -> Result<CompanyPutReport, StoreError> {
        self.put_companies_with_progress(companies, |_| {}).await
    }

    /// [`Self::put_companies`], calling `progress(companies_written_so_far)` after each batch.
    pub async fn put_companies_with_progress(
        &self,
        companies: &[Company],
        progress: impl FnMut(usize),
    ) -> Result<CompanyPutReport, StoreError> {
        let mut last: BTreeMap<&str, &Company> = BTreeMap::new();
        for c in companies {
            last.insert(c.ts_code.as_str(), c);
        }
        let items: Vec<Item> = last
            .values()
            .map(|c| company_item(c))
            .collect::<Result<_, _>>()?;
        let written = batch_put(&self.client, &self.table, items, self.writes, progress).await?;
        let mut report = CompanyPutReport {
            companies: written.written,
            requests: written.requests,
            ..Default::default()
        };

        let mut by_industry: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for c in last.values() {
            if let Some(ind) = c.industry.as_deref().filter(|i| !i.is_empty()) {
                by_industry
                    .entry(ind)
                    .or_default()
                    .insert(c.ts_code.clone());
            }
        }
        for (industry, mut members) in by_industry {
            if let Some(existing) = self.industry_members(industry).await? {
                members.extend(existing);
            }
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, AttributeValue::S(industry_key(industry)))
                .item("industry", AttributeValue::S(industry.to_string()))
                .item(
                    "members",
                    AttributeValue::L(members.into_iter().map(AttributeValue::S).collect()),
                )
                .item("updated_at", AttributeValue::N(now_epoch().to_string()))
                .send()
                .await
                .map_err(|e| backend("PutItem", &e))?;
            report.industries += 1;
        }
        Ok(report)
    }
}

impl CompanyStore for DynamoCompanyStore {
    async fn get_company(&self, ts_code: &str) -> Result<Option<Company>, StoreError> {
        DynamoCompanyStore::get_company(self, ts_code).await
    }

    async fn industry_peers(
        &self,
        industry: &str,
        limit: usize,
    ) -> Result<Vec<Company>, StoreError> {
        DynamoCompanyStore::industry_peers(self, industry, limit).await
    }
}

/// The ValuationCache table: `pk`, `body`, `expires_at` (TTL attribute), `ts_code`, `as_of`,
/// `model_version`, `created_at`.
#[derive(Debug, Clone)]
pub struct DynamoValuationCache {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoValuationCache {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoValuationCache {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl ResultCache for DynamoValuationCache {
    async fn get(&self, key: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(self.read(key, now).await?.map(|c| c.body))
    }

    async fn get_cached(&self, key: &str, now: i64) -> Result<Option<Cached>, StoreError> {
        self.read(key, now).await
    }

    async fn put(&self, e: &CacheEntry) -> Result<(), StoreError> {
        self.put_item(e.key.clone(), e).await
    }

    async fn get_latest(&self, request_key: &str, now: i64) -> Result<Option<Cached>, StoreError> {
        self.read(&latest_key(request_key), now).await
    }

    async fn put_latest(&self, request_key: &str, e: &CacheEntry) -> Result<(), StoreError> {
        self.put_item(latest_key(request_key), e).await
    }
}

impl DynamoValuationCache {
    async fn read(&self, key: &str, now: i64) -> Result<Option<Cached>, StoreError> {
        let Some(item) = get_item(&self.client, &self.table, key).await? else {
            return Ok(None);
        };
        let expires_at = match item.get("expires_at") {
            Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(0),
            _ => 0,
        };
        if expires_at <= now {
            return Ok(None);
        }
        match item.get("body") {
            Some(AttributeValue::S(b)) => Ok(Some(Cached {
                body: b.clone(),
                expires_at,
            })),
            _ => Err(StoreError::Decode {
                key: key.to_string(),
                message: "cache item has no `body` string".into(),
            }),
        }
    }

    async fn put_item(&self, key: String, e: &CacheEntry) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(key))
            .item("body", AttributeValue::S(e.body.clone()))
            .item("expires_at", AttributeValue::N(e.expires_at.to_string()))
            .item("ts_code", AttributeValue::S(e.ts_code.clone()))
            .item("as_of", AttributeValue::S(e.as_of.clone()))
            .item("created_at", AttributeValue::N(e.created_at.to_string()));
        if let Some(v) = &e.model_version {
            req = req.item("model_version", AttributeValue::S(v.clone()));
        }
        req.send().await.map_err(|e| backend("PutItem", &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::valuation::synthetic_companies;

    #[test]
    fn company_items_round_trip_with_their_key() {
        for c in synthetic_companies(20, 4, "20250331") {
            let item = company_item(&c).unwrap();
            assert_eq!(item[PK], AttributeValue::S(company_key(&c.ts_code)));
            assert_eq!(from_item::<Company>("k", item).unwrap(), c);
        }
    }
}
