//! Registry items as the registry stress test and `warmstart local chaos`'s race seed them.

use warmstart_core::registry::RegistryItem;

/// The item of `model` at revision 1: `active` served, `candidate` the canary at `weight` %.
/// Built from the item's JSON form, which names only what is set (every other field of
/// `active` and `candidate` is optional there).
pub fn item_with_canary(model: &str, active: &str, candidate: &str, weight: u8) -> RegistryItem {
    serde_json::from_value(serde_json::json!({
        "model": model,
        "active": {"version": active},
        "candidate": {"version": candidate, "weight": weight},
        "revision": 1,
    }))
    .expect("a registry item")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warmstart_core::registry::{ServingSpec, VersionRef};

    #[test]
    fn the_item_holds_the_two_versions_and_nothing_else() {
        let item = item_with_canary("m", "v1", "v2", 7);
        let serving = ServingSpec {
            active: Some(VersionRef::new("v1")),
            candidate: Some((VersionRef::new("v2"), 7)),
            shadow: None,
        };
        assert_eq!(item.serving(), serving);
        let stored = json!({
            "model": "m",
            "active": {"version": "v1"},
            "candidate": {"version": "v2", "weight": 7},
            "history": [],
            "rejected": [],
            "revision": 1,
        });
        assert_eq!(serde_json::to_value(&item).unwrap(), stored);
    }
}
