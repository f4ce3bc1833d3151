//! `warmstart`: train, inspect and score Warmstart model bundles. Run `warmstart --help`.
//! Each subcommand is a module of `warmstart_cli::cmd`; this file parses and dispatches.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use warmstart_cli::cmd;

mod bench;

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
    Train(cmd::train::Train),
    /// Write synthetic example data sets (CSV) to train with `train generic`.
    #[command(subcommand)]
    Examples(cmd::examples::Examples),
    /// Wrap a LightGBM text model trained anywhere into a verified generic bundle.
    ///
    /// Features, categorical features and outputs come from the model; category strings from
    /// the `pandas_categorical` line Python appends. Golden rows (scored by LightGBM) come from
    /// --rows or the model's feature ranges, plus edge values. Models the native scorer cannot
    /// serve (linear trees, unknown objectives) are refused and nothing is written.
    Import(cmd::import::Args),
    /// Show what a bundle holds and verify it (file checksums, model parsing, golden rows).
    ///
    /// Exits non-zero if anything is wrong: a missing or altered file, a manifest that does not
    /// validate, a model that does not parse or does not reproduce its golden rows.
    Inspect(cmd::inspect::Args),
    /// Score raw feature rows with a model file or a bundle (native scorer, as served).
    ///
    /// Input: no header, one row per line, comma-separated numbers in the model's (or the
    /// bundle manifest's) feature order; `nan`, `inf` and `-inf` are accepted, blank lines are
    /// skipped. Output: one line per row with every output (all classes of a multiclass model;
    /// every manifest output of a bundle), comma-separated, printed in shortest round-trip form
    /// (the same spelling as Python's repr), so they parse back to the exact numbers.
    Score(cmd::score::Args),
    /// Predict offline from data files with a bundle (Kaggle's Santander submission).
    #[command(subcommand)]
    Predict(cmd::predict::Predict),
    /// Write feature items to the DynamoDB Features table (customers or companies).
    #[command(subcommand)]
    Seed(cmd::seed::Seed),
    /// Upload a bundle to S3: model files first, manifest.json last; prints the manifest key.
    ///
    /// The bundle is verified first (checksums, model parsing, golden rows). It lands under
    /// s3://<bucket>/<prefix><name>/<version>/; the manifest upload is what triggers the
    /// reload function. Publishing the same bundle twice is a no-op; a different bundle under
    /// an already published version is refused (versions are immutable).
    Publish(cmd::publish::Args),
    /// Value a company offline with the valuation core and print the response JSON.
    ///
    /// The request is what POST /valuation takes, carrying its own inputs: `company` (a
    /// Features-table company item as JSON) and optionally `peers`, or what-if cash flows
    /// (`fcff_forecast`, or `base_revenue` + `ebit_margin_path`, with `net_debt` and
    /// `shares_outstanding`). Invalid input exits non-zero naming the field.
    Value(cmd::value::Args),
    /// The local stack behind `make run`: S3 and DynamoDB emulators, the three functions
    /// under a Lambda Runtime API emulator, an HTTP router at the API Gateway paths.
    #[command(subcommand)]
    Local(cmd::local::Local),
    /// Read and change the model registry (the reload function's admin actions): list, show,
    /// promote, canary, clear-candidate, clear-shadow, rollback.
    Registry(cmd::registry::RegistryArgs),
    /// Native scorer vs LightGBM: one row x all models, a 10,000-row batch, load times.
    Bench(bench::BenchArgs),
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(c) => cmd::train::run(c),
        Command::Examples(c) => cmd::examples::run(c),
        Command::Import(a) => cmd::import::run(a),
        Command::Inspect(a) => cmd::inspect::run(&a),
        Command::Score(a) => cmd::score::run_to_stdout(&a),
        Command::Predict(c) => cmd::predict::run(c),
        Command::Seed(c) => cmd::seed::run(c),
        Command::Publish(a) => cmd::publish::run(&a),
        Command::Value(a) => cmd::value::run_and_print(&a),
        Command::Local(c) => cmd::local::run(c),
        Command::Registry(a) => cmd::registry::run(a),
        Command::Bench(a) => bench::run(&a),
    }
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
