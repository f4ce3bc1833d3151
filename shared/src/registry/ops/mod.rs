//! State transitions of a registry item, pure (no AWS): every change is computed from the item
//! as read, and the caller writes the result conditionally on the revision it read (see
//! `aws::RegistryTable::update`), re-reading and re-applying on conflict.
//!
//! Rules:
//! - **Version order** is byte order of the version strings (versions are sortable by
//!   contract: `2026-11-22T10-00-00Z-<sha>`, so lexicographic = chronological).
//! - **Publish** (a validated upload) follows the manifest's `rollout`, `immediate` when
//!   absent: `immediate` makes it active (the old active goes to history, a candidate or
//!   shadow not newer than it is cleared as superseded); `canary:w` makes it the candidate
//!   with weight w (replacing an older candidate); `shadow` makes it the shadow. A model
//!   without an active version takes its first bundle as active whatever the rollout (there is
//!   nothing to compare a canary against).
//! - **Idempotent**: a version that is already active, candidate or shadow, or that appears in
//!   history (it was accepted before: promoting it again after a rollback would undo the
//!   rollback), is a no-op. S3's at-least-once delivery makes duplicates normal.
//! - **Stale**: a version older than the active one (or, for `canary`/`shadow`, than the
//!   current candidate/shadow) never replaces it: [`OpError::Stale`], which the reload
//!   function records in `rejected` with code `stale_version` (visible to operators, but not
//!   counted by the `ModelRejected` alarm, since out-of-order delivery is not a broken bundle).
//! - **Admin**: `promote` makes the candidate (or, naming its version, the shadow) active;
//!   `set_canary` sets the candidate's weight, 0..=100 (0 pauses the canary and keeps the
//!   candidate; `clear_candidate` removes it); `clear_candidate`/`clear_shadow` are no-ops
//!   when there is nothing to clear; `rollback` without a version returns to the version that
//!   was active before the current one, skipping versions that were rolled back from (two
//!   rollbacks after v1→v2→v3 give v2 then v1, never v3 again); `rollback` to a named version
//!   needs a validated version: one recorded in history, or one the caller re-validated from
//!   S3. Rollbacks leave the candidate and shadow alone.
//! - **Quality gate** (`super::gate`, run by the reload function before a publish):
//!   `force_promote` is the operator's override for one version — it makes a validated
//!   version active whether or not it was staged (typically one the gate rejected, re-validated
//!   from S3 by the caller), never one older than the active version (that is a rollback), and
//!   records `force_promote` with who and why; `set_tolerance` sets the model's tolerance.

mod apply;
mod history;
mod novelty;

pub use apply::{apply, record_rejection};
pub use history::{previous_active, validated_ref};
pub use novelty::{classify, compare_versions, Novelty};

use super::item::{clip_reason, Action, HistoryEntry, RegistryItem, VersionRef};
use super::rollout::Staged;
use crate::bundle::Rollout;

/// Who makes a change, why, and when (RFC 3339).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub by: &'a str,
    pub reason: &'a str,
    pub at: &'a str,
}

impl Context<'_> {
    /// The history entry of `action` on `r`, written at revision `rev` by this change.
    pub fn entry(&self, action: Action, r: &VersionRef, rev: u64) -> HistoryEntry {
        HistoryEntry {
            at: self.at.to_string(),
            action,
            version: r.version.clone(),
            prefix: r.prefix.clone(),
            sha256: r.sha256.clone(),
            previous: None,
            weight: None,
            by: self.by.to_string(),
            reason: clip_reason(self.reason),
            revision: rev,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A validated upload, promoted per its rollout.
    Publish {
        target: VersionRef,
        /// The bundle's kind (`product-recommender`, …).
        kind: String,
        rollout: Rollout,
    },
    /// The candidate (or, when `version` names it, the shadow) becomes active. A `version`
    /// that names neither is an error, so an operator never promotes something other than
    /// what they looked at.
    Promote {
        version: Option<String>,
    },
    SetCanary {
        weight: u8,
    },
    ClearCandidate,
    ClearShadow,
    /// Back to the previous active version, or to `to`. `validated` is the caller's
    /// re-validation of `to` from S3 when history does not know it.
    Rollback {
        to: Option<String>,
        validated: Option<VersionRef>,
    },
    /// The candidate follows this staged rollout from now on (`None`: no rollout; it stays
    /// where it is). See [`super::rollout`].
    SetRollout {
        rollout: Option<Staged>,
    },
    /// `version` becomes active despite the quality gate (an operator's override, with a
    /// reason). `validated` is the caller's re-validation of it from S3 when it is neither
    /// staged nor in history (a version the gate rejected).
    ForcePromote {
        version: String,
        validated: Option<VersionRef>,
    },
    /// The quality gate's tolerance for the model, in percent of the active figures.
    SetTolerance {
        tolerance_pct: f64,
    },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::Publish { .. } => "publish",
            Change::Promote { .. } => "promote",
            Change::SetCanary { .. } => "set_canary",
            Change::ClearCandidate => "clear_candidate",
            Change::ClearShadow => "clear_shadow",
            Change::Rollback { .. } => "rollback",
            Change::SetRollout { .. } => "set_rollout",
            Change::ForcePromote { .. } => "force_promote",
            Change::SetTolerance { .. } => "set_tolerance",
        }
    }
}

/// The result of applying a change to the item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Write this item (its `revision` already incremented) conditionally on the revision read.
    Changed {
        item: Box<RegistryItem>,
        summary: String,
    },
    /// Nothing to write.
    Unchanged { why: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("model `{0}` has no active version")]
    NoActive(String),
    #[error("model `{0}` has no candidate")]
    NoCandidate(String),
    #[error("version `{version}` is neither the candidate ({candidate}) nor the shadow ({shadow}) of `{model}`")]
    NotStaged {
        model: String,
        version: String,
        candidate: String,
        shadow: String,
    },
    #[error("weight {0} is outside 0..=100")]
    InvalidWeight(i64),
    #[error("model `{0}` has no earlier active version to roll back to")]
    NothingToRollBack(String),
    #[error("version `{version}` of `{model}` was never validated (not in history); publish it or name a version from history")]
    UnknownVersion { model: String, version: String },
    #[error("version `{version}` is older than {than} `{newer}`; it never replaces it")]
    Stale {
        version: String,
        than: &'static str,
        newer: String,
    },
    #[error("model `{model}` serves kind `{existing}`; a `{got}` bundle cannot replace it")]
    KindChanged {
        model: String,
        existing: String,
        got: String,
    },
    #[error("tolerance {0}% is outside 0..=100")]
    InvalidTolerance(String),
    /// The active version changed between the quality gate and the write: the gate must run
    /// again against the new active version.
    #[error(
        "the active version of `{model}` changed from {gated} to {now} while the quality gate ran"
    )]
    ActiveChanged {
        model: String,
        gated: String,
        now: String,
    },
}

impl OpError {
    pub fn code(&self) -> &'static str {
        match self {
            OpError::NoActive(_) => "no_active",
            OpError::NoCandidate(_) => "no_candidate",
            OpError::NotStaged { .. } => "version_mismatch",
            OpError::InvalidWeight(_) => "invalid_weight",
            OpError::NothingToRollBack(_) => "nothing_to_roll_back",
            OpError::UnknownVersion { .. } => "unknown_version",
            OpError::Stale { .. } => "stale_version",
            OpError::KindChanged { .. } => "kind_changed",
            OpError::InvalidTolerance(_) => "invalid_tolerance",
            OpError::ActiveChanged { .. } => "active_changed",
        }
    }
}

#[cfg(test)]
mod tests;
