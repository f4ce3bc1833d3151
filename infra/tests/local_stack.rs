//! Smoke test of `warmstart local up` (the stack behind `make run`): start it on free ports
//! with small prebuilt bundles, call every route over HTTP, publish a new version and see
//! the S3 event reach `reload`, stop it with SIGTERM, start it again on the same data
//! directory (data kept) and stop it with SIGINT.
//!
//! Needs the function binaries next to `warmstart` (`cargo build --workspace --bins`, which
//! the test command runs first). Without them the test is skipped, unless `CI` is set.

mod common;

use common::http::call_json;
use common::stack::{functions_built, Stack};
use std::ffi::OsString;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use warmstart_core::bundle::write_bundle;
use warmstart_core::valuation::synthetic::synthetic_fair_multiple_parts;
use warmstart_tests::synthetic_recommender_bundle;

/// A call to the stack's API (through the router, so API Gateway's request id is there):
/// status and body.
fn http(base: &str, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let (status, headers, json) = call_json(base, method, path, body);
    assert!(
        headers.iter().any(|(name, _)| name == "apigw-requestid"),
        "{method} {path}: {headers:?}"
    );
    (status, json)
}

/// Small bundles written under `dir` (a recommender and a fair multiple) and the `local up`
/// arguments that serve them without training, on 60 customers and 40 companies, then `extra`.
fn prebuilt_stack_args(dir: &Path, extra: &[&str]) -> Vec<OsString> {
    let reco = dir.join("reco");
    synthetic_recommender_bundle(&reco, "2026-11-22T10-00-00Z-local01", 1);
    let fm = dir.join("fm");
    let (manifest, files) = synthetic_fair_multiple_parts("2026-11-22T10-00-00Z-fmlocal", 1);
    write_bundle(&fm, manifest, &files).unwrap();
    let sizes = [
        "--customers",
        "60",
        "--companies",
        "40",
        "--no-train",
        "--poll-secs",
        "0.2",
    ];
    let mut args: Vec<OsString> = sizes.iter().chain(extra).map(OsString::from).collect();
    args.extend(["--recommender-bundle".into(), reco.into()]);
    args.extend(["--fair-multiple-bundle".into(), fm.into()]);
    args
}

#[test]
fn local_stack_serves_the_routes_delivers_manifests_and_keeps_its_data() {
    if !functions_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = prebuilt_stack_args(tmp.path(), &[]);
    let data = tmp.path().join("data");

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
    stack.publish(&v2);
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

/// `POST /2015-03-31/functions/<function>/invocations` with `event`: status, the
/// `x-amzn-errortype` header, the body as JSON.
fn lambda_invoke(base: &str, function: &str, event: &str) -> (u16, String, serde_json::Value) {
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let (status, headers, json) = call_json(base, "POST", &path, Some(event));
    let error_type = (headers.into_iter())
        .find_map(|(name, value)| (name == "x-amzn-errortype").then_some(value))
        .unwrap_or_default();
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
    stack.publish(dir);
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
    if !functions_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let args = prebuilt_stack_args(tmp.path(), &["--tick-secs", "0.3"]);
    let stack = Stack::start(&tmp.path().join("data"), &args);

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
