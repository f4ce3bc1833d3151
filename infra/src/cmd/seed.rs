//! `warmstart seed recommender | valuation`: feature items into the DynamoDB Features table.

use super::AwsArgs;
use crate::data::{seed, tushare};
use crate::train::bundle_out::block_on;
use crate::util::cloud;
use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Seed {
    /// Customers' latest month (with product ownership of the two months before) as
    /// `customer#<id>` items.
    ///
    /// Written with BatchWriteItem (25 items per call), unprocessed items retried with
    /// backoff. A customer appearing twice keeps its last record. Reports items written,
    /// calls made and (CSV) rows rejected.
    ///
    /// --csv also takes Kaggle's test_ver2.csv (no product columns): each customer's profile
    /// becomes that month's, for predicting that month, and the products stay those of the
    /// customer's latest month in --history, else of its item in the table; a customer known
    /// to neither owns nothing. Unreadable rows of test_ver2.csv stop the run (file:line).
    #[command(group(ArgGroup::new("data").required(true).args(["synthetic", "csv"])))]
    Recommender {
        /// This many synthetic customers: the training generator's, so seeding and
        /// `train recommender --synthetic` with the same --seed describe the same people.
        #[arg(long, value_name = "N_CUSTOMERS")]
        synthetic: Option<usize>,
        /// Months the generator simulates (the latest one is written).
        #[arg(long, default_value_t = 6, requires = "synthetic")]
        months: usize,
        /// The Santander train_ver2.csv or test_ver2.csv (as downloaded from Kaggle).
        #[arg(long, value_name = "CSV")]
        csv: Option<PathBuf>,
        /// With a test_ver2.csv: the train_ver2.csv whose latest month per customer gives the
        /// products (customers not in it keep their table item's products).
        #[arg(long, value_name = "TRAIN_VER2_CSV", requires = "csv")]
        history: Option<PathBuf>,
        /// Random seed of the generator.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The Features table.
        #[arg(long, env = "FEATURES_TABLE")]
        table: String,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Companies as `company#<ts_code>` items, plus the `industry#<name>` member lists the
    /// valuation function reads peers from: synthetic (the first is 600519.SH) or imported
    /// from TuShare Pro CSV exports.
    ///
    /// --csv DIR reads income.csv, balancesheet.csv, cashflow.csv and daily_basic.csv (and,
    /// when present, stock_basic.csv for names and industries and beta.csv with ts_code,beta),
    /// each as `pro.<api>(…).to_csv()` writes it. Annual consolidated statements only, the
    /// corrected filing where a period was filed twice, each company's latest market data on
    /// or before --as-of. TuShare units are kept (statements in CNY, total_share in 10^4
    /// shares). Rows that cannot be read are rejected by file and line, never stop the run.
    #[command(group(ArgGroup::new("data").required(true).args(["synthetic", "csv"])))]
    Valuation {
        /// How many synthetic companies, spread over the industries.
        #[arg(long, value_name = "N_COMPANIES")]
        synthetic: Option<usize>,
        /// A directory of TuShare exports (see above).
        #[arg(long, value_name = "DIR")]
        csv: Option<PathBuf>,
        /// Random seed of the generator.
        #[arg(long, default_value_t = 42, requires = "synthetic")]
        seed: u64,
        /// Synthetic: market-data date of the companies [default: today (UTC)]. CSV: use
        /// each company's last trade_date on or before this day [default: its last].
        /// YYYYMMDD.
        #[arg(long)]
        as_of: Option<String>,
        /// The Features table.
        #[arg(long, env = "FEATURES_TABLE")]
        table: String,
        #[command(flatten)]
        aws: AwsArgs,
    },
}

/// Reads or generates the items and writes them to the table.
pub fn run(cmd: Seed) -> Result<()> {
    use warmstart_core::aws::{dynamodb_client, valuation_store::DynamoCompanyStore};
    match cmd {
        Seed::Recommender {
            synthetic,
            months,
            csv,
            history,
            seed: s,
            table,
            aws,
        } => {
            let source = match (synthetic, csv) {
                (Some(n), None) => seed::CustomerSource::Synthetic {
                    customers: n,
                    months,
                    seed: s,
                },
                (None, Some(path)) => seed::CustomerSource::Csv { path, history },
                _ => unreachable!("clap requires exactly one of --synthetic and --csv"),
            };
            let loaded = seed::load(&source)?;
            let (report, rejected) = block_on(async {
                let conf = cloud::sdk_config(aws.endpoint_url.as_deref()).await;
                let store =
                    warmstart_core::aws::DynamoFeatureStore::new(dynamodb_client(&conf), &table);
                let (customers, summary) = match loaded {
                    seed::Loaded::Profiles(customers, summary) => (customers, summary),
                    seed::Loaded::TestMonth {
                        rows,
                        history,
                        summary,
                    } => {
                        let (customers, from) =
                            seed::test_month_profiles(&store, &rows, &history).await?;
                        let summary = format!(
                            "{summary}; products from history {}, from the table {}, \
                             new customers {}",
                            from.history, from.table, from.new
                        );
                        (customers, Some(summary))
                    }
                };
                let report = seed::write_customers(&store, &customers).await?;
                anyhow::Ok((report, summary))
            })?;
            println!(
                "wrote {} customer items to {table} ({} BatchWriteItem calls, {} retries){}",
                report.written,
                report.requests,
                report.retries,
                rejected.map(|r| format!("; {r}")).unwrap_or_default()
            );
        }
        Seed::Valuation {
            synthetic,
            csv,
            seed: s,
            as_of,
            table,
            aws,
        } => {
            let (companies, summary) = match (synthetic, csv) {
                (Some(n), None) => {
                    let as_of = as_of.unwrap_or_else(seed::today);
                    let summary = format!("market data as of {as_of}");
                    (seed::companies(n, s, &as_of), summary)
                }
                (None, Some(dir)) => {
                    let (companies, report) = tushare::import_dir(&dir, as_of.as_deref())
                        .with_context(|| format!("importing {}", dir.display()))?;
                    if companies.is_empty() {
                        bail!(
                            "no company in {} has an annual income statement and market data; \
                             nothing written\n{}",
                            dir.display(),
                            report.summary()
                        );
                    }
                    eprintln!("{}", report.summary());
                    let dates: std::collections::BTreeSet<&str> =
                        companies.iter().map(|c| c.as_of.as_str()).collect();
                    let (first, last) = (dates.first().unwrap(), dates.last().unwrap());
                    let summary = if first == last {
                        format!("market data as of {first}")
                    } else {
                        format!("market data as of {first}..{last}")
                    };
                    (companies, summary)
                }
                _ => unreachable!("clap requires exactly one of --synthetic and --csv"),
            };
            let report = block_on(async {
                let conf = cloud::sdk_config(aws.endpoint_url.as_deref()).await;
                let store = DynamoCompanyStore::new(dynamodb_client(&conf), &table);
                seed::write_companies(&store, &companies).await
            })?;
            println!(
                "wrote {} company items and {} industry index items to {table} \
                 ({} BatchWriteItem calls; {summary})",
                report.companies, report.industries, report.requests
            );
        }
    }
    Ok(())
}
