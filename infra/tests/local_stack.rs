//! Smoke test of `warmstart local up` (the stack behind `make run`): start it on free ports
//! with small prebuilt bundles, call every route over HTTP, publish a new version and see
//! the S3 event reach `reload`, stop it with SIGTERM, start it again on the same data
//! directory (data kept) and stop it with SIGINT.
//!
//! Needs the function binaries next to `warmstart` (`cargo build --workspace --bins`, which
//! the test command runs first). Without them the test is skipped, unless `CI` is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warmstart_core::bundle::write_bundle;
use warmstart_core::valuation::synthetic::synthetic_fair_multiple_parts;
use warmstart_tests::synthetic_recommender_bundle;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_warmstart"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running `warmstart local up`.
struct Stack {
    child: Child,
    stderr: Arc<Mutex<String>>,
    api: String,
    s3: String,
    dynamodb: String,
    /// The Lambda Invoke API.
    lambda: String,
}

impl Stack {
    fn start(data: &Path, reco: &Path, fm: &Path) -> Stack {
        Stack::start_with(data, reco, fm, &[])
    }

    fn start_with(data: &Path, reco: &Path, fm: &Path, extra: &[&str]) -> Stack {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warmstart"))
            .args([
                "local",
                "up",
                "--port",
                "0",
                "--s3-port",
                "0",
                "--dynamodb-port",
                "0",
                "--lambda-port",
                "0",
            ])
            .args(extra)
            .args([
                "--customers",
                "60",
                "--companies",
                "40",
                "--no-train",
                "--poll-secs",
                "0.2",
            ])
            .arg("--data-dir")
            .arg(data)
            .arg("--bin-dir")
            .arg(bin_dir())
            .arg("--recommender-bundle")
            .arg(reco)
            .arg("--fair-multiple-bundle")
            .arg(fm)
            .env_remove("WARMSTART_PORT")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts warmstart local up");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut api, mut s3, mut dynamodb, mut lambda) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.is_none() || s3.is_none() || dynamodb.is_none() || lambda.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let url = line.split_whitespace().find(|w| w.starts_with("http://"));
                    if line.trim_start().starts_with("API") {
                        api = url.map(str::to_string);
                    } else if line.trim_start().starts_with("S3") {
                        s3 = url.map(str::to_string);
                    } else if line.trim_start().starts_with("DynamoDB") {
                        dynamodb = url.map(str::to_string);
                    } else if line.trim_start().starts_with("Lambda Invoke API") {
                        lambda = url.map(str::to_string);
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the stack did not come up within 60 s:\n{}",
                        stderr.lock().unwrap()
                    );
                }
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Stack {
            child,
            stderr,
            api: api.unwrap(),
            s3: s3.unwrap(),
            dynamodb: dynamodb.unwrap(),
            lambda: lambda.unwrap(),
        }
    }

    fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Sends `signal` and waits for a clean exit.
    fn stop(mut self, signal: &str) -> String {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit {status}:\n{}", self.logs());
                break;
            }
            assert!(Instant::now() < deadline, "did not stop:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
        self.logs()
    }
}

/// One HTTP/1.1 exchange (`Connection: close`): status and body.
fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: smoke\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase().contains("apigw-requestid"),
        "{head}"
    );
    let json =
        serde_json::from_str(payload).unwrap_or_else(|e| panic!("{method} {path}: {e}: {payload}"));
    (status, json)
}

#[test]
fn local_stack_serves_the_routes_delivers_manifests_and_keeps_its_data() {
    if ["recommend", "valuation", "predict", "reload"]
        .iter()
        .any(|b| !bin_dir().join(b).is_file())
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "function binaries missing in {}: cargo build --workspace --bins",
            bin_dir().display()
        );
        eprintln!("skipped: build the function binaries first (cargo build --workspace --bins)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reco = tmp.path().join("reco");
    synthetic_recommender_bundle(&reco, "2026-11-22T10-00-00Z-local01", 1);
    let fm = tmp.path().join("fm");
    let (manifest, files) = synthetic_fair_multiple_parts("2026-11-22T10-00-00Z-fmlocal", 1);
    write_bundle(&fm, manifest, &files).unwrap();
    let data = tmp.path().join("data");

    let stack = Stack::start(&data, &reco, &fm);
    let api = stack.api.clone();
    let (status, health) = http(&api, "GET", "/health", None);
    assert_eq!(status, 200, "{health}");
    let (status, models) = http(&api, "GET", "/models", None);
    assert_eq!(status, 200, "{models}");
    assert!(
        models.to_string().contains("2026-11-22T10-00-00Z-local01"),
        "{models}"
    );
    // Every registered model is predictable through the predict function, the recommender's
    // 24 products included.
    let (status, p) = http(
        &api,
        "POST",
        "/models/product-recommender/predict",
        Some(r#"{"rows":[{"age":35}]}"#),
    );
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["predictions"][0].as_array().unwrap().len(), 24, "{p}");
    let (status, d) = http(&api, "GET", "/models/fair-multiple", None);
    assert_eq!(status, 200, "{d}");
    assert!(!d["features"].as_array().unwrap().is_empty(), "{d}");
    let (status, r) = http(
        &api,
        "POST",
        "/recommend",
        Some(r#"{"customer_id":"15889","k":3}"#),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["recommendations"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(r["source"], "model", "15889 is seeded: {r}");
    let (status, b) = http(
        &api,
        "POST",
        "/recommend/batch",
        Some(r#"{"customer_ids":["15889","1050935","1050824"],"k":2}"#),
    );
    assert_eq!(status, 200, "{b}");
    let (status, bad) = http(&api, "POST", "/recommend", Some(r#"{"k":3}"#));
    assert_eq!(status, 400, "{bad}");
    let (status, v) = http(
        &api,
        "POST",
        "/valuation",
        Some(r#"{"ts_code":"600519.SH","forecast_years":5}"#),
    );
    assert_eq!(status, 200, "{v}");
    assert!(v["valuation_results"]["dcf_forecast_details"]["value_per_share"].is_number());
    let (status, nf) = http(&api, "GET", "/nope", None);
    assert_eq!((status, nf["message"].as_str()), (404, Some("Not Found")));

    // A new version published as a user would: the watcher sends reload the S3 event.
    let v2 = tmp.path().join("reco-v2");
    synthetic_recommender_bundle(&v2, "2026-11-22T11-00-00Z-local02", 2);
    let out = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args([
            "publish",
            v2.to_str().unwrap(),
            "--bucket",
            "warmstart-models-local",
        ])
        .args(["--endpoint-url", &stack.s3])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let event = "ObjectCreated:Put s3://warmstart-models-local/models/product-recommender/\
                 2026-11-22T11-00-00Z-local02/manifest.json -> reload";
    assert!(
        stack.wait_for_log(event, Duration::from_secs(20)),
        "{}",
        stack.logs()
    );
    assert!(
        stack.wait_for_log("[s3-events] reload ", Duration::from_secs(30)),
        "no answer from reload logged:\n{}",
        stack.logs()
    );
    let logs = stack.stop("TERM");
    assert!(logs.contains("features: 60 customers"), "{logs}");
    assert!(logs.contains("==> stopped"), "{logs}");
    assert!(
        TcpStream::connect(api.trim_start_matches("http://")).is_err(),
        "router still listening"
    );

    // Restart on the same data: nothing is seeded again; the customer is still there.
    let stack = Stack::start(&data, &reco, &fm);
    let (status, again) = http(
        &stack.api,
        "POST",
        "/recommend",
        Some(r#"{"customer_id":"15889","k":3}"#),
    );
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["source"], "model", "{again}");
    assert_eq!(again["recommendations"].as_array().unwrap().len(), 3);
    let logs = stack.stop("INT");
    assert!(logs.contains("features: already in Features"), "{logs}");
}

/// `POST /2015-03-31/functions/<function>/invocations` with `event`: status, the
/// `x-amzn-errortype` header, the body as JSON.
fn lambda_invoke(base: &str, function: &str, event: &str) -> (u16, String, serde_json::Value) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{event}",
        event.len()
    )
    .unwrap();
    let mut raw = String::new();
    conn.read_to_string(&mut raw).unwrap();
    let (head, payload) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let error_type = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-amzn-errortype")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    let json = serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {payload}"));
    (status, error_type, json)
}

fn event_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name)
}

/// The registry item of `model` through reload's admin `show`, over the Invoke API.
fn registry_show(stack: &Stack, model: &str) -> serde_json::Value {
    let event = format!(r#"{{"action":"show","model":"{model}"}}"#);
    let (status, _, v) = lambda_invoke(&stack.lambda, "reload", &event);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    v["item"].clone()
}

/// Publishes a staged recommender version with the CLI (the watcher delivers it to reload)
/// and waits until it is the candidate.
fn publish_staged(stack: &Stack, dir: &Path, version: &str, variant: u64, rollout: &str) {
    let (mut manifest, files) = warmstart_tests::synthetic_recommender_parts(
        version,
        variant,
        warmstart_tests::TreeShape::SMALL,
    );
    manifest.rollout = Some(rollout.parse().unwrap());
    write_bundle(dir, manifest, &files).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args([
            "publish",
            dir.to_str().unwrap(),
            "--bucket",
            "warmstart-models-local",
        ])
        .args(["--endpoint-url", &stack.s3])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while registry_show(stack, "product-recommender")["candidate"]["version"] != version {
        assert!(
            Instant::now() < deadline,
            "{version} never became the candidate:\n{}",
            stack.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Lambda Invoke API reaches every function (by short name, process name or logical id),
/// refuses unknown ones as Lambda does, `warmstart local invoke` sends the alarm fixture that
/// clears a canary, and the stack's own schedule tick promotes a staged canary whose bake is
/// over.
#[test]
fn the_lambda_invoke_api_sends_any_event_and_the_schedule_advances_rollouts() {
    if ["recommend", "valuation", "predict", "reload"]
        .iter()
        .any(|b| !bin_dir().join(b).is_file())
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "function binaries missing in {}: cargo build --workspace --bins",
            bin_dir().display()
        );
        eprintln!("skipped: build the function binaries first (cargo build --workspace --bins)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reco = tmp.path().join("reco");
    synthetic_recommender_bundle(&reco, "2026-11-22T10-00-00Z-local01", 1);
    let fm = tmp.path().join("fm");
    let (manifest, files) = synthetic_fair_multiple_parts("2026-11-22T10-00-00Z-fmlocal", 1);
    write_bundle(&fm, manifest, &files).unwrap();
    let stack = Stack::start_with(
        &tmp.path().join("data"),
        &reco,
        &fm,
        &["--tick-secs", "0.3"],
    );

    // Any function, as sam local start-lambda names them.
    for name in ["reload", "warmstart-reload", "ReloadFunction"] {
        let (status, _, v) = lambda_invoke(&stack.lambda, name, r#"{"action":"list"}"#);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["ok"], true, "{v}");
    }
    let health = std::fs::read_to_string(event_file("apigw-get-health.json")).unwrap();
    let (status, _, v) = lambda_invoke(&stack.lambda, "recommend", &health);
    assert_eq!((status, v["statusCode"].as_i64()), (200, Some(200)), "{v}");
    let (status, error_type, v) = lambda_invoke(&stack.lambda, "nope", "{}");
    assert_eq!(
        (status, error_type.as_str()),
        (404, "ResourceNotFoundException"),
        "{v}"
    );

    // A canary, and its alarm through `warmstart local invoke`: the candidate is gone.
    publish_staged(
        &stack,
        &tmp.path().join("v2"),
        "2026-11-22T11-00-00Z-local02",
        2,
        "canary:50,bake:30",
    );
    let invoke = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_warmstart"))
            .args(["local", "invoke"])
            .args(args)
            .args(["--lambda-port", stack.lambda.rsplit(':').next().unwrap()])
            .output()
            .unwrap()
    };
    let alarm = event_file("cloudwatch-alarm-canary.json");
    let out = invoke(&["reload", alarm.to_str().unwrap(), "--time", "now"]);
    let answer = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{answer}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(answer.contains("candidate_cleared"), "{answer}");
    let item = registry_show(&stack, "product-recommender");
    assert!(item["candidate"].is_null(), "{item}");
    assert_eq!(
        item["history"].as_array().unwrap().last().unwrap()["by"],
        "auto-rollback"
    );
    // An unknown function through the CLI fails with Lambda's error.
    let out = invoke(&["nope", alarm.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
    // OK releases the hold the ALARM recorded.
    let mut ok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&alarm).unwrap()).unwrap();
    ok["detail"]["state"]["value"] = "OK".into();
    let ok_file = tmp.path().join("ok.json");
    std::fs::write(&ok_file, ok.to_string()).unwrap();
    let out = invoke(&["reload", ok_file.to_str().unwrap(), "--time", "now"]);
    assert!(out.status.success());
    assert!(registry_show(&stack, "product-recommender")["alarms"].is_null());

    // A staged canary whose bake is over (its clock moved two minutes back in the table):
    // the stack's own schedule tick promotes it.
    let v3 = "2026-11-22T12-00-00Z-local03";
    publish_staged(&stack, &tmp.path().join("v3"), v3, 3, "canary:50,bake:1");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let conf = warmstart_tests::sdk_config(&stack.dynamodb).await;
        let table = warmstart_core::aws::RegistryTable::new(
            warmstart_core::aws::dynamodb_client(&conf),
            "ModelRegistry",
        );
        table
            .update("product-recommender", |cur| {
                let mut item = cur.cloned().unwrap();
                let r = item.rollout.as_mut().unwrap();
                let t = time::OffsetDateTime::parse(
                    &r.stepped_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                r.stepped_at =
                    warmstart_core::registry::rollout::format_time(t - time::Duration::minutes(2));
                item.revision += 1;
                Ok(warmstart_core::registry::Applied::Changed {
                    item: Box::new(item),
                    summary: "backdated".into(),
                })
            })
            .await
            .unwrap();
    });
    assert!(
        stack.wait_for_log(
            "[schedule] product-recommender promoted",
            Duration::from_secs(20)
        ),
        "{}",
        stack.logs()
    );
    let item = registry_show(&stack, "product-recommender");
    assert_eq!(item["active"]["version"], v3, "{item}");
    assert_eq!(
        item["history"].as_array().unwrap().last().unwrap()["by"],
        "rollout"
    );
    stack.stop("TERM");
}
