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

/// Bytes per ranged GET of a large file. S3 serves each connection at a bounded rate, so AWS
/// recommends byte-range fetches in parallel for throughput; parts of this size keep the
/// request count (and cost) small.
const PART: u64 = 512 * 1024;
/// Parts requested at once when the size is unknown: covers 2 MiB in one round trip.
const SPECULATIVE_PARTS: u64 = 4;
/// Ranged GETs in flight at once.
const MAX_IN_FLIGHT: usize = 8;

/// One ranged GET's answer: its bytes and the object's whole size (`Content-Range`), or
/// `None` when the range starts past the end (416).
type Part = Option<(Vec<u8>, u64)>;

impl S3Source {
    fn io_error(&self, key: &str, reason: String) -> SourceError {
        SourceError::Io {
            path: format!("s3://{}/{key}", self.bucket),
            reason,
        }
    }

    async fn get(&self, path: &str, range: Option<(u64, u64)>) -> Result<Part, SourceError> {
        let key = self.key(path);
        let resp = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .set_range(range.map(|(first, len)| format!("bytes={first}-{}", first + len - 1)))
            .send()
            .await;
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                let service = e.as_service_error();
                if service.is_some_and(|s| s.is_no_such_key()) {
                    return Err(SourceError::NotFound(path.to_string()));
                }
                if range.is_some() && service.and_then(|s| s.meta().code()) == Some("InvalidRange")
                {
                    return Ok(None);
                }
                return Err(self.io_error(&key, sdk_message(&e)));
            }
        };
        let total = match range {
            None => None,
            Some(_) => Some(
                resp.content_range()
                    .and_then(|r| r.rsplit_once('/'))
                    .and_then(|(_, total)| total.parse::<u64>().ok())
                    .ok_or_else(|| {
                        self.io_error(&key, "a ranged GET answered without Content-Range".into())
                    })?,
            ),
        };
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| self.io_error(&key, e.to_string()))?;
        let bytes = bytes.into_bytes().to_vec();
        let total = total.unwrap_or(bytes.len() as u64);
        Ok(Some((bytes, total)))
    }

    /// Parts `[from, to)` of `path`, fetched concurrently, in order.
    async fn get_parts(&self, path: &str, from: u64, to: u64) -> Result<Vec<Part>, SourceError> {
        use futures::{StreamExt, TryStreamExt};
        let starts = (from..to).step_by(PART as usize);
        futures::stream::iter(
            starts.map(|first| self.get(path, Some((first, PART.min(to - first))))),
        )
        .buffered(MAX_IN_FLIGHT)
        .try_collect()
        .await
    }
}

impl BundleSource for S3Source {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        // Only a ranged GET answers `None` (a 416).
        let part = self.get(path, None).await?;
        Ok(part.map(|(bytes, _)| bytes).unwrap_or_default())
    }

    /// Concurrent ranged GETs of [`PART`] bytes. With the size unknown, the first
    /// [`SPECULATIVE_PARTS`] are asked at once (a part past the end costs one 416) and the
    /// rest, if any, once the size is known. Parts could come from two uploads of the same key
    /// only if the bundle were overwritten in place, which publish never does, and the caller
    /// checks the whole file's sha256 either way.
    async fn read_large(&self, path: &str, bytes: Option<u64>) -> Result<Vec<u8>, SourceError> {
        let first_round = match bytes {
            Some(len) if len <= PART => return self.read(path).await,
            // Whole parts: the parts are concatenated by their index.
            Some(len) => len.div_ceil(PART) * PART,
            None => SPECULATIVE_PARTS * PART,
        };
        let mut parts = self.get_parts(path, 0, first_round).await?;
        let Some(total) = parts.iter().flatten().map(|(_, total)| *total).next() else {
            // Every range started past the end: the object is empty.
            return self.read(path).await;
        };
        if total > first_round {
            parts.extend(self.get_parts(path, first_round, total).await?);
        }
        let mut out = Vec::with_capacity(total as usize);
        for (i, part) in parts.into_iter().enumerate() {
            let start = i as u64 * PART;
            if start >= total {
                break;
            }
            let want = PART.min(total - start);
            match part {
                Some((b, t)) if t == total && b.len() as u64 == want => out.extend_from_slice(&b),
                _ => {
                    let reason =
                        format!("part at byte {start} does not match a {total}-byte object");
                    return Err(self.io_error(&self.key(path), reason));
                }
            }
        }
        Ok(out)
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
