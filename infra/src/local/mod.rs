//! `warmstart local up`: the whole service on one machine, no AWS account, no Docker — what
//! `make run` starts.
//!
//! 1. [`Stores`] (warmstart-devkit): DynamoDB (dynoxide, SQLite) and S3 (s3s-fs, a directory)
//!    embedded in this process on 127.0.0.1, data under the data directory (default
//!    `.local/`), kept across restarts;
//! 2. [`setup`]: the bucket and the three tables of template.yaml (same keys, TTL on the cache);
//! 3. [`bundles`]: small synthetic models trained once and cached under `<data>/bundles/` (the
//!    recommender, the fair multiple and the two [`merchant_models`]); [`provision`]: features
//!    seeded once (customers incl. `15889`, companies incl. `600519.SH`), bundles published,
//!    registry `active` items written when the registry has none;
//! 4. [`functions`]: the `recommend`, `valuation` and `reload` binaries, each under its own
//!    Lambda Runtime API emulator (environment: [`wiring`]), behind [`router`], an HTTP server
//!    at API Gateway's paths; [`stack`] starts and stops them with the tasks below;
//! 5. [`watcher`]: new `manifest.json` uploads become S3 notifications to `reload`;
//! 6. [`invoke_api`]: the Lambda Invoke API (`aws lambda invoke --endpoint-url`, `warmstart
//!    local invoke`) on `--lambda-port`, and the every-minute `Scheduled Event` to `reload`
//!    that advances staged rollouts;
//! 7. [`banner`]: the addresses and commands to try, once ready;
//! 8. Ctrl-C (SIGINT) or SIGTERM stops all of it.

mod banner;
mod bundles;
pub mod chaos;
pub mod functions;
pub mod invoke_api;
pub mod merchant_models;
mod provision;
pub mod router;
pub mod setup;
pub mod stack;
pub mod watcher;
pub mod wiring;

pub use bundles::prepare_bundles;
pub(crate) use bundles::{bundle, train_recommender};
pub use stack::{start_stack, Stack};
pub use wiring::{Endpoints, Wiring};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use warmstart_devkit::Stores;

/// Customers the sample events (events/) and the README's curl commands name.
pub const SAMPLE_CUSTOMERS: [&str; 3] = ["15889", "1050935", "1050824"];
/// The company the sample events value (the generator's first).
pub const SAMPLE_COMPANY: &str = "600519.SH";

#[derive(clap::Args, Debug, Clone)]
pub struct UpArgs {
    /// Port of the HTTP router (the API Gateway stand-in); 0 picks a free one.
    #[arg(long, env = "WARMSTART_PORT", default_value_t = 3000)]
    pub port: u16,
    /// Port of the Lambda Invoke API (`POST /2015-03-31/functions/<name>/invocations`, as
    /// `sam local start-lambda`); 0 picks a free one.
    #[arg(long, env = "WARMSTART_LAMBDA_PORT", default_value_t = 3001)]
    pub lambda_port: u16,
    /// Seconds between two `Scheduled Event`s to reload (the template's `rate(1 minute)`
    /// rule that advances staged rollouts); 0 sends none.
    #[arg(long, default_value_t = 60.0)]
    pub tick_secs: f64,
    /// Port of the local S3; 0 picks a free one.
    #[arg(long, env = "WARMSTART_S3_PORT", default_value_t = 4566)]
    pub s3_port: u16,
    /// Port of the local DynamoDB; 0 picks a free one.
    #[arg(long, env = "WARMSTART_DYNAMODB_PORT", default_value_t = 4567)]
    pub dynamodb_port: u16,
    /// Where S3 objects, the DynamoDB file and the trained bundles are kept.
    #[arg(long, env = "WARMSTART_DATA_DIR", default_value = ".local")]
    pub data_dir: PathBuf,
    /// Directory of the `recommend`, `valuation` and `reload` binaries [default: this
    /// executable's directory].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Synthetic customers to train on and seed.
    #[arg(long, default_value_t = 5000)]
    pub customers: usize,
    /// Synthetic companies to train on and seed.
    #[arg(long, default_value_t = 2000)]
    pub companies: usize,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve this recommender bundle instead of the cached/trained one.
    #[arg(long)]
    pub recommender_bundle: Option<PathBuf>,
    /// Serve this fair-multiple bundle instead of the cached/trained one.
    #[arg(long)]
    pub fair_multiple_bundle: Option<PathBuf>,
    /// Never train: a bundle must be given or already cached.
    #[arg(long)]
    pub no_train: bool,
    /// Write the feature items again even when they are already stored.
    #[arg(long)]
    pub reseed: bool,
    /// Seconds between two listings of the bucket for new manifests.
    #[arg(long, default_value_t = 1.0)]
    pub poll_secs: f64,
    /// Function logs in Lambda's JSON format (default: text) and with the EMF metric lines.
    #[arg(long)]
    pub json_logs: bool,
}

pub(crate) fn say(msg: impl AsRef<str>) {
    eprintln!("==> {}", msg.as_ref());
}

/// Starts the stack and serves until SIGINT/SIGTERM.
pub fn up(args: UpArgs) -> Result<()> {
    let started = Instant::now();
    let (reco, fm, generic) = prepare_bundles(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args, reco, fm, generic, started))
}

async fn serve(
    args: UpArgs,
    reco: PathBuf,
    fm: PathBuf,
    generic: Vec<PathBuf>,
    started: Instant,
) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    // Installed first, so a Ctrl-C during start-up still stops what has started.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    let mut stores = Stores::start(&args.data_dir, args.s3_port, args.dynamodb_port).await?;
    say(format!(
        "S3 on {}, DynamoDB on {} (data in {})",
        stores.s3_endpoint,
        stores.dynamodb_endpoint,
        args.data_dir.display()
    ));
    let result = tokio::select! {
        r = run_stack(&args, &stores, &reco, &fm, &generic, started) => r,
        _ = sigint.recv() => Ok(None),
        _ = sigterm.recv() => Ok(None),
    };
    let stack = match result {
        Ok(Some(stack)) => stack,
        Ok(None) => {
            say("interrupted during start-up; stopping");
            stores.stop().await;
            return Ok(());
        }
        Err(e) => {
            stores.stop().await;
            return Err(e);
        }
    };
    tokio::select! {
        _ = sigint.recv() => {}
        _ = sigterm.recv() => {}
    }
    eprintln!();
    say("stopping: router, S3 watcher, functions, stores");
    stack.shutdown().await;
    stores.stop().await;
    say("stopped");
    Ok(())
}

async fn run_stack(
    args: &UpArgs,
    stores: &Stores,
    reco: &Path,
    fm: &Path,
    generic: &[PathBuf],
    started: Instant,
) -> Result<Option<Stack>> {
    let wiring = Wiring {
        serving: Endpoints::of(stores),
        reload: Endpoints::of(stores),
        registry_ttl_secs: 30,
        rust_log: None,
    };
    let stack = start_stack(args, stores, &wiring, reco, fm, generic).await?;
    banner::print_banner(
        args,
        stores,
        &stack.api,
        &stack.lambda_api,
        &stack.inits,
        reco,
        started,
    );
    Ok(Some(stack))
}
