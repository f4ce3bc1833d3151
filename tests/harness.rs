//! Test harness shared by the integration tests, the end-to-end tests of the functions and the
//! benchmarks:
//!
//! - [`Emulator`]: S3 + DynamoDB with a bucket, `Features` and `ModelRegistry` tables (unique
//!   names) and SDK clients pointed at them; by default the embedded emulators of
//!   `warmstart-devkit` (s3s-fs + dynoxide, in this process, ephemeral), or [`Moto`] for the
//!   tests that check the AWS layer against a second, independent implementation of the wire
//!   protocol.
//! - [`synthetic_recommender_bundle`]: a valid 24-model recommender bundle written without
//!   lightgbm (hand-made LightGBM text models, golden rows scored by the native scorer).
//! - [`RuntimeApi`]: a Lambda Runtime API emulator (`/runtime/invocation/next`, `.../response`,
//!   `.../error`, `/runtime/init/error`) to run a function binary through its real runtime loop,
//!   [`FunctionProcess`] to spawn one against it (both re-exported from `warmstart-devkit`),
//!   and [`Running`], the two together with the calls a test makes; every API Gateway answer
//!   a [`Running`] function gives is checked against docs/openapi.yaml ([`check_answer`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use warmstart_core::aws::sdk::{config as aws_config, dynamodb, s3};

mod contract;
mod synthetic;
pub use contract::check_answer;
pub use synthetic::*;

pub const MODEL_NAME: &str = warmstart_devkit::bundles::RECOMMENDER_NAME;
/// Region of the emulators; S3's encoding of keys in event notifications.
pub use warmstart_devkit::aws::{notification_key, REGION};

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this machine's test runs: `<tag>-<pid>-<n>`, lower-case.
pub fn unique_name(tag: &str) -> String {
    format!(
        "{}-{}-{}",
        tag.to_ascii_lowercase(),
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Seconds since the Unix epoch: the clock of cache entries' `expires_at` and `created_at`.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A free TCP port on 127.0.0.1 (bound, then released for the caller to use).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn newest_source(dir: &Path, newest: &mut std::time::SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source(&p, newest);
        } else if p
            .extension()
            .is_some_and(|x| x == "rs" || x == "toml" || x == "lock")
        {
            if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                *newest = (*newest).max(t);
            }
        }
    }
}

/// Another package's binary in the target directory of `beside` (a binary of the calling
/// test, e.g. `env!("CARGO_BIN_EXE_reload")`), refused when it is missing or older than any
/// of its `sources` (paths relative to the workspace root), so a test never runs old code.
/// `cargo test --workspace` builds every binary first; run alone, a test needs
/// `cargo build -p <package>` beforehand, which the panic says.
pub fn workspace_binary(beside: &Path, bin: &str, package: &str, sources: &[&str]) -> PathBuf {
    let path = beside.with_file_name(bin);
    let hint = format!(
        "run `cargo build -p {package}` first (`cargo test --workspace` builds every binary)"
    );
    let built = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {hint}", path.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for s in sources {
        newest_source(&root.join(s), &mut newest);
    }
    assert!(
        built >= newest,
        "{} is older than its sources: {hint}",
        path.display()
    );
    path
}

/// The `warmstart` CLI binary beside `beside` (see [`workspace_binary`]).
pub fn cli_binary(beside: &Path) -> PathBuf {
    workspace_binary(
        beside,
        "warmstart",
        "warmstart-cli",
        &[
            "infra/src",
            "infra/Cargo.toml",
            "shared/src",
            "shared/Cargo.toml",
        ],
    )
}

fn find_on_path(exe: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(exe))
            .find(|p| p.is_file())
    })
}

// ------------------------------------------------------------------------------- emulators

/// A running `moto_server`. It is started under a small Python guard that stops it when our
/// end of its stdin closes, so it goes away on drop and also if the test process dies.
pub struct Moto {
    child: Option<std::process::Child>,
    pub port: u16,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers.
    /// Panics (failing the test) with an install hint when `moto_server` is missing.
    pub fn start() -> Moto {
        let server = find_on_path("moto_server").unwrap_or_else(|| {
            panic!(
                "moto_server is not on PATH. These tests need the S3/DynamoDB emulator: \
                 `pip install 'moto[server]==5.2.5'` (see README, Testing)"
            )
        });
        let python = find_on_path("python3").expect("python3 is needed to run moto_server");
        let port = free_port();
        let guard = "import subprocess, sys\n\
                     p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n\
                     sys.stdin.read()\n\
                     p.terminate()\n\
                     try:\n    p.wait(5)\n\
                     except Exception:\n    p.kill()\n";
        let child = std::process::Command::new(python)
            .arg("-c")
            .arg(guard)
            .arg(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
        let mut moto = Moto {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto.answers() {
                return moto;
            }
            if let Some(status) = moto
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("moto_server exited during start-up: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = format!(
            "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut buf = [0u8; 12];
        s.write_all(req.as_bytes()).is_ok()
            && s.read_exact(&mut buf).is_ok()
            && buf.starts_with(b"HTTP/1.")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (to test behaviour when the store disappears).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SDK configuration for an emulator endpoint with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    warmstart_devkit::aws::sdk_config(Some(endpoint)).await
}

/// The S3 + DynamoDB implementation behind an [`Emulator`].
enum Backend {
    Embedded(Stores),
    Moto(Moto),
}

/// S3 + DynamoDB with a bucket, a Features and a ModelRegistry table, all uniquely named.
pub struct Emulator {
    backend: Backend,
    pub s3_endpoint: String,
    pub dynamodb_endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub s3: s3::Client,
    pub dynamo: dynamodb::Client,
    pub bucket: String,
    pub features_table: String,
    pub registry_table: String,
}

impl Emulator {
    /// On the embedded emulators (in this process, free ports, throw-away data).
    pub async fn start(tag: &str) -> Emulator {
        let stores = Stores::ephemeral()
            .await
            .expect("start the embedded S3 + DynamoDB");
        let (s3, dynamodb) = (stores.s3_endpoint.clone(), stores.dynamodb_endpoint.clone());
        Self::with(Backend::Embedded(stores), s3, dynamodb, tag).await
    }

    /// On a `moto_server` of its own: for checks against a second implementation of the wire
    /// protocol.
    pub async fn start_moto(tag: &str) -> Emulator {
        let moto = Moto::start();
        let endpoint = moto.endpoint();
        Self::with(Backend::Moto(moto), endpoint.clone(), endpoint, tag).await
    }

    async fn with(
        backend: Backend,
        s3_endpoint: String,
        dynamodb_endpoint: String,
        tag: &str,
    ) -> Emulator {
        let clients = warmstart_devkit::aws::Clients::new(&s3_endpoint, &dynamodb_endpoint).await;
        let bucket = unique_name(&format!("models-{tag}"));
        clients
            .s3
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        let features_table = unique_name(&format!("Features-{tag}"));
        let registry_table = unique_name(&format!("ModelRegistry-{tag}"));
        create_table(&clients.dynamodb, &features_table, "pk").await;
        create_table(&clients.dynamodb, &registry_table, "model").await;
        Emulator {
            backend,
            s3_endpoint,
            dynamodb_endpoint,
            sdk: clients.sdk,
            s3: clients.s3,
            dynamo: clients.dynamodb,
            bucket,
            features_table,
            registry_table,
        }
    }

    /// Stops S3 and DynamoDB now (to test behaviour when the stores disappear): afterwards
    /// their endpoints refuse connections.
    pub async fn stop(&mut self) {
        match &mut self.backend {
            Backend::Embedded(stores) => stores.stop().await,
            Backend::Moto(moto) => moto.stop(),
        }
    }

    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`, the `test` credentials and the
    /// region: what a process (a function, the CLI) needs to reach this emulator.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_S3", self.s3_endpoint.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb_endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", warmstart_devkit::aws::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", warmstart_devkit::aws::SECRET_KEY),
            ("AWS_REGION", REGION),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Environment of a function process pointed at this emulator (no MODEL_VERSION).
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env = self.aws_env();
        env.extend(
            [
                ("MODEL_BUCKET", self.bucket.as_str()),
                ("MODEL_PREFIX", "models/"),
                ("MODEL_NAME", MODEL_NAME),
                ("FEATURES_TABLE", &self.features_table),
                ("REGISTRY_TABLE", &self.registry_table),
                ("METRICS_NAMESPACE", "WarmstartTest"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env
    }

    /// Makes `version` the model's only version in the registry table (`active {version,
    /// prefix}`, no candidate or shadow) with the next revision, as every registry write does:
    /// serving containers skip an item whose revision they already serve.
    pub async fn set_active(&self, model: &str, version: &str) {
        use dynamodb::types::AttributeValue as A;
        let active = HashMap::from([
            ("version".to_string(), A::S(version.into())),
            (
                "prefix".to_string(),
                A::S(format!("models/{model}/{version}/")),
            ),
        ]);
        self.dynamo
            .update_item()
            .table_name(&self.registry_table)
            .key("model", A::S(model.into()))
            .update_expression("SET active = :a REMOVE candidate, shadow ADD revision :one")
            .expression_attribute_values(":a", A::M(active))
            .expression_attribute_values(":one", A::N("1".into()))
            .send()
            .await
            .expect("write registry item");
    }
}

pub async fn create_table(client: &dynamodb::Client, name: &str, key: &str) {
    warmstart_devkit::aws::create_table(client, name, key, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

// ------------------------------------------------- Lambda Runtime API and function processes

/// The Runtime API emulator and function processes live in `warmstart-devkit`, shared with
/// `warmstart local up`.
pub use warmstart_devkit::{FunctionProcess, Outcome, RuntimeApi, SpawnOptions, Stores};

/// How long a test waits for a function's init or one invocation before failing with the
/// function's output: generous, for a busy 2-core machine.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A function binary running under its own Runtime API emulator, as a test drives it. Every
/// failure panics with the function's output.
pub struct Running {
    /// Shared, so a background task can invoke too.
    pub api: std::sync::Arc<RuntimeApi>,
    pub process: FunctionProcess,
    /// The binary's name (`recommend`, `predict`, …): whose routes its answers are checked
    /// against.
    pub function: String,
}

impl Running {
    /// Spawns `bin` with `env` and waits until its init is done (its first `/next` poll).
    pub async fn start(bin: &Path, env: &[(String, String)]) -> Running {
        let api = RuntimeApi::start().await;
        let process = FunctionProcess::spawn(bin, &api, env);
        if let Err(e) = api.wait_ready(FUNCTION_TIMEOUT).await {
            panic!("{e}\nfunction output:\n{}", process.lines().join("\n"));
        }
        Running {
            api: std::sync::Arc::new(api),
            process,
            function: bin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Everything the function has printed so far.
    pub fn output(&self) -> String {
        self.process.lines().join("\n")
    }

    /// One invocation with `event`, answered or failed. An answer to an API Gateway event must
    /// conform to docs/openapi.yaml ([`check_answer`]).
    pub async fn outcome(&self, event: &[u8]) -> Outcome {
        let outcome = match self.api.invoke(event, FUNCTION_TIMEOUT).await {
            Ok(o) => o,
            Err(e) => panic!("{e}\nfunction output:\n{}", self.output()),
        };
        if let Outcome::Response(answer) = &outcome {
            check_answer(&self.function, event, answer);
        }
        outcome
    }

    /// The invocation's JSON answer (a direct invoke); panics on an invocation error.
    pub async fn call(&self, event: &serde_json::Value) -> serde_json::Value {
        match self
            .outcome(&serde_json::to_vec(event).expect("event"))
            .await
        {
            Outcome::Response(b) => serde_json::from_slice(&b).expect("JSON answer"),
            Outcome::Error(b) => panic!(
                "invocation error: {}\nfunction output:\n{}",
                String::from_utf8_lossy(&b),
                self.output()
            ),
        }
    }

    /// An API Gateway event's HTTP status and JSON body.
    pub async fn http(&self, event: &[u8]) -> (i64, serde_json::Value) {
        http_answer(&self.outcome(event).await)
    }

    /// Status, parsed body and the body's exact text.
    pub async fn http_raw(&self, event: &[u8]) -> (i64, serde_json::Value, String) {
        let outcome = self.outcome(event).await;
        let text = outcome.json()["body"]
            .as_str()
            .expect("text body")
            .to_string();
        let (status, body) = http_answer(&outcome);
        (status, body, text)
    }

    /// The JSON lines printed so far (logs and EMF documents), after a moment for the last
    /// ones to come through the pipe.
    pub async fn settled_json_lines(&self) -> Vec<serde_json::Value> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.process.json_lines()
    }

    /// The sample event `name` of `events/`, through [`Running::http`].
    pub async fn event(&self, name: &str) -> (i64, serde_json::Value) {
        self.http(&sample_event(name)).await
    }
}

/// The function's `init complete` log line among `lines`.
pub fn init_log(lines: &[serde_json::Value]) -> &serde_json::Value {
    lines
        .iter()
        .find(|l| l["message"] == "init complete")
        .unwrap_or_else(|| panic!("no init log in {lines:?}"))
}

/// Reads an API Gateway sample event from the repository's `events/` folder.
pub fn sample_event(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sample event `name` with its body replaced by `body` (not base64).
pub fn event_with_body(name: &str, body: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&sample_event(name)).expect("event JSON");
    v["body"] = serde_json::Value::String(body.to_string());
    v["isBase64Encoded"] = serde_json::Value::Bool(false);
    serde_json::to_vec(&v).expect("event")
}

/// An API Gateway v2 event for `method path` with `body` (not base64), built on the sample
/// event `apigw-get-models.json` (same headers and authorizer claims).
pub fn apigw_event(method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&sample_event("apigw-get-models.json")).expect("event JSON");
    v["routeKey"] = serde_json::Value::String("$default".into());
    v["rawPath"] = serde_json::Value::String(path.into());
    v["requestContext"]["http"]["method"] = serde_json::Value::String(method.into());
    v["requestContext"]["http"]["path"] = serde_json::Value::String(path.into());
    v["requestContext"]["routeKey"] = serde_json::Value::String("$default".into());
    if let Some(b) = body {
        v["body"] = serde_json::Value::String(b.into());
        v["headers"]["content-type"] = serde_json::Value::String("application/json".into());
    }
    serde_json::to_vec(&v).expect("event")
}

/// `events/s3-put-manifest.json`'s record, once per key, with `bucket`: the S3 notification
/// reload receives for those uploads.
pub fn s3_event<K: AsRef<str>>(bucket: &str, keys: &[K]) -> serde_json::Value {
    use serde_json::json;
    let fixture: serde_json::Value =
        serde_json::from_slice(&sample_event("s3-put-manifest.json")).expect("event JSON");
    let template = fixture["Records"][0].clone();
    let records: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            let mut r = template.clone();
            r["s3"]["bucket"]["name"] = json!(bucket);
            r["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
            r["s3"]["object"]["key"] = json!(warmstart_devkit::aws::notification_key(k.as_ref()));
            r
        })
        .collect();
    json!({ "Records": records })
}

/// The API Gateway response's status and JSON body.
pub fn http_answer(outcome: &Outcome) -> (i64, serde_json::Value) {
    let v = outcome.json();
    let status = v["statusCode"].as_i64().expect("statusCode");
    let body = v["body"].as_str().expect("text body");
    (status, serde_json::from_str(body).expect("JSON body"))
}

// ------------------------------------------------------------------------- bench tables

/// The `p` quantile (0..=1) of sorted values (nearest rank).
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// A sample of measurements, sorted, printed as one row of a markdown table.
pub struct Dist(pub Vec<f64>);

impl Dist {
    pub fn new(mut v: Vec<f64>) -> Dist {
        v.sort_by(f64::total_cmp);
        Dist(v)
    }
    /// `| what | n | p50 | p90 | p99 | max |`
    pub fn row(&self, what: &str) -> String {
        format!(
            "| {what} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            self.0.len(),
            pct(&self.0, 0.5),
            pct(&self.0, 0.9),
            pct(&self.0, 0.99),
            self.0.last().copied().unwrap_or(f64::NAN)
        )
    }
}
