//! End to end: the `predict` binary cargo built for this test, run through its real Lambda
//! runtime loop (the Runtime API emulator of `warmstart-devkit`), with generic bundles of
//! LightGBM fixture models published to the embedded S3 emulator and registered in the
//! embedded DynamoDB registry.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use warmstart_core::aws::RegistryTable;
use warmstart_core::bundle::{write_bundle, Bundle, DirSource};
use warmstart_core::predict::testing::generic_parts;
use warmstart_core::predict::Predictor;
use warmstart_core::registry::{Candidate, RegistryItem};
use warmstart_tests::*;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_predict"))
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../shared/tests/fixtures/models/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

const SPECIES: &[(&str, &[&str])] = &[("cat_small", &["setosa", "versicolor", "virginica"])];

/// Writes and publishes a generic bundle of `fixture` as `name`/`version`; returns it loaded.
async fn publish(emu: &Emulator, fixture_name: &str, name: &str, version: &str) -> Bundle {
    let dir = tempfile::tempdir().unwrap();
    let cats = if fixture_name == "categorical_multiclass" {
        SPECIES
    } else {
        &[]
    };
    let (manifest, files) = generic_parts(&fixture(fixture_name), name, version, cats);
    write_bundle(dir.path(), manifest, &files).unwrap();
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap();
    Bundle::load(&DirSource::new(dir.path())).await.unwrap()
}

async fn predict(f: &Running, model: &str, body: Value) -> (i64, Value) {
    let path = format!("/models/{model}/predict");
    f.http(&apigw_event("POST", &path, Some(&body.to_string())))
        .await
}

fn score(b: &Bundle, row: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; b.num_outputs()];
    b.score_into(row, &mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_models_are_listed_described_and_predicted_through_the_runtime_loop() {
    let emu = Emulator::start("predict").await;
    let churn = publish(&emu, "binary_nan", "churn", "v1").await;
    let species = publish(&emu, "categorical_multiclass", "species", "v1").await;
    emu.set_active("churn", "v1").await;
    emu.set_active("species", "v1").await;
    let f = Running::start(binary(), &emu.function_env()).await;

    let (status, v) = f.http(&apigw_event("GET", "/models", None)).await;
    assert_eq!(status, 200, "{v}");
    let mut names: Vec<&str> = (v["models"].as_array().unwrap().iter())
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["churn", "species"]);
    assert!(v["models"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] == "generic"));

    let (status, v) = f.http(&apigw_event("GET", "/models/species", None)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["features"].as_array().unwrap().len(), 8);
    assert_eq!(
        v["features"][7]["categories"],
        json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(v["outputs"].as_array().unwrap().len(), 3);

    let (status, v) = predict(
        &f,
        "churn",
        json!({"rows": [{"x_neg": -1.25, "x_flag": 1, "x_nan_hi": null}, {}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let mut row = vec![f64::NAN; 10];
    row[2] = -1.25;
    row[7] = 1.0;
    assert_eq!(v["predictions"][0], json!(score(&churn, &row)[0]));
    assert_eq!(
        v["predictions"][1],
        json!(score(&churn, &[f64::NAN; 10])[0])
    );
    assert_eq!(v["model"]["version"], "v1");
    assert_eq!(v["variants"], json!(["active", "active"]));

    let (status, v) = predict(
        &f,
        "species",
        json!({"rows": [{"cat_small": "virginica", "x_big": 3e9}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let mut row = vec![f64::NAN; 8];
    row[7] = 2.0;
    row[4] = 3e9;
    assert_eq!(v["predictions"][0], json!(score(&species, &row)));

    let many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let problems = [
        ("nope", json!({"rows": [{}]}), 404, "unknown_model"),
        (
            "species",
            json!({"rows": [{"cat_small": "daisy"}]}),
            400,
            "unknown_category",
        ),
        (
            "species",
            json!({"rows": [{"petal": 1}]}),
            400,
            "unknown_feature",
        ),
        (
            "species",
            json!({"rows": [{"x_neg": "1"}]}),
            400,
            "invalid_field",
        ),
        ("species", json!({"rows": []}), 400, "rows_empty"),
        ("species", json!({ "rows": many }), 413, "too_many_rows"),
    ];
    for (model, body, want_status, code) in problems {
        let (status, v) = predict(&f, model, body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (want_status, Some(code)),
            "{v}"
        );
        assert!(v["request_id"].is_string(), "{v}");
    }
    let (status, v) = f
        .http(&apigw_event(
            "POST",
            "/models/species/predict",
            Some(r#"{"rows": [{"x_neg": 1e999}]}"#),
        ))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("non_finite_number")),
        "{v}"
    );
    let (status, v) = f.http(&apigw_event("GET", "/models/nope", None)).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("unknown_model")),
        "{v}"
    );
    // The function is still serving after every bad request.
    let (status, _) = predict(&f, "churn", json!({"rows": [{}]})).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_in_the_registry_takes_its_share_of_rows_by_id_after_the_ttl() {
    let emu = Emulator::start("predict-canary").await;
    publish(&emu, "binary_nan", "churn", "v1").await;
    let v2 = publish(&emu, "binary_sigmoid07", "churn", "v2").await;
    emu.set_active("churn", "v1").await;
    let mut env = emu.function_env();
    env.push(("REGISTRY_TTL_SECS".into(), "1".into()));
    let f = Running::start(binary(), &env).await;
    let ids: Vec<String> = (0..100).map(|i| format!("merchant-{i}")).collect();
    let body = json!({"rows": vec![json!({"x_neg": 0.5}); 100], "id": ids});
    let (status, v) = predict(&f, "churn", body.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["variants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x == "active"));

    let table = RegistryTable::new(emu.dynamo.clone(), &emu.registry_table);
    let mut item: RegistryItem = table.get("churn").await.unwrap().unwrap();
    let read = item.revision;
    item.candidate = Some(Candidate {
        version: "v2".into(),
        weight: 30,
        prefix: Some("models/churn/v2/".into()),
        sha256: None,
        since: None,
        by: None,
        reason: None,
    });
    item.revision += 1;
    table.put(&item, Some(read)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The first request after the TTL starts following the registry in the background and is
    // answered at once; the canary serves as soon as it is loaded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = predict(&f, "churn", json!({"rows": [{}]})).await;
        assert_eq!(status, 200, "{v}");
        if !v["model"]["candidate"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the canary never served: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, a) = predict(&f, "churn", body.clone()).await;
    let (_, b) = predict(&f, "churn", body).await;
    assert_eq!(a["variants"], b["variants"], "sticky by id");
    let variants = a["variants"].as_array().unwrap();
    let canary: Vec<usize> = (0..100).filter(|&i| variants[i] == "candidate").collect();
    assert!((10..50).contains(&canary.len()), "{}", canary.len());
    let mut row = vec![f64::NAN; 10];
    row[2] = 0.5;
    assert_eq!(a["predictions"][canary[0]], json!(score(&v2, &row)[0]));
    assert_eq!(
        a["model"]["candidate"],
        json!({"version": "v2", "weight": 30})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_beyond_the_memory_budget_are_evicted_least_recently_used_first() {
    let emu = Emulator::start("predict-lru").await;
    let budget = 1usize << 20;
    let one = {
        let (manifest, files) = generic_parts(&fixture("many_features"), "m", "v1", &[]);
        let b = Bundle::from_parts(manifest, files).unwrap();
        Predictor::servable(b).unwrap().heap_bytes()
    };
    // `fit` models fit in MODEL_MEMORY_MB=1; one more does not.
    let fit = budget / one;
    assert!((2..12).contains(&fit), "{one} bytes per model");
    let names: Vec<String> = (0..fit + 2).map(|i| format!("m{i}")).collect();
    for name in &names {
        publish(&emu, "many_features", name, "v1").await;
        emu.set_active(name, "v1").await;
    }
    let mut env = emu.function_env();
    env.push(("MODEL_MEMORY_MB".into(), "1".into()));
    let f = Running::start(binary(), &env).await;
    // m0 is used again after m1..m(fit-1), so m1 is the least recently used when the next
    // model arrives, then m2.
    let mut order: Vec<&str> = names[..fit].iter().map(String::as_str).collect();
    order.extend(["m0", names[fit].as_str(), names[fit + 1].as_str()]);
    for name in order {
        let (status, v) = predict(&f, name, json!({"rows": [{}]})).await;
        assert_eq!(status, 200, "{name}: {v}");
    }
    let lines = f.settled_json_lines().await;
    let evicted: Vec<&str> = (lines.iter())
        .filter(|l| l["message"] == "model evicted (least recently used)")
        .map(|l| l["model"].as_str().unwrap())
        .collect();
    let loaded = (lines.iter())
        .filter(|l| l["message"] == "model loaded on first use")
        .count();
    assert_eq!(evicted, ["m1", "m2"], "{}", f.output());
    assert_eq!(loaded, fit + 2, "{}", f.output());
    // An evicted model loads again on its next use.
    let (status, _) = predict(&f, "m1", json!({"rows": [{}]})).await;
    assert_eq!(status, 200);
}

// ------------------------------------------------- the user's flow: CSV → bundle → S3 → live

fn reload_bin() -> PathBuf {
    workspace_binary(
        binary(),
        "reload",
        "reload",
        &[
            "functions/reload/src",
            "functions/reload/Cargo.toml",
            "shared/src",
            "shared/Cargo.toml",
        ],
    )
}

/// Runs the `warmstart` CLI; panics with its output when it fails.
fn warmstart(args: &[&str]) {
    let out = std::process::Command::new(cli_binary(binary()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "warmstart {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Trains `compliance-risk` `version` on the merchant example data in `dir`.
fn train_compliance(dir: &Path, version: &str) -> PathBuf {
    let data = dir.join("data");
    if !data.join("compliance.csv").is_file() {
        let d = data.to_str().unwrap();
        warmstart(&[
            "examples", "merchant", "--out", d, "--rows", "800", "--seed", "3",
        ]);
    }
    let out = dir.join(version);
    let csv = data.join("compliance.csv");
    warmstart(&[
        "train",
        "generic",
        "--csv",
        csv.to_str().unwrap(),
        "--target",
        "compliance_risk",
        "--objective",
        "binary",
        "--drop",
        "merchant_id",
        "--name",
        "compliance-risk",
        "--trees",
        "20",
        "--version",
        version,
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

/// Uploads a bundle's files as they are (no checks: a user's `aws s3 cp`), the manifest
/// last, and hands reload the S3 notification of the manifest, as AWS would.
async fn upload(emu: &Emulator, reload: &Running, dir: &Path, version: &str) -> Value {
    let prefix = format!("models/compliance-risk/{version}/");
    let manifest =
        warmstart_core::Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap())
            .unwrap();
    let files = manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .chain(["manifest.json"]);
    for path in files {
        emu.s3
            .put_object()
            .bucket(&emu.bucket)
            .key(format!("{prefix}{path}"))
            .body(std::fs::read(dir.join(path)).unwrap().into())
            .send()
            .await
            .unwrap();
    }
    let key = format!("{prefix}manifest.json");
    reload.call(&s3_event(&emu.bucket, &[key])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_trained_from_a_csv_goes_live_by_upload_and_a_bad_upload_never_reaches_traffic() {
    let tmp = tempfile::tempdir().unwrap();
    let v1_dir = train_compliance(tmp.path(), "v1");
    let emu = Emulator::start("predict-flow").await;
    let reload = Running::start(&reload_bin(), &emu.function_env()).await;
    let answer = upload(&emu, &reload, &v1_dir, "v1").await;
    assert_eq!(answer["records"][0]["outcome"], "active", "{answer}");

    let mut env = emu.function_env();
    env.push(("REGISTRY_TTL_SECS".into(), "1".into()));
    let f = Running::start(binary(), &env).await;
    let (status, v) = f.event("apigw-get-model.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "generic");
    let category = (v["features"].as_array().unwrap().iter())
        .find(|x| x["name"] == "category")
        .unwrap();
    assert_eq!(category["type"], "categorical", "{category}");
    assert!(category["categories"]
        .as_array()
        .unwrap()
        .contains(&json!("travel")));
    assert!(v["metrics"]["auc"].as_f64().unwrap() > 0.6, "{v}");

    let (status, v) = f.event("apigw-predict-valid.json").await;
    assert_eq!(status, 200, "{v}");
    // The answer is the bundle's own score of the rows, encoded by name.
    let bundle = Bundle::load(&DirSource::new(&v1_dir)).await.unwrap();
    let schema = warmstart_core::predict::Schema::from_manifest(bundle.manifest());
    let event: Value = serde_json::from_slice(&sample_event("apigw-predict-valid.json")).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    for (i, row) in body["rows"].as_array().unwrap().iter().enumerate() {
        let mut input = vec![0.0; schema.len()];
        schema
            .encode(i, row.as_object().unwrap(), &mut input)
            .unwrap();
        assert_eq!(
            v["predictions"][i],
            json!(score(&bundle, &input)[0]),
            "row {i}"
        );
    }
    assert_eq!(v["model"]["version"], "v1");

    // The same model explains its predictions: contributions add up to the raw score.
    let (status, e) = f.event("apigw-explain-valid.json").await;
    assert_eq!(status, 200, "{e}");
    let event: Value = serde_json::from_slice(&sample_event("apigw-explain-valid.json")).unwrap();
    let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    let mut input = vec![0.0; schema.len()];
    schema
        .encode(0, body["rows"][0].as_object().unwrap(), &mut input)
        .unwrap();
    let mut raw = [0.0];
    bundle.score_raw_into(&input, &mut raw).unwrap();
    let sum: f64 = (e["explanations"][0]["contributions"]
        .as_array()
        .unwrap()
        .iter())
    .map(|x| x.as_f64().unwrap())
    .sum();
    assert!((sum - raw[0]).abs() < 1e-9, "{sum} vs {}", raw[0]);
    assert_eq!(e["explanations"][0]["top"].as_array().unwrap().len(), 5);
    assert_eq!(
        e["explanations"][0]["prediction"],
        json!(score(&bundle, &input)[0])
    );
    for (name, want_status, code) in [
        ("apigw-predict-unknown-model.json", 404, "unknown_model"),
        (
            "apigw-predict-invalid-unknown-category.json",
            400,
            "unknown_category",
        ),
        ("apigw-predict-invalid-empty.json", 400, "rows_empty"),
    ] {
        let (status, v) = f.event(name).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (want_status, Some(code)),
            "{name}: {v}"
        );
    }

    // v2 is uploaded with a model file that is not the one its manifest lists.
    let v2_dir = train_compliance(tmp.path(), "v2");
    let model = v2_dir.join("models/model.txt");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replacen("leaf_value=", "leaf_value=1", 1)).unwrap();
    let answer = upload(&emu, &reload, &v2_dir, "v2").await;
    assert_eq!(answer["records"][0]["outcome"], "rejected", "{answer}");
    assert_eq!(answer["records"][0]["code"], "size_mismatch", "{answer}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..2 {
        let (status, v) = f.event("apigw-predict-valid.json").await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["model"]["version"], "v1",
            "the rejected upload never serves"
        );
    }
    let (_, listing) = f.http(&apigw_event("GET", "/models", None)).await;
    assert_eq!(listing["models"][0]["active"]["version"], "v1", "{listing}");
}
