//! The running stack: the function processes (each under its Runtime API emulator), the
//! router at API Gateway's paths, the S3 watcher, the Lambda Invoke API and the schedule
//! tick, started on stores that are already up, and stopped together.

use super::functions::{FunctionSpec, LocalFunction};
use super::provision::{publish, seed_features};
use super::setup::{self, BUCKET, CACHE_TABLE, MODELS_PREFIX};
use super::wiring::{function_env, Wiring};
use super::{invoke_api, router, say, watcher, UpArgs};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use warmstart_devkit::Stores;

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
    let recommend = spec(
        "recommend",
        10,
        128,
        &model_env(&reco_name, &reco_version, &[]),
    );
    let recommend = process(recommend, args.json_logs).await?;
    let cache = [
        ("VALUATION_CACHE_TABLE", CACHE_TABLE),
        ("CACHE_TTL_SECS", "3600"),
    ];
    let valuation = spec(
        "valuation",
        10,
        256,
        &model_env(&fm_name, &fm_version, &cache),
    );
    let valuation = process(valuation, args.json_logs).await?;
    let predict = spec("predict", 10, 256, &[("MODEL_MEMORY_MB", "64")]);
    let predict = process(predict, args.json_logs).await?;
    let reload = process(spec("reload", 60, 512, &[]), args.json_logs).await?;
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

/// The environment of a function serving one model (`MODEL_VERSION`: what it serves while
/// the registry has no active version of it), then `extra`.
fn model_env<'a>(
    model: &'a str,
    version: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("MODEL_NAME", model),
        ("MODEL_VERSION", version),
        ("STORE_DEADLINE_MS", "150"),
    ];
    env.extend_from_slice(extra);
    env
}

/// A function's emulator and (not yet started) process.
async fn process(spec: FunctionSpec, json_logs: bool) -> Result<Arc<LocalFunction>> {
    Ok(Arc::new(LocalFunction::new(spec, json_logs).await?))
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
