//! What the reload end-to-end tests share: the binaries, their environments, publishing
//! synthetic bundles, the sample events and registry reads.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warmstart_core::aws::{self, RegistryTable};
use warmstart_core::bundle::{write_bundle, Manifest, Rollout};
use warmstart_core::registry::RegistryItem;
use warmstart_tests::*;

pub const V1: &str = "2026-11-22T10-00-00Z-e2e0001";

pub const V2: &str = "2026-11-23T10-00-00Z-e2e0002";

pub const TIMEOUT: Duration = FUNCTION_TIMEOUT;

pub fn reload_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_reload"))
}

/// Another package's binary beside this test's, refused when missing or out of date.
pub fn sibling(bin: &str, package: &str, sources: &[&str]) -> PathBuf {
    workspace_binary(&reload_bin(), bin, package, sources)
}

pub fn recommend_bin() -> PathBuf {
    sibling(
        "recommend",
        "recommend",
        &[
            "functions/recommend/src",
            "functions/recommend/Cargo.toml",
            "shared/src",
            "shared/Cargo.toml",
        ],
    )
}

pub async fn start(bin: &Path, env: Vec<(String, String)>) -> Running {
    Running::start(bin, &env).await
}

pub fn reload_env(emu: &Emulator) -> Vec<(String, String)> {
    emu.function_env()
}

pub fn recommend_env(emu: &Emulator) -> Vec<(String, String)> {
    let mut env = emu.function_env();
    env.extend(
        [
            ("REGISTRY_TTL_SECS", "1"),
            // Generous: a busy 2-core machine.
            ("STORE_DEADLINE_MS", "3000"),
            ("BATCH_STORE_DEADLINE_MS", "5000"),
            ("REGISTRY_TIMEOUT_MS", "3000"),
            ("MODEL_LOAD_TIMEOUT_MS", "20000"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_slice(&sample_event(name)).unwrap()
}

pub fn admin(name: &str, model: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = fixture(name);
    v["model"] = json!(model);
    edit(&mut v);
    v
}

/// A valid synthetic recommender bundle, published with `warmstart_core::aws::publish_bundle`
/// (verified locally, files first, manifest last).
pub async fn publish(
    emu: &Emulator,
    version: &str,
    variant: u64,
    rollout: Option<Rollout>,
) -> String {
    let (mut manifest, files) = synthetic_recommender_parts(version, variant, TreeShape::SMALL);
    manifest.rollout = rollout;
    publish_parts(emu, manifest, &files).await
}

pub async fn publish_parts(
    emu: &Emulator,
    manifest: Manifest,
    files: &[(String, Vec<u8>)],
) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), manifest, files).unwrap();
    aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap()
}

pub async fn registry_item(emu: &Emulator, model: &str) -> RegistryItem {
    RegistryTable::new(emu.dynamo.clone(), &emu.registry_table)
        .get(model)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no registry item for {model}"))
}

pub fn record(answer: &Value, i: usize) -> &Value {
    &answer["records"][i]
}

/// Polls `GET /health` until `pred` holds.
pub async fn wait_health(f: &Running, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, v) = f.http(&sample_event("apigw-get-health.json")).await;
        assert_eq!(status, 200, "{v}");
        if pred(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "recommend never got to {what}; last health {v}\noutput:\n{}",
            f.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn batch_event(ids: &[String]) -> Vec<u8> {
    event_with_body(
        "apigw-recommend-batch-valid.json",
        &json!({"customer_ids": ids, "k": 3}).to_string(),
    )
}
