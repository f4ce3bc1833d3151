//! Admin changes (promote, rollback, canary weight, …) written with conditional writes, a
//! version unknown to history re-validated from S3 first.

use super::store::ModelStore;
use super::table::{RegistryError, RegistryTable, Updated};
use crate::registry::{apply, now_rfc3339, Change, Context, OpError, Rejected};

/// Why an admin change failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A rollback (or forced promotion) target unknown to history failed re-validation from S3.
    #[error("version `{version}` cannot be made active: {rejected}")]
    Invalid { version: String, rejected: Rejected },
}

impl ChangeError {
    pub fn code(&self) -> String {
        match self {
            ChangeError::Registry(e) => e.code().to_string(),
            ChangeError::Invalid { rejected, .. } => rejected.code.clone(),
        }
    }
}

/// Applies an admin change with conditional writes (see [`RegistryTable::update`]). A rollback
/// (or a forced promotion) to a version history does not know is re-validated from S3 first
/// (when `store` is given), so only a bundle that passes validation can become active.
pub async fn apply_change(
    table: &RegistryTable,
    store: Option<&ModelStore>,
    model: &str,
    change: &Change,
    by: &str,
    reason: &str,
) -> Result<Updated, ChangeError> {
    let at = now_rfc3339();
    let ctx = Context {
        by,
        reason,
        at: &at,
    };
    let first = table
        .update(model, |cur| apply(cur, model, change, &ctx))
        .await;
    match (first, change, store) {
        (
            Err(RegistryError::Op(OpError::UnknownVersion { version, .. })),
            Change::Rollback { to: Some(_), .. } | Change::ForcePromote { .. },
            Some(store),
        ) => {
            tracing::info!(model, version = %version, action = change.name(), "version not in history; re-validating it from S3");
            // Everything but the quality gate, which a forced promotion overrides.
            let validated =
                store
                    .validate(model, &version)
                    .await
                    .map_err(|rejected| ChangeError::Invalid {
                        version: version.clone(),
                        rejected,
                    })?;
            let validated = Some(store.reference(model, &validated));
            let change = match change {
                Change::ForcePromote { .. } => Change::ForcePromote { version, validated },
                _ => Change::Rollback {
                    to: Some(version),
                    validated,
                },
            };
            Ok(table
                .update(model, |cur| apply(cur, model, &change, &ctx))
                .await?)
        }
        (other, _, _) => Ok(other?),
    }
}
