//! `warmstart`: train, inspect and score Warmstart model bundles. Run `warmstart --help`.

use anyhow::Result;
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use warmstart_cli::{fair_multiple, inspect, recommender, score, synthetic};
use warmstart_core::bundle::Rollout;

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
    /// Read and change the model registry (the reload function's admin actions): list, show,
    /// promote, canary, clear-candidate, clear-shadow, rollback.
    Registry(registry_cmd::RegistryArgs),
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
        Command::Registry(args) => registry_cmd::run(args)?,
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
