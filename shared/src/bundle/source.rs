//! Where bundle files come from. The loader is written once against [`BundleSource`]; a local
//! directory and S3 are the two implementations.

use super::{FileEntry, Manifest, MANIFEST_FILE};
use std::future::Future;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("`{0}` is missing from the bundle")]
    NotFound(String),
    #[error("reading `{path}`: {reason}")]
    Io { path: String, reason: String },
}

/// Read access to one bundle's files, by path relative to the bundle root.
pub trait BundleSource: Send + Sync {
    fn read(&self, path: &str) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
    /// Reads a file that may be large (the compiled models, text models), `bytes` long when
    /// the caller knows: sources that can fetch parts of it concurrently do (S3 ranged GETs).
    fn read_large(
        &self,
        path: &str,
        bytes: Option<u64>,
    ) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send {
        let _ = bytes;
        self.read(path)
    }
    /// For logs and error messages, e.g. `s3://bucket/models/x/v1/` or a directory.
    fn location(&self) -> String;
}

/// A bundle in a local directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSource { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl BundleSource for DirSource {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let full = self.root.join(path);
        tokio::fs::read(&full).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SourceError::NotFound(path.to_string()),
            _ => SourceError::Io {
                path: full.display().to_string(),
                reason: e.to_string(),
            },
        })
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

/// Writes a bundle directory: the files first, then `manifest.json` (with `files` filled in
/// from the contents) last, so a reader that sees the manifest sees complete files.
pub fn write_bundle(
    dir: &Path,
    mut manifest: Manifest,
    files: &[(String, Vec<u8>)],
) -> std::io::Result<Manifest> {
    // Entries are recomputed from the contents; what a file is (its compiled marker) is kept.
    let marker = |path: &str| manifest.file(path).and_then(|f| f.compiled);
    manifest.files = files
        .iter()
        .map(|(path, bytes)| FileEntry {
            compiled: marker(path),
            ..FileEntry::describe(path, bytes)
        })
        .collect();
    for (path, bytes) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(full, bytes)?;
    }
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".manifest.json.tmp");
    std::fs::write(&tmp, manifest.to_json())?;
    std::fs::rename(tmp, dir.join(MANIFEST_FILE))?;
    Ok(manifest)
}
