//! The table itself: consistent reads, whole-item conditional writes, and the
//! read-apply-write loop that retries on conflict.

use crate::aws::sdk_message;
use crate::registry::{Applied, OpError, RegistryItem};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Conditional writes tried per change before giving up with [`RegistryError::Contention`].
pub const MAX_ATTEMPTS: u32 = 8;

/// `active {version, prefix?, sha256?}` of a registry item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveModel {
    pub version: String,
    /// S3 key prefix of the bundle when the registry records it.
    pub prefix: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry table `{0}` does not exist")]
    NoTable(String),
    #[error("registry read failed: {0}")]
    Backend(String),
    #[error("registry item `{model}` is malformed: {reason}")]
    Malformed { model: String, reason: String },
    #[error("registry item `{model}` changed under us {attempts} times in a row; try again")]
    Contention { model: String, attempts: u32 },
    #[error(transparent)]
    Op(#[from] OpError),
}

impl RegistryError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::NoTable(_) => "no_table",
            RegistryError::Backend(_) => "registry_unavailable",
            RegistryError::Malformed { .. } => "registry_malformed",
            RegistryError::Contention { .. } => "contention",
            RegistryError::Op(e) => e.code(),
        }
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RegistryError::Backend(_) | RegistryError::Contention { .. }
        )
    }
}

/// What [`RegistryTable::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// The item was written at `item.revision`; `attempts` > 1 means conflicts were retried.
    Written {
        item: Box<RegistryItem>,
        summary: String,
        attempts: u32,
    },
    /// Nothing to write (the item as last read is `item`).
    Unchanged {
        item: Option<Box<RegistryItem>>,
        why: String,
    },
}

/// Outcome of one conditional write.
#[derive(Debug)]
pub enum PutError {
    /// The revision was no longer the one read.
    Conflict,
    Other(RegistryError),
}

/// The registry table.
#[derive(Debug, Clone)]
pub struct RegistryTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn read_error<E, R>(table: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> RegistryError
where
    E: std::error::Error + 'static + aws_sdk_dynamodb::error::ProvideErrorMetadata,
    R: std::fmt::Debug + 'static,
{
    if e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ResourceNotFoundException")
    {
        RegistryError::NoTable(table.to_string())
    } else {
        RegistryError::Backend(sdk_message(&e))
    }
}

fn decode(
    model: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<RegistryItem, RegistryError> {
    serde_dynamo::from_item(item).map_err(|e| RegistryError::Malformed {
        model: model.to_string(),
        reason: e.to_string(),
    })
}

impl RegistryTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        RegistryTable {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item of `model` (consistent read); `None` when there is none.
    pub async fn get(&self, model: &str) -> Result<Option<RegistryItem>, RegistryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("model", AttributeValue::S(model.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| read_error(&self.table, e))?;
        out.item.map(|i| decode(model, i)).transpose()
    }

    /// Every item (Scan; the table holds one item per model), sorted by model.
    pub async fn list(&self) -> Result<Vec<RegistryItem>, RegistryError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let resp = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| read_error(&self.table, e))?;
            for item in resp.items.unwrap_or_default() {
                let model = match item.get("model") {
                    Some(AttributeValue::S(m)) => m.clone(),
                    _ => "?".into(),
                };
                out.push(decode(&model, item)?);
            }
            start = resp.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.model.cmp(&b.model));
        Ok(out)
    }

    /// Writes `item` if the stored revision is still `read_revision` (`None`: no item yet).
    pub async fn put(
        &self,
        item: &RegistryItem,
        read_revision: Option<u64>,
    ) -> Result<(), PutError> {
        let attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).map_err(|e| {
            PutError::Other(RegistryError::Malformed {
                model: item.model.clone(),
                reason: e.to_string(),
            })
        })?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .expression_attribute_names("#m", "model");
        req = match read_revision {
            None => req.condition_expression("attribute_not_exists(#m)"),
            Some(rev) => req
                .condition_expression("attribute_exists(#m) AND #r = :r")
                .expression_attribute_names("#r", "revision")
                .expression_attribute_values(":r", AttributeValue::N(rev.to_string())),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(PutError::Conflict)
            }
            Err(e) => Err(PutError::Other(read_error(&self.table, e))),
        }
    }

    /// Reads the item of `model`, computes the change with `f` and writes it conditionally;
    /// on a conflict, re-reads and re-applies (after a short jittered pause), at most
    /// [`MAX_ATTEMPTS`] times. `f` sees the item as read each time.
    pub async fn update<F>(&self, model: &str, mut f: F) -> Result<Updated, RegistryError>
    where
        F: FnMut(Option<&RegistryItem>) -> Result<Applied, OpError>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.get(model).await?;
            match f(current.as_ref())? {
                Applied::Unchanged { why } => {
                    return Ok(Updated::Unchanged {
                        item: current.map(Box::new),
                        why,
                    })
                }
                Applied::Changed { item, summary } => {
                    match self.put(&item, current.as_ref().map(|c| c.revision)).await {
                        Ok(()) => {
                            return Ok(Updated::Written {
                                item,
                                summary,
                                attempts: attempt,
                            })
                        }
                        Err(PutError::Conflict) => {
                            tracing::info!(
                                model,
                                attempt,
                                read_revision = current.as_ref().map(|c| c.revision),
                                "registry write conflict; re-reading"
                            );
                            tokio::time::sleep(conflict_pause(attempt)).await;
                        }
                        Err(PutError::Other(e)) => return Err(e),
                    }
                }
            }
        }
        Err(RegistryError::Contention {
            model: model.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// 5–10 ms, 10–20 ms, … capped at 200 ms: writers that collided spread out.
fn conflict_pause(attempt: u32) -> Duration {
    let base = (5u64 << attempt.min(6)).min(200);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base + nanos % (base + 1))
}

/// The active version of `model`, `None` when the registry has no item (or no `active`) for it.
pub async fn read_active(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    model: &str,
) -> Result<Option<ActiveModel>, RegistryError> {
    let item = RegistryTable::new(client.clone(), table).get(model).await?;
    Ok(item.and_then(|i| i.active).map(|a| ActiveModel {
        version: a.version,
        prefix: a.prefix.filter(|p| !p.is_empty()),
        sha256: a.sha256.filter(|s| !s.is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::bundle_prefix;
    use crate::registry::{apply, Change, Context, VersionRef};

    #[test]
    fn items_round_trip_through_dynamodb_attributes() {
        let ctx = Context {
            by: "alice",
            reason: "r",
            at: "2026-11-22T10:00:00.000Z",
        };
        let mut item: Option<RegistryItem> = None;
        for (v, rollout) in [
            ("v1", crate::bundle::Rollout::Immediate),
            ("v2", crate::bundle::Rollout::Canary(10)),
            ("v3", crate::bundle::Rollout::Shadow),
        ] {
            let change = Change::Publish {
                target: VersionRef {
                    version: v.into(),
                    prefix: Some(bundle_prefix("models", "m", v)),
                    sha256: Some("ab".repeat(32)),
                },
                kind: "product-recommender".into(),
                rollout,
            };
            match apply(item.as_ref(), "m", &change, &ctx).unwrap() {
                Applied::Changed { item: i, .. } => item = Some(*i),
                Applied::Unchanged { why } => panic!("{why}"),
            }
        }
        let item = item.unwrap();
        let attrs: HashMap<String, AttributeValue> = serde_dynamo::to_item(&item).unwrap();
        assert_eq!(attrs["model"], AttributeValue::S("m".into()));
        assert_eq!(attrs["revision"], AttributeValue::N("3".into()));
        assert!(matches!(attrs["active"], AttributeValue::M(_)));
        assert_eq!(decode("m", attrs).unwrap(), item);
        assert_eq!(
            item.active.as_ref().unwrap().prefix.as_deref(),
            Some("models/m/v1/")
        );
    }

    #[test]
    fn conflict_pauses_grow_and_stay_bounded() {
        assert!(conflict_pause(1) >= Duration::from_millis(10));
        assert!(conflict_pause(30) <= Duration::from_millis(401));
    }
}
