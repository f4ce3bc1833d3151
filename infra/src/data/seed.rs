//! `warmstart seed`: feature items for the serving functions. Recommender: each customer's
//! latest month (with ownership lags) as a `customer#<id>` item, or the profiles of the month
//! to predict (`test_ver2.csv`) with the products already known. Valuation: synthetic
//! companies as `company#<ts_code>` items plus the `industry#<name>` member lists the
//! valuation function reads peers from. Writes are BatchWriteItem (25 per call, unprocessed
//! items retried with backoff) through the core crate's stores.

use crate::data::panel::Panel;
use crate::data::{synthetic, test_ver2};
use crate::util::progress;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use warmstart_core::aws::valuation_store::{CompanyPutReport, DynamoCompanyStore};
use warmstart_core::aws::{DynamoFeatureStore, PutReport};
use warmstart_core::recommend::Customer;
use warmstart_core::store::MAX_BATCH_GET;
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
    /// The Santander `train_ver2.csv`, or `test_ver2.csv` (told apart by the header) with
    /// optionally a `train_ver2.csv` history for the test customers' products.
    Csv {
        path: PathBuf,
        history: Option<PathBuf>,
    },
}

/// What a source yields.
#[derive(Debug)]
pub enum Loaded {
    /// Profiles ready to write, and the CSV's rejected-rows summary (if any).
    Profiles(Vec<Customer>, Option<String>),
    /// `test_ver2.csv` rows: their products come from `history` (latest month per customer
    /// id), else from the items already in the table ([`test_month_profiles`]).
    TestMonth {
        rows: Panel,
        history: HashMap<String, Customer>,
        summary: String,
    },
}

/// The customers to write, and the CSV's rejected-rows summary (if any), for sources that need
/// no table reads (not a `test_ver2.csv`: see [`load`]).
pub fn customers(source: &CustomerSource) -> Result<(Vec<Customer>, Option<String>)> {
    match load(source)? {
        Loaded::Profiles(customers, summary) => Ok((customers, summary)),
        Loaded::TestMonth { .. } => {
            bail!("a test_ver2.csv takes its products from the Features table; seed it instead")
        }
    }
}

/// Reads or generates the customers.
pub fn load(source: &CustomerSource) -> Result<Loaded> {
    match source {
        CustomerSource::Synthetic {
            customers,
            months,
            seed,
        } => Ok(Loaded::Profiles(
            synthetic::latest_profiles(&synthetic::SyntheticConfig {
                customers: *customers,
                months: *months,
                seed: *seed,
            }),
            None,
        )),
        CustomerSource::Csv { path, history } => {
            let report = test_ver2::parse(path, "parsing")
                .with_context(|| format!("reading {}", path.display()))?;
            let summary = format!("{} rows read, {}", report.rows, report.rejected_summary());
            if report.has_products {
                if history.is_some() {
                    bail!(
                        "--history goes with a test_ver2.csv; {} is a train_ver2.csv",
                        path.display()
                    );
                }
                return Ok(Loaded::Profiles(
                    report.panel.latest_profiles(),
                    Some(summary),
                ));
            }
            let rows = test_ver2::rows(path, report)?;
            let history = match history {
                Some(h) => test_ver2::history(h)?.0,
                None => HashMap::new(),
            };
            Ok(Loaded::TestMonth {
                rows,
                history,
                summary,
            })
        }
    }
}

/// Where the products of the test customers came from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProductSources {
    pub history: usize,
    pub table: usize,
    /// Known to neither: new customers, owning nothing.
    pub new: usize,
}

/// The profiles of the `test_ver2.csv` rows: products from `history`, else from the
/// customer's item in the table (read in batches of 100), else none. An item that cannot be
/// read is an error, since writing the profile would drop its products.
pub async fn test_month_profiles(
    store: &DynamoFeatureStore,
    rows: &Panel,
    history: &HashMap<String, Customer>,
) -> Result<(Vec<Customer>, ProductSources)> {
    let unknown: Vec<String> = rows
        .records
        .iter()
        .map(|r| r.customer.to_string())
        .filter(|id| !history.contains_key(id))
        .collect();
    let pb = progress::bar(unknown.len() as u64, "reading", "items");
    let mut stored: HashMap<String, Customer> = HashMap::new();
    for chunk in unknown.chunks(MAX_BATCH_GET) {
        let got = store
            .batch_get_customers(chunk)
            .await
            .with_context(|| format!("reading customers from table {}", store.table()))?;
        for (id, item) in got {
            let c = item.with_context(|| format!("reading customer {id}"))?;
            stored.insert(id, c);
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    let mut sources = ProductSources::default();
    let profiles = rows
        .records
        .iter()
        .map(|rec| {
            let id = rec.customer.to_string();
            let known = match (history.get(&id), stored.get(&id)) {
                (Some(h), _) => {
                    sources.history += 1;
                    Some(h)
                }
                (None, Some(s)) => {
                    sources.table += 1;
                    Some(s)
                }
                (None, None) => {
                    sources.new += 1;
                    None
                }
            };
            test_ver2::profile(rows, rec, known)
        })
        .collect();
    Ok((profiles, sources))
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
