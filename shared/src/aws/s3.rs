//! Bundles in S3: `s3://<bucket>/<prefix><path>`.

use super::sdk_message;
use crate::bundle::{BundleSource, SourceError};

/// One bundle's files in S3, e.g. `s3://models-bucket/models/product-recommender/<version>/`.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// `prefix` with exactly one trailing slash (empty stays empty).
pub(crate) fn dir_prefix(prefix: &str) -> String {
    let p = prefix.trim_matches('/');
    if p.is_empty() {
        String::new()
    } else {
        format!("{p}/")
    }
}

impl S3Source {
    /// Files under `prefix` (a trailing `/` is added when missing).
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> Self {
        S3Source {
            client,
            bucket: bucket.into(),
            prefix: dir_prefix(prefix),
        }
    }

    /// The bundle `<models_prefix><name>/<version>/`, the layout `publish_bundle` writes.
    pub fn for_version(
        client: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        models_prefix: &str,
        name: &str,
        version: &str,
    ) -> Self {
        let prefix = format!("{}{name}/{version}/", dir_prefix(models_prefix));
        S3Source::new(client, bucket, &prefix)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

impl BundleSource for S3Source {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let key = self.key(path);
        let resp = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    SourceError::NotFound(path.to_string())
                } else {
                    SourceError::Io {
                        path: format!("s3://{}/{key}", self.bucket),
                        reason: sdk_message(&e),
                    }
                }
            })?;
        let bytes = resp.body.collect().await.map_err(|e| SourceError::Io {
            path: format!("s3://{}/{key}", self.bucket),
            reason: e.to_string(),
        })?;
        Ok(bytes.into_bytes().to_vec())
    }

    fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_get_one_trailing_slash() {
        assert_eq!(dir_prefix("models"), "models/");
        assert_eq!(dir_prefix("models/"), "models/");
        assert_eq!(dir_prefix("/a/b//"), "a/b/");
        assert_eq!(dir_prefix(""), "");
    }
}
