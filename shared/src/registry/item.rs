//! The `ModelRegistry` item of one model (pk `model`), as stored in DynamoDB through
//! `serde_dynamo` and as returned by the admin `list` action.
//!
//! ```text
//! model      "product-recommender"
//! kind       "product-recommender"            the kind of the first accepted bundle; later
//!                                              bundles of another kind are rejected
//! active     {version, prefix, sha256, promoted_at, by, reason}
//! candidate  {version, weight, prefix, sha256, since, by, reason}     optional (canary)
//! shadow     {version, prefix, sha256, since, by, reason}             optional
//! history    [{at, action, version, prefix, sha256, previous, weight, by, reason, revision}]
//!            the last HISTORY_LIMIT changes, oldest first
//! rejected   [{version, code, reason, at, key}]  the last REJECTED_LIMIT rejections, oldest first
//! quality_gate {tolerance_pct}                optional; the quality gate's tolerance for this
//!                                              model (see `registry::gate`), 2 % when absent
//! revision   1, 2, 3…  every write is conditional on the revision it read
//! updated_at RFC 3339
//! rollout    {version, plan, stepped_at}   optional: the staged rollout of the candidate
//! bake       {version, until, plan}        optional: after a rollout promoted `version`
//! alarms     [{name, since, reason}]       candidate alarms in ALARM covering this model
//! ```
//!
//! `sha256` is the sha256 of the bundle's `manifest.json` bytes, which pins every file (the
//! manifest lists each file's sha256): a container that loads the bundle checks it.

use super::rollout::{AlarmRecord, BakeWindow, RolloutState};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Changes kept in `history`.
pub const HISTORY_LIMIT: usize = 20;
/// Rejections kept in `rejected`.
pub const REJECTED_LIMIT: usize = 20;
/// Longest `reason` stored (characters); longer ones are clipped, keeping items far below
/// DynamoDB's 400 KB.
pub const REASON_MAX_CHARS: usize = 500;

/// Where a validated version lives and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRef {
    pub version: String,
    /// S3 key prefix of the bundle, e.g. `models/product-recommender/<version>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// sha256 of the bundle's `manifest.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl VersionRef {
    pub fn new(version: impl Into<String>) -> Self {
        VersionRef {
            version: version.into(),
            prefix: None,
            sha256: None,
        }
    }
}

/// Declares one of an item's three slots (`active`, `candidate`, `shadow`): the version, the
/// slot's own fields, where the bundle lives and what its manifest hashes to, when the version
/// took the slot (`promoted_at` or `since`), who put it there and why. One declaration keeps
/// the three stored shapes in step, field order included (the JSON of the admin `show` and of
/// GET /models prints fields in declaration order), and struct literals keep working.
macro_rules! slot {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* } at: $at:ident
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            pub version: String,
            $($(#[$fmeta])* pub $field: $ty,)*
            /// S3 key prefix of the bundle, e.g. `models/product-recommender/<version>/`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub prefix: Option<String>,
            /// sha256 of the bundle's `manifest.json`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub sha256: Option<String>,
            /// When the version took the slot (RFC 3339).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub $at: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub by: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reason: Option<String>,
        }

        impl $name {
            /// `r` in this slot, with nothing recorded about when, by whom or why.
            pub fn new(r: VersionRef, $($field: $ty),*) -> Self {
                $name {
                    version: r.version,
                    $($field,)*
                    prefix: r.prefix,
                    sha256: r.sha256,
                    $at: None,
                    by: None,
                    reason: None,
                }
            }

            /// Records when (`at`, RFC 3339), by whom and why (clipped to
            /// [`REASON_MAX_CHARS`]) the version took the slot.
            pub fn stamped(mut self, at: &str, by: &str, reason: &str) -> Self {
                self.$at = Some(at.to_string());
                self.by = Some(by.to_string());
                self.reason = Some(clip_reason(reason));
                self
            }

            /// Where the version lives and what its manifest must hash to.
            pub fn version_ref(&self) -> VersionRef {
                VersionRef {
                    version: self.version.clone(),
                    prefix: self.prefix.clone(),
                    sha256: self.sha256.clone(),
                }
            }
        }
    };
}

slot! {
    /// The version served to every entity outside the canary.
    Active {} at: promoted_at
}

slot! {
    /// The canary: `weight` % of entities (by [`super::bucket`]) are served this version.
    Candidate {
        /// 0..=100; 0 pauses the canary (no traffic) without forgetting the candidate.
        weight: u8,
    } at: since
}

slot! {
    /// Scored alongside the served model on every request; its answers are measured, never
    /// returned.
    Shadow {} at: since
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `version` became active (a published `immediate` bundle, or an admin promote).
    Promote,
    /// `version` became the candidate with `weight`.
    Canary,
    /// `version` became the shadow.
    Shadow,
    /// The candidate's weight became `weight`.
    SetCanary,
    /// The candidate `version` was removed (by an admin, or superseded by a newer active).
    ClearCandidate,
    /// The shadow `version` was removed.
    ClearShadow,
    /// `version` became active again: the previous active version (rollback without a
    /// version).
    Rollback,
    /// `version` became active again by name (rollback `--to`).
    RollbackTo,
    /// The candidate `version` follows a staged rollout (`weight`: its starting weight), or
    /// no longer does (see [`super::rollout`]).
    SetRollout,
    /// `version` became active by an operator's override of the quality gate (`promote
    /// --force`): the reason says why.
    ForcePromote,
    /// The quality gate's tolerance of the model changed (`version`: the active one).
    SetTolerance,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Canary => "canary",
            Action::Shadow => "shadow",
            Action::SetCanary => "set_canary",
            Action::ClearCandidate => "clear_candidate",
            Action::ClearShadow => "clear_shadow",
            Action::Rollback => "rollback",
            Action::RollbackTo => "rollback_to",
            Action::SetRollout => "set_rollout",
            Action::ForcePromote => "force_promote",
            Action::SetTolerance => "set_tolerance",
        }
    }

    /// Whether the entry made `version` the active version.
    pub fn activates(self) -> bool {
        matches!(
            self,
            Action::Promote | Action::Rollback | Action::RollbackTo | Action::ForcePromote
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub action: Action,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For activating actions: the version that was active before (with where it lives, so a
    /// rollback can restore it even after its own entry left the bounded history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<VersionRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    pub by: String,
    pub reason: String,
    /// The revision this change wrote.
    pub revision: u64,
}

impl HistoryEntry {
    pub fn version_ref(&self) -> VersionRef {
        VersionRef {
            version: self.version.clone(),
            prefix: self.prefix.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub version: String,
    /// Machine-readable: a `BundleError::code()`, a contract code of
    /// [`super::validate`], or `stale_version` / `kind_changed`.
    pub code: String,
    pub reason: String,
    pub at: String,
    /// The S3 key of the manifest that was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegistryItem {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Active>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<Candidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub rejected: Vec<Rejection>,
    #[serde(default)]
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The staged rollout driving the candidate ([`super::rollout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutState>,
    /// The bake window of a version a rollout promoted: an alarm inside it rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake: Option<BakeWindow>,
    /// Candidate alarms in ALARM that cover this model, by name; they hold staged rollouts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmRecord>,
    /// The quality gate's settings for this model; the defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_gate: Option<GateSettings>,
}

/// Per-model settings of the quality gate (`registry::gate`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// How much worse than the active version's a gate metric may be, in percent of it.
    pub tolerance_pct: f64,
}

// A tolerance is always a finite number (checked where it is set), so equality is reflexive.
impl Eq for GateSettings {}

impl RegistryItem {
    pub fn new(model: impl Into<String>) -> Self {
        RegistryItem {
            model: model.into(),
            ..RegistryItem::default()
        }
    }

    pub fn active_ref(&self) -> Option<VersionRef> {
        self.active.as_ref().map(Active::version_ref)
    }

    pub fn candidate_ref(&self) -> Option<VersionRef> {
        self.candidate.as_ref().map(Candidate::version_ref)
    }

    pub fn shadow_ref(&self) -> Option<VersionRef> {
        self.shadow.as_ref().map(Shadow::version_ref)
    }

    /// The quality gate's tolerance for this model, in percent.
    pub fn tolerance_pct(&self) -> f64 {
        self.quality_gate
            .map_or(super::gate::DEFAULT_TOLERANCE_PCT, |g| g.tolerance_pct)
    }

    /// Appends a history entry, dropping the oldest beyond [`HISTORY_LIMIT`].
    pub fn push_history(&mut self, entry: HistoryEntry) {
        self.history.push(entry);
        if self.history.len() > HISTORY_LIMIT {
            let extra = self.history.len() - HISTORY_LIMIT;
            self.history.drain(..extra);
        }
    }

    /// Appends a rejection, dropping the oldest beyond [`REJECTED_LIMIT`].
    pub fn push_rejection(&mut self, r: Rejection) {
        self.rejected.push(r);
        if self.rejected.len() > REJECTED_LIMIT {
            let extra = self.rejected.len() - REJECTED_LIMIT;
            self.rejected.drain(..extra);
        }
    }

    /// What warm containers serve from this item: a change in it (not merely in `revision`,
    /// which rejections bump too) is what makes them fetch bundles.
    pub fn serving(&self) -> ServingSpec {
        ServingSpec {
            active: self.active_ref(),
            candidate: self
                .candidate
                .as_ref()
                .map(|c| (self.candidate_ref().expect("candidate"), c.weight)),
            shadow: self.shadow_ref(),
        }
    }
}

/// The part of a registry item that decides what a container serves.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServingSpec {
    pub active: Option<VersionRef>,
    pub candidate: Option<(VersionRef, u8)>,
    pub shadow: Option<VersionRef>,
}

/// `reason` clipped to [`REASON_MAX_CHARS`] characters.
pub fn clip_reason(s: &str) -> String {
    match s.char_indices().nth(REASON_MAX_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Now as RFC 3339 UTC with milliseconds, e.g. `2026-11-22T10:00:05.123Z`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_millis())
}

/// `secs` since the Unix epoch as RFC 3339 UTC with milliseconds (a fixed width, so history
/// entries sort as text).
pub fn rfc3339(secs: i64, millis: u32) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t + time::Duration::milliseconds(i64::from(millis.min(999))))
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339(1_795_341_605, 123), "2026-11-22T10:00:05.123Z");
    }

    #[test]
    fn reasons_are_clipped() {
        let long = "é".repeat(REASON_MAX_CHARS + 10);
        let c = clip_reason(&long);
        assert_eq!(c.chars().count(), REASON_MAX_CHARS + 1);
        assert_eq!(clip_reason("short"), "short");
    }

    #[test]
    fn history_and_rejections_are_bounded() {
        let mut item = RegistryItem::new("m");
        for i in 0..(HISTORY_LIMIT + 5) {
            item.push_history(HistoryEntry {
                at: String::new(),
                action: Action::Promote,
                version: format!("v{i:03}"),
                prefix: None,
                sha256: None,
                previous: None,
                weight: None,
                by: "t".into(),
                reason: String::new(),
                revision: i as u64,
            });
            item.push_rejection(Rejection {
                version: format!("v{i:03}"),
                code: "x".into(),
                reason: String::new(),
                at: String::new(),
                key: None,
            });
        }
        assert_eq!(item.history.len(), HISTORY_LIMIT);
        assert_eq!(item.history[0].version, "v005");
        assert_eq!(item.rejected.len(), REJECTED_LIMIT);
        assert_eq!(item.rejected.last().unwrap().version, "v024");
    }

    #[test]
    fn slots_serialize_field_for_field_in_their_stored_order() {
        // Pins the item's JSON (the admin `show`, GET /models) and, through the same serde
        // derive, its DynamoDB attribute names: the slot declarations must not move a field.
        let mut item = RegistryItem::new("m");
        item.revision = 3;
        let at = |v: &str| VersionRef {
            version: v.into(),
            prefix: Some(format!("models/m/{v}/")),
            sha256: Some(v.replace('v', "a")),
        };
        item.active = Some(Active::new(at("v1")).stamped("t1", "alice", "r1"));
        item.candidate = Some(Candidate::new(at("v2"), 10).stamped("t2", "bob", "r2"));
        item.shadow = Some(Shadow::new(at("v3")).stamped("t3", "carol", "r3"));
        let json = serde_json::to_string(&item).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"model":"m","#,
                r#""active":{"version":"v1","prefix":"models/m/v1/","sha256":"a1","#,
                r#""promoted_at":"t1","by":"alice","reason":"r1"},"#,
                r#""candidate":{"version":"v2","weight":10,"prefix":"models/m/v2/","#,
                r#""sha256":"a2","since":"t2","by":"bob","reason":"r2"},"#,
                r#""shadow":{"version":"v3","prefix":"models/m/v3/","sha256":"a3","#,
                r#""since":"t3","by":"carol","reason":"r3"},"#,
                r#""history":[],"rejected":[],"revision":3}"#
            )
        );
        assert_eq!(serde_json::from_str::<RegistryItem>(&json).unwrap(), item);
        let bare = Candidate::new(VersionRef::new("v2"), 0);
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"version":"v2","weight":0}"#
        );
    }

    #[test]
    fn items_written_by_older_code_still_decode() {
        // The shape `tests/harness.rs::set_active` (and the first registry readers) wrote.
        let v = serde_json::json!({
            "model": "m",
            "active": {"version": "v1", "prefix": "models/m/v1/"},
            "revision": 1
        });
        let item: RegistryItem = serde_json::from_value(v).unwrap();
        assert_eq!(item.active.unwrap().version, "v1");
        assert!(item.history.is_empty());
        assert_eq!(item.revision, 1);
    }
}
