//! Admin payloads (direct invocation): list, show and the registry changes.

use super::ReloadApp;
use crate::aws::{apply_change, ChangeError, Updated};
use crate::registry::{self, metric, AdminCommand, AdminError, Change};
use serde_json::{json, Value};

fn admin_error(e: &ChangeError) -> AdminError {
    AdminError::new(e.code(), e.to_string())
}

impl ReloadApp {
    pub(super) async fn handle_admin(&self, payload: &Value) -> Value {
        let cmd = match registry::parse_admin(payload) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(code = %e.code, message = %e.message, "admin request refused");
                return e.to_response();
            }
        };
        match cmd {
            AdminCommand::List => match self.table.list().await {
                Ok(items) => json!({"ok": true, "action": "list", "models": items}),
                Err(e) => AdminError::new(e.code(), e.to_string()).to_response(),
            },
            AdminCommand::Show { model } => match self.table.get(&model).await {
                Ok(Some(item)) => {
                    json!({"ok": true, "action": "show", "model": model, "item": item})
                }
                Ok(None) => AdminError::new(
                    "unknown_model",
                    format!("the registry has no item for `{model}`"),
                )
                .to_response(),
                Err(e) => AdminError::new(e.code(), e.to_string()).to_response(),
            },
            AdminCommand::Apply {
                model,
                change,
                actor,
                reason,
            } => {
                let action = change.name();
                match apply_change(
                    &self.table,
                    Some(&self.store),
                    &model,
                    &change,
                    &actor,
                    &reason,
                )
                .await
                {
                    Ok(Updated::Written {
                        item,
                        summary,
                        attempts,
                    }) => {
                        tracing::info!(model = %model, action, actor = %actor, reason = %reason, revision = item.revision, attempts, summary = %summary, "registry changed");
                        if matches!(change, Change::Promote { .. } | Change::Rollback { .. }) {
                            self.count(metric::MODEL_PROMOTED);
                        }
                        json!({
                            "ok": true, "action": action, "model": model, "changed": true,
                            "summary": summary, "revision": item.revision, "attempts": attempts,
                            "item": item,
                        })
                    }
                    Ok(Updated::Unchanged { item, why }) => {
                        tracing::info!(model = %model, action, actor = %actor, why = %why, "registry unchanged");
                        json!({
                            "ok": true, "action": action, "model": model, "changed": false,
                            "summary": why, "revision": item.as_ref().map(|i| i.revision),
                            "item": item,
                        })
                    }
                    Err(e) => {
                        tracing::warn!(model = %model, action, actor = %actor, error = %e, "admin change refused");
                        admin_error(&e).to_response()
                    }
                }
            }
        }
    }
}
