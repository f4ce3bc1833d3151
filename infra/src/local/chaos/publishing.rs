//! The model versions the phases publish: renamed (and optionally corrupted) copies of a
//! trained bundle, published as `warmstart publish` does or uploaded raw as a broken pipeline
//! would, and the registry polled until reload has decided on them.

use super::super::setup::{self, BUCKET, MODELS_PREFIX};
use crate::train::bundle_out;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warmstart_core::aws::RegistryTable;
use warmstart_core::bundle::MANIFEST_FILE;
use warmstart_core::registry::RegistryItem;

/// A copy of the bundle `src` as `version` under `scratch`, optionally with one byte of a
/// model file flipped (its manifest checksum then no longer matches).
pub(super) fn versioned_copy(
    src: &Path,
    scratch: &Path,
    version: &str,
    corrupt: bool,
) -> Result<PathBuf> {
    let dst = scratch.join(version);
    let mut corrupted = !corrupt;
    copy_tree(src, &dst, &mut |rel, bytes| {
        if rel == Path::new(MANIFEST_FILE) {
            let mut m: serde_json::Value = serde_json::from_slice(bytes)?;
            m["version"] = serde_json::Value::String(version.to_string());
            *bytes = serde_json::to_vec_pretty(&m)?;
        } else if !corrupted && !bytes.is_empty() {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            corrupted = true;
        }
        Ok(())
    })?;
    Ok(dst)
}

/// Copies the files under `src` to `dst` (sorted, depth first), each through `edit`.
fn copy_tree(
    src: &Path,
    dst: &Path,
    edit: &mut dyn FnMut(&Path, &mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out)?;
            } else if p.is_file() {
                out.push(p.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(src, src, &mut files)?;
    for rel in files {
        let mut bytes = std::fs::read(src.join(&rel))?;
        edit(&rel, &mut bytes)?;
        let to = dst.join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&to, bytes)?;
    }
    Ok(())
}

/// A version that sorts after every earlier one: `<now>-chaos-<what>`.
pub(super) fn version(what: &str) -> String {
    format!("{}-chaos-{what}", bundle_out::now().1)
}

/// Uploads the files of `dir` as they are (manifest last), as a broken pipeline would:
/// `warmstart publish` refuses a bundle that does not verify.
pub(super) async fn upload_raw(
    clients: &setup::Clients,
    dir: &Path,
    model: &str,
    version: &str,
) -> Result<()> {
    let mut files = Vec::new();
    copy_tree(dir, &dir.with_extension("uploaded"), &mut |rel, bytes| {
        files.push((rel.to_path_buf(), bytes.clone()));
        Ok(())
    })?;
    files.sort_by_key(|(rel, _)| rel == Path::new(MANIFEST_FILE));
    for (rel, bytes) in files {
        let key = format!("{MODELS_PREFIX}{model}/{version}/{}", rel.display());
        clients
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("uploading {key}: {}", setup::sdk_message(&e)))?;
    }
    Ok(())
}

pub(super) async fn publish(clients: &setup::Clients, dir: &Path) -> Result<()> {
    warmstart_core::aws::publish_bundle(&clients.s3, BUCKET, MODELS_PREFIX, dir)
        .await
        .with_context(|| format!("publishing {}", dir.display()))?;
    Ok(())
}

/// The registry item of `model`, polled until `done` holds or `within` passes.
pub(super) async fn wait_registry(
    registry: &RegistryTable,
    model: &str,
    within: Duration,
    done: impl Fn(&RegistryItem) -> bool,
) -> Option<RegistryItem> {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(item)) = registry.get(model).await {
            if done(&item) {
                return Some(item);
            }
            last = Some(item);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

pub(super) fn active_of(item: &RegistryItem) -> &str {
    item.active.as_ref().map_or("-", |a| a.version.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_copies_rename_and_corrupt() {
        let dir = std::env::temp_dir().join(format!("chaos-copy-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join(MANIFEST_FILE), br#"{"version":"v1","name":"m"}"#).unwrap();
        std::fs::create_dir_all(src.join("models")).unwrap();
        std::fs::write(src.join("models/a.txt"), b"abcd").unwrap();
        let good = versioned_copy(&src, &dir, "v2", false).unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(good.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(
            (m["version"].as_str(), m["name"].as_str()),
            (Some("v2"), Some("m"))
        );
        assert_eq!(std::fs::read(good.join("models/a.txt")).unwrap(), b"abcd");
        let bad = versioned_copy(&src, &dir, "v3", true).unwrap();
        assert_eq!(std::fs::read(bad.join("models/a.txt")).unwrap(), b"abbd");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
