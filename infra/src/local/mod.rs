//! `warmstart local up`: the whole service on one machine, no AWS account, no Docker — what
//! `make run` starts.
//!
//! 1. [`Stores`] (warmstart-devkit): DynamoDB (dynoxide, SQLite) and S3 (s3s-fs, a directory)
//!    embedded in this process on 127.0.0.1, data under the data directory (default
//!    `.local/`), kept across restarts;
//! 2. [`setup`]: the bucket and the three tables of template.yaml (same keys, TTL on the cache);
//! 3. small synthetic models trained once and cached under `<data>/bundles/` (the recommender,
//!    the fair multiple and the two [`merchant_models`]), features seeded
//!    once (customers incl. `15889`, companies incl. `600519.SH`), bundles published, registry
//!    `active` items written when the registry has none;
//! 4. [`functions`]: the `recommend`, `valuation` and `reload` binaries, each under its own
//!    Lambda Runtime API emulator, behind [`router`], an HTTP server at API Gateway's paths;
//! 5. [`watcher`]: new `manifest.json` uploads become S3 notifications to `reload`;
//! 6. [`invoke_api`]: the Lambda Invoke API (`aws lambda invoke --endpoint-url`, `warmstart
//!    local invoke`) on `--lambda-port`, and the every-minute `Scheduled Event` to `reload`
//!    that advances staged rollouts;
//! 7. Ctrl-C (SIGINT) or SIGTERM stops all of it.

pub mod chaos;
pub mod functions;
pub mod invoke_api;
pub mod merchant_models;
pub mod router;
pub mod setup;
pub mod watcher;

use crate::data::{seed, synthetic};
use crate::train::{fair_multiple, recommender};
use anyhow::{bail, Context, Result};
use functions::{FunctionSpec, LocalFunction};
use setup::{BUCKET, CACHE_TABLE, FEATURES_TABLE, MODELS_PREFIX, REGISTRY_TABLE};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmstart_core::aws::valuation_store::DynamoCompanyStore;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::{Manifest, MANIFEST_FILE};
use warmstart_devkit::aws::{ACCESS_KEY, SECRET_KEY};
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

/// The bundle to serve: given, cached, or trained now into the cache.
pub(crate) fn bundle(
    given: Option<&Path>,
    cache: &Path,
    what: &str,
    no_train: bool,
    train: impl FnOnce(&Path) -> Result<Manifest>,
) -> Result<PathBuf> {
    if let Some(dir) = given {
        if !dir.join(MANIFEST_FILE).is_file() {
            bail!("{} holds no {MANIFEST_FILE}", dir.display());
        }
        return Ok(dir.to_path_buf());
    }
    if cache.join(MANIFEST_FILE).is_file() {
        say(format!("{what}: cached bundle {}", cache.display()));
        return Ok(cache.to_path_buf());
    }
    if no_train {
        bail!(
            "no {what} bundle in {} and --no-train was given",
            cache.display()
        );
    }
    say(format!(
        "{what}: training a small model (once; cached in {})",
        cache.display()
    ));
    let t = Instant::now();
    train(cache).with_context(|| format!("training the {what} model"))?;
    say(format!(
        "{what}: trained in {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    Ok(cache.to_path_buf())
}

/// A recommender on the stack's synthetic customers (`--customers`, `--seed`, 6 months) with
/// `trees` × `leaves` and training `seed`: the stack's own model, and chaos's other versions.
pub(crate) fn train_recommender(
    args: &UpArgs,
    out: &Path,
    trees: u32,
    leaves: u32,
    seed: u64,
) -> Result<warmstart_core::Manifest> {
    recommender::run(&recommender::Options {
        source: recommender::DataSource::Synthetic(synthetic::SyntheticConfig {
            customers: args.customers,
            months: 6,
            seed: args.seed,
        }),
        out: out.to_path_buf(),
        trees,
        leaves,
        learning_rate: 0.1,
        seed,
        version: None,
        rollout: None,
        force: true,
    })
}

/// The bundles to serve (given, cached under `<data>/bundles/`, or trained now): the
/// recommender, the fair multiple and the generic merchant models.
pub fn prepare_bundles(args: &UpArgs) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let bundles = args.data_dir.join("bundles");
    let reco = bundle(
        args.recommender_bundle.as_deref(),
        &bundles.join("product-recommender"),
        "recommender",
        args.no_train,
        |out| train_recommender(args, out, 50, 31, args.seed),
    )?;
    let fm = bundle(
        args.fair_multiple_bundle.as_deref(),
        &bundles.join("fair-multiple"),
        "fair-multiple",
        args.no_train,
        |out| {
            fair_multiple::run(&fair_multiple::Options {
                companies: args.companies,
                out: out.to_path_buf(),
                seed: args.seed,
                trees: 200,
                leaves: 15,
                learning_rate: 0.05,
                version: None,
                rollout: None,
                force: true,
            })
        },
    )?;
    let generic = merchant_models::bundles(args, &bundles)?;
    Ok((reco, fm, generic))
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

fn bin_dir(args: &UpArgs) -> Result<PathBuf> {
    match &args.bin_dir {
        Some(d) => Ok(d.clone()),
        None => Ok(std::env::current_exe()
            .context("locating the warmstart executable")?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()),
    }
}

/// Where functions reach S3 and DynamoDB: the stores themselves, or (`warmstart local
/// chaos`) fault proxies in front of them.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub s3: String,
    pub dynamodb: String,
}

impl Endpoints {
    pub fn of(stores: &Stores) -> Endpoints {
        Endpoints {
            s3: stores.s3_endpoint.clone(),
            dynamodb: stores.dynamodb_endpoint.clone(),
        }
    }
}

/// How the functions are wired.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// recommend, valuation and predict.
    pub serving: Endpoints,
    pub reload: Endpoints,
    /// `REGISTRY_TTL_SECS` of the serving functions.
    pub registry_ttl_secs: u32,
    /// The functions' `RUST_LOG` (default: the caller's, else `info`).
    pub rust_log: Option<String>,
}

fn function_env(
    endpoints: &Endpoints,
    json_logs: bool,
    registry_ttl: &str,
    rust_log: Option<&str>,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL_S3", endpoints.s3.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoints.dynamodb.as_str()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", setup::REGION),
        ("AWS_DEFAULT_REGION", setup::REGION),
        // Globals of template.yaml.
        ("MODEL_BUCKET", BUCKET),
        ("MODEL_PREFIX", MODELS_PREFIX),
        ("REGISTRY_TABLE", REGISTRY_TABLE),
        ("FEATURES_TABLE", FEATURES_TABLE),
        ("METRICS_NAMESPACE", "WarmstartLocal"),
        ("RUST_LOG", "info"),
        ("REGISTRY_TTL_SECS", registry_ttl),
        (
            "AWS_LAMBDA_LOG_FORMAT",
            if json_logs { "JSON" } else { "Text" },
        ),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Let the caller's RUST_LOG through (e.g. RUST_LOG=debug make run).
    if let Ok(level) = std::env::var("RUST_LOG") {
        env.push(("RUST_LOG".into(), level));
    }
    if let Some(level) = rust_log {
        env.push(("RUST_LOG".into(), level.to_string()));
    }
    env
}

async fn seed_features(args: &UpArgs, clients: &setup::Clients) -> Result<()> {
    let db = &clients.dynamodb;
    let customer_key = format!("customer#{}", SAMPLE_CUSTOMERS[0]);
    let company_key = format!("company#{SAMPLE_COMPANY}");
    if !args.reseed
        && setup::has_item(db, FEATURES_TABLE, &customer_key).await?
        && setup::has_item(db, FEATURES_TABLE, &company_key).await?
    {
        say(format!(
            "features: already in {} (kept in {}; --reseed writes them again)",
            FEATURES_TABLE,
            args.data_dir.display()
        ));
        return Ok(());
    }
    let t = Instant::now();
    let (mut customers, _) = seed::customers(&seed::CustomerSource::Synthetic {
        customers: args.customers,
        months: 6,
        seed: args.seed,
    })?;
    // The sample events and the README ask for these ids: give them to the first customers.
    for (c, id) in customers.iter_mut().zip(SAMPLE_CUSTOMERS) {
        c.customer_id = id.to_string();
    }
    let store = DynamoFeatureStore::new(db.clone(), FEATURES_TABLE);
    let report = seed::write_customers(&store, &customers).await?;
    let companies = seed::companies(args.companies, args.seed, &seed::today());
    let cstore = DynamoCompanyStore::new(db.clone(), FEATURES_TABLE);
    let creport = seed::write_companies(&cstore, &companies).await?;
    say(format!(
        "features: {} customers, {} companies, {} industries written in {:.1} s",
        report.written,
        creport.companies,
        creport.industries,
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Publishes a bundle and makes it active when the registry has nothing for its model.
async fn publish(clients: &setup::Clients, dir: &Path) -> Result<(String, String)> {
    let key = warmstart_core::aws::publish_bundle(&clients.s3, BUCKET, MODELS_PREFIX, dir)
        .await
        .with_context(|| format!("publishing {}", dir.display()))?;
    let manifest = Manifest::from_json(&std::fs::read(dir.join(MANIFEST_FILE))?)?;
    let prefix = key.trim_end_matches(MANIFEST_FILE).to_string();
    let wrote = setup::activate_if_unset(
        &clients.dynamodb,
        &manifest.name,
        &manifest.version,
        &prefix,
    )
    .await?;
    say(format!(
        "models: s3://{BUCKET}/{key}{}",
        if wrote { " (now active)" } else { "" }
    ));
    Ok((manifest.name, manifest.version))
}

fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
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

/// What runs once the stack is up.
pub struct Stack {
    /// recommend, valuation, predict, reload.
    pub functions: Vec<Arc<LocalFunction>>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    pub stop: tokio::sync::watch::Sender<bool>,
    /// `http://127.0.0.1:<port>` of the router.
    pub api: String,
    /// `http://127.0.0.1:<port>` of the Lambda Invoke API.
    pub lambda_api: String,
    /// `Function (init … ms)` per function.
    pub inits: Vec<String>,
}

impl Stack {
    pub fn function(&self, name: &str) -> Option<&Arc<LocalFunction>> {
        self.functions.iter().find(|f| f.name() == name)
    }

    /// Stops the router, the watcher and the functions.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for f in &self.functions {
            f.stop().await;
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
    }
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
    print_banner(
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

/// Tables, features, published bundles, the functions (wired per `wiring`), the router on
/// `args.port` and the S3 watcher.
pub async fn start_stack(
    args: &UpArgs,
    stores: &Stores,
    wiring: &Wiring,
    reco: &Path,
    fm: &Path,
    generic: &[PathBuf],
) -> Result<Stack> {
    let clients = setup::Clients::new(&stores.s3_endpoint, &stores.dynamodb_endpoint).await;
    setup::ensure_bucket(&clients.s3, BUCKET).await?;
    let created = setup::ensure_tables(&clients.dynamodb).await?;
    if !created.is_empty() {
        say(format!("tables created: {}", created.join(", ")));
    }
    seed_features(args, &clients).await?;
    let (reco_name, reco_version) = publish(&clients, reco).await?;
    let (fm_name, fm_version) = publish(&clients, fm).await?;
    for dir in generic {
        publish(&clients, dir).await?;
    }

    // Functions.
    let bins = bin_dir(args)?;
    for f in ["recommend", "valuation", "predict", "reload"] {
        if !bins.join(f).is_file() {
            bail!(
                "{} is missing: build the functions beside this executable first (`make run` \
                 does: cargo build --profile local -p recommend -p valuation -p predict -p \
                 reload) or pass --bin-dir",
                bins.join(f).display()
            );
        }
    }
    let ttl = wiring.registry_ttl_secs.to_string();
    let spec =
        |name: &'static str, timeout: u64, memory_mb: u32, extra: &[(&str, &str)]| FunctionSpec {
            name,
            bin: bins.join(name),
            env: function_env(
                if name == "reload" {
                    &wiring.reload
                } else {
                    &wiring.serving
                },
                args.json_logs,
                &ttl,
                wiring.rust_log.as_deref(),
                extra,
            ),
            timeout: Duration::from_secs(timeout),
            memory_mb,
        };
    // Sizes and timeouts: template.yaml's parameter defaults.
    let recommend = Arc::new(
        LocalFunction::new(
            spec(
                "recommend",
                10,
                128,
                &[
                    ("MODEL_NAME", reco_name.as_str()),
                    ("MODEL_VERSION", reco_version.as_str()),
                    ("STORE_DEADLINE_MS", "150"),
                ],
            ),
            args.json_logs,
        )
        .await?,
    );
    let valuation = Arc::new(
        LocalFunction::new(
            spec(
                "valuation",
                10,
                256,
                &[
                    ("MODEL_NAME", fm_name.as_str()),
                    ("MODEL_VERSION", fm_version.as_str()),
                    ("STORE_DEADLINE_MS", "150"),
                    ("VALUATION_CACHE_TABLE", CACHE_TABLE),
                    ("CACHE_TTL_SECS", "3600"),
                ],
            ),
            args.json_logs,
        )
        .await?,
    );
    let predict = Arc::new(
        LocalFunction::new(
            spec("predict", 10, 256, &[("MODEL_MEMORY_MB", "64")]),
            args.json_logs,
        )
        .await?,
    );
    let reload = Arc::new(LocalFunction::new(spec("reload", 60, 512, &[]), args.json_logs).await?);
    let mut inits = Vec::new();
    for f in [&recommend, &valuation, &predict] {
        let init = f
            .start(Duration::from_secs(30))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        inits.push(format!(
            "{} (init {:.0} ms)",
            f.name(),
            init.as_secs_f64() * 1e3
        ));
    }
    match reload.start(Duration::from_secs(30)).await {
        Ok(init) => inits.push(format!("reload (init {:.0} ms)", init.as_secs_f64() * 1e3)),
        Err(e) => {
            say(format!(
                "warning: {e}; manifests will still be delivered to it (a new process per event)"
            ));
            inits.push("reload (not running: see the warning above)".into());
        }
    }

    // Router and S3 events.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{}: is another `warmstart local up` running? \
                 Choose another port with --port (or WARMSTART_PORT)",
                args.port
            )
        })?;
    let api = format!("http://{}", listener.local_addr()?);
    let backends = Arc::new(router::Backends(vec![
        recommend.clone(),
        valuation.clone(),
        predict.clone(),
    ]));
    let mut tasks = vec![tokio::spawn(router::serve(
        listener,
        backends,
        stopped.clone(),
    ))];
    let baseline = watcher::list_manifests(&clients.s3, BUCKET, MODELS_PREFIX)
        .await
        .map_err(|e| anyhow::anyhow!("listing the bucket: {e}"))?
        .into_iter()
        .map(|o| (o.key, o.etag))
        .collect();
    tasks.push(tokio::spawn(watcher::watch_manifests(
        clients.s3.clone(),
        BUCKET.to_string(),
        MODELS_PREFIX.to_string(),
        reload.clone(),
        Duration::from_secs_f64(args.poll_secs.max(0.05)),
        baseline,
        stopped.clone(),
    )));
    let lambda_listener = tokio::net::TcpListener::bind(("127.0.0.1", args.lambda_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on 127.0.0.1:{} for the Lambda Invoke API: choose another port \
                 with --lambda-port (or WARMSTART_LAMBDA_PORT)",
                args.lambda_port
            )
        })?;
    let lambda_api = format!("http://{}", lambda_listener.local_addr()?);
    tasks.push(tokio::spawn(invoke_api::serve(
        lambda_listener,
        Arc::new(invoke_api::Functions(vec![
            recommend.clone(),
            valuation.clone(),
            predict.clone(),
            reload.clone(),
        ])),
        stopped.clone(),
    )));
    if args.tick_secs > 0.0 {
        tasks.push(tokio::spawn(invoke_api::schedule_ticks(
            reload.clone(),
            Duration::from_secs_f64(args.tick_secs.max(0.05)),
            stopped,
        )));
    }

    Ok(Stack {
        functions: vec![recommend, valuation, predict, reload],
        tasks,
        stop,
        api,
        lambda_api,
        inits,
    })
}

fn print_banner(
    args: &UpArgs,
    stores: &Stores,
    api: &str,
    lambda_api: &str,
    inits: &[String],
    reco: &Path,
    started: Instant,
) {
    let exe = std::env::current_exe()
        .map(|p| display_path(&p))
        .unwrap_or_else(|_| "warmstart".into());
    let data = args.data_dir.display();
    let json = "-H 'content-type: application/json'";
    println!(
        "\nWarmstart is running locally (ready in {:.1} s). Ctrl-C stops everything.\n\
         \n  API (API Gateway routes)  {api}\
         \n  console (web page)        {api}/  (recommend, valuation, models in a browser)\
         \n  S3                        {s3}  bucket {BUCKET}  (objects in {data}/s3)\
         \n  DynamoDB                  {ddb}  tables {FEATURES_TABLE}, {REGISTRY_TABLE}, {CACHE_TABLE}  ({data}/dynamodb.sqlite)\
         \n  functions                 {fns}\
         \n  Lambda Invoke API         {lambda_api}  (aws lambda invoke --endpoint-url {lambda_api}; {exe} local invoke <function> <event.json>)\
         \n  rollout tick              a Scheduled Event to reload every {tick}\
         \n\nTry:\
         \n  curl -s {api}/health\
         \n  curl -s {api}/models\
         \n  curl -s -X POST {api}/recommend {json} -d '{{\"customer_id\":\"15889\",\"k\":3}}'\
         \n  curl -s -X POST {api}/recommend/batch {json} -d '{{\"customer_ids\":[\"15889\",\"1050935\",\"1050824\"],\"k\":3}}'\
         \n  curl -s -X POST {api}/valuation {json} -d '{{\"ts_code\":\"600519.SH\",\"forecast_years\":5}}'\
         \n  curl -s {api}/models/compliance-risk\
         \n  curl -s -X POST {api}/models/compliance-risk/predict {json} -d '{{\"rows\":[{{\"category\":\"travel\",\"region\":\"west\",\"account_age_months\":4,\"chargebacks\":3,\"refund_rate\":0.12,\"kyc_verified\":0}}]}}'\
         \n\nPublish a new model version (the S3 event goes to reload, as in AWS):\
         \n  {exe} train recommender --synthetic {n} --trees 30 --seed 7 --out /tmp/reco-v2\
         \n  {exe} publish /tmp/reco-v2 --bucket {BUCKET} --endpoint-url {s3}\
         \n\nThe serving bundle: {exe} inspect {reco}\
         \nFunction logs follow, prefixed with the function's name.\n",
        started.elapsed().as_secs_f64(),
        s3 = stores.s3_endpoint,
        ddb = stores.dynamodb_endpoint,
        fns = inits.join(", "),
        n = args.customers,
        reco = display_path(reco),
        tick = if args.tick_secs > 0.0 {
            format!("{} s", args.tick_secs)
        } else {
            "— (off: --tick-secs 0)".into()
        },
    );
}
