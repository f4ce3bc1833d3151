//! Many writers on one registry item, against the embedded DynamoDB of `warmstart local up`
//! (dynoxide: a conditional write's check and put are one transaction, as in DynamoDB; moto's
//! threaded server does not guarantee that, which is why this stress is not run against it).
//! Every concurrent change is written exactly once: the revision moves by the number of
//! writers and history holds each change; writers that lost a race re-read and re-applied.

use warmstart_core::aws::{apply_change, RegistryTable, Updated};
use warmstart_core::registry::{Action, Change};
use warmstart_devkit::registry::item_with_canary;
use warmstart_devkit::Stores;

const MODEL: &str = "product-recommender";
// More than reload ever sees for one model at once, and within what `update` retries
// (MAX_ATTEMPTS): a writer that loses eight races in a row would be a real contention error.
const WRITERS: u8 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registry_changes_are_all_recorded_once() {
    let data = tempfile::tempdir().unwrap();
    let mut stores = Stores::start(data.path(), 0, 0).await.unwrap();
    let conf = warmstart_devkit::aws::sdk_config(Some(&stores.dynamodb_endpoint)).await;
    let dynamo = warmstart_core::aws::dynamodb_client(&conf);
    warmstart_devkit::aws::create_table(&dynamo, "ModelRegistry", "model", None)
        .await
        .unwrap();
    let table = RegistryTable::new(dynamo, "ModelRegistry");
    let item = item_with_canary(
        MODEL,
        "2026-11-22T10-00-00Z-active1",
        "2026-11-23T10-00-00Z-canary1",
        1,
    );
    table.put(&item, None).await.unwrap();

    // Every writer a different canary weight, all at once.
    let writers: Vec<_> = (2..2 + WRITERS)
        .map(|w| {
            let table = table.clone();
            tokio::spawn(async move {
                apply_change(
                    &table,
                    None,
                    MODEL,
                    &Change::SetCanary { weight: w },
                    "racer",
                    &format!("w{w}"),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut conflicts = 0;
    for w in writers {
        match w.await.unwrap() {
            Updated::Written { attempts, .. } => conflicts += attempts - 1,
            other => panic!("a writer wrote nothing: {other:?}"),
        }
    }
    let after = table.get(MODEL).await.unwrap().unwrap();
    assert_eq!(after.revision, 1 + u64::from(WRITERS));
    let mut weights: Vec<u8> = after
        .history
        .iter()
        .filter(|h| h.action == Action::SetCanary && h.by == "racer")
        .filter_map(|h| h.weight)
        .collect();
    weights.sort();
    assert_eq!(weights, (2..2 + WRITERS).collect::<Vec<u8>>());
    // The last writer's weight is what stands.
    let last = after.history.last().unwrap().weight;
    assert_eq!(after.candidate.as_ref().map(|c| Some(c.weight)), Some(last));
    eprintln!("{WRITERS} writers, {conflicts} conflicts retried");
    stores.stop().await;
}
