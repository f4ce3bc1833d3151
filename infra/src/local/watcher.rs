//! S3 event notifications, locally: the bucket is listed every poll interval and each new (or
//! rewritten) `models/**/manifest.json` becomes the `ObjectCreated:Put` event S3 would send
//! the reload function (the template's notification: prefix `models/`, suffix
//! `manifest.json`). Objects present at start are the baseline, not news.

use super::functions::LocalFunction;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use warmstart_core::aws::sdk::s3;
use warmstart_core::bundle::MANIFEST_FILE;
use warmstart_devkit::aws::{notification_key, sdk_message};
use warmstart_devkit::Outcome;

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub key: String,
    pub etag: String,
    pub size: i64,
}

/// `key → etag` of every manifest under `prefix`.
pub async fn list_manifests(
    client: &s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| sdk_message(&e))?;
        for o in page.contents.unwrap_or_default() {
            let Some(key) = o.key else { continue };
            if key.ends_with(&format!("/{MANIFEST_FILE}")) {
                out.push(Listed {
                    key,
                    etag: o.e_tag.unwrap_or_default().trim_matches('"').to_string(),
                    size: o.size.unwrap_or(0),
                });
            }
        }
        match page.next_continuation_token {
            Some(t) if page.is_truncated == Some(true) => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// The `ObjectCreated:Put` notification for `object` in `bucket`.
pub fn s3_event(bucket: &str, object: &Listed, sequence: u64, now: OffsetDateTime) -> Value {
    let time = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": super::setup::REGION,
            "eventTime": time,
            "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "local"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": format!("{sequence:016X}"),
                "x-amz-id-2": "local",
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "warmstart-manifest-created",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": {"principalId": "local"},
                    "arn": format!("arn:aws:s3:::{bucket}"),
                },
                "object": {
                    "key": notification_key(&object.key),
                    "size": object.size,
                    "eTag": object.etag,
                    "sequencer": format!("{sequence:016X}"),
                },
            },
        }]
    })
}

/// Polls until `stop` changes, delivering each new manifest to `reload` and logging its
/// answer. `seen` is the baseline.
pub async fn watch_manifests(
    client: s3::Client,
    bucket: String,
    prefix: String,
    reload: Arc<LocalFunction>,
    every: Duration,
    mut seen: HashMap<String, String>,
    mut stop: watch::Receiver<bool>,
) {
    let mut sequence = 0u64;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let listed = match list_manifests(&client, &bucket, &prefix).await {
            Ok(l) => {
                failing = false;
                l
            }
            Err(e) => {
                if !failing {
                    eprintln!("[s3-events] listing s3://{bucket}/{prefix} failed: {e}");
                }
                failing = true;
                continue;
            }
        };
        for object in listed {
            if seen.get(&object.key) == Some(&object.etag) {
                continue;
            }
            seen.insert(object.key.clone(), object.etag.clone());
            sequence += 1;
            let event = s3_event(&bucket, &object, sequence, OffsetDateTime::now_utc());
            eprintln!(
                "[s3-events] ObjectCreated:Put s3://{bucket}/{} -> reload",
                object.key
            );
            let answer = reload
                .invoke(&serde_json::to_vec(&event).unwrap_or_default())
                .await;
            match answer {
                Ok(Outcome::Response(b)) => {
                    eprintln!(
                        "[s3-events] reload answered: {}",
                        String::from_utf8_lossy(&b)
                    )
                }
                Ok(Outcome::Error(b)) => eprintln!(
                    "[s3-events] reload returned an error: {}",
                    String::from_utf8_lossy(&b)
                ),
                Err(e) => eprintln!("[s3-events] reload did not answer: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_events_read_like_s3_notifications() {
        let object = Listed {
            key: "models/product-recommender/v 1/manifest.json".into(),
            etag: "abc".into(),
            size: 42,
        };
        let now = OffsetDateTime::from_unix_timestamp(1_795_341_605).unwrap();
        let e = s3_event("warmstart-models-local", &object, 7, now);
        let typed: aws_lambda_events::s3::S3Event = serde_json::from_value(e.clone()).unwrap();
        let r = &typed.records[0];
        assert_eq!(r.event_name.as_deref(), Some("ObjectCreated:Put"));
        assert_eq!(r.s3.bucket.name.as_deref(), Some("warmstart-models-local"));
        assert_eq!(
            r.s3.object.key.as_deref(),
            Some("models/product-recommender/v+1/manifest.json")
        );
        assert_eq!(r.s3.object.size, Some(42));
        assert_eq!(e["Records"][0]["eventTime"], "2026-11-22T10:00:05.000Z");
    }
}
