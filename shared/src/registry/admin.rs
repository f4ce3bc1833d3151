//! Admin payloads of the reload function (direct invocation; `events/admin-*.json`) and their
//! answers. The `warmstart registry` CLI builds the same [`Change`]s directly.
//!
//! ```json
//! {"action": "list"}
//! {"action": "show", "model": "product-recommender"}
//! {"action": "promote" | "set_canary" | "set_rollout" | "clear_candidate" | "clear_shadow"
//!            | "rollback",
//!  "model": "product-recommender", "version"?: "…", "weight"?: 10, "rollout"?: "linear:10%/5",
//!  "actor": "alice", "reason": "canary healthy"}
//! {"action": "promote", "force": true, "model": "…", "version": "…", "actor": "alice",
//!  "reason": "MAP@7 dip is the new holdout month"}
//! {"action": "set_tolerance", "model": "…", "tolerance_pct": 5, "actor": "alice", "reason": "…"}
//! ```
//!
//! `promote` with `"force": true` overrides the quality gate for the named `version` (it
//! needs `version` and a `reason`); see [`super::gate`].
//!
//! Changes need `model` and `actor` (who is recorded in history); `reason` defaults to
//! `(no reason given)`. `promote` takes an optional `version` that must be the candidate's (or
//! the shadow's); `set_canary` needs `weight` 0..=100; `set_rollout` needs `rollout`
//! (`canary:<w>,bake:<minutes>`, `linear:<step>%/<minutes>`, or `manual` to stop advancing the
//! candidate); `rollback` takes an optional `version`.
//! Answers: `{"ok": true, …}` or `{"ok": false, "error": {"code", "message"}}` — a bad request
//! is an answer, not an invocation error.

use super::ops::Change;
use serde::Serialize;
use serde_json::{json, Map, Value};

pub const NO_REASON: &str = "(no reason given)";

/// What an admin payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminCommand {
    List,
    Show {
        model: String,
    },
    Apply {
        model: String,
        change: Change,
        actor: String,
        reason: String,
    },
}

/// A request the registry refuses, as `{"code", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AdminError {
    pub code: String,
    pub message: String,
}

impl AdminError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        AdminError {
            code: code.into(),
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        AdminError::new("invalid_request", message)
    }

    /// `{"ok": false, "error": {...}}`.
    pub fn to_response(&self) -> Value {
        json!({"ok": false, "error": self})
    }
}

pub const ACTIONS: &str =
    "list, show, promote, set_canary, set_rollout, clear_candidate, clear_shadow, rollback, set_tolerance";

fn text(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, AdminError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(AdminError::invalid(format!("`{field}` must be a string"))),
    }
}

/// A staged rollout, or `manual` (none).
pub fn parse_rollout(spec: &str) -> Result<Option<super::rollout::Staged>, AdminError> {
    if spec == "manual" {
        return Ok(None);
    }
    spec.parse()
        .map(Some)
        .map_err(|e: String| AdminError::new("invalid_rollout", format!("{e}, or `manual`")))
}

/// Parses an admin payload.
pub fn parse_admin(payload: &Value) -> Result<AdminCommand, AdminError> {
    let Value::Object(obj) = payload else {
        return Err(AdminError::invalid("the payload must be a JSON object"));
    };
    let action = text(obj, "action")?
        .ok_or_else(|| AdminError::invalid(format!("`action` is required: one of {ACTIONS}")))?;
    if action == "list" {
        return Ok(AdminCommand::List);
    }
    let known = [
        "show",
        "promote",
        "set_canary",
        "set_rollout",
        "clear_candidate",
        "clear_shadow",
        "rollback",
        "set_tolerance",
    ];
    if !known.contains(&action.as_str()) {
        return Err(AdminError::new(
            "unknown_action",
            format!(
                "unknown action `{}`: use one of {ACTIONS}",
                action.chars().take(64).collect::<String>()
            ),
        ));
    }
    let model = text(obj, "model")?
        .ok_or_else(|| AdminError::invalid(format!("`model` is required for `{action}`")))?;
    if action == "show" {
        return Ok(AdminCommand::Show { model });
    }
    let version = text(obj, "version")?;
    let force = match obj.get("force") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(AdminError::invalid("`force` must be true or false")),
    };
    if force && action != "promote" {
        return Err(AdminError::invalid(format!(
            "`force` applies to `promote` only, not `{action}`"
        )));
    }
    let change = match action.as_str() {
        "promote" if force => Change::ForcePromote {
            version: version.ok_or_else(|| {
                AdminError::invalid("`promote` with `force` needs the `version` it overrides")
            })?,
            validated: None,
        },
        "promote" => Change::Promote { version },
        "set_canary" => {
            let weight = match obj.get("weight") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                None | Some(Value::Null) => {
                    return Err(AdminError::invalid("`weight` (0..=100) is required"))
                }
                Some(_) => None,
            };
            match weight {
                Some(w) if (0..=100).contains(&w) => Change::SetCanary { weight: w as u8 },
                _ => {
                    return Err(AdminError::new(
                        "invalid_weight",
                        "`weight` must be a whole number of percent, 0..=100",
                    ))
                }
            }
        }
        "set_rollout" => {
            let spec = text(obj, "rollout")?.ok_or_else(|| {
                AdminError::invalid(
                    "`rollout` is required: `canary:<w>,bake:<minutes>`, `linear:<step>%/<minutes>` or `manual`",
                )
            })?;
            Change::SetRollout {
                rollout: parse_rollout(&spec)?,
            }
        }
        "clear_candidate" => Change::ClearCandidate,
        "clear_shadow" => Change::ClearShadow,
        "rollback" => Change::Rollback {
            to: version,
            validated: None,
        },
        "set_tolerance" => match obj.get("tolerance_pct").and_then(Value::as_f64) {
            Some(t) if (0.0..=super::gate::MAX_TOLERANCE_PCT).contains(&t) => {
                Change::SetTolerance { tolerance_pct: t }
            }
            _ => {
                return Err(AdminError::new(
                    "invalid_tolerance",
                    "`tolerance_pct` must be a number of percent, 0..=100",
                ))
            }
        },
        _ => unreachable!("checked against the known actions"),
    };
    let actor = text(obj, "actor")?.ok_or_else(|| {
        AdminError::invalid(format!(
            "`actor` is required for `{action}`: who makes the change is recorded in history"
        ))
    })?;
    let reason =
        match text(obj, "reason")? {
            Some(r) => r,
            None if force => return Err(AdminError::invalid(
                "`promote` with `force` needs a `reason`: overriding the quality gate is recorded",
            )),
            None => NO_REASON.to_string(),
        };
    Ok(AdminCommand::Apply {
        model,
        change,
        actor,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_payloads_parse() {
        assert_eq!(
            parse_admin(&fixture("admin-list.json")).unwrap(),
            AdminCommand::List
        );
        let cases = [
            ("admin-promote.json", Change::Promote { version: None }),
            ("admin-set-canary.json", Change::SetCanary { weight: 10 }),
            (
                "admin-set-rollout.json",
                Change::SetRollout {
                    rollout: Some("linear:10%/5".parse().unwrap()),
                },
            ),
            ("admin-clear-candidate.json", Change::ClearCandidate),
            ("admin-clear-shadow.json", Change::ClearShadow),
            (
                "admin-rollback.json",
                Change::Rollback {
                    to: None,
                    validated: None,
                },
            ),
            (
                "admin-rollback-version.json",
                Change::Rollback {
                    to: Some("2026-11-20T09-00-00Z-1a2b3c4".into()),
                    validated: None,
                },
            ),
        ];
        for (file, want) in cases {
            match parse_admin(&fixture(file)).unwrap() {
                AdminCommand::Apply {
                    model,
                    change,
                    actor,
                    reason,
                } => {
                    assert_eq!(model, "product-recommender", "{file}");
                    assert_eq!(change, want, "{file}");
                    assert_eq!(actor, "alice", "{file}");
                    assert!(!reason.is_empty(), "{file}");
                }
                other => panic!("{file}: {other:?}"),
            }
        }
        let e = parse_admin(&fixture("admin-invalid.json")).unwrap_err();
        assert_eq!(e.code, "unknown_action");
        let r = e.to_response();
        assert_eq!(r["ok"], false);
        assert_eq!(r["error"]["code"], "unknown_action");
    }

    #[test]
    fn bad_payloads_are_answers() {
        for (payload, code) in [
            (json!([]), "invalid_request"),
            (json!({}), "invalid_request"),
            (json!({"action": 3}), "invalid_request"),
            (json!({"action": "promote"}), "invalid_request"),
            (
                json!({"action": "promote", "model": "m"}),
                "invalid_request",
            ),
            (
                json!({"action": "set_canary", "model": "m", "actor": "a"}),
                "invalid_request",
            ),
            (
                json!({"action": "set_canary", "model": "m", "actor": "a", "weight": 101}),
                "invalid_weight",
            ),
            (
                json!({"action": "set_canary", "model": "m", "actor": "a", "weight": -1}),
                "invalid_weight",
            ),
            (
                json!({"action": "set_canary", "model": "m", "actor": "a", "weight": 2.5}),
                "invalid_weight",
            ),
            (
                json!({"action": "set_canary", "model": "m", "actor": "a", "weight": "10"}),
                "invalid_weight",
            ),
            (
                json!({"action": "set_rollout", "model": "m", "actor": "a"}),
                "invalid_request",
            ),
            (
                json!({"action": "set_rollout", "model": "m", "actor": "a", "rollout": "linear:10"}),
                "invalid_rollout",
            ),
        ] {
            assert_eq!(parse_admin(&payload).unwrap_err().code, code, "{payload}");
        }
        assert_eq!(
            parse_admin(&json!({"action": "set_canary", "model": "m", "actor": "a", "weight": 0}))
                .unwrap(),
            AdminCommand::Apply {
                model: "m".into(),
                change: Change::SetCanary { weight: 0 },
                actor: "a".into(),
                reason: NO_REASON.into(),
            }
        );
        assert_eq!(
            parse_admin(&json!({"action": "show", "model": "m"})).unwrap(),
            AdminCommand::Show { model: "m".into() }
        );
    }

    #[test]
    fn a_forced_promotion_names_its_version_and_gives_a_reason() {
        let cmd = parse_admin(&fixture("admin-promote-force.json")).unwrap();
        let AdminCommand::Apply { change, reason, .. } = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(
            change,
            Change::ForcePromote {
                version: "2026-11-24T10-00-00Z-9f8e7d6".into(),
                validated: None
            }
        );
        assert!(reason.contains("holdout"), "{reason}");
        for (payload, code) in [
            (
                json!({"action": "promote", "force": true, "model": "m", "actor": "a", "reason": "r"}),
                "invalid_request",
            ),
            (
                json!({"action": "promote", "force": true, "model": "m", "actor": "a", "version": "v"}),
                "invalid_request",
            ),
            (
                json!({"action": "promote", "force": "yes", "model": "m", "actor": "a", "version": "v", "reason": "r"}),
                "invalid_request",
            ),
            (
                json!({"action": "rollback", "force": true, "model": "m", "actor": "a", "reason": "r"}),
                "invalid_request",
            ),
            (
                json!({"action": "set_tolerance", "model": "m", "actor": "a", "tolerance_pct": 101}),
                "invalid_tolerance",
            ),
            (
                json!({"action": "set_tolerance", "model": "m", "actor": "a", "tolerance_pct": "5"}),
                "invalid_tolerance",
            ),
        ] {
            assert_eq!(parse_admin(&payload).unwrap_err().code, code, "{payload}");
        }
        assert!(matches!(
            parse_admin(&json!({"action": "promote", "force": false, "model": "m", "actor": "a"})),
            Ok(AdminCommand::Apply {
                change: Change::Promote { version: None },
                ..
            })
        ));
        assert!(matches!(
            parse_admin(&fixture("admin-set-tolerance.json")),
            Ok(AdminCommand::Apply { change: Change::SetTolerance { tolerance_pct }, .. }) if tolerance_pct == 5.0
        ));
    }
}
