//! End to end: the `reload` binary cargo built for this test (and the `recommend` and
//! `warmstart` binaries beside it) run through their real Lambda runtime loops against the
//! embedded S3 + DynamoDB emulators: bundles published to S3, S3 notifications (the `events/s3-*.json` fixtures with
//! bucket and keys rewritten) and admin payloads (`events/admin-*.json`) delivered to reload,
//! and a warm recommend container following the registry.
//!
//! `cargo test --workspace` (what `make test` runs) builds every binary first. Run alone,
//! `cargo test -p reload` needs `cargo build -p recommend -p warmstart-cli` beforehand; a
//! missing or out-of-date sibling binary fails the test with that hint rather than testing old
//! code.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warmstart_core::aws::{self, DynamoFeatureStore, RegistryTable};
use warmstart_core::bundle::{
    sha256_hex, CompiledMarker, FileEntry, Manifest, Rollout, MANIFEST_FILE,
};
use warmstart_core::model::compiled::LAYOUT_VERSION;
use warmstart_core::registry::{self, in_canary, Action, Change};
use warmstart_core::valuation::synthetic::synthetic_fair_multiple_parts;
use warmstart_tests::*;

mod common;
use common::*;

const V4: &str = "2026-11-25T10-00-00Z-canary4";

// ------------------------------------------------------------------------------ binaries

fn cli_bin() -> PathBuf {
    cli_binary(&reload_bin())
}

/// `warmstart registry <args…>` on the emulator's registry table and bucket, as an operator
/// runs it: whether it succeeded, stdout, stderr.
fn registry_cli(emu: &Emulator, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(cli_bin())
        .arg("registry")
        .args(args)
        .args(["--table", &emu.registry_table])
        .envs(emu.aws_env())
        .env("MODEL_BUCKET", &emu.bucket)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ------------------------------------------------------------------------------ S3 and events

/// A fixture's records with the bucket rewritten and each key replaced by `keys[i]`.
fn rewrite_fixture(name: &str, bucket: &str, keys: &[String]) -> Value {
    let mut v = fixture(name);
    let records = v["Records"].as_array_mut().unwrap();
    assert_eq!(records.len(), keys.len(), "{name}");
    for (r, k) in records.iter_mut().zip(keys) {
        r["s3"]["bucket"]["name"] = json!(bucket);
        r["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
        r["s3"]["object"]["key"] = json!(notification_key(k));
    }
    v
}

fn manifest_key(model: &str, version: &str) -> String {
    format!("models/{model}/{version}/{MANIFEST_FILE}")
}

/// Uploads files and manifest as given, unverified: how a broken bundle reaches S3.
async fn upload_raw(emu: &Emulator, manifest: &Manifest, files: &[(String, Vec<u8>)]) -> String {
    let base = format!("models/{}/{}/", manifest.name, manifest.version);
    for (path, bytes) in files {
        emu.s3
            .put_object()
            .bucket(&emu.bucket)
            .key(format!("{base}{path}"))
            .body(bytes.clone().into())
            .send()
            .await
            .unwrap();
    }
    let key = format!("{base}{MANIFEST_FILE}");
    emu.s3
        .put_object()
        .bucket(&emu.bucket)
        .key(&key)
        .body(manifest.to_json().into_bytes().into())
        .send()
        .await
        .unwrap();
    key
}

/// A broken bundle: `(version, manifest, files, expected rejection code)`.
type Broken = (String, Manifest, Vec<(String, Vec<u8>)>, &'static str);

/// The broken v3 bundles.
fn corrupt_bundles() -> Vec<Broken> {
    let mut out = Vec::new();
    let good = |v: &str| synthetic_recommender_parts(v, 3, TreeShape::SMALL);

    // Bad sha: one byte of a model changed after the manifest was written (same size).
    let v = "2026-11-24T10-00-00Z-v3badsha";
    let (m, mut files) = good(v);
    let last = files[5].1.len() - 3;
    files[5].1[last] = if files[5].1[last] == b'1' { b'2' } else { b'1' };
    out.push((v.to_string(), m, files, "checksum_mismatch"));

    // Truncated model: the upload stopped half way.
    let v = "2026-11-24T10-00-01Z-v3trunc";
    let (m, mut files) = good(v);
    let half = files[7].1.len() / 2;
    files[7].1.truncate(half);
    out.push((v.to_string(), m, files, "size_mismatch"));

    // Truncated model with a manifest describing the truncated file: it does not parse.
    let v = "2026-11-24T10-00-02Z-v3unparse";
    let (mut m, mut files) = good(v);
    let half = files[7].1.len() / 2;
    files[7].1.truncate(half);
    m.files[7] = warmstart_core::bundle::FileEntry::describe(&files[7].0, &files[7].1);
    out.push((v.to_string(), m, files, "model_unparseable"));

    // Wrong feature count: the manifest lists 23 features for 24-feature models.
    let v = "2026-11-24T10-00-03Z-v3features";
    let (mut m, files) = good(v);
    m.features.pop();
    for g in &mut m.golden {
        g.features.pop();
    }
    out.push((v.to_string(), m, files, "model_incompatible"));

    // Golden mismatch: an expected output that the models do not reproduce.
    let v = "2026-11-24T10-00-04Z-v3golden";
    let (mut m, files) = good(v);
    m.golden[2].expected[4] = f64::from_bits(m.golden[2].expected[4].to_bits() + 1);
    out.push((v.to_string(), m, files, "golden_mismatch"));
    out
}

// ------------------------------------------------------------------------------ the tests

/// publish v1 → served; v2 (immediate) → swapped in after the TTL with zero failed requests
/// while requests keep coming; four broken v3s → rejected with their codes, still v2; a 10 %
/// canary → the bucketed customers get it, sticky; clear it and roll back → v1 again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_swap_reject_canary_rollback_through_the_functions() {
    let emu = Emulator::start("reload").await;
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(50))
        .await
        .unwrap();
    let reload = start(&reload_bin(), reload_env(&emu)).await;

    // v1, delivered through reload.
    let k1 = publish(&emu, V1, 1, None).await;
    let a = reload.call(&s3_event(&emu.bucket, &[&k1])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    let active = item.active.as_ref().unwrap();
    assert_eq!(active.version, V1);
    assert_eq!(
        active.prefix.as_deref(),
        Some(&*format!("models/{MODEL_NAME}/{V1}/"))
    );
    assert_eq!(active.sha256.as_ref().unwrap().len(), 64);
    assert_eq!(item.kind.as_deref(), Some("product-recommender"));

    // v1 was uploaded without the compiled models file: reload wrote it beside the manifest,
    // rewrote the manifest to list it, and pinned the rewritten manifest; its own S3 event is
    // a no-op.
    let get = |key: String| {
        let s3 = emu.s3.clone();
        let bucket = emu.bucket.clone();
        async move {
            let o = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            o.body.collect().await.unwrap().into_bytes().to_vec()
        }
    };
    let manifest_bytes = get(k1.clone()).await;
    let manifest = Manifest::from_json(&manifest_bytes).unwrap();
    let listed = (manifest.files.iter())
        .find(|f| f.compiled.is_some())
        .expect("the rewritten manifest lists models.wsc");
    let wsc = get(format!("models/{MODEL_NAME}/{V1}/{}", listed.path)).await;
    assert_eq!(sha256_hex(&wsc), listed.sha256);
    assert_eq!(
        active.sha256.as_deref(),
        Some(&*sha256_hex(&manifest_bytes))
    );
    let again = reload.call(&s3_event(&emu.bucket, &[&k1])).await;
    assert_eq!(record(&again, 0)["outcome"], "unchanged", "{again}");

    // recommend serves v1.
    let rec = start(&recommend_bin(), recommend_env(&emu)).await;
    let (status, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["version"], V1);
    assert_eq!(v["variant"], "active");
    let loaded = (rec.process.json_lines().into_iter())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.ends_with("model loaded"))
        })
        .expect("a model loaded line");
    assert_eq!(loaded["compiled"], true, "served from models.wsc: {loaded}");

    // A stream of requests while v2 is published and swapped in.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let stream = {
        let (api, seen, failures, stop) = (
            rec.api.clone(),
            seen.clone(),
            failures.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let ev = sample_event("apigw-recommend-valid.json");
            while !stop.load(Ordering::Relaxed) {
                match api.invoke(&ev, TIMEOUT).await {
                    Ok(Outcome::Response(b)) => {
                        let v: Value = serde_json::from_slice(&b).unwrap();
                        let body: Value =
                            serde_json::from_str(v["body"].as_str().unwrap_or("{}")).unwrap();
                        if v["statusCode"] != 200 || body["source"] != "model" {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        let version = body["model"]["version"].as_str().unwrap_or("").to_string();
                        seen.lock().unwrap().push(version);
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // v2 arrives with a compiled file of an older layout (an older CLI's): reload replaces it.
    let (mut m2, mut f2) = synthetic_recommender_parts(V2, 2, TreeShape::SMALL);
    let stale = b"WSCMODEL\x02\0\0\0 an older layout".to_vec();
    m2.files.push(FileEntry {
        compiled: Some(CompiledMarker { layout_version: 2 }),
        ..FileEntry::describe("models.wsc", &stale)
    });
    f2.push(("models.wsc".to_string(), stale));
    let k2 = publish_parts(&emu, m2, &f2).await;
    let a = reload.call(&s3_event(&emu.bucket, &[&k2])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");
    let manifest_bytes = get(k2.clone()).await;
    let compiled: Vec<_> = Manifest::from_json(&manifest_bytes)
        .unwrap()
        .files
        .into_iter()
        .filter_map(|f| f.compiled.map(|c| (f.path, c.layout_version)))
        .collect();
    assert_eq!(compiled, [("models.wsc".to_string(), LAYOUT_VERSION)]);
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(
        item.active.unwrap().sha256.as_deref(),
        Some(&*sha256_hex(&manifest_bytes))
    );
    let deadline = Instant::now() + TIMEOUT;
    while !seen.lock().unwrap().iter().any(|v| v == V2) {
        assert!(
            Instant::now() < deadline,
            "recommend never served {V2}\n{}",
            rec.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more requests on the new model, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    stream.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "failed requests during the swap"
    );
    assert!(seen.iter().any(|v| v == V1), "{seen:?}");
    let first_v2 = seen.iter().position(|v| v == V2).unwrap();
    assert!(
        seen[first_v2..].iter().all(|v| v == V2),
        "v1 after v2: {seen:?}"
    );
    let swaps = rec
        .process
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "model swap" || l["fields"]["message"] == "model swap")
        .count();
    assert!(swaps >= 1, "no `model swap` log line\n{}", rec.output());
    assert!(
        rec.process
            .json_lines()
            .iter()
            .any(|l| l["ModelSwap"] == 1 && l["Function"] == "recommend"),
        "no ModelSwap EMF document"
    );

    // Broken v3s: each rejected with its code; v2 stays.
    let before = registry_item(&emu, MODEL_NAME).await;
    for (version, manifest, files, code) in corrupt_bundles() {
        let key = upload_raw(&emu, &manifest, &files).await;
        let a = reload.call(&s3_event(&emu.bucket, &[key])).await;
        assert_eq!(record(&a, 0)["outcome"], "rejected", "{version}: {a}");
        assert_eq!(record(&a, 0)["code"], code, "{version}: {a}");
    }
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(
        item.serving(),
        before.serving(),
        "a rejection changed what is served"
    );
    assert_eq!(item.active.as_ref().unwrap().version, V2);
    let codes: Vec<&str> = item.rejected.iter().map(|r| r.code.as_str()).collect();
    for (_, _, _, code) in corrupt_bundles() {
        assert!(codes.contains(&code), "{code} not in {codes:?}");
    }
    let rejected_docs = reload
        .process
        .json_lines()
        .iter()
        .filter(|l| l["ModelRejected"] == 1 && l["Function"] == "reload")
        .count();
    assert_eq!(
        rejected_docs,
        5,
        "one ModelRejected per broken bundle\n{}",
        reload.output()
    );
    assert!(reload
        .process
        .json_lines()
        .iter()
        .any(|l| l["level"] == "ERROR" && l.to_string().contains("checksum_mismatch")));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(v["model"]["version"], V2);

    // A 10 % canary.
    let k4 = publish(&emu, V4, 4, Some(Rollout::Canary(10))).await;
    let a = reload.call(&s3_event(&emu.bucket, &[k4])).await;
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");
    let ids: Vec<String> = (0..10_000).map(|i| (1_000_000 + i).to_string()).collect();
    let in_canary_ids: Vec<&String> = ids
        .iter()
        .filter(|id| in_canary(MODEL_NAME, id, 10))
        .collect();
    assert!(
        (800..=1200).contains(&in_canary_ids.len()),
        "{} of 10000",
        in_canary_ids.len()
    );
    wait_health(&rec, "the candidate", |h| h["candidate"]["version"] == V4).await;
    // 300 customers through the function, twice: the bucket decides, every time.
    for round in 0..2 {
        let mut candidates = 0;
        for chunk in ids[..300].chunks(100) {
            let (status, v) = rec.http(&batch_event(chunk)).await;
            assert_eq!(status, 200, "{v}");
            for r in v["results"].as_array().unwrap() {
                let id = r["customer_id"].as_str().unwrap();
                let expect = in_canary(MODEL_NAME, id, 10);
                assert_eq!(
                    r["variant"],
                    if expect { "candidate" } else { "active" },
                    "round {round}, customer {id}"
                );
                candidates += usize::from(expect);
            }
        }
        assert!(candidates > 0);
    }
    for id in in_canary_ids.iter().take(3) {
        let body = json!({"customer_id": id}).to_string();
        let (_, v) = rec
            .http(&event_with_body("apigw-recommend-valid.json", &body))
            .await;
        assert_eq!(v["variant"], "candidate", "{v}");
        assert_eq!(v["model"]["version"], V4);
    }
    // Counted under Variant=candidate, with the three dimension sets CloudWatch aggregates.
    let candidate_docs: Vec<Value> = rec
        .process
        .json_lines()
        .into_iter()
        .filter(|l| l.get("_aws").is_some() && l["Variant"] == "candidate")
        .collect();
    assert!(
        candidate_docs.len() >= 3,
        "no Variant=candidate EMF documents\n{}",
        rec.output()
    );
    for d in &candidate_docs {
        assert_eq!(
            (d["Function"].as_str(), d["Model"].as_str()),
            (Some("recommend"), Some(MODEL_NAME))
        );
        assert_eq!(d["Requests"], 1, "{d}");
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .unwrap()
                .last()
                .unwrap(),
            &json!(["Function", "Model", "Variant"])
        );
    }
    assert!(candidate_docs.iter().any(|d| d["model_version"] == V4));
    let (_, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(
        v["variant"],
        if in_canary(MODEL_NAME, "15889", 10) {
            "candidate"
        } else {
            "active"
        }
    );

    // Clear the canary, roll back: v1 again.
    let a = reload
        .call(&admin("admin-clear-candidate.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["changed"], true, "{a}");
    let a = reload
        .call(&admin("admin-rollback.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["item"]["active"]["version"], V1, "{a}");
    let last = a["item"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "rollback");
    assert_eq!(last["by"], "alice");
    assert_eq!(last["reason"], "p99 latency regression");
    wait_health(&rec, "v1 after the rollback", |h| {
        h["model"]["version"] == V1 && h["candidate"].is_null()
    })
    .await;
    let (status, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(status, 200);
    assert_eq!(v["model"]["version"], V1);
    assert_eq!(v["variant"], "active");
}

/// A recommender bundle whose manifest reports `map_at_7` against `baseline_map_at_7`.
async fn publish_map(
    emu: &Emulator,
    version: &str,
    variant: u64,
    rollout: Option<Rollout>,
    map_at_7: f64,
    baseline: f64,
) -> String {
    let (mut manifest, files) = synthetic_recommender_parts(version, variant, TreeShape::SMALL);
    manifest.rollout = rollout;
    manifest.metrics.map_at_7 = Some(map_at_7);
    manifest.metrics.baseline_map_at_7 = Some(baseline);
    publish_parts(emu, manifest, &files).await
}

fn model_rejected_docs(reload: &Running) -> usize {
    reload
        .process
        .json_lines()
        .iter()
        .filter(|l| l["ModelRejected"] == 1 && l["Function"] == "reload")
        .count()
}

/// The quality gate through the functions: a 50 % canary whose MAP@7 is 19 % below the active
/// version's is rejected (`quality_gate`, figures in the reason, `ModelRejected`, registry
/// unchanged) while recommend keeps serving the active version; a version that does not beat
/// its own baseline is rejected too; an operator forces the first one in with `warmstart
/// registry promote --force`, recorded in history; a wider tolerance (admin `set_tolerance`)
/// lets a slightly worse canary through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quality_gate_rejects_worse_models_and_an_operator_can_force_one() {
    let emu = Emulator::start("reloadgate").await;
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(20))
        .await
        .unwrap();
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let bucket = emu.bucket.clone();

    // v1: MAP@7 0.031 against a popularity baseline of 0.021 (the synthetic fixture's figures).
    let k1 = publish(&emu, V1, 1, None).await;
    let a = reload.call(&s3_event(&bucket, &[&k1])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");
    let rec = start(&recommend_bin(), recommend_env(&emu)).await;
    let (status, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(
        (status, v["model"]["version"].clone()),
        (200, json!(V1)),
        "{v}"
    );

    // v2, a 50 % canary 19 % worse on MAP@7: refused before it becomes the candidate.
    let before = registry_item(&emu, MODEL_NAME).await;
    let k2 = publish_map(&emu, V2, 2, Some(Rollout::Canary(50)), 0.025, 0.021).await;
    let a = reload.call(&s3_event(&bucket, &[&k2])).await;
    let r = record(&a, 0);
    assert_eq!(r["outcome"], "rejected", "{a}");
    assert_eq!(r["code"], "quality_gate", "{a}");
    let msg = r["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "map_at_7 0.02500 vs the active {V1}'s 0.03100 (-19.4%"
        )),
        "{msg}"
    );
    assert!(msg.contains("tolerance 2% of the active figure"), "{msg}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(
        item.serving(),
        before.serving(),
        "the gate changed what is served"
    );
    assert!(item.candidate.is_none());
    assert_eq!(item.history, before.history);
    let last = item.rejected.last().unwrap();
    assert_eq!(
        (last.version.as_str(), last.code.as_str()),
        (V2, "quality_gate")
    );
    assert!(last.reason.contains("map_at_7 0.02500"), "{}", last.reason);
    assert_eq!(model_rejected_docs(&reload), 1, "{}", reload.output());
    assert!(reload
        .process
        .json_lines()
        .iter()
        .any(|l| l["level"] == "ERROR" && l.to_string().contains("quality_gate")));
    // A repeated delivery is judged the same and recorded once.
    let a = reload.call(&s3_event(&bucket, &[&k2])).await;
    assert_eq!(record(&a, 0)["code"], "quality_gate", "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME).await.revision,
        item.revision
    );
    assert_eq!(model_rejected_docs(&reload), 1);
    // The active version keeps serving everybody.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for id in ["15889", "1050935", "1050824"] {
        let body = json!({ "customer_id": id }).to_string();
        let (status, v) = rec
            .http(&event_with_body("apigw-recommend-valid.json", &body))
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (v["model"]["version"].clone(), v["variant"].clone()),
            (json!(V1), json!("active")),
            "{v}"
        );
    }

    // v3 as good as the active, but no better than its own baseline: refused.
    let v3 = "2026-11-24T10-00-00Z-e2e0003";
    let k3 = publish_map(&emu, v3, 3, None, 0.031, 0.031).await;
    let a = reload.call(&s3_event(&bucket, &[&k3])).await;
    assert_eq!(record(&a, 0)["code"], "quality_gate", "{a}");
    assert!(
        record(&a, 0)["message"]
            .as_str()
            .unwrap()
            .contains("map_at_7 0.03100 does not beat its baseline 0.03100"),
        "{a}"
    );
    assert_eq!(model_rejected_docs(&reload), 2);

    // The operator overrides the gate for v2, on purpose: re-validated from S3, recorded.
    let cli = |args: &[&str]| registry_cli(&emu, args);
    let (ok, _, err) = cli(&["promote", MODEL_NAME, "--version", V2, "--force"]);
    assert!(!ok && err.contains("--reason"), "{err}");
    let (ok, _, err) = cli(&["promote", MODEL_NAME, "--version", V2]);
    assert!(
        !ok && err.contains("version_mismatch"),
        "a plain promote cannot: {err}"
    );
    let (ok, out, err) = cli(&[
        "promote",
        MODEL_NAME,
        "--version",
        V2,
        "--force",
        "--actor",
        "carol",
        "--reason",
        "new holdout month; MAP@7 not comparable",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("{V2} is active (quality gate overridden)")),
        "{out}"
    );
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.active.as_ref().unwrap().version, V2);
    let h = item.history.last().unwrap();
    assert_eq!(h.action, Action::ForcePromote);
    assert_eq!((h.by.as_str(), h.version.as_str()), ("carol", V2));
    assert_eq!(h.reason, "new holdout month; MAP@7 not comparable");
    assert_eq!(h.previous.as_ref().unwrap().version, V1);
    assert_eq!(
        item.active.as_ref().unwrap().sha256.as_ref().unwrap().len(),
        64
    );
    wait_health(&rec, "the forced v2", |h| h["model"]["version"] == V2).await;
    // Its S3 event delivered again changes nothing.
    let a = reload.call(&s3_event(&bucket, &[&k2])).await;
    assert_eq!(record(&a, 0)["outcome"], "unchanged", "{a}");

    // 4 % worse than v2 on MAP@7: refused at 2 %, accepted as a canary once the model's
    // tolerance is 5 %.
    let k4 = publish_map(&emu, V4, 4, Some(Rollout::Canary(10)), 0.024, 0.021).await;
    let a = reload.call(&s3_event(&bucket, &[&k4])).await;
    assert_eq!(record(&a, 0)["code"], "quality_gate", "{a}");
    let a = reload
        .call(&admin("admin-set-tolerance.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["item"]["quality_gate"]["tolerance_pct"], 5.0, "{a}");
    let v5 = "2026-11-26T10-00-00Z-e2e0005";
    let k5 = publish_map(&emu, v5, 5, Some(Rollout::Canary(10)), 0.024, 0.021).await;
    let a = reload.call(&s3_event(&bucket, &[&k5])).await;
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.candidate.as_ref().unwrap().version, v5);
    assert!(item
        .history
        .iter()
        .any(|h| h.action == Action::SetTolerance && h.reason.contains("2% -> 5%")));
    assert!(reload
        .process
        .json_lines()
        .iter()
        .any(|l| l["message"] == "quality gate passed"
            || l["fields"]["message"] == "quality gate passed"));
}

/// S3's at-least-once, out-of-order delivery: duplicates are no-ops, older versions never
/// replace newer ones, one bad record in a batch does not block the others; non-manifest keys
/// are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_stale_versions_and_batches() {
    let emu = Emulator::start("reloadbatch").await;
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let bucket = emu.bucket.clone();

    // Not a manifest: ignored, nothing written.
    let model_txt = format!("models/{MODEL_NAME}/{V1}/models/x.txt");
    let a = reload
        .call(&rewrite_fixture(
            "s3-put-non-manifest.json",
            &bucket,
            &[model_txt],
        ))
        .await;
    assert_eq!(record(&a, 0)["outcome"], "ignored", "{a}");
    assert!(RegistryTable::new(emu.dynamo.clone(), &emu.registry_table)
        .list()
        .await
        .unwrap()
        .is_empty());
    // Another bucket: ignored.
    let a = reload
        .call(&s3_event(
            "someone-elses-bucket",
            &[manifest_key(MODEL_NAME, V1)],
        ))
        .await;
    assert_eq!(record(&a, 0)["outcome"], "ignored", "{a}");

    // A deletion: ignored.
    let mut removed = s3_event(&bucket, &[manifest_key(MODEL_NAME, V1)]);
    removed["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
    let a = reload.call(&removed).await;
    assert_eq!(record(&a, 0)["outcome"], "ignored", "{a}");

    let k1 = publish(&emu, V1, 1, None).await;
    let k2 = publish(&emu, V2, 2, None).await;
    // v2 first, then v1 arrives late: stale, recorded, never active.
    let a = reload.call(&s3_event(&bucket, &[&k2])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");
    let a = reload.call(&s3_event(&bucket, &[&k1])).await;
    assert_eq!(record(&a, 0)["outcome"], "stale", "{a}");
    assert_eq!(record(&a, 0)["code"], "stale_version", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.active.as_ref().unwrap().version, V2);
    assert_eq!(item.rejected.last().unwrap().code, "stale_version");
    // Stale deliveries are not counted by the ModelRejected alarm.
    assert!(!reload
        .process
        .json_lines()
        .iter()
        .any(|l| l["ModelRejected"] == 1));

    // Duplicates: no new revision, no new history.
    let (rev, hist) = (item.revision, item.history.len());
    for key in [&k2, &k1] {
        let a = reload.call(&s3_event(&bucket, &[&key])).await;
        assert!(
            ["unchanged", "stale"].contains(&record(&a, 0)["outcome"].as_str().unwrap()),
            "{a}"
        );
    }
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!((item.revision, item.history.len()), (rev, hist));

    // The batch fixture (recommender, fair-multiple, recommender again) with a broken
    // recommender first: the fair-multiple bundle is still promoted and the duplicate is
    // handled once.
    let (bad, files) = {
        let (mut m, files) =
            synthetic_recommender_parts("2026-11-26T00-00-00Z-badbatch", 5, TreeShape::SMALL);
        m.golden[0].expected[0] += 1.0;
        (m, files)
    };
    let bad_key = upload_raw(&emu, &bad, &files).await;
    let (mut fm, fm_files) = synthetic_fair_multiple_parts("2026-11-22T10-05-00Z-def5678", 1);
    fm.metrics.other.insert("rmse".into(), 3.2);
    let fm_key = publish_parts(&emu, fm, &fm_files).await;
    let v3 = "2026-11-26T00-00-00Z-good3";
    let k3 = publish(&emu, v3, 3, None).await;
    let a = reload
        .call(&rewrite_fixture(
            "s3-put-manifest-batch.json",
            &bucket,
            &[bad_key.clone(), fm_key.clone(), bad_key.clone()],
        ))
        .await;
    assert_eq!(record(&a, 0)["outcome"], "rejected", "{a}");
    assert_eq!(record(&a, 0)["code"], "golden_mismatch", "{a}");
    assert_eq!(record(&a, 1)["outcome"], "active", "{a}");
    assert_eq!(record(&a, 2)["outcome"], "rejected", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(
        item.rejected
            .iter()
            .filter(|r| r.code == "golden_mismatch")
            .count(),
        1,
        "the duplicate bad record is recorded once"
    );
    let fair = registry_item(&emu, "fair-multiple").await;
    assert_eq!(fair.active.unwrap().version, "2026-11-22T10-05-00Z-def5678");
    assert_eq!(fair.kind.as_deref(), Some("fair-multiple"));

    // A batch of a good and a bad record: the good one is promoted.
    let a = reload.call(&s3_event(&bucket, &[&bad_key, &k3])).await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(record(&a, 1)["outcome"], "active", "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME)
            .await
            .active
            .unwrap()
            .version,
        v3
    );

    // A bundle of another kind under the recommender's name is refused.
    let (mut other, other_files) = synthetic_fair_multiple_parts("2026-11-27T00-00-00Z-kind", 1);
    other.name = MODEL_NAME.into();
    other.metrics.other.insert("rmse".into(), 1.0);
    let key = publish_parts(&emu, other, &other_files).await;
    let a = reload.call(&s3_event(&bucket, &[key])).await;
    assert_eq!(record(&a, 0)["code"], "kind_changed", "{a}");
}

/// Admin payloads through the function and the `warmstart registry` CLI: list, show, canary
/// weight, promote, rollback to a named version (re-validated from S3 when history does not
/// know it), and refused requests as `{ok: false}` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_and_the_cli() {
    let emu = Emulator::start("reloadadmin").await;
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let bucket = emu.bucket.clone();

    let a = reload.call(&fixture("admin-invalid.json")).await;
    assert_eq!(a["ok"], false);
    assert_eq!(a["error"]["code"], "unknown_action", "{a}");
    let a = reload.call(&fixture("admin-list.json")).await;
    assert_eq!(a, json!({"ok": true, "action": "list", "models": []}));
    let a = reload
        .call(&admin("admin-promote.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], false);

    let k1 = publish(&emu, V1, 1, None).await;
    reload.call(&s3_event(&bucket, &[k1])).await;
    let k2 = publish(&emu, V2, 2, Some(Rollout::Canary(5))).await;
    let a = reload.call(&s3_event(&bucket, &[k2])).await;
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");

    let a = reload
        .call(&admin("admin-set-canary.json", MODEL_NAME, |v| {
            v["weight"] = json!(101)
        }))
        .await;
    assert_eq!(a["error"]["code"], "invalid_weight", "{a}");
    let a = reload
        .call(&admin("admin-set-canary.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["item"]["candidate"]["weight"], 10);
    let a = reload
        .call(&admin("admin-promote.json", MODEL_NAME, |v| {
            v["version"] = json!("not-the-candidate")
        }))
        .await;
    assert_eq!(a["error"]["code"], "version_mismatch", "{a}");

    // The CLI, against the same table.
    let cli = |args: &[&str]| registry_cli(&emu, args);
    let (ok, out, err) = cli(&["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(V1) && out.contains(&format!("{V2} (10%)")),
        "{out}"
    );
    let (ok, out, err) = cli(&[
        "canary", MODEL_NAME, "25", "--actor", "bob", "--reason", "widen",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("25%"), "{out}");
    let (ok, _, err) = cli(&["canary", MODEL_NAME, "250"]);
    assert!(!ok && err.contains("250"), "{err}");
    let (ok, out, err) = cli(&[
        "promote", MODEL_NAME, "--actor", "bob", "--reason", "healthy",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{V2} is active")), "{out}");
    let (ok, out, err) = cli(&["show", MODEL_NAME, "--json"]);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    let item = &shown["item"];
    assert_eq!(item["active"]["version"], V2);
    assert_eq!(item["active"]["by"], "bob");
    let history = item["history"].as_array().unwrap();
    let actions: Vec<&str> = history
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["promote", "canary", "set_canary", "set_canary", "promote"]
    );
    assert_eq!(history[2]["by"], "alice");
    assert_eq!(history[3]["by"], "bob");
    assert_eq!(history[3]["reason"], "widen");

    // Rollback to a version history never saw: re-validated from S3 first.
    let v0 = "2026-11-20T09-00-00Z-1a2b3c4";
    publish(&emu, v0, 7, None).await;
    let a = reload
        .call(&admin("admin-rollback-version.json", MODEL_NAME, |_| {}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["item"]["active"]["version"], v0);
    assert_eq!(a["item"]["active"]["sha256"].as_str().unwrap().len(), 64);
    // A version that is nowhere cannot be rolled back to.
    let a = reload
        .call(&admin("admin-rollback-version.json", MODEL_NAME, |v| {
            v["version"] = json!("2026-01-01T00-00-00Z-nowhere")
        }))
        .await;
    assert_eq!(a["ok"], false);
    assert_eq!(a["error"]["code"], "file_missing", "{a}");
    // The CLI's rollback: back to v2, the version active before v0.
    let (ok, out, err) = cli(&["rollback", MODEL_NAME, "--reason", "v0 was a mistake"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("rolled back to {V2}")), "{out}");
    let (ok, out, _) = cli(&["clear-shadow", MODEL_NAME]);
    assert!(ok && out.contains("unchanged"), "{out}");
    let a = reload.call(&fixture("admin-list.json")).await;
    assert_eq!(a["models"][0]["active"]["version"], V2);
}

/// Two promotions racing: both reload processes' events end up recorded (one write retried
/// after the conflict), and concurrent conditional writes lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_promotions_lose_nothing() {
    let emu = Emulator::start("reloadrace").await;
    let bucket = emu.bucket.clone();
    let one = start(&reload_bin(), reload_env(&emu)).await;
    let two = start(&reload_bin(), reload_env(&emu)).await;
    let k1 = publish(&emu, V1, 1, None).await;
    one.call(&s3_event(&bucket, &[k1])).await;

    // Two invocations at once, in two containers: a canary and a shadow.
    let kc = publish(
        &emu,
        "2026-11-23T00-00-00Z-racecan",
        2,
        Some(Rollout::Canary(20)),
    )
    .await;
    let ks = publish(
        &emu,
        "2026-11-23T00-00-00Z-raceshd",
        3,
        Some(Rollout::Shadow),
    )
    .await;
    let (ec, es) = (s3_event(&bucket, &[kc]), s3_event(&bucket, &[ks]));
    let (a, b) = tokio::join!(one.call(&ec), two.call(&es));
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");
    assert_eq!(record(&b, 0)["outcome"], "shadow", "{b}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(
        item.candidate.as_ref().unwrap().version,
        "2026-11-23T00-00-00Z-racecan"
    );
    assert_eq!(
        item.shadow.as_ref().unwrap().version,
        "2026-11-23T00-00-00Z-raceshd"
    );
    assert_eq!(item.revision, 3, "one write per event");
    assert_eq!(item.history.len(), 3);

    // The same event delivered to both containers at once: recorded once.
    let kp = publish(&emu, "2026-11-24T00-00-00Z-racedup", 4, None).await;
    let e = s3_event(&bucket, &[kp]);
    let (a, b) = tokio::join!(one.call(&e), two.call(&e));
    let outcomes = [
        record(&a, 0)["outcome"].as_str().unwrap().to_string(),
        record(&b, 0)["outcome"].as_str().unwrap().to_string(),
    ];
    assert!(
        outcomes.contains(&"active".to_string()) && outcomes.contains(&"unchanged".to_string()),
        "{outcomes:?}"
    );
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.revision, 4);
    assert_eq!(
        item.history
            .iter()
            .filter(|h| h.version == "2026-11-24T00-00-00Z-racedup" && h.action == Action::Promote)
            .count(),
        1
    );

    // A write on a stale revision is refused; update() re-reads and re-applies.
    let table = RegistryTable::new(emu.dynamo.clone(), &emu.registry_table);
    let ctx = registry::Context {
        by: "t",
        reason: "race",
        at: "2026-11-22T10:00:00.000Z",
    };
    let change = |w| Change::SetCanary { weight: w };
    // The candidate was superseded by the immediate promotion; stage one again.
    let kc2 = publish(
        &emu,
        "2026-11-25T00-00-00Z-racecan2",
        5,
        Some(Rollout::Canary(1)),
    )
    .await;
    one.call(&s3_event(&bucket, &[kc2])).await;
    let read = table.get(MODEL_NAME).await.unwrap().unwrap();
    // Another writer gets there first.
    aws::apply_change(&table, None, MODEL_NAME, &change(60), "other", "first")
        .await
        .unwrap();
    let registry::Applied::Changed { item: stale, .. } =
        registry::apply(Some(&read), MODEL_NAME, &change(50), &ctx).unwrap()
    else {
        panic!("a new weight changes the item")
    };
    assert!(matches!(
        table.put(&stale, Some(read.revision)).await,
        Err(aws::PutError::Conflict)
    ));

    // The refusal of a stale revision above is the property the registry relies on, and it is
    // deterministic; many concurrent writers on one item are infra/tests/registry_writers.rs.
}

fn valuation_bin() -> PathBuf {
    sibling(
        "valuation",
        "valuation",
        &[
            "functions/valuation/src",
            "functions/valuation/Cargo.toml",
            "shared/src",
            "shared/Cargo.toml",
        ],
    )
}

/// The valuation function follows the registry too: a fair-multiple version published through
/// reload is served, a canary splits companies by `ts_code` bucket, a promotion swaps it in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valuation_follows_the_registry() {
    use warmstart_core::aws::valuation_store::DynamoCompanyStore;
    use warmstart_core::valuation::synthetic::synthetic_companies;
    const FM: &str = "fair-multiple";
    let fm1 = "2026-11-22T10-00-00Z-fm00001";
    let fm2 = "2026-11-23T10-00-00Z-fm00002";

    let emu = Emulator::start("reloadval").await;
    let companies = synthetic_companies(40, 1, "20250331");
    DynamoCompanyStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_companies(&companies)
        .await
        .unwrap();
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let fair = |version: &str, variant: u64, rollout: Option<Rollout>| {
        let (mut m, files) = synthetic_fair_multiple_parts(version, variant);
        m.metrics.other.insert("rmse".into(), 2.0);
        m.rollout = rollout;
        (m, files)
    };
    let (m, files) = fair(fm1, 1, None);
    let key = publish_parts(&emu, m, &files).await;
    let a = reload.call(&s3_event(&emu.bucket, &[key])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");

    let mut env = recommend_env(&emu);
    env.retain(|(k, _)| k != "MODEL_NAME");
    env.push(("MODEL_NAME".into(), FM.into()));
    let val = start(&valuation_bin(), env).await;
    let value = |ts_code: &str| {
        event_with_body(
            "apigw-valuation-valid.json",
            &json!({ "ts_code": ts_code }).to_string(),
        )
    };
    let (status, v) = val.http(&value("600519.SH")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"]["version"], fm1);
    assert_eq!(v["variant"], "active", "{v}");

    // A 50 % canary: each company's variant is its bucket's.
    let (m, files) = fair(fm2, 2, Some(Rollout::Canary(50)));
    let key = publish_parts(&emu, m, &files).await;
    let a = reload.call(&s3_event(&emu.bucket, &[key])).await;
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");
    wait_health(&val, "the fair-multiple candidate", |h| {
        h["candidate"]["version"] == fm2
    })
    .await;
    let mut seen = (0, 0);
    for c in companies.iter().take(16) {
        let (status, v) = val.http(&value(&c.ts_code)).await;
        assert_eq!(status, 200, "{v}");
        let expect = in_canary(FM, &c.ts_code, 50);
        assert_eq!(
            (
                v["variant"].as_str().unwrap(),
                v["model"]["version"].as_str().unwrap()
            ),
            if expect {
                ("candidate", fm2)
            } else {
                ("active", fm1)
            },
            "{}",
            c.ts_code
        );
        if expect {
            seen.1 += 1
        } else {
            seen.0 += 1
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");

    // Promote: everybody gets fm2.
    let a = reload
        .call(&admin("admin-promote.json", FM, |v| {
            v["version"] = json!(fm2)
        }))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    wait_health(&val, "fm2 active", |h| {
        h["model"]["version"] == fm2 && h["candidate"].is_null()
    })
    .await;
    for c in companies.iter().take(4) {
        let (_, v) = val.http(&value(&c.ts_code)).await;
        assert_eq!(
            (v["variant"].clone(), v["model"]["version"].clone()),
            (json!("active"), json!(fm2))
        );
    }
    assert!(val
        .process
        .json_lines()
        .iter()
        .any(|l| l["ModelSwap"] == 1 && l["Function"] == "valuation"));
}
