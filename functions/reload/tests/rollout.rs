//! End to end: rollouts that guard themselves. The `reload` binary runs through its real
//! Lambda runtime loop against the embedded S3 + DynamoDB emulators and receives the
//! EventBridge fixtures (`events/schedule-tick.json`, `events/cloudwatch-alarm-canary.json`)
//! with their clock set by the test: a tick's `time` and an alarm's state timestamp are the
//! clock reload uses, so a one-minute bake needs no sleep. A warm `recommend` container
//! follows the registry as customers would see it.
//!
//! Run alone, `cargo test -p reload --test rollout` needs `cargo build -p recommend`
//! beforehand (see e2e.rs).

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::Rollout;
use warmstart_core::registry::{in_canary, Action, RegistryItem};
use warmstart_tests::*;

mod common;
use common::*;

const ALARM_NAME: &str = "warmstart-candidate-product-recommender-error-rate";

/// `base` plus `seconds`, as an EventBridge time.
fn plus(base: &str, seconds: i64) -> String {
    let t = OffsetDateTime::parse(base, &Rfc3339).unwrap() + time::Duration::seconds(seconds);
    t.format(&Rfc3339).unwrap()
}

/// `time` in the registry's timestamp format (what reload makes of an event's time).
fn canonical(time: &str) -> String {
    use warmstart_core::registry::rollout::{format_time, parse_time};
    format_time(parse_time(time).unwrap())
}

/// `events/schedule-tick.json` at `time`.
fn tick_at(time: &str) -> Value {
    let mut v = fixture("schedule-tick.json");
    v["time"] = json!(time);
    v
}

/// `events/cloudwatch-alarm-canary.json` entering `state` at `time`.
fn alarm_at(time: &str, state: &str) -> Value {
    let mut v = fixture("cloudwatch-alarm-canary.json");
    v["time"] = json!(time);
    v["detail"]["state"]["timestamp"] = json!(time);
    v["detail"]["state"]["value"] = json!(state);
    v
}

/// When the staged candidate's clock started (its current weight's `stepped_at`).
fn stepped_at(item: &RegistryItem) -> String {
    item.rollout
        .as_ref()
        .unwrap_or_else(|| panic!("no rollout in {item:?}"))
        .stepped_at
        .clone()
}

/// The per-model outcome of a tick or alarm answer.
fn outcome<'a>(answer: &'a Value, model: &str) -> &'a Value {
    answer["models"]
        .as_array()
        .unwrap_or_else(|| panic!("no models in {answer}"))
        .iter()
        .find(|m| m["model"] == model)
        .unwrap_or_else(|| panic!("{model} not in {answer}"))
}

async fn with_v1_and_staged_v2(emu: &Emulator, reload: &Running, rollout: &str) -> RegistryItem {
    let k1 = publish(emu, V1, 1, None).await;
    let a = reload.call(&s3_event(&emu.bucket, &[k1])).await;
    assert_eq!(record(&a, 0)["outcome"], "active", "{a}");
    let k2 = publish(emu, V2, 2, Some(rollout.parse::<Rollout>().unwrap())).await;
    let a = reload.call(&s3_event(&emu.bucket, &[k2])).await;
    assert_eq!(record(&a, 0)["outcome"], "candidate", "{a}");
    let item = registry_item(emu, MODEL_NAME).await;
    assert_eq!(
        item.rollout.as_ref().map(|r| r.plan.to_string()),
        Some(rollout.to_string())
    );
    item
}

/// Customers in and out of a `weight` % canary of the recommender.
fn customers(weight: u8) -> (Vec<String>, Vec<String>) {
    let ids: Vec<String> = (0..400).map(|i| (1_000_000 + i).to_string()).collect();
    ids.into_iter()
        .partition(|id| in_canary(MODEL_NAME, id, weight))
}

/// `(variant, version)` of each customer's answer through `POST /recommend/batch` (the batch
/// names one version when every result came from one variant, as here).
async fn variants(rec: &Running, ids: &[String]) -> Vec<(String, String)> {
    let (status, v) = rec.http(&batch_event(ids)).await;
    assert_eq!(status, 200, "{v}");
    let version = v["model"]["version"].as_str().unwrap().to_string();
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["variant"].as_str().unwrap().to_string(), version.clone()))
        .collect()
}

fn rolled_back_docs(reload: &Running) -> usize {
    reload
        .process
        .json_lines()
        .iter()
        .filter(|l| l["ModelRolledBack"] == 1 && l["Function"] == "reload")
        .count()
}

/// A 50 % canary whose alarm fires: one invocation of reload with the alarm fixture removes
/// the candidate, history says why, `ModelRolledBack` counts it, and the customers who were
/// on the canary get the active version again. Repeats, OK and INSUFFICIENT_DATA change
/// nothing served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_alarm_fires_is_removed_and_customers_fall_back() {
    let emu = Emulator::start("rollalarm").await;
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(20))
        .await
        .unwrap();
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let staged = with_v1_and_staged_v2(&emu, &reload, "canary:50,bake:30").await;
    let rec = start(&recommend_bin(), recommend_env(&emu)).await;
    wait_health(&rec, "the candidate", |h| h["candidate"]["version"] == V2).await;
    let (on_canary, off_canary) = customers(50);
    let served = variants(&rec, &on_canary[..50]).await;
    assert!(
        served
            .iter()
            .all(|(v, version)| v == "candidate" && version == V2),
        "{served:?}"
    );

    // The alarm: removed by this one invocation.
    let when = plus(&stepped_at(&staged), 120);
    let a = reload.call(&alarm_at(&when, "ALARM")).await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["alarm"], ALARM_NAME, "{a}");
    assert_eq!(
        outcome(&a, MODEL_NAME)["outcome"],
        "candidate_cleared",
        "{a}"
    );
    let item = registry_item(&emu, MODEL_NAME).await;
    assert!(item.candidate.is_none(), "{item:?}");
    assert!(item.rollout.is_none());
    assert_eq!(item.active.as_ref().unwrap().version, V1);
    let last = item.history.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str(), last.version.as_str()),
        (Action::ClearCandidate, "auto-rollback", V2)
    );
    assert!(last.reason.contains(ALARM_NAME), "{}", last.reason);
    assert!(last.reason.contains("Threshold Crossed"), "{}", last.reason);
    assert_eq!(item.alarms.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rolled_back_docs(&reload), 1, "{}", reload.output());

    // Customers fall back to the active version.
    wait_health(&rec, "no candidate", |h| h["candidate"].is_null()).await;
    for ids in [&on_canary[..50], &off_canary[..50]] {
        let served = variants(&rec, ids).await;
        assert!(
            served
                .iter()
                .all(|(v, version)| v == "active" && version == V1),
            "{served:?}"
        );
    }

    // The same delivery again: nothing. INSUFFICIENT_DATA of another alarm: nothing.
    let rev = item.revision;
    let a = reload.call(&alarm_at(&when, "ALARM")).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "unchanged", "{a}");
    let mut other = alarm_at(&plus(&when, 30), "INSUFFICIENT_DATA");
    other["detail"]["alarmName"] = json!("warmstart-candidate-recommend-p99-latency");
    let a = reload.call(&other).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "unchanged", "{a}");
    assert_eq!(registry_item(&emu, MODEL_NAME).await.revision, rev);
    // OK: the alarm no longer holds rollouts; what is served is unchanged.
    let a = reload.call(&alarm_at(&plus(&when, 300), "OK")).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "recorded", "{a}");
    let after = registry_item(&emu, MODEL_NAME).await;
    assert!(after.alarms.is_empty());
    assert_eq!(after.serving(), item.serving());
    assert_eq!(after.history.len(), item.history.len());
    assert_eq!(rolled_back_docs(&reload), 1);

    // An alarm on another variant (no Variant=candidate dimension) is not reload's business.
    let mut active_alarm = alarm_at(&plus(&when, 400), "ALARM");
    for m in active_alarm["detail"]["configuration"]["metrics"]
        .as_array_mut()
        .unwrap()
    {
        if m.get("metricStat").is_some() {
            m["metricStat"]["metric"]["dimensions"]["Variant"] = json!("active");
        }
    }
    let a = reload.call(&active_alarm).await;
    assert_eq!(a["models"], json!([]), "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME).await.revision,
        after.revision
    );
}

/// `canary:10,bake:1`: ticks before the minute wait, the first tick after it promotes, later
/// ticks do nothing; the warm container serves the new active version. Then a plain canary is
/// put on `linear:45%/1` by the admin payload and stepped by ticks to active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bake_1_canary_is_promoted_by_ticks_without_an_alarm() {
    let emu = Emulator::start("rollbake").await;
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let staged = with_v1_and_staged_v2(&emu, &reload, "canary:10,bake:1").await;
    let rec = start(&recommend_bin(), recommend_env(&emu)).await;
    let t0 = stepped_at(&staged);

    let a = reload.call(&tick_at(&plus(&t0, 30))).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "waiting", "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME).await.revision,
        staged.revision
    );
    let a = reload.call(&tick_at(&plus(&t0, 61))).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "promoted", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.active.as_ref().unwrap().version, V2);
    assert!(item.candidate.is_none() && item.rollout.is_none());
    let bake = item.bake.as_ref().unwrap();
    assert_eq!(bake.version, V2);
    let last = item.history.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str()),
        (Action::Promote, "rollout")
    );
    assert!(last.reason.contains("canary:10,bake:1"), "{}", last.reason);
    // The same tick again, and later ticks: nothing to do.
    for t in [61, 125] {
        let a = reload.call(&tick_at(&plus(&t0, t))).await;
        assert_eq!(a["models"], json!([]), "{a}");
    }
    assert_eq!(
        registry_item(&emu, MODEL_NAME).await.revision,
        item.revision
    );
    wait_health(&rec, "v2 active", |h| {
        h["model"]["version"] == V2 && h["candidate"].is_null()
    })
    .await;

    // A plain canary, then the admin payload puts it on a linear rollout.
    let v3 = "2026-11-24T10-00-00Z-e2e0003";
    let k3 = publish(&emu, v3, 3, Some(Rollout::Canary(5))).await;
    reload.call(&s3_event(&emu.bucket, &[k3])).await;
    let a = reload
        .call(&admin("admin-set-rollout.json", MODEL_NAME, |v| {
            v["rollout"] = json!("linear:45%/1")
        }))
        .await;
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["item"]["candidate"]["weight"], 45, "{a}");
    let t1 = stepped_at(&registry_item(&emu, MODEL_NAME).await);
    let a = reload.call(&tick_at(&plus(&t1, 60))).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "stepped", "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME)
            .await
            .candidate
            .unwrap()
            .weight,
        90
    );
    let a = reload.call(&tick_at(&plus(&t1, 120))).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "promoted", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.active.as_ref().unwrap().version, v3);
    let steps: Vec<(Action, Option<u8>, &str)> = item
        .history
        .iter()
        .rev()
        .take(3)
        .map(|h| (h.action, h.weight, h.by.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (Action::Promote, None, "rollout"),
            (Action::SetCanary, Some(90), "rollout"),
            (Action::SetRollout, Some(45), "alice"),
        ]
    );
}

/// A rollout promotes v2; an alarm inside the bake window rolls the active back to v1 (and
/// the container serves v1 again); v2 is never promoted again by a repeated delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_followed_by_an_alarm_inside_the_bake_window_rolls_back() {
    let emu = Emulator::start("rollbakeback").await;
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let staged = with_v1_and_staged_v2(&emu, &reload, "canary:20,bake:2").await;
    let rec = start(&recommend_bin(), recommend_env(&emu)).await;
    let t0 = stepped_at(&staged);
    let a = reload.call(&tick_at(&plus(&t0, 121))).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "promoted", "{a}");
    wait_health(&rec, "v2 active", |h| h["model"]["version"] == V2).await;

    let a = reload.call(&alarm_at(&plus(&t0, 180), "ALARM")).await;
    assert_eq!(outcome(&a, MODEL_NAME)["outcome"], "rolled_back", "{a}");
    let item = registry_item(&emu, MODEL_NAME).await;
    assert_eq!(item.active.as_ref().unwrap().version, V1);
    assert!(item.bake.is_none());
    let last = item.history.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str(), last.version.as_str()),
        (Action::Rollback, "auto-rollback", V1)
    );
    assert_eq!(last.previous.as_ref().unwrap().version, V2);
    assert!(last.reason.contains(ALARM_NAME));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rolled_back_docs(&reload), 1, "{}", reload.output());
    wait_health(&rec, "v1 active again", |h| h["model"]["version"] == V1).await;
    let (_, v) = rec.http(&sample_event("apigw-recommend-valid.json")).await;
    assert_eq!(
        (v["model"]["version"].clone(), v["variant"].clone()),
        (json!(V1), json!("active"))
    );

    // S3 delivers v2's upload again: history knows it, nothing changes.
    let a = reload
        .call(&s3_event(
            &emu.bucket,
            &[format!("models/{MODEL_NAME}/{V2}/manifest.json")],
        ))
        .await;
    assert_eq!(record(&a, 0)["outcome"], "unchanged", "{a}");
    assert_eq!(
        registry_item(&emu, MODEL_NAME).await.revision,
        item.revision
    );
}

/// Ticks (every one twice, out of order) and an alarm, from several threads into three reload
/// containers at once: every write any invocation reports is a distinct revision, the item's
/// revision counts exactly those writes, history has one entry per step with consecutive
/// weights, and the alarm's clearing is never lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ticks_and_alarms_lose_no_update() {
    let emu = Emulator::start("rollrace").await;
    let reloads = Arc::new(vec![
        start(&reload_bin(), reload_env(&emu)).await,
        start(&reload_bin(), reload_env(&emu)).await,
        start(&reload_bin(), reload_env(&emu)).await,
    ]);
    let staged = with_v1_and_staged_v2(&emu, &reloads[0], "linear:10%/1").await;
    let t0 = stepped_at(&staged);

    // linear:10%/1 from 10 % needs nine steps to promote; ticks up to minute 8 never promote,
    // so the alarm always finds the candidate (whatever the order) and must clear it.
    let mut events: Vec<Value> = (1..=8)
        .flat_map(|m| [tick_at(&plus(&t0, 60 * m)), tick_at(&plus(&t0, 60 * m))])
        .collect();
    events.insert(7, alarm_at(&plus(&t0, 270), "ALARM"));
    let mut tasks = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        let reloads = reloads.clone();
        tasks.push(tokio::spawn(async move {
            // Spread the start a little so the invocations overlap in every order.
            tokio::time::sleep(std::time::Duration::from_millis((i as u64 * 7) % 40)).await;
            reloads[i % 3].call(&event).await
        }));
    }
    let mut written = Vec::new();
    let mut cleared = 0;
    for t in tasks {
        let answer = t.await.unwrap();
        assert_eq!(answer["ok"], true, "{answer}");
        for m in answer["models"].as_array().unwrap() {
            let o = m["outcome"].as_str().unwrap();
            if [
                "stepped",
                "promoted",
                "candidate_cleared",
                "rolled_back",
                "recorded",
            ]
            .contains(&o)
            {
                written.push(m["revision"].as_u64().unwrap());
            }
            cleared += usize::from(o == "candidate_cleared");
        }
    }
    let item = registry_item(&emu, MODEL_NAME).await;
    let distinct: BTreeSet<u64> = written.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        written.len(),
        "two writers wrote one revision: {written:?}"
    );
    assert_eq!(
        distinct,
        (staged.revision + 1..=item.revision).collect::<BTreeSet<u64>>(),
        "the item's revisions are exactly the writes reported"
    );
    assert_eq!(cleared, 1, "the alarm cleared the candidate once");
    assert!(
        item.candidate.is_none() && item.rollout.is_none(),
        "{item:?}"
    );
    assert_eq!(item.active.as_ref().unwrap().version, V1);
    // History: the steps before the alarm, weights 20, 30, … in order, then the clearing.
    let after: Vec<_> = item
        .history
        .iter()
        .filter(|h| h.revision > staged.revision)
        .collect();
    let steps: Vec<u8> = after
        .iter()
        .filter(|h| h.action == Action::SetCanary)
        .map(|h| h.weight.unwrap())
        .collect();
    let expected: Vec<u8> = (0..steps.len()).map(|i| 20 + 10 * i as u8).collect();
    assert_eq!(steps, expected);
    assert_eq!(after.len(), steps.len() + 1, "{after:?}");
    let last = after.last().unwrap();
    assert_eq!(
        (last.action, last.by.as_str()),
        (Action::ClearCandidate, "auto-rollback")
    );
    let revisions: Vec<u64> = after.iter().map(|h| h.revision).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
}

/// The same race at the table, with far more writers than containers: 32 tasks apply ticks
/// (every minute twice) and the alarm to one item through `RegistryTable::update`, the code
/// reload runs, at once. Each reported write is a distinct revision and the item's revision
/// counts exactly those writes: a write that skipped its condition would repeat a revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_item_serialise_on_its_revision() {
    use warmstart_core::aws::{RegistryTable, Updated};
    use warmstart_core::registry::{on_alarm, tick, AlarmChange, AlarmState};
    let emu = Emulator::start("rollwriters").await;
    let reload = start(&reload_bin(), reload_env(&emu)).await;
    let staged = with_v1_and_staged_v2(&emu, &reload, "linear:10%/1").await;
    let t0 = stepped_at(&staged);
    let table = Arc::new(RegistryTable::new(emu.dynamo.clone(), &emu.registry_table));
    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let (table, t0) = (table.clone(), t0.clone());
        tasks.push(tokio::spawn(async move {
            let updated = if i == 13 {
                // A little after the first ticks, so steps and the alarm interleave.
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                let alarm = AlarmChange {
                    name: ALARM_NAME.into(),
                    state: AlarmState::Alarm,
                    reason: "drill".into(),
                    at: canonical(&plus(&t0, 270)),
                };
                table
                    .update(MODEL_NAME, |cur| {
                        on_alarm(cur, MODEL_NAME, &alarm).map(|(a, _)| a)
                    })
                    .await
            } else {
                let now = canonical(&plus(&t0, 60 * i64::from(1 + i % 8)));
                table
                    .update(MODEL_NAME, |cur| tick(cur, MODEL_NAME, &now))
                    .await
            };
            match updated.unwrap() {
                Updated::Written { item, .. } => Some(item.revision),
                Updated::Unchanged { .. } => None,
            }
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.unwrap());
    }
    let item = registry_item(&emu, MODEL_NAME).await;
    let distinct: BTreeSet<u64> = written.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        written.len(),
        "a revision written twice: {written:?}"
    );
    assert_eq!(
        distinct,
        (staged.revision + 1..=item.revision).collect::<BTreeSet<u64>>()
    );
    assert!(
        item.candidate.is_none(),
        "the alarm's clearing was lost: {item:?}"
    );
    assert!(written.len() >= 2, "{written:?}");
}
