//! What history says about earlier versions: where a rollback goes, and whether a named
//! version was ever validated.

use crate::registry::item::{Action, RegistryItem, VersionRef};

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
