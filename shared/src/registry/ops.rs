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

use super::item::{
    clip_reason, Action, Active, Candidate, GateSettings, HistoryEntry, RegistryItem, Rejection,
    Shadow, VersionRef,
};
use super::rollout::{RolloutState, Staged};
use crate::bundle::Rollout;
use std::cmp::Ordering;

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

/// Byte order of version strings.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    a.as_bytes().cmp(b.as_bytes())
}

/// What a published version is to the registry, before validating it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Novelty {
    New,
    /// Already recorded: a duplicate delivery, a no-op.
    Known(String),
    Stale(OpError),
}

/// Classifies `version` arriving with `rollout` against the item as read.
pub fn classify(item: Option<&RegistryItem>, version: &str, rollout: Rollout) -> Novelty {
    let Some(item) = item else {
        return Novelty::New;
    };
    if item.active.as_ref().is_some_and(|a| a.version == version) {
        return Novelty::Known(format!("{version} is already active"));
    }
    if item
        .candidate
        .as_ref()
        .is_some_and(|c| c.version == version)
    {
        return Novelty::Known(format!("{version} is already the candidate"));
    }
    if item.shadow.as_ref().is_some_and(|s| s.version == version) {
        return Novelty::Known(format!("{version} is already the shadow"));
    }
    if item.history.iter().any(|h| h.version == version) {
        return Novelty::Known(format!("{version} was accepted before (see history)"));
    }
    let older = |than: &'static str, newer: &str| {
        Novelty::Stale(OpError::Stale {
            version: version.to_string(),
            than,
            newer: newer.to_string(),
        })
    };
    if let Some(a) = &item.active {
        if compare_versions(version, &a.version) == Ordering::Less {
            return older("the active version", &a.version);
        }
    }
    match rollout {
        Rollout::Canary(_) | Rollout::Staged(_) => {
            if let Some(c) = item
                .candidate
                .as_ref()
                .filter(|c| compare_versions(version, &c.version) == Ordering::Less)
            {
                return older("the candidate", &c.version);
            }
        }
        Rollout::Shadow => {
            if let Some(s) = item
                .shadow
                .as_ref()
                .filter(|s| compare_versions(version, &s.version) == Ordering::Less)
            {
                return older("the shadow", &s.version);
            }
        }
        Rollout::Immediate => {}
    }
    Novelty::New
}

/// Applies `change` to the item as read (`None`: no item yet).
pub fn apply(
    current: Option<&RegistryItem>,
    model: &str,
    change: &Change,
    ctx: &Context<'_>,
) -> Result<Applied, OpError> {
    let mut item = current.cloned().unwrap_or_else(|| RegistryItem::new(model));
    let rev = item.revision + 1;
    let entry = |action: Action, v: &VersionRef| ctx.entry(action, v, rev);
    let unchanged = |why: String| Ok(Applied::Unchanged { why });

    let summary = match change {
        Change::Publish {
            target,
            kind,
            rollout,
        } => {
            match classify(current, &target.version, *rollout) {
                Novelty::Known(why) => return unchanged(why),
                Novelty::Stale(e) => return Err(e),
                Novelty::New => {}
            }
            if let Some(existing) = item.kind.as_ref().filter(|k| *k != kind) {
                return Err(OpError::KindChanged {
                    model: model.to_string(),
                    existing: existing.clone(),
                    got: kind.clone(),
                });
            }
            item.kind = Some(kind.clone());
            let rollout = if item.active.is_none() {
                Rollout::Immediate
            } else {
                *rollout
            };
            match rollout {
                Rollout::Immediate => {
                    activate(&mut item, target, entry(Action::Promote, target), ctx);
                    supersede(&mut item, &target.version, ctx, rev);
                    format!("{} is active", target.version)
                }
                Rollout::Canary(w) | Rollout::Staged(Staged { weight: w, .. }) => {
                    if let Rollout::Staged(plan) = rollout {
                        item.rollout = Some(RolloutState {
                            version: target.version.clone(),
                            plan,
                            stepped_at: ctx.at.to_string(),
                        });
                    }
                    let mut e = entry(Action::Canary, target);
                    e.weight = Some(w);
                    e.previous = item.candidate_ref();
                    item.candidate = Some(
                        Candidate::new(target.clone(), w).stamped(ctx.at, ctx.by, ctx.reason),
                    );
                    item.push_history(e);
                    format!("{} is the candidate at {w}%", target.version)
                }
                Rollout::Shadow => {
                    let mut e = entry(Action::Shadow, target);
                    e.previous = item.shadow_ref();
                    item.shadow =
                        Some(Shadow::new(target.clone()).stamped(ctx.at, ctx.by, ctx.reason));
                    item.push_history(e);
                    format!("{} is the shadow", target.version)
                }
            }
        }
        Change::Promote { version } => {
            let candidate = item.candidate_ref();
            let shadow = item.shadow_ref();
            let target = match version {
                None => candidate.ok_or_else(|| OpError::NoCandidate(model.to_string()))?,
                Some(v) => match (&candidate, &shadow) {
                    (Some(c), _) if c.version == *v => c.clone(),
                    (_, Some(s)) if s.version == *v => s.clone(),
                    _ => {
                        if item.active.as_ref().is_some_and(|a| a.version == *v) {
                            return unchanged(format!("{v} is already active"));
                        }
                        let name = |r: &Option<VersionRef>| {
                            r.as_ref().map_or("none".to_string(), |r| r.version.clone())
                        };
                        return Err(OpError::NotStaged {
                            model: model.to_string(),
                            version: v.clone(),
                            candidate: name(&candidate),
                            shadow: name(&shadow),
                        });
                    }
                },
            };
            if item
                .candidate
                .as_ref()
                .is_some_and(|c| c.version == target.version)
            {
                item.candidate = None;
            }
            if item
                .shadow
                .as_ref()
                .is_some_and(|s| s.version == target.version)
            {
                item.shadow = None;
            }
            activate(&mut item, &target, entry(Action::Promote, &target), ctx);
            supersede(&mut item, &target.version, ctx, rev);
            format!("{} is active", target.version)
        }
        Change::SetCanary { weight } => {
            if *weight > 100 {
                return Err(OpError::InvalidWeight(i64::from(*weight)));
            }
            let Some(c) = item.candidate.as_mut() else {
                return Err(OpError::NoCandidate(model.to_string()));
            };
            if c.weight == *weight {
                return unchanged(format!("the candidate's weight is already {weight}%"));
            }
            c.weight = *weight;
            let r = item.candidate_ref().expect("candidate");
            let mut e = entry(Action::SetCanary, &r);
            e.weight = Some(*weight);
            item.push_history(e);
            format!("candidate {} at {weight}%", r.version)
        }
        Change::ClearCandidate => {
            let Some(r) = item.candidate_ref() else {
                return unchanged("there is no candidate".into());
            };
            item.candidate = None;
            item.push_history(entry(Action::ClearCandidate, &r));
            format!("candidate {} cleared", r.version)
        }
        Change::ClearShadow => {
            let Some(r) = item.shadow_ref() else {
                return unchanged("there is no shadow".into());
            };
            item.shadow = None;
            item.push_history(entry(Action::ClearShadow, &r));
            format!("shadow {} cleared", r.version)
        }
        Change::Rollback { to, validated } => {
            let Some(active) = item.active.clone() else {
                return Err(OpError::NoActive(model.to_string()));
            };
            let (target, action) = match to {
                None => (
                    previous_active(&item)
                        .ok_or_else(|| OpError::NothingToRollBack(model.to_string()))?,
                    Action::Rollback,
                ),
                Some(v) if *v == active.version => {
                    return unchanged(format!("{v} is already active"))
                }
                Some(v) => (
                    validated_ref(&item, v)
                        .or_else(|| validated.clone().filter(|r| r.version == *v))
                        .ok_or_else(|| OpError::UnknownVersion {
                            model: model.to_string(),
                            version: v.clone(),
                        })?,
                    Action::RollbackTo,
                ),
            };
            activate(&mut item, &target, entry(action, &target), ctx);
            format!("rolled back to {}", target.version)
        }
        Change::SetRollout { rollout } => {
            match super::rollout::set_rollout(&mut item, model, *rollout, ctx, rev)? {
                Ok(summary) => summary,
                Err(why) => return unchanged(why),
            }
        }
        Change::ForcePromote { version, validated } => {
            if let Some(a) = &item.active {
                if a.version == *version {
                    return unchanged(format!("{version} is already active"));
                }
                if compare_versions(version, &a.version) == Ordering::Less {
                    return Err(OpError::Stale {
                        version: version.clone(),
                        than: "the active version",
                        newer: a.version.clone(),
                    });
                }
            }
            let target = validated_ref(&item, version)
                .or_else(|| validated.clone().filter(|r| r.version == *version))
                .ok_or_else(|| OpError::UnknownVersion {
                    model: model.to_string(),
                    version: version.clone(),
                })?;
            if item
                .candidate
                .as_ref()
                .is_some_and(|c| c.version == *version)
            {
                item.candidate = None;
            }
            if item.shadow.as_ref().is_some_and(|s| s.version == *version) {
                item.shadow = None;
            }
            activate(
                &mut item,
                &target,
                entry(Action::ForcePromote, &target),
                ctx,
            );
            supersede(&mut item, version, ctx, rev);
            format!("{version} is active (quality gate overridden)")
        }
        Change::SetTolerance { tolerance_pct } => {
            let t = *tolerance_pct;
            if !(0.0..=super::gate::MAX_TOLERANCE_PCT).contains(&t) {
                return Err(OpError::InvalidTolerance(t.to_string()));
            }
            let before = item.tolerance_pct();
            if item.quality_gate.is_some() && before == t {
                return unchanged(format!("the quality gate's tolerance is already {t}%"));
            }
            item.quality_gate = Some(GateSettings { tolerance_pct: t });
            let r = item.active_ref().unwrap_or_else(|| VersionRef::new("-"));
            let mut e = entry(Action::SetTolerance, &r);
            e.reason = clip_reason(&format!("tolerance {before}% -> {t}%: {}", ctx.reason));
            item.push_history(e);
            format!("quality gate tolerance {t}% (was {before}%)")
        }
    };
    item.revision = rev;
    item.updated_at = Some(ctx.at.to_string());
    Ok(Applied::Changed {
        item: Box::new(item),
        summary,
    })
}

/// Records a rejection. The same version rejected for the same code again (a duplicate
/// delivery) is a no-op.
pub fn record_rejection(
    current: Option<&RegistryItem>,
    model: &str,
    rejection: &Rejection,
) -> Applied {
    if current.is_some_and(|i| {
        i.rejected
            .iter()
            .any(|r| r.version == rejection.version && r.code == rejection.code)
    }) {
        return Applied::Unchanged {
            why: format!(
                "{} was already rejected ({})",
                rejection.version, rejection.code
            ),
        };
    }
    let mut item = current.cloned().unwrap_or_else(|| RegistryItem::new(model));
    let mut r = rejection.clone();
    r.reason = clip_reason(&r.reason);
    item.push_rejection(r);
    item.revision += 1;
    item.updated_at = Some(rejection.at.clone());
    Applied::Changed {
        item: Box::new(item),
        summary: format!("{} rejected ({})", rejection.version, rejection.code),
    }
}

/// Makes `target` active, recording the entry with the replaced active as `previous`.
fn activate(item: &mut RegistryItem, target: &VersionRef, mut e: HistoryEntry, ctx: &Context) {
    e.previous = item.active_ref();
    item.active = Some(Active::new(target.clone()).stamped(ctx.at, ctx.by, ctx.reason));
    item.push_history(e);
}

/// Clears a candidate or shadow that is not newer than the new active `version`.
fn supersede(item: &mut RegistryItem, version: &str, ctx: &Context, rev: u64) {
    let reason = format!("superseded by active {version}");
    let not_newer = |v: &str| compare_versions(v, version) != Ordering::Greater;
    let mk = |action, r: VersionRef| HistoryEntry {
        reason: reason.clone(),
        ..ctx.entry(action, &r, rev)
    };
    if let Some(r) = item.candidate_ref().filter(|r| not_newer(&r.version)) {
        item.candidate = None;
        item.push_history(mk(Action::ClearCandidate, r));
    }
    if let Some(r) = item.shadow_ref().filter(|r| not_newer(&r.version)) {
        item.shadow = None;
        item.push_history(mk(Action::ClearShadow, r));
    }
}

/// The version a rollback without a version returns to: the versions that were active, as a
/// stack rebuilt from history (an activation pushes the version it replaced; a rollback pops
/// back to its target, dropping the versions rolled back from; a named rollback removes its
/// target and pushes the version it replaced). `None` when history knows no earlier version.
pub fn previous_active(item: &RegistryItem) -> Option<VersionRef> {
    let mut stack: Vec<VersionRef> = Vec::new();
    for e in &item.history {
        match e.action {
            Action::Promote | Action::RollbackTo | Action::ForcePromote => {
                stack.retain(|r| r.version != e.version);
                if let Some(p) = &e.previous {
                    stack.retain(|r| r.version != p.version);
                    stack.push(p.clone());
                }
            }
            Action::Rollback => {
                if let Some(pos) = stack.iter().rposition(|r| r.version == e.version) {
                    stack.truncate(pos);
                }
            }
            _ => {}
        }
    }
    let active = item.active.as_ref().map(|a| a.version.as_str());
    stack.retain(|r| Some(r.version.as_str()) != active);
    stack.pop()
}

/// Where a version recorded in history (or currently staged) lives, if it was validated.
pub fn validated_ref(item: &RegistryItem, version: &str) -> Option<VersionRef> {
    if let Some(r) = item
        .candidate_ref()
        .into_iter()
        .chain(item.shadow_ref())
        .find(|r| r.version == version)
    {
        return Some(r);
    }
    // Every version named in history passed validation (only validated versions are ever
    // staged or activated).
    item.history.iter().rev().find_map(|e| {
        if e.version == version {
            Some(e.version_ref())
        } else {
            e.previous.clone().filter(|p| p.version == version)
        }
    })
}

#[cfg(test)]
#[path = "ops_tests.rs"]
mod tests;
