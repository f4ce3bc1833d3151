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
}

impl Stack {
    fn start(data: &Path, reco: &Path, fm: &Path) -> Stack {
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
            ])
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
        let (mut api, mut s3) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.is_none() || s3.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let url = line.split_whitespace().find(|w| w.starts_with("http://"));
                    if line.trim_start().starts_with("API") {
                        api = url.map(str::to_string);
                    } else if line.trim_start().starts_with("S3") {
                        s3 = url.map(str::to_string);
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
    // The contract, served by predict without a token.
    let (status, spec) = http(&api, "GET", "/openapi.json", None);
    assert_eq!(status, 200, "{spec}");
    assert_eq!(spec["openapi"], "3.1.0", "{spec}");
    assert!(spec["paths"]["/models/{name}/predict"]["post"].is_object());
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
