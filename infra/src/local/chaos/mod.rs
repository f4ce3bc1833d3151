//! `warmstart local chaos` (`make chaos`): the local stack under a fixed load while its
//! dependencies fail, phase by phase, on loopback only and bounded in time.
//!
//! The stack is `warmstart local up`'s (the real function binaries under the Runtime API
//! emulator, the embedded DynamoDB and S3), on free ports with fresh stores under
//! `<data>/` (the trained bundles are cached in `<data>/bundles/`). The serving functions
//! (recommend, valuation, predict) reach DynamoDB and S3 through [`FaultProxy`]s, so a fault
//! hits them at the wire; reload reads S3 directly, so a version can be promoted while the
//! serving functions' S3 is down. The registry TTL is 1 s so the functions follow quickly.
//!
//! A warm-up answers each valuation input once (what a store outage is answered from) and
//! loads the predict model; then [`load`] keeps `--concurrency` requests in flight (recommend,
//! batch, valuation, predict, both health routes, invalid bodies) through these phases:
//!
//! | phase | fault |
//! |---|---|
//! | baseline | none |
//! | DynamoDB stalls | every byte to/from DynamoDB held (connections accepted) |
//! | DynamoDB refuses | the DynamoDB port closed, open connections reset |
//! | recovered | none |
//! | S3 down, model swap | S3 refused; a new recommender version published (reload promotes it) |
//! | S3 back | none: the functions load the new version |
//! | corrupt bundle | a copy of a bundle with one model byte flipped, published |
//! | worse bundle | a 2-tree recommender published |
//! | function killed | recommend, valuation and predict each SIGKILLed mid-invocation |
//! | registry race | two writers, each N conditional registry changes at once |
//!
//! A request a killed function was running fails at the gateway (502, as API Gateway answers
//! a function that died): it is counted as "killed in flight", apart from the 5xx, and there
//! may be at most one per kill (Lambda runs one invocation per environment); queued requests
//! must be answered by the restarted process. The run fails (non-zero exit) on any other 5xx,
//! any transport error, any unexpected status or wrong answer (e.g. an owned product
//! recommended), a registry write lost, or the corrupt version served.
//!
//! Here: the arguments and the run (stores, fault proxies, stack); `phases`: what each phase
//! does while [`load`] runs; `publishing`: the versions the phases publish; `race`: the
//! registry race; `outcome`: what fails the run; [`report`]: the table.

pub mod load;
mod outcome;
mod phases;
mod publishing;
mod race;
pub mod report;

pub use outcome::{Outcome, RaceOutcome};
pub use race::lost_writes;

use super::{bundle, prepare_bundles, say, start_stack, Endpoints, UpArgs, Wiring};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use warmstart_devkit::fault_proxy::endpoint_addr;
use warmstart_devkit::{FaultProxy, Stores};

#[derive(clap::Args, Debug, Clone)]
pub struct ChaosArgs {
    /// Requests kept in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5.0)]
    pub phase_secs: f64,
    /// Stores (wiped at start) and cached bundles (kept).
    #[arg(long, default_value = ".local/chaos")]
    pub data_dir: PathBuf,
    /// Directory of the function binaries [default: this executable's directory].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Synthetic customers to train on and seed.
    #[arg(long, default_value_t = 1000)]
    pub customers: usize,
    /// Synthetic companies to train on and seed.
    #[arg(long, default_value_t = 200)]
    pub companies: usize,
    /// Seed of the data and of the request mix.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Registry changes per writer in the race.
    #[arg(long, default_value_t = 25)]
    pub race_writes: u8,
    /// Also write the report (markdown) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// RUST_LOG of the functions (their warnings during an outage are one line per request).
    #[arg(long, default_value = "error")]
    pub function_log: String,
}

/// The phases, in order.
pub const PHASES: [&str; 10] = [
    "baseline",
    "DynamoDB stalls",
    "DynamoDB refuses",
    "recovered",
    "S3 down, model swap",
    "S3 back",
    "corrupt bundle",
    "worse bundle",
    "function killed",
    "registry race",
];

/// Runs the stack, the load and the faults; prints the report; fails on what
/// [`Outcome::failures`] lists.
pub fn run(args: ChaosArgs) -> Result<()> {
    let started = Instant::now();
    if !(args.phase_secs > 0.0 && args.phase_secs <= 600.0) {
        bail!("--phase-secs must be in (0, 600]");
    }
    if args.concurrency == 0 || args.concurrency > 256 {
        bail!("--concurrency must be 1..=256");
    }
    if args.race_writes == 0 || args.race_writes > 45 {
        bail!("--race-writes must be 1..=45 (canary weights 2..=91)");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    // Fresh stores every run; the bundles stay cached.
    for stale in ["s3", "chaos-publish"] {
        let p = args.data_dir.join(stale);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    for db in [
        "dynamodb.sqlite",
        "dynamodb.sqlite-wal",
        "dynamodb.sqlite-shm",
    ] {
        let _ = std::fs::remove_file(args.data_dir.join(db));
    }
    let up = UpArgs {
        port: 0,
        s3_port: 0,
        dynamodb_port: 0,
        data_dir: args.data_dir.clone(),
        bin_dir: args.bin_dir.clone(),
        customers: args.customers,
        companies: args.companies,
        seed: args.seed,
        recommender_bundle: None,
        fair_multiple_bundle: None,
        no_train: false,
        reseed: false,
        poll_secs: 0.2,
        json_logs: false,
        lambda_port: 0,
        // No schedule ticks: the phases publish immediate rollouts only.
        tick_secs: 0.0,
    };
    let (reco, fm, generic) = prepare_bundles(&up)?;
    let cache = args.data_dir.join("bundles");
    let train = |out: &Path, trees: u32, leaves: u32, seed: u64| {
        super::train_recommender(&up, out, trees, leaves, seed)
    };
    let swap = bundle(
        None,
        &cache.join("chaos-swap"),
        "recommender (next version)",
        false,
        |out| train(out, 30, 31, args.seed + 7),
    )?;
    let worse = bundle(
        None,
        &cache.join("chaos-worse"),
        "recommender (worse: 2 trees)",
        false,
        |out| train(out, 2, 4, args.seed + 9),
    )?;
    let load_before = loadavg();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let mut stores = Stores::start(&up.data_dir, 0, 0).await?;
        let r = with_stores(&args, &up, &stores, (&reco, &fm, &generic), (&swap, &worse)).await;
        stores.stop().await;
        r
    })?;
    let load_after = loadavg();
    let mut outcome = outcome;
    outcome.total_secs = started.elapsed().as_secs_f64();
    let text = report::render(&args, &outcome, &load_before, &load_after);
    println!("{text}");
    if let Some(path) = &args.report {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    let failures = outcome.failures();
    if !failures.is_empty() {
        bail!("chaos run failed: {}", failures.join("; "));
    }
    say("chaos run passed");
    Ok(())
}

/// `/proc/loadavg`'s three averages and the core count.
fn loadavg() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, load average {avg}")
}

async fn with_stores(
    args: &ChaosArgs,
    up: &UpArgs,
    stores: &Stores,
    (reco, fm, generic): (&Path, &Path, &[PathBuf]),
    (swap, worse): (&Path, &Path),
) -> Result<Outcome> {
    let addr = |e: &str| endpoint_addr(e).with_context(|| format!("endpoint {e}"));
    let dynamodb = FaultProxy::start(addr(&stores.dynamodb_endpoint)?).await?;
    let s3 = FaultProxy::start(addr(&stores.s3_endpoint)?).await?;
    let wiring = Wiring {
        serving: Endpoints {
            s3: s3.endpoint(),
            dynamodb: dynamodb.endpoint(),
        },
        reload: Endpoints {
            s3: stores.s3_endpoint.clone(),
            dynamodb: dynamodb.endpoint(),
        },
        registry_ttl_secs: 1,
        rust_log: Some(args.function_log.clone()),
    };
    super::router::set_access_log(false);
    let stack = start_stack(up, stores, &wiring, reco, fm, generic).await?;
    say(format!(
        "stack up at {} ({}); DynamoDB via {}, S3 via {}",
        stack.api,
        stack.inits.join(", "),
        dynamodb.endpoint(),
        s3.endpoint()
    ));
    let r = phases::drive(args, stores, &stack, &dynamodb, &s3, swap, worse).await;
    stack.shutdown().await;
    r
}
