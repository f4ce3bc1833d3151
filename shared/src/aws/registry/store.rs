//! Where bundles live in S3 and what reload does with an upload there: validate it, add the
//! compiled models file it lacks, and name it for the registry.

use crate::aws::s3::{dir_prefix, S3Source};
use crate::aws::sdk_message;
use crate::bundle::{compile_bundle, sha256_hex, Bundle, BundleSource, MANIFEST_FILE};
use crate::model::compiled::FILE_NAME;
use crate::registry::{validate_source, Rejected, Validated, VersionRef};

/// Where the bundle of `reference` lives: its recorded prefix, else
/// `<models_prefix><model>/<version>/`.
pub fn source_for(
    s3: aws_sdk_s3::Client,
    bucket: &str,
    models_prefix: &str,
    model: &str,
    reference: &VersionRef,
) -> S3Source {
    match &reference.prefix {
        Some(p) => S3Source::new(s3, bucket, p),
        None => S3Source::for_version(s3, bucket, models_prefix, model, &reference.version),
    }
}

/// The key prefix a bundle of `model`/`version` is published under.
pub fn bundle_prefix(models_prefix: &str, model: &str, version: &str) -> String {
    format!("{}{model}/{version}/", dir_prefix(models_prefix))
}

/// Counted when reload could not add the compiled models file to an upload lacking it.
pub const COMPILE_FAILED_METRIC: &str = "CompileFailed";

/// Where bundles live: the bucket and the models prefix (`MODEL_BUCKET`, `MODEL_PREFIX`).
#[derive(Debug, Clone)]
pub struct ModelStore {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub models_prefix: String,
}

impl ModelStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>, models_prefix: &str) -> Self {
        ModelStore {
            s3,
            bucket: bucket.into(),
            models_prefix: dir_prefix(models_prefix),
        }
    }

    /// The bundle of `model`/`version` as published: `<models_prefix><model>/<version>/`.
    pub fn source(&self, model: &str, version: &str) -> S3Source {
        S3Source::new(
            self.s3.clone(),
            &self.bucket,
            &bundle_prefix(&self.models_prefix, model, version),
        )
    }

    /// Loads and validates `model`/`version` from S3 (see [`crate::registry::validate`]).
    pub async fn validate(&self, model: &str, version: &str) -> Result<Validated, Rejected> {
        validate_source(&self.source(model, version), model, version).await
    }

    /// A validated bundle uploaded without the compiled models file gets one: built from its
    /// text models and proven to score exactly as they do ([`compile_bundle`]: golden rows and
    /// 1,000 random rows, bit for bit), written next to the manifest, then the manifest is
    /// rewritten to list it, so every container that loads this version skips parsing the
    /// text. The returned bundle is the one the rewritten manifest describes (its sha256 is
    /// what the registry pins). Any failure keeps the upload as it is, served from its text
    /// (logged, `CompileFailed`): the compiled file is an optimisation, never a reason to
    /// refuse a model. The manifest rewrite is itself an upload event; it arrives for a
    /// version the registry already knows and is a no-op.
    ///
    /// A compiled file of an older layout (written by an older CLI) counts as missing and is
    /// replaced; one of a newer layout is left for the newer scorers that read it.
    pub async fn compile_missing(&self, model: &str, v: Validated) -> Validated {
        let current = crate::model::compiled::LAYOUT_VERSION;
        if v.bundle
            .manifest()
            .files
            .iter()
            .any(|f| f.compiled.is_some_and(|c| c.layout_version >= current))
        {
            return v;
        }
        let started = std::time::Instant::now();
        match self.write_compiled(model, &v).await {
            Ok(compiled) => {
                tracing::info!(
                    file = FILE_NAME,
                    compile_ms = started.elapsed().as_secs_f64() * 1e3,
                    manifest_sha256 = %compiled.manifest_sha256,
                    "compiled models written beside the manifest"
                );
                compiled
            }
            Err(e) => {
                tracing::warn!(error = %e, "no compiled models file; the bundle is served from its text models");
                metrics::counter!(COMPILE_FAILED_METRIC).increment(1);
                v
            }
        }
    }

    async fn write_compiled(&self, model: &str, v: &Validated) -> Result<Validated, String> {
        let manifest = v.bundle.manifest();
        let source = self.source(model, &manifest.version);
        let mut files = Vec::with_capacity(manifest.files.len() + 1);
        for f in manifest.files.iter().filter(|f| f.compiled.is_none()) {
            let bytes =
                (source.read(&f.path).await).map_err(|e| format!("reading {}: {e}", f.path))?;
            files.push((f.path.clone(), bytes));
        }
        let (entry, bytes) = compile_bundle(manifest, &files).map_err(|e| e.to_string())?;
        let mut next = manifest.clone();
        next.files.retain(|f| f.compiled.is_none());
        next.files.push(entry);
        let manifest_bytes = next.to_json().into_bytes();
        let prefix = bundle_prefix(&self.models_prefix, model, &manifest.version);
        // The compiled file first: the manifest must never list a file that is not there yet.
        for (name, body, content_type) in [
            (FILE_NAME, bytes.clone(), "application/octet-stream"),
            (MANIFEST_FILE, manifest_bytes.clone(), "application/json"),
        ] {
            let key = format!("{prefix}{name}");
            (self.s3.put_object().bucket(&self.bucket).key(&key))
                .content_type(content_type)
                .body(aws_sdk_s3::primitives::ByteStream::from(body))
                .send()
                .await
                .map_err(|e| format!("writing s3://{}/{key}: {}", self.bucket, sdk_message(&e)))?;
        }
        files.push((FILE_NAME.to_string(), bytes));
        let bundle = Bundle::from_parts(next, files).map_err(|e| e.to_string())?;
        if !bundle.is_compiled() {
            return Err("the rewritten bundle does not use its compiled file".into());
        }
        Ok(Validated {
            bundle,
            manifest_sha256: sha256_hex(&manifest_bytes),
            golden_rows: v.golden_rows,
        })
    }

    /// The registry reference of a validated bundle.
    pub fn reference(&self, model: &str, v: &Validated) -> VersionRef {
        VersionRef {
            version: v.bundle.version().to_string(),
            prefix: Some(bundle_prefix(
                &self.models_prefix,
                model,
                v.bundle.version(),
            )),
            sha256: Some(v.manifest_sha256.clone()),
        }
    }
}
