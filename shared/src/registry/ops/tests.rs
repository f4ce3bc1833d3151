use super::*;
use crate::registry::item::{Action, RegistryItem, Rejection};
use std::cmp::Ordering;

const AT: &str = "2026-11-22T10:00:00.000Z";

fn ctx() -> Context<'static> {
    Context {
        by: "alice",
        reason: "because",
        at: AT,
    }
}

fn r(v: &str) -> VersionRef {
    VersionRef {
        version: v.into(),
        prefix: Some(format!("models/m/{v}/")),
        sha256: Some(format!("sha-{v}")),
    }
}

fn publish(v: &str, rollout: Rollout) -> Change {
    Change::Publish {
        target: r(v),
        kind: "product-recommender".into(),
        rollout,
    }
}

/// Applies and unwraps a change that must change the item.
fn changed(item: Option<&RegistryItem>, change: Change) -> RegistryItem {
    match apply(item, "m", &change, &ctx()).unwrap() {
        Applied::Changed { item, .. } => *item,
        Applied::Unchanged { why } => panic!("{change:?} left the item unchanged: {why}"),
    }
}

fn is_unchanged(item: &RegistryItem, change: Change) -> bool {
    matches!(
        apply(Some(item), "m", &change, &ctx()).unwrap(),
        Applied::Unchanged { .. }
    )
}

fn active(item: &RegistryItem) -> &str {
    &item.active.as_ref().unwrap().version
}

fn rollback() -> Change {
    Change::Rollback {
        to: None,
        validated: None,
    }
}

fn rollback_to(v: &str) -> Change {
    Change::Rollback {
        to: Some(v.into()),
        validated: None,
    }
}

#[test]
fn first_publish_creates_the_item_at_revision_1() {
    let item = changed(None, publish("v1", Rollout::Immediate));
    assert_eq!(item.model, "m");
    assert_eq!(item.revision, 1);
    assert_eq!(item.kind.as_deref(), Some("product-recommender"));
    let a = item.active.as_ref().unwrap();
    assert_eq!(a.version, "v1");
    assert_eq!(a.prefix.as_deref(), Some("models/m/v1/"));
    assert_eq!(a.sha256.as_deref(), Some("sha-v1"));
    assert_eq!(a.by.as_deref(), Some("alice"));
    assert_eq!(item.history.len(), 1);
    assert_eq!(item.history[0].action, Action::Promote);
    assert_eq!(item.history[0].previous, None);
    assert_eq!(item.history[0].revision, 1);
}

#[test]
fn the_first_bundle_is_active_whatever_its_rollout() {
    for rollout in [Rollout::Canary(10), Rollout::Shadow] {
        let item = changed(None, publish("v1", rollout));
        assert_eq!(active(&item), "v1");
        assert!(item.candidate.is_none() && item.shadow.is_none());
    }
}

#[test]
fn immediate_replaces_active_and_records_the_previous_one() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let v2 = changed(Some(&v1), publish("v2", Rollout::Immediate));
    assert_eq!(active(&v2), "v2");
    assert_eq!(v2.revision, 2);
    let last = v2.history.last().unwrap();
    assert_eq!(last.previous, Some(r("v1")));
}

#[test]
fn duplicates_are_no_ops() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    assert!(is_unchanged(&v1, publish("v1", Rollout::Immediate)));
    let c = changed(Some(&v1), publish("v2", Rollout::Canary(5)));
    assert!(is_unchanged(&c, publish("v2", Rollout::Canary(5))));
    // Even with another rollout: the version is known.
    assert!(is_unchanged(&c, publish("v2", Rollout::Immediate)));
    let s = changed(Some(&c), publish("v3", Rollout::Shadow));
    assert!(is_unchanged(&s, publish("v3", Rollout::Shadow)));
    // A version rolled back from is in history: a late duplicate does not re-promote it.
    let v4 = changed(Some(&v1), publish("v4", Rollout::Immediate));
    let back = changed(Some(&v4), rollback());
    assert_eq!(active(&back), "v1");
    assert!(is_unchanged(&back, publish("v4", Rollout::Immediate)));
}

#[test]
fn older_versions_never_replace_newer_ones() {
    let v2 = changed(None, publish("2026-11-22T10-00-00Z-b", Rollout::Immediate));
    let e = apply(
        Some(&v2),
        "m",
        &publish("2026-11-21T10-00-00Z-a", Rollout::Immediate),
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "stale_version");
    // Older than the active version is stale for any rollout.
    for rollout in [Rollout::Canary(10), Rollout::Shadow] {
        let e = apply(
            Some(&v2),
            "m",
            &publish("2026-11-21T10-00-00Z-a", rollout),
            &ctx(),
        )
        .unwrap_err();
        assert_eq!(e.code(), "stale_version");
    }
    // A canary older than the current candidate is stale too.
    let c = changed(
        Some(&v2),
        publish("2026-11-24T00-00-00Z-d", Rollout::Canary(10)),
    );
    let e = apply(
        Some(&c),
        "m",
        &publish("2026-11-23T00-00-00Z-c", Rollout::Canary(10)),
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "stale_version");
    assert!(matches!(
        classify(Some(&c), "2026-11-23T00-00-00Z-c", Rollout::Shadow),
        Novelty::New
    ));
}

#[test]
fn a_bundle_of_another_kind_is_refused() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let e = apply(
        Some(&v1),
        "m",
        &Change::Publish {
            target: r("v2"),
            kind: "fair-multiple".into(),
            rollout: Rollout::Immediate,
        },
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "kind_changed");
}

#[test]
fn canary_then_set_weight_then_promote() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let c = changed(Some(&v1), publish("v2", Rollout::Canary(10)));
    assert_eq!(active(&c), "v1");
    let cand = c.candidate.as_ref().unwrap();
    assert_eq!((cand.version.as_str(), cand.weight), ("v2", 10));

    let w = changed(Some(&c), Change::SetCanary { weight: 50 });
    assert_eq!(w.candidate.as_ref().unwrap().weight, 50);
    assert_eq!(w.history.last().unwrap().action, Action::SetCanary);
    assert!(is_unchanged(&w, Change::SetCanary { weight: 50 }));
    let zero = changed(Some(&w), Change::SetCanary { weight: 0 });
    assert_eq!(zero.candidate.as_ref().unwrap().weight, 0);
    assert_eq!(
        apply(Some(&w), "m", &Change::SetCanary { weight: 101 }, &ctx())
            .unwrap_err()
            .code(),
        "invalid_weight"
    );

    // Promoting a version that is not staged is refused.
    let e = apply(
        Some(&w),
        "m",
        &Change::Promote {
            version: Some("v9".into()),
        },
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "version_mismatch");

    let p = changed(Some(&w), Change::Promote { version: None });
    assert_eq!(active(&p), "v2");
    assert!(p.candidate.is_none());
    assert_eq!(p.history.last().unwrap().previous, Some(r("v1")));
    assert_eq!(
        apply(Some(&p), "m", &Change::Promote { version: None }, &ctx())
            .unwrap_err()
            .code(),
        "no_candidate"
    );
    assert_eq!(
        apply(Some(&p), "m", &Change::SetCanary { weight: 5 }, &ctx())
            .unwrap_err()
            .code(),
        "no_candidate"
    );
}

#[test]
fn shadow_can_be_promoted_by_name_and_cleared() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let s = changed(Some(&v1), publish("v2", Rollout::Shadow));
    assert_eq!(s.shadow.as_ref().unwrap().version, "v2");
    let cleared = changed(Some(&s), Change::ClearShadow);
    assert!(cleared.shadow.is_none());
    assert!(is_unchanged(&cleared, Change::ClearShadow));
    assert!(is_unchanged(&cleared, Change::ClearCandidate));
    let p = changed(
        Some(&s),
        Change::Promote {
            version: Some("v2".into()),
        },
    );
    assert_eq!(active(&p), "v2");
    assert!(p.shadow.is_none());
}

#[test]
fn a_newer_active_supersedes_older_candidates_and_shadows() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let c = changed(Some(&v1), publish("v2", Rollout::Canary(10)));
    let s = changed(Some(&c), publish("v4", Rollout::Shadow));
    let a = changed(Some(&s), publish("v3", Rollout::Immediate));
    assert_eq!(active(&a), "v3");
    assert!(a.candidate.is_none(), "v2 < v3 is superseded");
    assert_eq!(a.shadow.as_ref().unwrap().version, "v4", "v4 > v3 stays");
    assert!(a
        .history
        .iter()
        .any(|h| h.action == Action::ClearCandidate && h.version == "v2"));
}

#[test]
fn rollback_walks_back_and_never_returns_to_a_rolled_back_version() {
    let mut item = changed(None, publish("v1", Rollout::Immediate));
    for v in ["v2", "v3"] {
        item = changed(Some(&item), publish(v, Rollout::Immediate));
    }
    let b1 = changed(Some(&item), rollback());
    assert_eq!(active(&b1), "v2");
    assert_eq!(b1.history.last().unwrap().action, Action::Rollback);
    assert_eq!(b1.history.last().unwrap().previous, Some(r("v3")));
    let b2 = changed(Some(&b1), rollback());
    assert_eq!(active(&b2), "v1");
    assert_eq!(b2.active.as_ref().unwrap().prefix, r("v1").prefix);
    let e = apply(Some(&b2), "m", &rollback(), &ctx()).unwrap_err();
    assert_eq!(e.code(), "nothing_to_roll_back");

    // Named rollback forward to v3, then rollback returns to v1.
    let fwd = changed(Some(&b2), rollback_to("v3"));
    assert_eq!(active(&fwd), "v3");
    assert_eq!(fwd.active.as_ref().unwrap().sha256, r("v3").sha256);
    let back = changed(Some(&fwd), rollback());
    assert_eq!(active(&back), "v1");
}

#[test]
fn v1_v2_rollback_gives_v1_and_then_nothing() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let v2 = changed(Some(&v1), publish("v2", Rollout::Immediate));
    let b = changed(Some(&v2), rollback());
    assert_eq!(active(&b), "v1");
    assert_eq!(
        apply(Some(&b), "m", &rollback(), &ctx())
            .unwrap_err()
            .code(),
        "nothing_to_roll_back"
    );
}

#[test]
fn named_rollback_needs_a_validated_version() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let v2 = changed(Some(&v1), publish("v2", Rollout::Immediate));
    assert!(is_unchanged(&v2, rollback_to("v2")));
    let e = apply(Some(&v2), "m", &rollback_to("v0"), &ctx()).unwrap_err();
    assert_eq!(e.code(), "unknown_version");
    // Re-validated by the caller: accepted with the caller's ref.
    let ok = changed(
        Some(&v2),
        Change::Rollback {
            to: Some("v0".into()),
            validated: Some(r("v0")),
        },
    );
    assert_eq!(ok.active_ref(), Some(r("v0")));
    assert_eq!(ok.history.last().unwrap().action, Action::RollbackTo);
    // A ref for another version does not count.
    let e = apply(
        Some(&v2),
        "m",
        &Change::Rollback {
            to: Some("v0".into()),
            validated: Some(r("v7")),
        },
        &ctx(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "unknown_version");
    assert_eq!(
        apply(None, "m", &rollback(), &ctx()).unwrap_err().code(),
        "no_active"
    );
}

#[test]
fn rollback_survives_the_history_bound() {
    let mut item = changed(None, publish("v00", Rollout::Immediate));
    item = changed(Some(&item), publish("v01", Rollout::Immediate));
    // Fill history with weight changes until v00's own entry is gone.
    item = changed(Some(&item), publish("v02", Rollout::Canary(1)));
    for w in 2..40u8 {
        item = changed(Some(&item), Change::SetCanary { weight: w });
    }
    assert!(!item.history.iter().any(|h| h.version == "v00"));
    assert_eq!(item.history.len(), super::super::item::HISTORY_LIMIT);
    // v01's activation left history too; nothing recorded to roll back to.
    assert!(previous_active(&item).is_none());
    // But a recent activation keeps its `previous` ref.
    let p = changed(Some(&item), Change::Promote { version: None });
    let b = changed(Some(&p), rollback());
    assert_eq!(active(&b), "v01");
}

#[test]
fn rejections_are_recorded_once_per_version_and_code() {
    let rej = Rejection {
        version: "v3".into(),
        code: "checksum_mismatch".into(),
        reason: "x".repeat(2000),
        at: AT.into(),
        key: Some("models/m/v3/manifest.json".into()),
    };
    let Applied::Changed { item, .. } = record_rejection(None, "m", &rej) else {
        panic!()
    };
    assert_eq!(item.revision, 1);
    assert!(item.active.is_none());
    assert!(item.rejected[0].reason.chars().count() <= 501);
    assert!(matches!(
        record_rejection(Some(&item), "m", &rej),
        Applied::Unchanged { .. }
    ));
    let other = Rejection {
        code: "golden_mismatch".into(),
        ..rej.clone()
    };
    let Applied::Changed { item: two, .. } = record_rejection(Some(&item), "m", &other) else {
        panic!()
    };
    assert_eq!(two.rejected.len(), 2);
    assert_eq!(two.revision, 2);
    // A rejection never touches what is served.
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let Applied::Changed { item: after, .. } = record_rejection(Some(&v1), "m", &rej) else {
        panic!()
    };
    assert_eq!(after.serving(), v1.serving());
}

#[test]
fn versions_compare_bytewise() {
    assert_eq!(
        compare_versions("2026-11-22T10-00-00Z-a", "2026-11-22T09-00-00Z-z"),
        Ordering::Greater
    );
    assert_eq!(compare_versions("v1", "v1"), Ordering::Equal);
}

fn force(v: &str, validated: Option<VersionRef>) -> Change {
    Change::ForcePromote {
        version: v.into(),
        validated,
    }
}

#[test]
fn a_forced_promotion_activates_a_revalidated_version_and_records_the_override() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    let v3 = changed(Some(&v1), publish("v3", Rollout::Canary(10)));
    // A version the gate rejected is in no slot and no history: the caller must re-validate.
    assert_eq!(
        apply(Some(&v3), "m", &force("v2", None), &ctx()),
        Err(OpError::UnknownVersion {
            model: "m".into(),
            version: "v2".into()
        })
    );
    // A re-validation of another version does not count.
    assert!(apply(Some(&v3), "m", &force("v2", Some(r("v9"))), &ctx()).is_err());
    let forced = changed(Some(&v3), force("v2", Some(r("v2"))));
    assert_eq!(active(&forced), "v2");
    assert_eq!(
        forced.active.as_ref().unwrap().sha256.as_deref(),
        Some("sha-v2")
    );
    let last = forced.history.last().unwrap();
    assert_eq!(last.action, Action::ForcePromote);
    assert_eq!(
        (last.by.as_str(), last.reason.as_str()),
        ("alice", "because")
    );
    assert_eq!(last.previous.as_ref().unwrap().version, "v1");
    // The newer candidate stays; a rollback returns to v1 (force_promote is an activation).
    assert_eq!(forced.candidate.as_ref().unwrap().version, "v3");
    assert_eq!(active(&changed(Some(&forced), rollback())), "v1");
    // Forcing the candidate takes it out of the candidate slot; forcing the active is a no-op.
    let c = changed(Some(&forced), force("v3", None));
    assert_eq!((active(&c), c.candidate.is_none()), ("v3", true));
    assert!(is_unchanged(&c, force("v3", None)));
    // Never backwards: that is a rollback.
    assert_eq!(
        apply(Some(&c), "m", &force("v0", Some(r("v0"))), &ctx())
            .unwrap_err()
            .code(),
        "stale_version"
    );
}

#[test]
fn the_tolerance_is_set_within_bounds_and_recorded() {
    let v1 = changed(None, publish("v1", Rollout::Immediate));
    assert_eq!(
        v1.tolerance_pct(),
        crate::registry::gate::DEFAULT_TOLERANCE_PCT
    );
    let t = changed(Some(&v1), Change::SetTolerance { tolerance_pct: 5.0 });
    assert_eq!(t.tolerance_pct(), 5.0);
    assert_eq!(t.revision, v1.revision + 1);
    let last = t.history.last().unwrap();
    assert_eq!(
        (last.action, last.version.as_str()),
        (Action::SetTolerance, "v1")
    );
    assert_eq!(last.reason, "tolerance 2% -> 5%: because");
    assert!(is_unchanged(
        &t,
        Change::SetTolerance { tolerance_pct: 5.0 }
    ));
    for bad in [-1.0, 100.5, f64::NAN] {
        assert_eq!(
            apply(
                Some(&t),
                "m",
                &Change::SetTolerance { tolerance_pct: bad },
                &ctx()
            )
            .unwrap_err()
            .code(),
            "invalid_tolerance"
        );
    }
    // The setting survives DynamoDB's attribute round trip as JSON does.
    let back: RegistryItem = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
    assert_eq!(back, t);
}
