//! Publishing a bundle directory to S3: verified locally first, model files uploaded first and
//! `manifest.json` LAST, so that the reload notification (suffix `manifest.json`) only fires for
//! a complete bundle.

use super::s3::dir_prefix;
use super::sdk_message;
use crate::bundle::{Bundle, BundleError, DirSource, Manifest, MANIFEST_FILE};
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("bundle in {dir} is invalid: {source}")]
    Bundle {
        dir: String,
        #[source]
        source: BundleError,
    },
    #[error("s3://{bucket}/{key} already holds a different manifest; versions are immutable, publish a new version")]
    AlreadyPublished { bucket: String, key: String },
    #[error("uploading s3://{bucket}/{key}: {message}")]
    Upload {
        bucket: String,
        key: String,
        message: String,
    },
}

/// Uploads the bundle in `dir` to `s3://<bucket>/<prefix><name>/<version>/` and returns the key
/// of its `manifest.json`. The bundle is loaded and its golden rows scored before anything is
/// uploaded. Publishing the same bundle again is a no-op; a different bundle under an already
/// published version is refused.
pub async fn publish_bundle(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &Path,
) -> Result<String, PublishError> {
    let bundle_err = |source: BundleError| PublishError::Bundle {
        dir: dir.display().to_string(),
        source,
    };
    let manifest_bytes = std::fs::read(dir.join(MANIFEST_FILE)).map_err(|e| {
        bundle_err(BundleError::Manifest(format!(
            "reading {MANIFEST_FILE}: {e}"
        )))
    })?;
    let manifest = Manifest::from_json(&manifest_bytes).map_err(bundle_err)?;
    let bundle = Bundle::load(&DirSource::new(dir))
        .await
        .map_err(bundle_err)?;
    bundle.verify_golden().map_err(bundle_err)?;

    let base = format!(
        "{}{}/{}/",
        dir_prefix(prefix),
        manifest.name,
        manifest.version
    );
    let manifest_key = format!("{base}{MANIFEST_FILE}");
    let upload_err = |key: &str, message: String| PublishError::Upload {
        bucket: bucket.to_string(),
        key: key.to_string(),
        message,
    };

    match s3
        .get_object()
        .bucket(bucket)
        .key(&manifest_key)
        .send()
        .await
    {
        Ok(existing) => {
            let bytes = existing
                .body
                .collect()
                .await
                .map_err(|e| upload_err(&manifest_key, e.to_string()))?
                .into_bytes();
            if bytes.as_ref() == manifest_bytes.as_slice() {
                tracing::info!(key = %manifest_key, "bundle already published");
                return Ok(manifest_key);
            }
            return Err(PublishError::AlreadyPublished {
                bucket: bucket.to_string(),
                key: manifest_key,
            });
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {}
        Err(e) => return Err(upload_err(&manifest_key, sdk_message(&e))),
    }

    futures::stream::iter(manifest.files.iter().map(|f| {
        let key = format!("{base}{}", f.path);
        let path = dir.join(&f.path);
        let upload_err = &upload_err;
        async move {
            let body = ByteStream::from_path(&path)
                .await
                .map_err(|e| upload_err(&key, e.to_string()))?;
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(content_type(&f.path))
                .body(body)
                .send()
                .await
                .map_err(|e| upload_err(&key, sdk_message(&e)))?;
            Ok::<_, PublishError>(())
        }
    }))
    .buffer_unordered(4)
    .try_collect::<()>()
    .await?;

    s3.put_object()
        .bucket(bucket)
        .key(&manifest_key)
        .content_type("application/json")
        .body(ByteStream::from(manifest_bytes))
        .send()
        .await
        .map_err(|e| upload_err(&manifest_key, sdk_message(&e)))?;
    tracing::info!(key = %manifest_key, files = manifest.files.len(), "bundle published");
    Ok(manifest_key)
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".json") {
        "application/json"
    } else if path.ends_with(".txt") || path.ends_with(".csv") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}
