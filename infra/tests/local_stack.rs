//! Smoke test of `warmstart local up` (the stack behind `make run`): start it on free ports
//! with small prebuilt bundles, call every route over HTTP, publish a new version and see
//! the S3 event reach `reload`, stop it with SIGTERM, start it again on the same data
//! directory (data kept) and stop it with SIGINT.
//!
//! Needs the function binaries next to `warmstart` (`cargo build --workspace --bins`, which
//! the test command runs first). Without them the test is skipped, unless `CI` is set.

mod common;

use common::stack::{functions_built, Stack};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;
use warmstart_core::bundle::write_bundle;
use warmstart_core::valuation::synthetic::synthetic_fair_multiple_parts;
use warmstart_tests::synthetic_recommender_bundle;

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
    if !functions_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let reco = tmp.path().join("reco");
    synthetic_recommender_bundle(&reco, "2026-11-22T10-00-00Z-local01", 1);
    let fm = tmp.path().join("fm");
    let (manifest, files) = synthetic_fair_multiple_parts("2026-11-22T10-00-00Z-fmlocal", 1);
    write_bundle(&fm, manifest, &files).unwrap();
    let data = tmp.path().join("data");
    let args = [
        "--customers".as_ref(),
        "60".as_ref(),
        "--companies".as_ref(),
        "40".as_ref(),
        "--no-train".as_ref(),
        "--poll-secs".as_ref(),
        "0.2".as_ref(),
        "--recommender-bundle".as_ref(),
        reco.as_os_str(),
        "--fair-multiple-bundle".as_ref(),
        fm.as_os_str(),
    ];

    let stack = Stack::start(&data, &args);
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
    let stack = Stack::start(&data, &args);
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
