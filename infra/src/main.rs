//! `warmstart`: train, inspect and score Warmstart model bundles. Run `warmstart --help`.

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warmstart_cli::bundle_out::block_on;
use warmstart_cli::{
    cloud, fair_multiple, inspect, local, recommender, score, seed, synthetic, tushare,
};
use warmstart_core::bundle::Rollout;

mod bench;
mod registry_cmd;

#[derive(Parser)]
#[command(
    name = "warmstart",
    version,
    about = "Train, inspect and score Warmstart model bundles",
    long_about = "Train, inspect and score Warmstart model bundles.\n\n\
A bundle is a directory with LightGBM model files under models/ and a manifest.json (written \
last) that lists the files with their sha256, the features, the outputs, holdout metrics and \
golden rows (inputs with the exact outputs the models must reproduce). Upload a bundle to \
s3://<bucket>/models/<name>/<version>/ and the reload function validates and activates it.\n\n\
Typical session:\n  \
warmstart train recommender --synthetic 50000 --out /tmp/reco\n  \
warmstart inspect /tmp/reco\n  \
warmstart score /tmp/reco --input rows.csv"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model bundle from data.
    #[command(subcommand)]
    Train(Train),
    /// Show what a bundle holds and verify it (file checksums, model parsing, golden rows).
    ///
    /// Exits non-zero if anything is wrong: a missing or altered file, a manifest that does not
    /// validate, a model that does not parse or does not reproduce its golden rows.
    Inspect {
        /// The bundle directory (the one holding manifest.json).
        bundle: PathBuf,
    },
    /// Score raw feature rows with a model file or a bundle (native scorer, as served).
    ///
    /// Input: no header, one row per line, comma-separated numbers in the model's (or the
    /// bundle manifest's) feature order; `nan`, `inf` and `-inf` are accepted, blank lines are
    /// skipped. Output: one line per row with every output (all classes of a multiclass model;
    /// every manifest output of a bundle), comma-separated, printed in shortest round-trip form
    /// (the same spelling as Python's repr), so they parse back to the exact numbers.
    Score {
        /// A LightGBM text model (model.txt) or a bundle directory.
        model: PathBuf,
        /// The rows to score: a CSV file, or `-` for standard input.
        #[arg(long, short)]
        input: PathBuf,
    },
    /// Write feature items to the DynamoDB Features table (customers or companies).
    #[command(subcommand)]
    Seed(Seed),
    /// Upload a bundle to S3: model files first, manifest.json last; prints the manifest key.
    ///
    /// The bundle is verified first (checksums, model parsing, golden rows). It lands under
    /// s3://<bucket>/<prefix><name>/<version>/; the manifest upload is what triggers the
    /// reload function. Publishing the same bundle twice is a no-op; a different bundle under
    /// an already published version is refused (versions are immutable).
    Publish {
        /// The bundle directory (the one holding manifest.json).
        bundle: PathBuf,
        /// The model bucket.
        #[arg(long, env = "MODEL_BUCKET")]
        bucket: String,
        /// Key prefix of all models.
        #[arg(long, default_value = "models/")]
        prefix: String,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Value a company offline with the valuation core and print the response JSON.
    ///
    /// The request is what POST /valuation takes, carrying its own inputs: `company` (a
    /// Features-table company item as JSON) and optionally `peers`, or what-if cash flows
    /// (`fcff_forecast`, or `base_revenue` + `ebit_margin_path`, with `net_debt` and
    /// `shares_outstanding`). Invalid input exits non-zero naming the field.
    Value {
        /// The request JSON file, or `-` for standard input.
        request: PathBuf,
        /// A fair-multiple bundle directory: fills in the ML fair P/E section.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// The local stack behind `make run`: S3 and DynamoDB emulators, the three functions
    /// under a Lambda Runtime API emulator, an HTTP router at the API Gateway paths.
    #[command(subcommand)]
    Local(Local),
    /// Read and change the model registry (the reload function's admin actions): list, show,
    /// promote, canary, clear-candidate, clear-shadow, rollback.
    Registry(registry_cmd::RegistryArgs),
    /// Native scorer vs LightGBM: one row x all models, a 10,000-row batch, load times.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand)]
enum Local {
    /// Start everything and serve until Ctrl-C (see `warmstart local up --help`).
    Up(local::UpArgs),
}

#[derive(Args)]
struct AwsArgs {
    /// Endpoint of every AWS service (an emulator, e.g. http://127.0.0.1:4566) [default: the
    /// SDK's, which honours AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB].
    /// Without credentials in the environment, a custom endpoint gets dummy ones.
    #[arg(long)]
    endpoint_url: Option<String>,
}

#[derive(Subcommand)]
enum Seed {
    /// Customers' latest month (with product ownership of the two months before) as
    /// `customer#<id>` items.
    ///
    /// Written with BatchWriteItem (25 items per call), unprocessed items retried with
    /// backoff. A customer appearing twice keeps its last record. Reports items written,
    /// calls made and (CSV) rows rejected.
    #[command(group(ArgGroup::new("data").required(true).args(["synthetic", "csv"])))]
    Recommender {
        /// This many synthetic customers: the training generator's, so seeding and
        /// `train recommender --synthetic` with the same --seed describe the same people.
        #[arg(long, value_name = "N_CUSTOMERS")]
        synthetic: Option<usize>,
        /// Months the generator simulates (the latest one is written).
        #[arg(long, default_value_t = 6, requires = "synthetic")]
        months: usize,
        /// The Santander train_ver2.csv (as downloaded from Kaggle).
        #[arg(long, value_name = "TRAIN_VER2_CSV")]
        csv: Option<PathBuf>,
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

#[derive(Subcommand)]
enum Train {
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
    /// log market cap and industry. Trained on synthetic companies; reported against the
    /// baseline "median P/E of the company's industry".
    FairMultiple(FairMultipleArgs),
}

#[derive(Args)]
struct Common {
    /// Output directory for the bundle (models/ and manifest.json).
    #[arg(long)]
    out: PathBuf,
    /// Boosting rounds (trees) per model.
    #[arg(long)]
    trees: Option<u32>,
    /// Maximum leaves per tree.
    #[arg(long)]
    leaves: Option<u32>,
    /// Learning rate (shrinkage).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Random seed: synthetic data, bagging and feature sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Bundle version, also the S3 key segment: letters, digits, `.`, `_`, `-` [default:
    /// <UTC time>-<8 hex digits of the models' sha256>, e.g. 2026-11-22T10-00-00Z-1a2b3c4d].
    #[arg(long, value_parser = parse_version)]
    version: Option<String>,
    /// How the reload function promotes this version: immediate, canary:<percent> or shadow
    /// [default: not set, which reload treats as immediate].
    #[arg(long, value_parser = parse_rollout)]
    rollout: Option<Rollout>,
    /// Overwrite a bundle already in --out.
    #[arg(long)]
    force: bool,
}

fn parse_rollout(s: &str) -> Result<Rollout, String> {
    s.parse()
}

/// The manifest's rule for versions, checked before training rather than after.
fn parse_version(s: &str) -> Result<String, String> {
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s != "."
        && s != "..";
    if ok {
        Ok(s.to_string())
    } else {
        Err("use 1 to 128 letters, digits, `.`, `_` or `-`".into())
    }
}

#[derive(Args)]
struct RecommenderArgs {
    /// Generate this many synthetic customers.
    #[arg(long, value_name = "N_CUSTOMERS")]
    synthetic: Option<usize>,
    /// Read the Santander train_ver2.csv (as downloaded from Kaggle).
    #[arg(long, value_name = "TRAIN_VER2_CSV")]
    csv: Option<PathBuf>,
    /// Months of data: generated (synthetic, default 6) or the last M months of the CSV
    /// (default: all).
    #[arg(long)]
    months: Option<usize>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct FairMultipleArgs {
    /// Generate this many synthetic companies.
    #[arg(long, value_name = "N_COMPANIES", required = true)]
    synthetic: usize,
    #[command(flatten)]
    common: Common,
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(Train::Recommender(a)) => {
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
                out: c.out,
                trees: c.trees.unwrap_or(100),
                leaves: c.leaves.unwrap_or(31),
                learning_rate: c.learning_rate.unwrap_or(0.1),
                seed: c.seed,
                version: c.version,
                rollout: c.rollout,
                force: c.force,
            })?;
        }
        Command::Train(Train::FairMultiple(a)) => {
            let c = a.common;
            fair_multiple::run(&fair_multiple::Options {
                companies: a.synthetic,
                out: c.out,
                seed: c.seed,
                trees: c.trees.unwrap_or(300),
                leaves: c.leaves.unwrap_or(15),
                learning_rate: c.learning_rate.unwrap_or(0.05),
                version: c.version,
                rollout: c.rollout,
                force: c.force,
            })?;
        }
        Command::Inspect { bundle } => inspect::run(&bundle)?,
        Command::Score { model, input } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            score::run(&model, &input, &mut out)?;
        }
        Command::Seed(cmd) => run_seed(cmd)?,
        Command::Publish {
            bundle,
            bucket,
            prefix,
            aws,
        } => {
            let key = block_on(async {
                let conf = cloud::sdk_config(aws.endpoint_url.as_deref()).await;
                let s3 = warmstart_core::aws::s3_client(&conf);
                warmstart_core::aws::publish_bundle(&s3, &bucket, &prefix, &bundle).await
            })?;
            println!("s3://{bucket}/{key}");
        }
        Command::Value { request, model } => {
            let request = warmstart_cli::value::read_request(&request)?;
            let response = warmstart_cli::value::run(&request, model.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&response)?);
        }
        Command::Local(Local::Up(args)) => local::up(args)?,
        Command::Registry(args) => registry_cmd::run(args)?,
        Command::Bench(args) => bench::run(&args)?,
    }
    Ok(())
}

fn run_seed(cmd: Seed) -> Result<()> {
    use warmstart_core::aws::{dynamodb_client, valuation_store::DynamoCompanyStore};
    match cmd {
        Seed::Recommender {
            synthetic,
            months,
            csv,
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
                (None, Some(path)) => seed::CustomerSource::Csv(path),
                _ => unreachable!("clap requires exactly one of --synthetic and --csv"),
            };
            let (customers, rejected) = seed::customers(&source)?;
            let report = block_on(async {
                let conf = cloud::sdk_config(aws.endpoint_url.as_deref()).await;
                let store =
                    warmstart_core::aws::DynamoFeatureStore::new(dynamodb_client(&conf), &table);
                seed::write_customers(&store, &customers).await
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

/// `warmstart inspect … | head` closes stdout early; `println!` then panics. Exit quietly
/// instead, as other command-line tools do on SIGPIPE.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `warmstart score … | head` closes the pipe early: not an error worth a message.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
