//! The valuation store against a real DynamoDB wire protocol (moto_server on 127.0.0.1):
//! company items and industry indexes, the Scan fallback for peers, the ValuationCache table.
//! The service over both, through the real runtime loop, is `functions/valuation/tests/e2e.rs`.
//!
//! Deliberately on moto, while that end-to-end test runs on the embedded emulators: moto is a
//! second, independent implementation of DynamoDB's wire protocol, so the item layout, the
//! Scan fallback's filter and the TTL attribute are checked against two readings of the
//! protocol, not one.

use warmstart_core::aws::sdk::dynamodb::types::AttributeValue;
use warmstart_core::aws::valuation_store::{
    company_item, DynamoCompanyStore, DynamoValuationCache,
};
use warmstart_core::valuation::store::{company_key, industry_key, CacheEntry};
use warmstart_core::valuation::synthetic::synthetic_companies;
use warmstart_core::valuation::{Company, ResultCache};
use warmstart_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn companies_round_trip_with_industry_indexes() {
    let emu = Emulator::start_moto("valstore").await;
    let store = DynamoCompanyStore::new(emu.dynamo.clone(), &emu.features_table);
    let all = synthetic_companies(80, 5, "20250331");
    let (first, rest) = all.split_at(50);
    let report = store.put_companies(first).await.unwrap();
    assert_eq!(report.companies, 50);
    assert!(report.industries >= 8);

    let c = store.get_company("600519.SH").await.unwrap().unwrap();
    assert_eq!(c, all[0]);
    assert!(store.get_company("000000.XX").await.unwrap().is_none());

    let industry = all[0].industry.clone().unwrap();
    let want = |upto: &[Company]| -> Vec<String> {
        let mut v: Vec<String> = upto
            .iter()
            .filter(|c| c.industry.as_deref() == Some(industry.as_str()))
            .map(|c| c.ts_code.clone())
            .collect();
        v.sort();
        v
    };
    let codes = |v: Vec<Company>| -> Vec<String> { v.into_iter().map(|c| c.ts_code).collect() };
    assert_eq!(
        codes(store.industry_peers(&industry, 100).await.unwrap()),
        want(first)
    );
    // A second seeding merges into the index instead of replacing it.
    store.put_companies(rest).await.unwrap();
    let peers = store.industry_peers(&industry, 100).await.unwrap();
    assert_eq!(codes(peers.clone()), want(&all));
    assert_eq!(
        peers.iter().find(|p| p.ts_code == "600519.SH"),
        Some(&all[0])
    );
    // The limit applies in code order.
    assert_eq!(
        codes(store.industry_peers(&industry, 2).await.unwrap()),
        want(&all)[..2].to_vec()
    );
    let members = store.industry_members(&industry).await.unwrap().unwrap();
    assert_eq!(members, want(&all));
    assert!(store
        .industry_peers("no such industry", 100)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_fall_back_to_a_scan_without_an_index() {
    let emu = Emulator::start_moto("valscan").await;
    let store = DynamoCompanyStore::new(emu.dynamo.clone(), &emu.features_table);
    let all = synthetic_companies(30, 6, "20250331");
    // Items written directly, without industry indexes (and with a customer-like item).
    for c in &all {
        emu.dynamo
            .put_item()
            .table_name(&emu.features_table)
            .set_item(Some(company_item(c).unwrap()))
            .send()
            .await
            .unwrap();
    }
    emu.dynamo
        .put_item()
        .table_name(&emu.features_table)
        .item("pk", AttributeValue::S("customer#1".into()))
        .item("industry", AttributeValue::S("白酒".into()))
        .send()
        .await
        .unwrap();
    assert!(store.industry_members("白酒").await.unwrap().is_none());
    let peers = store.industry_peers("白酒", 100).await.unwrap();
    let mut want: Vec<&str> = all
        .iter()
        .filter(|c| c.industry.as_deref() == Some("白酒"))
        .map(|c| c.ts_code.as_str())
        .collect();
    want.sort();
    assert_eq!(
        peers.iter().map(|c| c.ts_code.as_str()).collect::<Vec<_>>(),
        want
    );
    // The index item, once written, is what answers.
    emu.dynamo
        .put_item()
        .table_name(&emu.features_table)
        .item("pk", AttributeValue::S(industry_key("白酒")))
        .item(
            "members",
            AttributeValue::L(vec![AttributeValue::S("600519.SH".into())]),
        )
        .send()
        .await
        .unwrap();
    let peers = store.industry_peers("白酒", 100).await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].ts_code, "600519.SH");
    assert_eq!(company_key("600519.SH"), "company#600519.SH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_items_expire_by_their_ttl_attribute() {
    let emu = Emulator::start_moto("valcache").await;
    let table = unique_name("ValuationCache-valcache");
    create_table(&emu.dynamo, &table, "pk").await;
    let cache = DynamoValuationCache::new(emu.dynamo.clone(), &table);
    let entry = CacheEntry {
        key: "k1".into(),
        body: "{\"x\":1.0000000000000002}".into(),
        expires_at: unix_now() + 60,
        ts_code: "600519.SH".into(),
        as_of: "20250331".into(),
        model_version: Some("v1".into()),
        created_at: unix_now(),
    };
    cache.put(&entry).await.unwrap();
    assert_eq!(
        cache.get("k1", unix_now()).await.unwrap().as_deref(),
        Some(entry.body.as_str())
    );
    // Past its expiry the item is a miss even though DynamoDB has not deleted it yet.
    assert_eq!(cache.get("k1", unix_now() + 61).await.unwrap(), None);
    assert_eq!(cache.get("missing", unix_now()).await.unwrap(), None);
    // The request's latest answer is its own item (what a Features outage is answered from).
    assert_eq!(cache.get_latest("req", unix_now()).await.unwrap(), None);
    cache.put_latest("req", &entry).await.unwrap();
    let latest = cache.get_latest("req", unix_now()).await.unwrap().unwrap();
    assert_eq!(
        (latest.body.as_str(), latest.expires_at),
        (entry.body.as_str(), entry.expires_at)
    );
    assert_eq!(
        cache.get_latest("req", unix_now() + 61).await.unwrap(),
        None
    );
    assert_eq!(
        cache
            .get_cached("k1", unix_now())
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        entry.expires_at
    );
    // A missing table is a backend error, not a miss.
    let nowhere = DynamoValuationCache::new(emu.dynamo.clone(), "no-such-cache");
    assert!(nowhere.get("k1", unix_now()).await.is_err());
}
