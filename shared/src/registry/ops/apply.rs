//! Applying a [`Change`] (or a rejection) to the item as read: the new item to write
//! conditionally, or why there is nothing to write.

use super::{classify, previous_active, validated_ref};
use super::{compare_versions, Applied, Change, Context, Novelty, OpError};
use crate::bundle::Rollout;
use crate::registry::item::{
    clip_reason, Action, Active, Candidate, GateSettings, HistoryEntry, RegistryItem, Rejection,
    Shadow, VersionRef,
};
use crate::registry::rollout::{RolloutState, Staged};
use std::cmp::Ordering;

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
                    item.candidate =
                        Some(Candidate::new(target.clone(), w).stamped(ctx.at, ctx.by, ctx.reason));
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
            match crate::registry::rollout::set_rollout(&mut item, model, *rollout, ctx, rev)? {
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
            if !(0.0..=crate::registry::gate::MAX_TOLERANCE_PCT).contains(&t) {
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
