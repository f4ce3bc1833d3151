//! `warmstart seed`: feature items for the serving functions. Recommender: each customer's
//! latest month (with ownership lags) as a `customer#<id>` item. Valuation: synthetic
//! companies as `company#<ts_code>` items plus the `industry#<name>` member lists the
//! valuation function reads peers from. Writes are BatchWriteItem (25 per call, unprocessed
//! items retried with backoff) through the core crate's stores.

use crate::data::{santander, synthetic};
use crate::util::progress;
use anyhow::{Context, Result};
use std::path::PathBuf;
use warmstart_core::aws::valuation_store::{CompanyPutReport, DynamoCompanyStore};
use warmstart_core::aws::{DynamoFeatureStore, PutReport};
use warmstart_core::recommend::Customer;
use warmstart_core::valuation::{synthetic_companies, Company};

/// Where customers come from.
#[derive(Debug, Clone)]
pub enum CustomerSource {
    /// The training generator's customers (same seed, same customers as `train recommender
    /// --synthetic`), latest of `months` months each.
    Synthetic {
        customers: usize,
        months: usize,
        seed: u64,
    },
    /// The Santander `train_ver2.csv`.
    Csv(PathBuf),
}

/// The customers to write, and the CSV's rejected-rows summary (if any).
pub fn customers(source: &CustomerSource) -> Result<(Vec<Customer>, Option<String>)> {
    match source {
        CustomerSource::Synthetic {
            customers,
            months,
            seed,
        } => Ok((
            synthetic::latest_profiles(&synthetic::SyntheticConfig {
                customers: *customers,
                months: *months,
                seed: *seed,
            }),
            None,
        )),
        CustomerSource::Csv(path) => {
            let (customers, report) = santander::latest_profiles(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let summary = format!("{} rows read, {}", report.rows, report.rejected_summary());
            Ok((customers, Some(summary)))
        }
    }
}

/// Writes `customers` with a progress bar.
pub async fn write_customers(
    store: &DynamoFeatureStore,
    customers: &[Customer],
) -> Result<PutReport> {
    let pb = progress::bar(customers.len() as u64, "customers", "items");
    let report = store
        .put_customers_with_progress(customers, |n| pb.set_position(n as u64))
        .await
        .with_context(|| format!("writing customers to table {}", store.table()))?;
    pb.finish_and_clear();
    Ok(report)
}

/// `n` synthetic companies (the first is `600519.SH`), market data as of `as_of`
/// (`YYYYMMDD`).
pub fn companies(n: usize, seed: u64, as_of: &str) -> Vec<Company> {
    synthetic_companies(n, seed, as_of)
}

/// Writes companies and their industry index items.
pub async fn write_companies(
    store: &DynamoCompanyStore,
    companies: &[Company],
) -> Result<CompanyPutReport> {
    let pb = progress::bar(companies.len() as u64, "companies", "items");
    let report = store
        .put_companies_with_progress(companies, |n| pb.set_position(n as u64))
        .await
        .with_context(|| format!("writing companies to table {}", store.table()))?;
    pb.finish_and_clear();
    Ok(report)
}

/// Today's UTC date as `YYYYMMDD` (the default market-data date of synthetic companies).
pub fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}
