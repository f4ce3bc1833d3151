//! `warmstart train recommender | fair-multiple | generic`: train a model bundle.

use crate::data::csv_table::Task;
use crate::data::synthetic;
use crate::train::bundle_out::{parse_version, OutArgs};
use crate::train::{fair_multiple, fair_multiple_csv, generic, recommender};
use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Train {
    /// 24 per-product models: which bank products a customer will add next month.
    ///
    /// Data: either synthetic customers (--synthetic) or the Santander Product Recommendation
    /// train_ver2.csv from Kaggle (--csv). For every customer and month t the features are the
    /// customer's profile at t-1 (demographics, products owned at t-1 and t-2), encoded exactly
    /// as the recommend function encodes it; the label for a product is "owned at t, not at
    /// t-1". Each product's model trains on the customers who did not own it at t-1.
    ///
    /// Holdout: the last month (CSV) or 20% of the customers (synthetic). Reported: AUC per
    /// product and MAP@7 of the model against recommending the most popular products.
    #[command(group(ArgGroup::new("data").required(true).args(["synthetic", "csv"])))]
    Recommender(RecommenderArgs),
    /// A regression that predicts a fair P/E ratio from a company's fundamentals.
    ///
    /// Features: revenue growth, EBIT and net margins, ROE, debt/equity, beta, payout ratio,
    /// log market cap and industry. Trained on synthetic companies (--synthetic) or on real
    /// ones from TuShare exports (--csv DIR, read as `seed valuation --csv` reads them; the
    /// target is each company's current P/E; companies without a P/E in (0, 150] or without
    /// statements to build margins from are skipped and counted). Holdout: 20% of the
    /// companies, reported against the baseline "median P/E of the company's industry".
    #[command(group(ArgGroup::new("data").required(true).args(["synthetic", "csv"])))]
    FairMultiple(FairMultipleArgs),
    /// Any LightGBM model from a headed CSV: binary, regression or multiclass.
    ///
    /// Every column but the target and --drop is a feature. Empty and NA cells are missing
    /// values; a column with any non-numeric cell is categorical, its strings listed in the
    /// manifest so requests can send them. Holdout: 20% of the rows (fixed by --seed),
    /// reported against a constant prediction from the training rows (mean or class prior).
    Generic(GenericArgs),
}

#[derive(Args)]
pub struct Common {
    #[command(flatten)]
    pub bundle: OutArgs,
    /// Boosting rounds (trees) per model.
    #[arg(long)]
    pub trees: Option<u32>,
    /// Maximum leaves per tree.
    #[arg(long)]
    pub leaves: Option<u32>,
    /// Learning rate (shrinkage).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Random seed: synthetic data, bagging and feature sampling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Args)]
pub struct RecommenderArgs {
    /// Generate this many synthetic customers.
    #[arg(long, value_name = "N_CUSTOMERS")]
    pub synthetic: Option<usize>,
    /// Read the Santander train_ver2.csv (as downloaded from Kaggle).
    #[arg(long, value_name = "TRAIN_VER2_CSV")]
    pub csv: Option<PathBuf>,
    /// Months of data: generated (synthetic, default 6) or the last M months of the CSV
    /// (default: all).
    #[arg(long)]
    pub months: Option<usize>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct FairMultipleArgs {
    /// Generate this many synthetic companies.
    #[arg(long, value_name = "N_COMPANIES")]
    pub synthetic: Option<usize>,
    /// A directory of TuShare exports: income.csv, balancesheet.csv, cashflow.csv,
    /// daily_basic.csv, optionally stock_basic.csv (industries) and beta.csv.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// With --csv: each company's market data (and P/E) of its last trade_date on or before
    /// this day [default: its last]. YYYYMMDD.
    #[arg(long, requires = "csv")]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct GenericArgs {
    /// The training data: a CSV with a header row.
    #[arg(long)]
    pub csv: PathBuf,
    /// The column to predict.
    #[arg(long)]
    pub target: String,
    /// binary (0/1 or two distinct strings), regression (numbers) or multiclass (any labels).
    #[arg(long, value_enum)]
    pub objective: Task,
    /// Numeric columns to treat as categorical (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Columns that are not features, e.g. ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub drop: Vec<String>,
    /// Bundle (model) name [default: the CSV's file name without extension].
    #[arg(long, value_parser = parse_version)]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// Trains the bundle `cmd` describes.
pub fn run(cmd: Train) -> Result<()> {
    match cmd {
        Train::Recommender(a) => {
            let c = a.common;
            let source = match (a.synthetic, a.csv) {
                (Some(n), None) => recommender::DataSource::Synthetic(synthetic::SyntheticConfig {
                    customers: n,
                    months: a.months.unwrap_or(6),
                    seed: c.seed,
                }),
                (None, Some(path)) => recommender::DataSource::Csv {
                    path,
                    months: a.months,
                },
                _ => unreachable!("clap requires exactly one of --synthetic and --csv"),
            };
            recommender::run(&recommender::Options {
                source,
                out: c.bundle.out,
                trees: c.trees.unwrap_or(100),
                leaves: c.leaves.unwrap_or(31),
                learning_rate: c.learning_rate.unwrap_or(0.1),
                seed: c.seed,
                version: c.bundle.version,
                rollout: c.bundle.rollout,
                force: c.bundle.force,
            })?;
        }
        Train::FairMultiple(a) => {
            let c = a.common;
            let opts = fair_multiple::Options {
                companies: a.synthetic.unwrap_or(0),
                out: c.bundle.out,
                seed: c.seed,
                trees: c.trees.unwrap_or(300),
                leaves: c.leaves.unwrap_or(15),
                learning_rate: c.learning_rate.unwrap_or(0.05),
                version: c.bundle.version,
                rollout: c.bundle.rollout,
                force: c.bundle.force,
            };
            match a.csv {
                Some(dir) => fair_multiple_csv::run(&dir, a.as_of.as_deref(), &opts)?,
                None => fair_multiple::run(&opts)?,
            };
        }
        Train::Generic(a) => {
            let c = a.common;
            generic::run(&generic::Options {
                csv: a.csv,
                target: a.target,
                task: a.objective,
                categorical: a.categorical,
                drop: a.drop,
                name: a.name,
                trees: c.trees.unwrap_or(100),
                leaves: c.leaves.unwrap_or(31),
                learning_rate: c.learning_rate.unwrap_or(0.1),
                seed: c.seed,
                bundle: c.bundle,
            })?;
        }
    }
    Ok(())
}
