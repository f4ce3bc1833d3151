//! What a published version is to the item as read: new, already recorded, or older than
//! what it would replace.

use super::OpError;
use crate::bundle::Rollout;
use crate::registry::item::RegistryItem;
use std::cmp::Ordering;

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
