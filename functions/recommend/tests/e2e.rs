//! End to end: the `recommend` binary cargo built for this test, run through its real Lambda
//! runtime loop (the Runtime API emulator of `warmstart-devkit`), with its bundle published to
//! and its features seeded into the embedded S3 + DynamoDB emulators, fed the API Gateway v2
//! sample events of `events/`.

use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_tests::*;

const VERSION: &str = "2026-11-22T10-00-00Z-e2e0001";

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_recommend"))
}

/// The emulators with a published bundle and seeded customers; the registry is left empty.
async fn stack(tag: &str) -> Emulator {
    let emu = Emulator::start(tag).await;
    let dir = tempfile::tempdir().unwrap();
    synthetic_recommender_bundle(dir.path(), VERSION, 1);
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap();
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(50))
        .await
        .unwrap();
    emu
}

async fn run(env: Vec<(String, String)>) -> Running {
    Running::start(binary(), &env).await
}

fn products(v: &Value) -> Vec<String> {
    v["recommendations"]
        .as_array()
        .unwrap_or_else(|| panic!("no recommendations in {v}"))
        .iter()
        .map(|r| r["product"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_through_the_runtime_loop() {
    let emu = stack("e2e").await;
    emu.set_active(MODEL_NAME, VERSION).await;
    let f = run(emu.function_env()).await;

    let (status, valid) = f.event("apigw-recommend-valid.json").await;
    assert_eq!(status, 200, "{valid}");
    assert_eq!(products(&valid).len(), 7);
    let owned = customer_15889().owned;
    assert!(
        products(&valid).iter().all(|p| !owned.contains(p)),
        "{valid}"
    );
    assert_eq!(valid["source"], "model");
    assert_eq!(valid["degraded"], false);
    assert_eq!(valid["variant"], "active");
    assert_eq!(valid["model"]["name"], MODEL_NAME);
    assert_eq!(valid["model"]["version"], VERSION);
    let event: Value = serde_json::from_slice(&sample_event("apigw-recommend-valid.json")).unwrap();
    assert_eq!(valid["request_id"], event["requestContext"]["requestId"]);
    assert_eq!(valid["customer_id"], "15889");

    for same in [
        "apigw-recommend-valid-numeric-id.json",
        "apigw-recommend-valid-base64.json",
    ] {
        let (status, v) = f.event(same).await;
        assert_eq!(status, 200, "{same}: {v}");
        assert_eq!(v["recommendations"], valid["recommendations"], "{same}");
        assert_eq!(v["customer_id"], "15889", "{same}");
    }

    let (status, v) = f.event("apigw-recommend-valid-overrides.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(products(&v).len(), 3);
    assert!(!products(&v).contains(&"ind_cco_fin_ult1".to_string()));
    assert!(v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["score"].is_f64()));

    let (status, v) = f.event("apigw-recommend-unknown-customer.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["source"], "popular");
    assert_eq!(v["degraded"], false);
    assert_eq!(products(&v).len(), 7);

    let (status, v) = f.event("apigw-recommend-batch-valid.json").await;
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["15889", "1050935", "1050824"]);
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["source"] == "model" && r["degraded"] == false));
    assert_eq!(v["results"][0]["recommendations"], valid["recommendations"]);

    // The fairness report reads the seeded profiles and groups the active model's scores.
    let (status, v) = f.event("apigw-recommend-fairness-valid.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["version"], VERSION);
    let groups = v["groups"].as_array().unwrap();
    let counted: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, v["customers"].as_u64().unwrap());
    assert_eq!(counted + v["skipped"].as_array().unwrap().len() as u64, 3);
    assert!(groups
        .iter()
        .all(|g| g["mean"].as_object().unwrap().len() == 24));
    let (status, v) = f
        .event("apigw-recommend-fairness-invalid-group-by.json")
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("unknown_feature")),
        "{v}"
    );

    let invalid = [
        (
            "apigw-recommend-invalid-malformed-json.json",
            400,
            "malformed_json",
        ),
        (
            "apigw-recommend-invalid-wrong-type.json",
            400,
            "invalid_field",
        ),
        (
            "apigw-recommend-invalid-missing-id.json",
            400,
            "missing_field",
        ),
        ("apigw-recommend-invalid-k-zero.json", 400, "k_out_of_range"),
        (
            "apigw-recommend-invalid-k-too-large.json",
            400,
            "k_out_of_range",
        ),
        (
            "apigw-recommend-invalid-unknown-feature.json",
            400,
            "unknown_feature",
        ),
        (
            "apigw-recommend-invalid-non-finite.json",
            400,
            "non_finite_number",
        ),
        (
            "apigw-recommend-batch-invalid-too-many.json",
            400,
            "batch_too_large",
        ),
        (
            "apigw-recommend-batch-invalid-empty.json",
            400,
            "batch_empty",
        ),
    ];
    for (name, want, code) in invalid {
        let ev: Value = serde_json::from_slice(&sample_event(name)).unwrap();
        let (status, v) = f.event(name).await;
        assert_eq!(status, want, "{name}: {v}");
        assert_eq!(v["status"], want, "{name}");
        assert_eq!(v["code"], code, "{name}: {v}");
        assert_eq!(v["request_id"], ev["requestContext"]["requestId"], "{name}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, v) = f
        .event("apigw-recommend-invalid-unknown-feature.json")
        .await;
    assert!(v["message"].as_str().unwrap().contains("no_such_feature"));

    let (status, v) = f.event("apigw-get-health.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["model"]["version"], VERSION);
    assert!(v["cold_start_ms"].as_f64().unwrap() >= v["init_ms"].as_f64().unwrap());

    // The served versions are part of /health (GET /models belongs to the predict function).
    assert_eq!(v["models"][0]["version"], VERSION);
    assert_eq!(v["models"][0]["kind"], "product-recommender");
    assert_eq!(v["models"][0]["outputs"].as_array().unwrap().len(), 24);

    // Unknown route: 404 problem, still a normal response to the runtime.
    let mut ev: Value = serde_json::from_slice(&sample_event("apigw-get-health.json")).unwrap();
    ev["rawPath"] = "/admin".into();
    ev["routeKey"] = "$default".into();
    let (status, v) = f.http(&serde_json::to_vec(&ev).unwrap()).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));

    // Not an API Gateway event at all (a direct invoke): an invocation error for that event,
    // and the container keeps serving.
    let outcome = f.api.invoke(b"{}", FUNCTION_TIMEOUT).await.unwrap();
    assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
    let (status, _) = f.event("apigw-get-health.json").await;
    assert_eq!(status, 200);

    // Telemetry: JSON logs with the init record, per-request fields and EMF documents.
    let lines = f.settled_json_lines().await;
    let init = init_log(&lines);
    assert_eq!(init["model_version"], VERSION);
    assert_eq!(init["version_from"], "registry");
    assert_eq!(init["level"], "INFO");
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 21);
    assert!(requests
        .iter()
        .all(|r| r["handler_ms"].is_f64() && r["model_version"] == VERSION));
    assert_eq!(requests[0]["cold_start"], true);
    assert_eq!(requests[1]["cold_start"], false);
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(!emf.is_empty());
    assert_eq!(emf[0]["ColdStart"], 1);
    assert!(emf[0]["InitDuration"].is_array());
    assert_eq!(emf[0]["Function"], "recommend");
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "WarmstartTest"
    );
    let total = |name: &str| -> u64 { emf.iter().filter_map(|d| d[name].as_u64()).sum() };
    assert_eq!(total("ColdStart"), 1);
    assert_eq!(total("Degraded"), 0);
    assert!(total("Requests") >= 15);
    assert!(total("Popular") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_features_table_degrades_to_popularity() {
    let emu = stack("e2edeg").await;
    let mut env = emu.function_env();
    env.retain(|(k, _)| k != "FEATURES_TABLE");
    env.push(("FEATURES_TABLE".into(), "no-such-features-table".into()));
    env.push(("MODEL_VERSION".into(), VERSION.into()));
    let f = run(env).await;
    let (status, v) = f.event("apigw-recommend-valid.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["source"], "popular");
    assert_eq!(v["degraded"], true);
    assert_eq!(products(&v).len(), 7);
    let (status, v) = f.event("apigw-recommend-batch-valid.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["degraded"], true);
    let lines = f.settled_json_lines().await;
    // No registry item: MODEL_VERSION served.
    assert!(lines
        .iter()
        .any(|l| l["message"] == "init complete" && l["version_from"] == "env"));
    let degraded: u64 = lines.iter().filter_map(|d| d["Degraded"].as_u64()).sum();
    assert_eq!(degraded, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_mid_run_degrades_within_the_deadline() {
    let mut emu = stack("e2eout").await;
    emu.set_active(MODEL_NAME, VERSION).await;
    let mut env = emu.function_env();
    env.push(("STORE_DEADLINE_MS".into(), "150".into()));
    let f = run(env).await;
    let (_, v) = f.event("apigw-recommend-valid.json").await;
    assert_eq!(
        (v["source"].as_str(), v["degraded"].as_bool()),
        (Some("model"), Some(false))
    );

    emu.stop().await;
    let t = Instant::now();
    let (status, v) = f.event("apigw-recommend-valid.json").await;
    let took = t.elapsed();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["source"], "popular");
    assert_eq!(v["degraded"], true);
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Health does not touch the store.
    let (status, _) = f.event("apigw-get-health.json").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_fails_clearly_without_a_version_to_serve() {
    let emu = stack("e2einit").await;
    // Registry table exists but has no item, and MODEL_VERSION is not set.
    let api = RuntimeApi::start().await;
    let mut function = FunctionProcess::spawn(binary(), &api, &emu.function_env());
    let err = api
        .wait_init_error(Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("no init error; output:\n{}", function.lines().join("\n")));
    assert!(err.contains("MODEL_VERSION is not set"), "{err}");
    assert!(err.contains("Runtime.InitError"), "{err}");
    let status = function.wait_exit(Duration::from_secs(10)).await.unwrap();
    assert!(!status.success());

    // A version whose bundle is not in S3 fails init too, naming the location.
    let mut env = emu.function_env();
    env.push(("MODEL_VERSION".into(), "no-such-version".into()));
    let api = RuntimeApi::start().await;
    let _function = FunctionProcess::spawn(binary(), &api, &env);
    let err = api.wait_init_error(Duration::from_secs(30)).await.unwrap();
    assert!(
        err.contains("no-such-version") && err.contains("manifest.json"),
        "{err}"
    );
}

/// `CAPTURE_SAMPLE_RATE`: at 1 every scored customer is logged as one `capture` record (model,
/// version, variant, the feature row, the 24 scores and the shadow's); at 0 none is; a rate
/// outside 0..=1 fails init naming the variable. The shadow's comparison is counted under
/// `Variant=shadow` in the EMF documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_records_follow_the_sample_rate() {
    use warmstart_core::aws::RegistryTable;
    use warmstart_core::registry::{Active, RegistryItem, Shadow};
    const SHADOW: &str = "2026-11-23T10-00-00Z-e2eshad";
    let emu = stack("e2ecap").await;
    let dir = tempfile::tempdir().unwrap();
    synthetic_recommender_bundle(dir.path(), SHADOW, 2);
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap();
    let prefix = |v: &str| Some(format!("models/{MODEL_NAME}/{v}/"));
    let mut item = RegistryItem::new(MODEL_NAME);
    item.active = Some(Active {
        version: VERSION.into(),
        prefix: prefix(VERSION),
        sha256: None,
        promoted_at: None,
        by: None,
        reason: None,
    });
    item.shadow = Some(Shadow {
        version: SHADOW.into(),
        prefix: prefix(SHADOW),
        sha256: None,
        since: None,
        by: None,
        reason: None,
    });
    item.revision = 1;
    RegistryTable::new(emu.dynamo.clone(), &emu.registry_table)
        .put(&item, None)
        .await
        .unwrap();

    let with_rate = |rate: &str| {
        let mut env = emu.function_env();
        env.push(("CAPTURE_SAMPLE_RATE".into(), rate.into()));
        env
    };
    let f = run(with_rate("1")).await;
    let (status, single) = f.event("apigw-recommend-valid.json").await;
    assert_eq!(status, 200, "{single}");
    let (status, _) = f.event("apigw-recommend-batch-valid.json").await;
    assert_eq!(status, 200);
    // Popularity answers score nothing, so they capture nothing.
    let (_, v) = f.event("apigw-recommend-unknown-customer.json").await;
    assert_eq!(v["source"], "popular");
    let lines = f.settled_json_lines().await;
    let captured: Vec<&Value> = lines.iter().filter(|l| l["message"] == "capture").collect();
    assert_eq!(captured.len(), 4, "1 single + 3 batch customers");
    let ids: Vec<&str> = captured
        .iter()
        .map(|c| c["entity"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["15889", "15889", "1050935", "1050824"]);
    let first = captured[0];
    assert_eq!(first["function"], "recommend");
    assert_eq!(first["request_id"], single["request_id"]);
    assert_eq!(first["model"], MODEL_NAME);
    assert_eq!(first["version"], VERSION);
    assert_eq!(first["variant"], "active");
    let input = first["input"].as_object().unwrap();
    assert_eq!(input.len(), warmstart_core::recommend::NUM_FEATURES);
    assert_eq!(input["age"], 56.0, "customer 15889's stored age");
    let output = first["output"].as_object().unwrap();
    assert_eq!(output.len(), 24);
    assert!(output["ind_recibo_ult1"].is_f64());
    assert_eq!(first["shadow"]["version"], SHADOW);
    let shadow_out = first["shadow"]["output"].as_object().unwrap();
    assert_eq!(shadow_out.len(), 24);
    assert_ne!(shadow_out, output, "the shadow is another model");
    // The answer's scores are the captured ones.
    let (_, scored) = f
        .http(&event_with_body(
            "apigw-recommend-valid.json",
            r#"{"customer_id":"15889","k":3,"return_scores":true}"#,
        ))
        .await;
    for r in scored["recommendations"].as_array().unwrap() {
        let code = r["product"].as_str().unwrap();
        let got = r["score"].as_f64().unwrap();
        assert!(
            (got - output[code].as_f64().unwrap()).abs() < 1e-3,
            "{code}"
        );
    }
    // The shadow comparison, per variant.
    let shadow_docs: Vec<&Value> = lines
        .iter()
        .filter(|l| l.get("_aws").is_some() && l["Variant"] == "shadow")
        .collect();
    assert!(!shadow_docs.is_empty());
    assert!(shadow_docs
        .iter()
        .all(|d| d["ShadowScoreDelta"].is_array() && d["Model"] == MODEL_NAME));

    let f = run(with_rate("0")).await;
    f.event("apigw-recommend-valid.json").await;
    f.event("apigw-recommend-batch-valid.json").await;
    let lines = f.settled_json_lines().await;
    assert!(lines.iter().any(|l| l["message"] == "request"));
    assert!(!lines.iter().any(|l| l["message"] == "capture"));

    let api = RuntimeApi::start().await;
    let _function = FunctionProcess::spawn(binary(), &api, &with_rate("1.5"));
    let err = api.wait_init_error(Duration::from_secs(30)).await.unwrap();
    assert!(
        err.contains("CAPTURE_SAMPLE_RATE `1.5` must be a number from 0 to 1"),
        "{err}"
    );
}
