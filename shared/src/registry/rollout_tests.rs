use super::*;
use crate::bundle::Rollout;
use crate::registry::item::VersionRef;

const T0: &str = "2026-11-22T10:00:00.000Z";

fn at(minutes: f64) -> String {
    let t = parse_time(T0).unwrap() + time::Duration::seconds_f64(minutes * 60.0);
    format_time(t)
}

fn r(v: &str) -> VersionRef {
    VersionRef {
        version: v.into(),
        prefix: Some(format!("models/m/{v}/")),
        sha256: Some(format!("sha-{v}")),
    }
}

fn write(item: Option<&RegistryItem>, change: Change, when: &str) -> RegistryItem {
    let ctx = Context {
        by: "s3",
        reason: "published",
        at: when,
    };
    match apply(item, "m", &change, &ctx).unwrap() {
        Applied::Changed { item, .. } => *item,
        Applied::Unchanged { why } => panic!("{why}"),
    }
}

/// v1 active, v2 the candidate of `rollout`, staged at T0.
fn staged(rollout: &str) -> RegistryItem {
    let publish = |v: &str, rollout: Rollout| Change::Publish {
        target: r(v),
        kind: "product-recommender".into(),
        rollout,
    };
    let v1 = write(None, publish("v1", Rollout::Immediate), T0);
    write(Some(&v1), publish("v2", rollout.parse().unwrap()), T0)
}

fn ticked(item: &RegistryItem, when: &str) -> Option<RegistryItem> {
    match tick(Some(item), "m", when).unwrap() {
        Applied::Changed { item, .. } => Some(*item),
        Applied::Unchanged { .. } => None,
    }
}

fn alarm(state: AlarmState, when: &str) -> AlarmChange {
    AlarmChange {
        name: "stack-recommend-candidate-errors".into(),
        state,
        reason: "Threshold Crossed: 1 datapoint [12.5] was greater than the threshold (5.0)."
            .into(),
        at: when.into(),
    }
}

fn alarmed(item: &RegistryItem, a: &AlarmChange) -> (Option<RegistryItem>, Option<AlarmEffect>) {
    match on_alarm(Some(item), "m", a).unwrap() {
        (Applied::Changed { item, .. }, effect) => (Some(*item), effect),
        (Applied::Unchanged { .. }, effect) => (None, effect),
    }
}

#[test]
fn rollout_specs_parse_and_print() {
    let s: Staged = "canary:10,bake:30".parse().unwrap();
    assert_eq!(
        s,
        Staged {
            weight: 10,
            plan: Plan::Bake { minutes: 30 }
        }
    );
    assert_eq!(s.to_string(), "canary:10,bake:30");
    let l: Staged = "linear:25%/5".parse().unwrap();
    assert_eq!(l.weight, 25);
    assert_eq!(
        l.plan,
        Plan::Linear {
            step: 25,
            minutes: 5
        }
    );
    assert_eq!(l.to_string(), "linear:25%/5");
    for bad in [
        "canary:0,bake:5",
        "canary:101,bake:5",
        "canary:10,bake:0",
        "canary:10,bake:",
        "canary:10",
        "linear:10/5",
        "linear:0%/5",
        "linear:10%/0",
        "linear:10%/99999",
        "bake:5",
    ] {
        assert!(bad.parse::<Staged>().is_err(), "{bad}");
    }
    assert_eq!(
        "canary:10,bake:30".parse::<Rollout>().unwrap(),
        Rollout::Staged(s)
    );
    assert!("canary:10,bake:x".parse::<Rollout>().is_err());
    assert_eq!("canary:10".parse::<Rollout>().unwrap(), Rollout::Canary(10));
}

#[test]
fn a_staged_publish_records_its_rollout() {
    let item = staged("canary:10,bake:1");
    let c = item.candidate.as_ref().unwrap();
    assert_eq!((c.version.as_str(), c.weight), ("v2", 10));
    let ro = current_rollout(&item).unwrap();
    assert_eq!(ro.stepped_at, T0);
    assert_eq!(ro.plan.to_string(), "canary:10,bake:1");
}

#[test]
fn a_bake_promotes_after_its_minutes_and_opens_a_bake_window() {
    let item = staged("canary:10,bake:1");
    assert!(ticked(&item, &at(0.5)).is_none(), "too early");
    assert!(ticked(&item, &at(-3.0)).is_none(), "a tick from the past");
    let promoted = ticked(&item, &at(1.0)).expect("due");
    assert_eq!(promoted.active.as_ref().unwrap().version, "v2");
    assert!(promoted.candidate.is_none());
    assert!(promoted.rollout.is_none());
    let bake = promoted.bake.as_ref().unwrap();
    assert_eq!(
        (bake.version.as_str(), bake.until.as_str()),
        ("v2", &*at(2.0))
    );
    let last = promoted.history.last().unwrap();
    assert_eq!(last.action, Action::Promote);
    assert_eq!(last.by, ROLLOUT_ACTOR);
    assert!(last.reason.contains("canary:10,bake:1"), "{}", last.reason);
    assert_eq!(promoted.revision, item.revision + 1);
    // The same tick again, or a later one: nothing more to do.
    assert!(ticked(&promoted, &at(1.0)).is_none());
    assert!(ticked(&promoted, &at(5.0)).is_none());
}

#[test]
fn linear_steps_then_promotes() {
    let mut item = staged("linear:30%/2");
    let mut weights = vec![item.candidate.as_ref().unwrap().weight];
    let mut minute = 0.0;
    while item.candidate.is_some() {
        minute += 1.0;
        if let Some(next) = ticked(&item, &at(minute)) {
            // Idempotent: the same tick again changes nothing.
            assert!(ticked(&next, &at(minute)).is_none());
            item = next;
            weights.extend(item.candidate.as_ref().map(|c| c.weight));
        }
        assert!(minute < 20.0);
    }
    assert_eq!(weights, [30, 60, 90]);
    assert_eq!(minute, 6.0, "three steps of two minutes");
    assert_eq!(item.active.as_ref().unwrap().version, "v2");
    let steps: Vec<(Action, &str)> = item
        .history
        .iter()
        .rev()
        .take(3)
        .map(|h| (h.action, h.by.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (Action::Promote, ROLLOUT_ACTOR),
            (Action::SetCanary, ROLLOUT_ACTOR),
            (Action::SetCanary, ROLLOUT_ACTOR)
        ]
    );
}

#[test]
fn an_alarm_clears_the_candidate_and_holds_nothing_back() {
    let item = staged("canary:10,bake:5");
    let (next, effect) = alarmed(&item, &alarm(AlarmState::Alarm, &at(1.0)));
    let next = next.unwrap();
    assert_eq!(effect, Some(AlarmEffect::ClearedCandidate));
    assert!(next.candidate.is_none());
    assert!(next.rollout.is_none());
    assert_eq!(next.active.as_ref().unwrap().version, "v1");
    let last = next.history.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str(), last.version.as_str()),
        (Action::ClearCandidate, AUTO_ROLLBACK_ACTOR, "v2")
    );
    assert!(last.reason.contains("stack-recommend-candidate-errors"));
    assert_eq!(next.alarms.len(), 1);
    // The same transition delivered again: nothing.
    let (again, _) = alarmed(&next, &alarm(AlarmState::Alarm, &at(1.0)));
    assert!(again.is_none());
    // OK forgets it; OK again is nothing.
    let (ok, effect) = alarmed(&next, &alarm(AlarmState::Ok, &at(3.0)));
    let ok = ok.unwrap();
    assert_eq!(effect, Some(AlarmEffect::Recorded));
    assert!(ok.alarms.is_empty());
    assert_eq!(ok.serving(), next.serving());
    assert_eq!(ok.history.len(), next.history.len());
    assert!(alarmed(&ok, &alarm(AlarmState::InsufficientData, &at(4.0)))
        .0
        .is_none());
}

#[test]
fn ok_and_insufficient_data_change_nothing_served() {
    let item = staged("canary:10,bake:5");
    for state in [AlarmState::Ok, AlarmState::InsufficientData] {
        let (next, effect) = alarmed(&item, &alarm(state, &at(1.0)));
        assert!(next.is_none() && effect.is_none(), "{state:?}");
    }
}

#[test]
fn an_alarm_inside_the_bake_window_rolls_back_and_after_it_only_records() {
    let item = staged("canary:10,bake:2");
    let promoted = ticked(&item, &at(2.0)).unwrap();
    let (inside, effect) = alarmed(&promoted, &alarm(AlarmState::Alarm, &at(3.0)));
    let inside = inside.unwrap();
    assert_eq!(effect, Some(AlarmEffect::RolledBack));
    assert_eq!(inside.active.as_ref().unwrap().version, "v1");
    assert!(inside.bake.is_none());
    let last = inside.history.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str()),
        (Action::Rollback, AUTO_ROLLBACK_ACTOR)
    );
    // After the window: recorded, the active stays.
    let (after, effect) = alarmed(&promoted, &alarm(AlarmState::Alarm, &at(4.5)));
    let after = after.unwrap();
    assert_eq!(effect, Some(AlarmEffect::Recorded));
    assert_eq!(after.active.as_ref().unwrap().version, "v2");
    assert_eq!(after.history.len(), promoted.history.len());
}

#[test]
fn a_recorded_alarm_holds_the_next_candidate_until_ok() {
    let item = staged("canary:10,bake:1");
    let (cleared, _) = alarmed(&item, &alarm(AlarmState::Alarm, &at(0.5)));
    let cleared = cleared.unwrap();
    // A new staged candidate while the alarm is still in ALARM.
    let v3 = write(
        Some(&cleared),
        Change::Publish {
            target: r("v3"),
            kind: "product-recommender".into(),
            rollout: "canary:10,bake:1".parse().unwrap(),
        },
        &at(1.0),
    );
    assert!(ticked(&v3, &at(5.0)).is_none(), "held by the alarm");
    let (ok, _) = alarmed(&v3, &alarm(AlarmState::Ok, &at(6.0)));
    let promoted = ticked(&ok.unwrap(), &at(6.0)).unwrap();
    assert_eq!(promoted.active.as_ref().unwrap().version, "v3");
}

#[test]
fn set_rollout_starts_stops_and_is_idempotent() {
    let v1 = write(
        None,
        Change::Publish {
            target: r("v1"),
            kind: "k".into(),
            rollout: Rollout::Immediate,
        },
        T0,
    );
    let set = |p: &str| Change::SetRollout {
        rollout: Some(p.parse().unwrap()),
    };
    let by_hand = |item: &RegistryItem, change: &Change| {
        let ctx = Context {
            by: "a",
            reason: "r",
            at: T0,
        };
        apply(Some(item), "m", change, &ctx)
    };
    assert!(matches!(
        by_hand(&v1, &set("linear:10%/5")),
        Err(OpError::NoCandidate(_))
    ));
    let c = write(
        Some(&v1),
        Change::Publish {
            target: r("v2"),
            kind: "k".into(),
            rollout: Rollout::Canary(5),
        },
        T0,
    );
    assert!(
        ticked(&c, &at(60.0)).is_none(),
        "a plain canary never moves"
    );
    let s = write(Some(&c), set("linear:10%/5"), &at(1.0));
    assert_eq!(s.candidate.as_ref().unwrap().weight, 10);
    assert_eq!(s.history.last().unwrap().action, Action::SetRollout);
    assert!(matches!(
        by_hand(&s, &set("linear:10%/5")).unwrap(),
        Applied::Unchanged { .. }
    ));
    assert_eq!(ticked(&s, &at(6.0)).unwrap().candidate.unwrap().weight, 20);
    let stopped = write(Some(&s), Change::SetRollout { rollout: None }, &at(2.0));
    assert!(stopped.rollout.is_none());
    assert!(ticked(&stopped, &at(60.0)).is_none());
    // An operator replacing the candidate: the old rollout no longer drives anything.
    let replaced = write(
        Some(&s),
        Change::Publish {
            target: r("v3"),
            kind: "k".into(),
            rollout: Rollout::Canary(5),
        },
        &at(2.0),
    );
    assert!(current_rollout(&replaced).is_none());
    assert!(ticked(&replaced, &at(60.0)).is_none());
}

#[test]
fn a_paused_canary_waits() {
    let item = staged("canary:10,bake:1");
    let paused = write(Some(&item), Change::SetCanary { weight: 0 }, T0);
    assert!(ticked(&paused, &at(10.0)).is_none());
}

#[test]
fn scopes_cover_their_model_or_their_function_s_models() {
    let mut reco = RegistryItem::new("product-recommender");
    reco.kind = Some("product-recommender".into());
    let mut churn = RegistryItem::new("churn");
    churn.kind = Some("generic".into());
    let scope = |f: &str, m: Option<&str>, candidate| AlarmScope {
        function: Some(f.into()),
        model: m.map(Into::into),
        candidate,
    };
    assert!(scope("recommend", None, true).covers(&reco));
    assert!(!scope("recommend", None, true).covers(&churn));
    assert!(scope("predict", None, true).covers(&churn));
    assert!(scope("predict", None, true).covers(&reco));
    assert!(scope("recommend", Some("product-recommender"), true).covers(&reco));
    assert!(!scope("predict", Some("churn"), true).covers(&reco));
    assert!(
        !scope("recommend", None, false).covers(&reco),
        "not a candidate alarm"
    );
    assert!(!scope("valuation", None, true).covers(&reco));
}

// The DynamoDB attribute types come with the `aws` feature.
#[cfg(feature = "aws")]
#[test]
fn items_with_rollout_state_round_trip_through_dynamodb_attributes() {
    let item = staged("linear:10%/5");
    let (item, _) = alarmed(&item, &alarm(AlarmState::Alarm, &at(1.0)));
    let mut item = item.unwrap();
    item.rollout = Some(RolloutState {
        version: "v2".into(),
        plan: "linear:10%/5".parse().unwrap(),
        stepped_at: T0.into(),
    });
    item.bake = Some(BakeWindow {
        version: "v1".into(),
        until: at(5.0),
        plan: "canary:5,bake:5".parse().unwrap(),
    });
    let attrs: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        serde_dynamo::to_item(&item).unwrap();
    let back: RegistryItem = serde_dynamo::from_item(attrs).unwrap();
    assert_eq!(back, item);
}
