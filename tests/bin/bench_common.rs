//! What the cold-start and swap benches share: flags, publishing a bundle with its compiled
//! file (as `warmstart publish` does), the embedded stack of each function, the machine load.
// Each bench includes this file and uses part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::str::FromStr;
use warmstart_core::aws::valuation_store::DynamoCompanyStore;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::{compile_bundle, write_bundle, FileEntry, Manifest};
use warmstart_core::valuation::synthetic::{
    synthetic_companies, synthetic_fair_multiple_parts, FAIR_MULTIPLE_NAME,
};
use warmstart_tests::*;

/// `--name value` from the command line, or `default`.
pub fn flag<T: FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a value")),
        None => default,
    }
}

/// The function binary `name` next to this executable (the same cargo profile).
pub fn beside_me(name: &str) -> std::path::PathBuf {
    let bin = std::env::current_exe()
        .expect("current exe")
        .with_file_name(name);
    assert!(
        bin.is_file(),
        "{} not found: cargo build --release -p {name}",
        bin.display()
    );
    bin
}

/// `uptime`'s load averages, for the record beside each figure.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "n/a".into())
}

/// Writes `files` as a bundle in `dir` with its compiled `models.wsc` (proven equal to the
/// text, as `warmstart publish` writes bundles) and publishes it under `models/`.
pub async fn publish_compiled(
    emu: &Emulator,
    dir: &Path,
    mut manifest: Manifest,
    files: &[(String, Vec<u8>)],
) -> Manifest {
    manifest.files = files
        .iter()
        .map(|(p, b)| FileEntry::describe(p, b))
        .collect();
    let (entry, compiled) = compile_bundle(&manifest, files).expect("compile the bundle");
    let mut files = files.to_vec();
    files.push((entry.path.clone(), compiled));
    manifest.files.push(entry);
    let manifest = write_bundle(dir, manifest, &files).expect("write the bundle");
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir)
        .await
        .expect("publish");
    manifest
}

/// Publishes recommender bundle `version` (24 models of 100 trees x 31 leaves, `variant`).
pub async fn publish_recommender(emu: &Emulator, dir: &Path, version: &str, variant: u64) {
    let (manifest, files) = synthetic_recommender_parts(version, variant, TreeShape::REALISTIC);
    publish_compiled(emu, dir, manifest, &files).await;
}

/// The recommend function's environment on `emu`, its bundle `version` active and `customers`
/// seeded (besides the three the sample events name).
pub async fn recommend_stack(emu: &Emulator, dir: &Path, version: &str, customers: usize) {
    publish_recommender(emu, dir, version, 1).await;
    emu.set_active(MODEL_NAME, version).await;
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(customers))
        .await
        .expect("seed customers");
}

/// Publishes the fair-multiple bundle `version`, makes it active, seeds 60 companies into a
/// table of their own and creates a cache table; returns the valuation function's environment.
pub async fn valuation_stack(emu: &Emulator, dir: &Path, version: &str) -> Vec<(String, String)> {
    let (manifest, files) = synthetic_fair_multiple_parts(version, 1);
    publish_compiled(emu, dir, manifest, &files).await;
    emu.set_active(FAIR_MULTIPLE_NAME, version).await;
    let companies = unique_name("Companies-bench");
    let cache = unique_name("ValuationCache-bench");
    create_table(&emu.dynamo, &companies, "pk").await;
    create_table(&emu.dynamo, &cache, "pk").await;
    DynamoCompanyStore::new(emu.dynamo.clone(), &companies)
        .put_companies(&synthetic_companies(60, 1, "20250331"))
        .await
        .expect("seed companies");
    let mut env = emu.function_env();
    env.retain(|(k, _)| k != "MODEL_NAME" && k != "FEATURES_TABLE");
    env.extend(
        [
            ("MODEL_NAME", FAIR_MULTIPLE_NAME),
            ("FEATURES_TABLE", companies.as_str()),
            ("VALUATION_CACHE_TABLE", cache.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    env
}

/// The first log line whose message ends with `message` (`model loaded` carries the model's
/// name in front).
pub fn log_line<'a>(lines: &'a [Value], message: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.ends_with(message)))
}
