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

pub mod load;
pub mod report;

use super::functions::LocalFunction;
use super::setup::{self, BUCKET, MODELS_PREFIX, REGISTRY_TABLE};
use super::{bundle, prepare_bundles, say, start_stack, Endpoints, Stack, UpArgs, Wiring};
use crate::train::bundle_out;
use anyhow::{bail, Context, Result};
use load::{Kind, Load, PhaseStats, Planned};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmstart_core::aws::{apply_change, RegistryTable, Updated};
use warmstart_core::bundle::MANIFEST_FILE;
use warmstart_core::registry::{Active, Candidate, Change, RegistryItem};
use warmstart_devkit::fault_proxy::endpoint_addr;
use warmstart_devkit::{Fault, FaultProxy, Stores};

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

/// What the registry race did.
#[derive(Debug, Clone, Default)]
pub struct RaceOutcome {
    pub writers: usize,
    pub acknowledged: usize,
    pub failed: usize,
    pub conflicts_retried: u32,
    pub revision_before: u64,
    pub revision_after: u64,
    /// Acknowledged writes whose revision is missing or was acknowledged twice.
    pub lost: usize,
}

/// Everything the run measured.
pub struct Outcome {
    pub phases: Vec<PhaseStats>,
    pub seconds: Vec<f64>,
    pub notes: Vec<Vec<String>>,
    pub kills: u64,
    pub race: RaceOutcome,
    pub corrupt_version: String,
    /// The code reload rejected the corrupt bundle with (`None`: not rejected).
    pub corrupt_rejected: Option<String>,
    pub total_secs: f64,
}

impl Outcome {
    /// Why the run fails; empty when it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let sum = |g: fn(&PhaseStats) -> u64| self.phases.iter().map(g).sum::<u64>();
        let server_errors = sum(|p| p.server_errors);
        if server_errors > 0 {
            f.push(format!("{server_errors} 5xx answers"));
        }
        let killed = sum(|p| p.killed_in_flight);
        if killed > self.kills {
            f.push(format!(
                "{killed} requests failed with a killed function, more than the {} kills \
                 (queued requests must go to the restarted process)",
                self.kills
            ));
        }
        let transport = sum(|p| p.transport_errors);
        if transport > 0 {
            f.push(format!("{transport} transport errors"));
        }
        let unexpected = sum(|p| p.unexpected);
        if unexpected > 0 {
            f.push(format!("{unexpected} unexpected statuses or wrong answers"));
        }
        if self.race.lost > 0 {
            f.push(format!("{} registry writes lost", self.race.lost));
        }
        if self.race.acknowledged + self.race.failed == 0 {
            f.push("the registry race wrote nothing".into());
        }
        if self
            .phases
            .iter()
            .any(|p| p.versions.contains(&self.corrupt_version))
        {
            f.push(format!(
                "the corrupt version {} was served",
                self.corrupt_version
            ));
        }
        match self.corrupt_rejected.as_deref() {
            None => f.push("reload did not reject the corrupt bundle".into()),
            Some("stale_version") => {
                f.push("the corrupt bundle was rejected for its age, not its content".into())
            }
            Some(_) => {}
        }
        if self.phases.iter().any(|p| p.requests == 0) {
            f.push("a phase saw no request".into());
        }
        f
    }
}

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
    let r = drive(args, stores, &stack, &dynamodb, &s3, swap, worse).await;
    stack.shutdown().await;
    r
}

/// A copy of the bundle `src` as `version` under `scratch`, optionally with one byte of a
/// model file flipped (its manifest checksum then no longer matches).
fn versioned_copy(src: &Path, scratch: &Path, version: &str, corrupt: bool) -> Result<PathBuf> {
    let dst = scratch.join(version);
    let mut corrupted = !corrupt;
    copy_tree(src, &dst, &mut |rel, bytes| {
        if rel == Path::new(MANIFEST_FILE) {
            let mut m: serde_json::Value = serde_json::from_slice(bytes)?;
            m["version"] = serde_json::Value::String(version.to_string());
            *bytes = serde_json::to_vec_pretty(&m)?;
        } else if !corrupted && !bytes.is_empty() {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            corrupted = true;
        }
        Ok(())
    })?;
    Ok(dst)
}

/// Copies the files under `src` to `dst` (sorted, depth first), each through `edit`.
fn copy_tree(
    src: &Path,
    dst: &Path,
    edit: &mut dyn FnMut(&Path, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out)?;
            } else if p.is_file() {
                out.push(p.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(src, src, &mut files)?;
    for rel in files {
        let mut bytes = std::fs::read(src.join(&rel))?;
        edit(&rel, &mut bytes)?;
        let to = dst.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, bytes)?;
    }
    Ok(())
}

/// A version that sorts after every earlier one: `<now>-chaos-<what>`.
fn version(what: &str) -> String {
    format!("{}-chaos-{what}", bundle_out::now().1)
}

/// Uploads the files of `dir` as they are (manifest last), as a broken pipeline would:
/// `warmstart publish` refuses a bundle that does not verify.
async fn upload_raw(
    clients: &setup::Clients,
    dir: &Path,
    model: &str,
    version: &str,
) -> Result<()> {
    let mut files = Vec::new();
    copy_tree(dir, &dir.with_extension("uploaded"), &mut |rel, bytes| {
        files.push((rel.to_path_buf(), bytes.clone()));
        Ok(())
    })?;
    files.sort_by_key(|(rel, _)| rel == Path::new(MANIFEST_FILE));
    for (rel, bytes) in files {
        let key = format!("{MODELS_PREFIX}{model}/{version}/{}", rel.display());
        clients
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("uploading {key}: {}", setup::sdk_message(&e)))?;
    }
    Ok(())
}

async fn publish(clients: &setup::Clients, dir: &Path) -> Result<()> {
    warmstart_core::aws::publish_bundle(&clients.s3, BUCKET, MODELS_PREFIX, dir)
        .await
        .with_context(|| format!("publishing {}", dir.display()))?;
    Ok(())
}

/// The registry item of `model`, polled until `done` holds or `within` passes.
async fn wait_registry(
    registry: &RegistryTable,
    model: &str,
    within: Duration,
    done: impl Fn(&RegistryItem) -> bool,
) -> Option<RegistryItem> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(item)) = registry.get(model).await {
            if done(&item) {
                return Some(item);
            }
            last = Some(item);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

fn active_of(item: &RegistryItem) -> &str {
    item.active.as_ref().map_or("-", |a| a.version.as_str())
}

/// One valid request of each kind, answered 200 before the load starts: the valuation
/// inputs get cached (what an outage is answered from) and the predict model loaded.
async fn warm_up(api: SocketAddr) -> Result<()> {
    let mut conn = None;
    let mut planned: Vec<Planned> = load::valuation_bodies()
        .into_iter()
        .map(|b| Planned {
            kind: Kind::Valuation,
            method: "POST",
            path: "/valuation".into(),
            body: Some(b.to_string()),
            expect: 200,
            owned: Vec::new(),
        })
        .collect();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    while planned.len() < 40 {
        let p = load::plan(&mut rng);
        if p.kind != Kind::Invalid {
            planned.push(p);
        }
    }
    for p in &planned {
        let o = load::send(api, &mut conn, p)
            .await
            .map_err(|e| anyhow::anyhow!("warm-up {} {}: {e}", p.method, p.path))?;
        if o.status != 200 {
            bail!(
                "warm-up {} {} answered {} before any fault",
                p.method,
                p.path,
                o.status
            );
        }
    }
    Ok(())
}

async fn drive(
    args: &ChaosArgs,
    stores: &Stores,
    stack: &Stack,
    dynamodb: &FaultProxy,
    s3: &FaultProxy,
    swap: &Path,
    worse: &Path,
) -> Result<Outcome> {
    let api: SocketAddr = stack
        .api
        .trim_start_matches("http://")
        .parse()
        .context("router address")?;
    let clients = setup::Clients::new(&stores.s3_endpoint, &stores.dynamodb_endpoint).await;
    let registry = RegistryTable::new(clients.dynamodb.clone(), REGISTRY_TABLE);
    let scratch = args.data_dir.join("chaos-publish");
    let model = "product-recommender";
    warm_up(api).await?;
    say(format!(
        "warm-up done; {} phases of {:.1} s at concurrency {}",
        PHASES.len(),
        args.phase_secs,
        args.concurrency
    ));

    let load = Load::start(api, args.concurrency, PHASES.len(), args.seed);
    let phase_len = Duration::from_secs_f64(args.phase_secs);
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); PHASES.len()];
    let mut seconds = vec![0.0; PHASES.len()];
    let mut kills = 0u64;
    let mut race = RaceOutcome::default();
    let mut corrupt_version = String::new();
    let mut corrupt_rejected = None;
    for (i, name) in PHASES.iter().enumerate() {
        load.phase.store(i, Ordering::Relaxed);
        let t = Instant::now();
        say(format!("phase {}: {name}", i + 1));
        let note = &mut notes[i];
        match i {
            1 => dynamodb.set(Fault::Stall),
            2 => dynamodb.set(Fault::Refuse),
            4 => {
                s3.set(Fault::Refuse);
                let v = version("swap");
                publish(&clients, &versioned_copy(swap, &scratch, &v, false)?).await?;
                let item =
                    wait_registry(&registry, model, phase_len, |it| active_of(it) == v).await;
                note.push(match item {
                    Some(it) if active_of(&it) == v => format!(
                        "reload made {v} active after {:.1} s; S3 refused to the functions",
                        t.elapsed().as_secs_f64()
                    ),
                    _ => format!("reload did not make {v} active within the phase"),
                });
            }
            6 => {
                // Named now, so it sorts after the version just promoted: reload must refuse
                // it for its content, not for its age.
                corrupt_version = version("corrupt");
                let dir = versioned_copy(swap, &scratch, &corrupt_version, true)?;
                upload_raw(&clients, &dir, model, &corrupt_version).await?;
                let item = wait_registry(&registry, model, phase_len, |it| {
                    it.rejected.iter().any(|r| r.version == corrupt_version)
                })
                .await;
                let rejection = item.and_then(|it| {
                    it.rejected
                        .iter()
                        .find(|r| r.version == corrupt_version)
                        .cloned()
                });
                note.push(match &rejection {
                    Some(r) => format!("reload rejected it ({})", r.code),
                    None => "reload did not reject it within the phase".into(),
                });
                corrupt_rejected = rejection.map(|r| r.code);
            }
            7 => {
                let v = version("worse");
                publish(&clients, &versioned_copy(worse, &scratch, &v, false)?).await?;
                let item = wait_registry(&registry, model, phase_len, |it| {
                    active_of(it) == v
                        || it.candidate.as_ref().is_some_and(|c| c.version == v)
                        || it.rejected.iter().any(|r| r.version == v)
                })
                .await;
                note.push(match item {
                    Some(it) if active_of(&it) == v => {
                        "reload made it active (its rollout: immediate)".to_string()
                    }
                    Some(it) if it.rejected.iter().any(|r| r.version == v) => {
                        let r = it.rejected.iter().find(|r| r.version == v).expect("found");
                        format!("reload rejected it ({})", r.code)
                    }
                    Some(it) if it.candidate.is_some() => "reload made it the canary".into(),
                    _ => "the registry did not change within the phase".into(),
                });
            }
            8 => {
                let victims: Vec<&Arc<LocalFunction>> = ["recommend", "valuation", "predict"]
                    .iter()
                    .filter_map(|n| stack.function(n))
                    .collect();
                let gap = phase_len / (victims.len() as u32 + 1);
                let mut killed = Vec::new();
                for f in victims {
                    tokio::time::sleep(gap).await;
                    if f.kill_mid_invocation(Duration::from_secs(2)).await {
                        kills += 1;
                        killed.push(f.name());
                    }
                }
                note.push(format!(
                    "SIGKILL mid-invocation: {}",
                    if killed.is_empty() {
                        "none (nothing in flight)".into()
                    } else {
                        killed.join(", ")
                    }
                ));
            }
            9 => {
                race = registry_race(&registry, args.race_writes).await?;
                note.push(format!(
                    "{} writers x {}: {} acknowledged, {} conflicts retried, revision {} -> {}",
                    race.writers,
                    args.race_writes,
                    race.acknowledged,
                    race.conflicts_retried,
                    race.revision_before,
                    race.revision_after
                ));
            }
            _ => {}
        }
        tokio::time::sleep(phase_len.saturating_sub(t.elapsed())).await;
        dynamodb.set(Fault::None);
        s3.set(Fault::None);
        seconds[i] = t.elapsed().as_secs_f64();
    }
    let phases = load.finish().await;
    let restarts: Vec<String> = stack
        .functions
        .iter()
        .filter(|f| f.restarts() > 0)
        .map(|f| format!("{} {}", f.name(), f.restarts()))
        .collect();
    if !restarts.is_empty() {
        notes[8].push(format!("restarted: {}", restarts.join(", ")));
    }
    Ok(Outcome {
        phases,
        seconds,
        notes,
        kills,
        race,
        corrupt_version,
        corrupt_rejected,
        total_secs: 0.0,
    })
}

/// Two writers change one registry item at once, `writes` times each (conditional writes on
/// its revision, retried on conflict by `apply_change`): every acknowledged change must own
/// one revision of the item.
async fn registry_race(registry: &RegistryTable, writes: u8) -> Result<RaceOutcome> {
    const MODEL: &str = "chaos-race";
    let mut item = RegistryItem::new(MODEL);
    item.active = Some(Active {
        version: "2026-01-01T00-00-00Z-race-active".into(),
        prefix: None,
        sha256: None,
        promoted_at: None,
        by: None,
        reason: None,
    });
    item.candidate = Some(Candidate {
        version: "2026-01-02T00-00-00Z-race-canary".into(),
        weight: 1,
        prefix: None,
        sha256: None,
        since: None,
        by: None,
        reason: None,
    });
    item.revision = 1;
    registry
        .put(&item, None)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the race item: {e:?}"))?;
    let writers: Vec<_> = (0..2u8)
        .map(|w| {
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let (mut failed, mut conflicts) = (0usize, 0u32);
                for i in 0..writes {
                    // Writer 0 even weights, writer 1 odd: no change is a no-op.
                    let weight = 2 + 2 * i + w;
                    match apply_change(
                        &registry,
                        None,
                        MODEL,
                        &Change::SetCanary { weight },
                        &format!("chaos-writer-{w}"),
                        &format!("race write {i}"),
                    )
                    .await
                    {
                        Ok(Updated::Written { item, attempts, .. }) => {
                            acked.push(item.revision);
                            conflicts += attempts - 1;
                        }
                        Ok(Updated::Unchanged { .. }) | Err(_) => failed += 1,
                    }
                }
                (acked, failed, conflicts)
            })
        })
        .collect();
    let mut out = RaceOutcome {
        writers: 2,
        revision_before: 1,
        ..RaceOutcome::default()
    };
    let mut revisions = Vec::new();
    for w in writers {
        let (acked, failed, conflicts) = w.await.context("race writer")?;
        revisions.extend(acked);
        out.failed += failed;
        out.conflicts_retried += conflicts;
    }
    out.acknowledged = revisions.len();
    let after = registry
        .get(MODEL)
        .await
        .map_err(|e| anyhow::anyhow!("reading the race item: {e}"))?
        .context("the race item is gone")?;
    out.revision_after = after.revision;
    out.lost = lost_writes(&revisions, out.revision_before, out.revision_after);
    Ok(out)
}

/// Acknowledged writes that do not own a revision of their own in `(before, after]`.
pub fn lost_writes(acked_revisions: &[u64], before: u64, after: u64) -> usize {
    let owned: BTreeSet<u64> = acked_revisions
        .iter()
        .copied()
        .filter(|r| *r > before && *r <= after)
        .collect();
    acked_revisions.len() - owned.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_lost_when_its_revision_is_shared_or_beyond_the_item() {
        assert_eq!(lost_writes(&[2, 3, 4, 5], 1, 5), 0);
        // Two writers both acknowledged at revision 3: one of the changes was overwritten.
        assert_eq!(lost_writes(&[2, 3, 3, 4], 1, 4), 1);
        assert_eq!(lost_writes(&[2, 3, 9], 1, 3), 1);
        assert_eq!(lost_writes(&[], 1, 1), 0);
    }

    #[test]
    fn the_run_fails_on_what_the_issue_names() {
        let ok = PhaseStats {
            requests: 10,
            ok: 10,
            ..PhaseStats::default()
        };
        let outcome = |phases: Vec<PhaseStats>, kills: u64, lost: usize| Outcome {
            phases,
            seconds: vec![],
            notes: vec![],
            kills,
            race: RaceOutcome {
                acknowledged: 4,
                lost,
                ..RaceOutcome::default()
            },
            corrupt_version: "v-bad".into(),
            corrupt_rejected: Some("checksum_mismatch".into()),
            total_secs: 0.0,
        };
        assert!(outcome(vec![ok.clone()], 0, 0).failures().is_empty());
        let five = PhaseStats {
            server_errors: 1,
            ..ok.clone()
        };
        assert_eq!(outcome(vec![five], 0, 0).failures().len(), 1);
        assert_eq!(outcome(vec![ok.clone()], 0, 1).failures().len(), 1);
        let killed = PhaseStats {
            killed_in_flight: 2,
            ..ok.clone()
        };
        assert!(outcome(vec![killed.clone()], 2, 0).failures().is_empty());
        assert_eq!(outcome(vec![killed], 1, 0).failures().len(), 1);
        let mut bad = ok.clone();
        bad.versions.insert("v-bad".into());
        assert_eq!(outcome(vec![bad], 0, 0).failures().len(), 1);
        let idle = PhaseStats::default();
        assert_eq!(outcome(vec![ok, idle], 0, 0).failures().len(), 1);
    }

    #[test]
    fn versioned_copies_rename_and_corrupt() {
        let dir = std::env::temp_dir().join(format!("chaos-copy-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(MANIFEST_FILE), br#"{"version":"v1","name":"m"}"#).unwrap();
        std::fs::create_dir_all(src.join("models")).unwrap();
        std::fs::write(src.join("models/a.txt"), b"abcd").unwrap();
        let good = versioned_copy(&src, &dir, "v2", false).unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(good.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(
            (m["version"].as_str(), m["name"].as_str()),
            (Some("v2"), Some("m"))
        );
        assert_eq!(std::fs::read(good.join("models/a.txt")).unwrap(), b"abcd");
        let bad = versioned_copy(&src, &dir, "v3", true).unwrap();
        assert_eq!(std::fs::read(bad.join("models/a.txt")).unwrap(), b"abbd");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
