use super::*;
use crate::bundle::{Feature, GoldenRow, Manifest, Metrics, ModelKind, Output, MANIFEST_FORMAT};
use crate::http::testing::{body_json, event, handle, with_body};
use crate::http::{ApiError, MAX_BODY_BYTES};
use crate::model::Model;
use crate::recommend::{
    feature_names, popular, top_k, DEFAULT_POPULARITY, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS,
};
use crate::recommend::{BatchRequest, FairnessRequest, RecommendRequest, Skipped, DEFAULT_K};
use crate::store::{Faults, MemoryStore};
use aws_lambda_events::encodings::Body;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::Duration;

// ---------------------------------------------------------------- a small synthetic bundle

/// One binary model per product: tree 0 splits on age then on the product's own lag-1 flag,
/// tree 1 on income then seniority; leaf values depend on the product so rankings differ.
fn model_text(p: usize) -> String {
    let names = feature_names();
    let idx = |n: &str| names.iter().position(|x| x == n).unwrap();
    let lag1 = idx(&format!("{}_lag1", PRODUCTS[p].0));
    let bias = DEFAULT_POPULARITY[p].max(1e-6).ln() / 4.0;
    let f = |x: f64| format!("{x:?}");
    let t0 = [
        bias + 0.3 * (p % 5) as f64,
        bias - 0.2,
        bias + 0.1 * (p % 3) as f64,
    ];
    let t1 = [0.05 * (p % 7) as f64, -0.05 * (p % 4) as f64];
    format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx={}\n\
         objective=binary sigmoid:1\nfeature_names={}\nfeature_infos={}\n\n\
         Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature={} {}\nthreshold={} 0.5\ndecision_type=10 2\n\
         left_child=1 -2\nright_child=-1 -3\nleaf_value={} {} {}\n\
         leaf_count=40 35 25\ninternal_count=100 60\nshrinkage=1\n\n\
         Tree=1\nnum_leaves=2\nnum_cat=0\nsplit_feature={}\nthreshold={}\ndecision_type=10\n\
         left_child=-1\nright_child=-2\nleaf_value={} {}\nleaf_count=70 30\ninternal_count=100\n\
         shrinkage=1\n\n\nend of trees\n",
        NUM_FEATURES - 1,
        names.join(" "),
        vec!["[0:1]"; NUM_FEATURES].join(" "),
        idx("age"),
        lag1,
        f(20.0 + p as f64 * 2.5),
        f(t0[0]),
        f(t0[1]),
        f(t0[2]),
        idx("renta"),
        f(50_000.0 + 1000.0 * p as f64),
        f(t1[0]),
        f(t1[1]),
    )
}

/// The model texts of [`bundle`], by their paths in the bundle.
fn model_files() -> Vec<(String, Vec<u8>)> {
    (0..NUM_PRODUCTS)
        .map(|p| {
            (
                format!("models/{}.txt", PRODUCTS[p].0),
                model_text(p).into_bytes(),
            )
        })
        .collect()
}

/// [`bundle`] with its manifest edited by `edit`.
fn rebuilt(edit: impl FnOnce(&mut Manifest)) -> Bundle {
    let mut m = bundle().manifest().clone();
    edit(&mut m);
    Bundle::from_parts(m, model_files()).unwrap()
}

fn bundle() -> Bundle {
    let files = model_files();
    let models: Vec<Model> = files
        .iter()
        .map(|(_, b)| Model::parse_bytes(b).unwrap())
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let golden = (0..24)
        .map(|i| {
            let row: Vec<Option<f64>> = (0..NUM_FEATURES)
                .map(|_| (i % 5 != 0).then(|| rng.gen_range(0.0..100_000.0)))
                .collect();
            let dense: Vec<f64> = row.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
            let expected = models
                .iter()
                .map(|m| m.predict(&dense).unwrap()[0])
                .collect();
            GoldenRow {
                features: row,
                expected,
            }
        })
        .collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: "product-recommender".into(),
        version: "2026-11-22T10-00-00Z-test".into(),
        kind: ModelKind::ProductRecommender,
        created_at: "2026-11-22T10:00:00Z".into(),
        features: feature_names()
            .into_iter()
            .map(|name| Feature {
                name,
                categorical: false,
                categories: Vec::new(),
            })
            .collect(),
        outputs: PRODUCTS
            .iter()
            .map(|(code, name)| Output {
                code: code.to_string(),
                name: name.to_string(),
                model: format!("models/{code}.txt"),
                class: 0,
            })
            .collect(),
        files: files
            .iter()
            .map(|(p, b)| crate::bundle::FileEntry::describe(p, b))
            .collect(),
        metrics: Metrics::default(),
        base_rates: DEFAULT_POPULARITY.to_vec(),
        golden,
        rollout: None,
        training: Default::default(),
    };
    let b = Bundle::from_parts(manifest, files).unwrap();
    assert_eq!(b.verify_golden().unwrap(), 24);
    b
}

fn customer_15889() -> Customer {
    Customer {
        customer_id: "15889".into(),
        as_of: "2016-05-28".into(),
        age: Some(56.0),
        antiguedad: Some(35.0),
        renta: Some(326_124.9),
        sexo: Some("V".into()),
        segmento: Some("01 - TOP".into()),
        owned: vec![
            "ind_cco_fin_ult1".into(),
            "ind_recibo_ult1".into(),
            "ind_tjcr_fin_ult1".into(),
        ],
        owned_prev: vec!["ind_cco_fin_ult1".into()],
        ..Customer::default()
    }
}

fn service(store: MemoryStore) -> Recommender<MemoryStore> {
    let config = ServiceConfig {
        store_deadline: Duration::from_millis(60),
        batch_store_deadline: Duration::from_millis(120),
        ..ServiceConfig::default()
    };
    Recommender::new(bundle(), store, config, Instant::now()).unwrap()
}

fn stored() -> MemoryStore {
    let mut other = customer_15889();
    other.customer_id = "1050935".into();
    other.age = Some(23.0);
    other.owned = vec!["ind_ecue_fin_ult1".into()];
    MemoryStore::new([customer_15889(), other])
}

fn products(v: &Value) -> Vec<String> {
    v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["product"].as_str().unwrap().to_string())
        .collect()
}

fn err(body: &str) -> ApiError {
    RecommendRequest::parse(body.as_bytes()).unwrap_err()
}

// ---------------------------------------------------------------- validation

#[test]
fn valid_requests_parse_with_defaults() {
    let r = RecommendRequest::parse(br#"{"customer_id":"15889"}"#).unwrap();
    assert_eq!(r.k, DEFAULT_K);
    assert!(!r.return_scores && r.features.is_none() && r.owned_products.is_none());
    let r =
        RecommendRequest::parse(br#"{"customer_id":15889,"k":3.0,"return_scores":true}"#).unwrap();
    assert_eq!(
        (r.customer_id.as_str(), r.k, r.return_scores),
        ("15889", 3, true)
    );
    let r =
        RecommendRequest::parse(br#"{"customer_id":"15889","features":null,"k":null}"#).unwrap();
    assert_eq!(r.k, DEFAULT_K);
}

#[test]
fn each_invalid_request_has_its_code() {
    let cases: &[(&str, &str)] = &[
        (r#"{"customer_id":"#, "malformed_json"),
        ("", "malformed_json"),
        ("   ", "malformed_json"),
        ("[1,2]", "invalid_field"),
        (r#"{"k":7}"#, "missing_field"),
        (r#"{"customer_id":null}"#, "missing_field"),
        (r#"{"customer_id":""}"#, "invalid_field"),
        (r#"{"customer_id":"a b"}"#, "invalid_field"),
        (r#"{"customer_id":-3}"#, "invalid_field"),
        (r#"{"customer_id":1.5}"#, "invalid_field"),
        (r#"{"customer_id":true}"#, "invalid_field"),
        (r#"{"customer_id":"1","k":"seven"}"#, "invalid_field"),
        (r#"{"customer_id":"1","k":7.5}"#, "invalid_field"),
        (r#"{"customer_id":"1","k":0}"#, "k_out_of_range"),
        (r#"{"customer_id":"1","k":25}"#, "k_out_of_range"),
        (r#"{"customer_id":"1","k":-1}"#, "k_out_of_range"),
        (r#"{"customer_id":"1","k":1e300}"#, "k_out_of_range"),
        (
            r#"{"customer_id":"1","k":18446744073709551616}"#,
            "k_out_of_range",
        ),
        (
            r#"{"customer_id":"1","features":{"no_such_feature":1}}"#,
            "unknown_feature",
        ),
        (
            r#"{"customer_id":"1","features":{"age":"old"}}"#,
            "invalid_field",
        ),
        (
            r#"{"customer_id":"1","features":{"sexo":1}}"#,
            "invalid_field",
        ),
        (r#"{"customer_id":"1","features":[1]}"#, "invalid_field"),
        (
            r#"{"customer_id":"1","features":{"age":1e999}}"#,
            "non_finite_number",
        ),
        (
            r#"{"customer_id":"1","features":{"age":-1e999}}"#,
            "non_finite_number",
        ),
        (
            r#"{"customer_id":"1","owned_products":["ind_nope"]}"#,
            "unknown_product",
        ),
        (
            r#"{"customer_id":"1","owned_products":[1]}"#,
            "invalid_field",
        ),
        (
            r#"{"customer_id":"1","owned_products":"ind_cco_fin_ult1"}"#,
            "invalid_field",
        ),
        (
            r#"{"customer_id":"1","return_scores":"yes"}"#,
            "invalid_field",
        ),
        (r#"{"customer_id":"1","kk":7}"#, "unknown_field"),
    ];
    for (body, code) in cases {
        let e = err(body);
        assert_eq!(e.code(), *code, "{body}: {e}");
        assert_eq!(e.status(), 400, "{body}");
    }
}

#[test]
fn messages_name_the_offending_feature() {
    let e = err(r#"{"customer_id":"1","features":{"no_such_feature":1}}"#);
    assert!(e.to_string().contains("no_such_feature"), "{e}");
    let e = err(r#"{"customer_id":"1","k":25}"#);
    assert!(e.to_string().contains("25"), "{e}");
}

#[test]
fn batch_validation() {
    let ok = BatchRequest::parse(br#"{"customer_ids":["15889",1050935],"k":5}"#).unwrap();
    assert_eq!(ok.customer_ids, ["15889", "1050935"]);
    assert_eq!(ok.k, 5);
    let too_many = format!(
        r#"{{"customer_ids":[{}]}}"#,
        (0..101)
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let cases: &[(&str, &str)] = &[
        (r#"{"customer_ids":[]}"#, "batch_empty"),
        (&too_many, "batch_too_large"),
        (r#"{"k":7}"#, "missing_field"),
        (r#"{"customer_ids":"15889"}"#, "invalid_field"),
        (r#"{"customer_ids":["ok",{}]}"#, "invalid_field"),
        (r#"{"customer_ids":["1"],"k":99}"#, "k_out_of_range"),
        (r#"{"customer_ids":["1"],"features":{}}"#, "unknown_field"),
    ];
    for (body, code) in cases {
        let e = BatchRequest::parse(body.as_bytes()).unwrap_err();
        assert_eq!(e.code(), *code, "{body}: {e}");
    }
}

// ---------------------------------------------------------------- scoring and fallback

fn req(body: &str) -> RecommendRequest {
    RecommendRequest::parse(body.as_bytes()).unwrap()
}

#[tokio::test]
async fn stored_customer_gets_model_top_k_without_owned_products() {
    let svc = service(stored());
    let (resp, stats) = svc
        .recommend(
            &req(r#"{"customer_id":"15889","k":7,"return_scores":true}"#),
            "r1",
        )
        .await;
    assert_eq!(resp.source, Source::Model);
    assert!(!resp.degraded && !stats.degraded && !stats.popular);
    assert_eq!(resp.recommendations.len(), 7);
    let owned = &customer_15889().owned;
    assert!(resp
        .recommendations
        .iter()
        .all(|r| !owned.iter().any(|o| o == r.product)));
    // Same ranking as scoring the row by hand.
    let c = customer_15889();
    let mut scores = [0.0; NUM_PRODUCTS];
    svc.bundle().score_into(&c.row(), &mut scores).unwrap();
    assert_eq!(
        resp.recommendations,
        top_k(&scores, c.owned_indices(), 7, true)
    );
    let s: Vec<f64> = resp
        .recommendations
        .iter()
        .map(|r| r.score.unwrap())
        .collect();
    assert!(s.windows(2).all(|w| w[0] >= w[1]), "{s:?}");
    assert!(stats.store_ms.is_some());
}

#[tokio::test]
async fn scores_only_when_asked() {
    let svc = service(stored());
    let (resp, _) = svc.recommend(&req(r#"{"customer_id":"15889"}"#), "r").await;
    assert!(resp.recommendations.iter().all(|r| r.score.is_none()));
}

#[tokio::test]
async fn overrides_change_the_answer_and_owned_products_are_excluded() {
    let svc = service(stored());
    let base = svc
        .recommend(
            &req(r#"{"customer_id":"15889","k":24,"return_scores":true}"#),
            "r",
        )
        .await
        .0;
    let what_if = svc
        .recommend(
            &req(r#"{"customer_id":"15889","k":24,"return_scores":true,"features":{"age":19,"renta":null},"owned_products":["ind_ahor_fin_ult1"]}"#),
            "r",
        )
        .await
        .0;
    assert_eq!(what_if.source, Source::Model);
    // Ownership replaced: the stored current account is recommendable, the override is not.
    let p = products(&serde_json::to_value(&what_if).unwrap());
    assert!(p.contains(&"ind_cco_fin_ult1".to_string()));
    assert!(!p.contains(&"ind_ahor_fin_ult1".to_string()));
    assert_eq!(p.len(), 23);
    assert_ne!(base.recommendations, what_if.recommendations);
    // The override is what was scored.
    let mut c = customer_15889();
    c.age = Some(19.0);
    c.renta = None;
    c.owned = vec!["ind_ahor_fin_ult1".into()];
    let mut scores = [0.0; NUM_PRODUCTS];
    svc.bundle().score_into(&c.row(), &mut scores).unwrap();
    assert_eq!(
        what_if.recommendations,
        top_k(&scores, c.owned_indices(), 24, true)
    );
}

#[tokio::test]
async fn unknown_customer_gets_popularity_not_degraded() {
    let svc = service(stored());
    let (resp, stats) = svc
        .recommend(&req(r#"{"customer_id":"99999999","k":7}"#), "r")
        .await;
    assert_eq!(resp.source, Source::Popular);
    assert!(!resp.degraded && stats.popular && !stats.degraded);
    assert_eq!(
        resp.recommendations,
        popular(&DEFAULT_POPULARITY, [], 7, false)
    );
    // Owned products given in the request still hold.
    let (resp, _) = svc
        .recommend(
            &req(r#"{"customer_id":"99999999","owned_products":["ind_recibo_ult1"]}"#),
            "r",
        )
        .await;
    assert!(resp
        .recommendations
        .iter()
        .all(|r| r.product != "ind_recibo_ult1"));
}

#[tokio::test]
async fn what_if_for_an_unknown_customer_scores_the_given_profile() {
    let svc = service(stored());
    let (resp, _) = svc
        .recommend(
            &req(r#"{"customer_id":"99999999","features":{"age":40}}"#),
            "r",
        )
        .await;
    assert_eq!(resp.source, Source::Model);
    assert!(!resp.degraded);
}

#[tokio::test]
async fn slow_store_answers_degraded_popularity_within_the_deadline() {
    let store = stored();
    store.set_faults(Faults::slow(Duration::from_secs(5)));
    let svc = service(store);
    let t = Instant::now();
    let (resp, stats) = svc.recommend(&req(r#"{"customer_id":"15889"}"#), "r").await;
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert!(took >= Duration::from_millis(60), "{took:?}");
    assert_eq!(resp.source, Source::Popular);
    assert!(resp.degraded && stats.degraded);
    assert_eq!(stats.store_failure, Some("timeout"));
}

#[tokio::test]
async fn failing_store_answers_degraded_popularity() {
    let store = stored();
    store.set_faults(Faults::failing("GetItem", "ResourceNotFoundException"));
    let svc = service(store);
    let (resp, stats) = handle(&svc, &event("apigw-recommend-valid.json"), "lambda-rid").await;
    assert_eq!(resp.status_code, 200);
    let v = body_json(&resp);
    assert_eq!(v["source"], "popular");
    assert_eq!(v["degraded"], true);
    assert_eq!(stats.store_failure, Some("backend"));
    assert!(stats.counted && stats.degraded && stats.popular);
}

#[tokio::test]
async fn a_store_outage_never_recommends_the_owned_products_the_request_named() {
    // The three most popular products (what popularity would answer first).
    let owned = ["ind_recibo_ult1", "ind_cco_fin_ult1", "ind_nom_pens_ult1"];
    let top = popular(&DEFAULT_POPULARITY, [], 3, false);
    assert_eq!(
        top.iter().map(|r| r.product).collect::<Vec<_>>(),
        owned,
        "the popularity order this test relies on changed"
    );
    for faults in [
        Faults::failing("GetItem", "connection refused"),
        Faults::slow(Duration::from_secs(5)),
    ] {
        let store = stored();
        store.set_faults(faults);
        let svc = service(store);
        let body = json!({"customer_id": "15889", "k": 24, "owned_products": owned}).to_string();
        let (resp, stats) = svc.recommend(&req(&body), "r").await;
        assert_eq!(resp.source, Source::Popular);
        assert!(resp.degraded && stats.degraded);
        assert_eq!(resp.recommendations.len(), NUM_PRODUCTS - owned.len());
        assert!(
            resp.recommendations
                .iter()
                .all(|r| !owned.contains(&r.product)),
            "{:?}",
            resp.recommendations
        );
        // k = 3: the next three by popularity.
        let body = json!({"customer_id": "15889", "k": 3, "owned_products": owned}).to_string();
        let (resp, _) = svc.recommend(&req(&body), "r").await;
        assert_eq!(
            resp.recommendations,
            popular(&DEFAULT_POPULARITY, [23, 2, 22], 3, false)
        );
    }
}

#[tokio::test]
async fn after_a_store_timeout_the_breaker_answers_degraded_without_calling_the_store() {
    let store = stored();
    store.set_faults(Faults::slow(Duration::from_secs(5)));
    let config = ServiceConfig {
        store_deadline: Duration::from_millis(60),
        batch_store_deadline: Duration::from_millis(120),
        store_cool_down: Duration::from_millis(300),
        ..ServiceConfig::default()
    };
    let svc = Recommender::new(bundle(), store, config, Instant::now()).unwrap();
    let (resp, stats) = svc.recommend(&req(r#"{"customer_id":"15889"}"#), "r").await;
    assert!(resp.degraded);
    assert_eq!(stats.store_failure, Some("timeout"));
    assert_eq!(svc.store().calls(), 1);
    // Open: degraded popularity at once, owned products still honoured, no store call.
    let (resp, stats) = svc
        .recommend(
            &req(r#"{"customer_id":"15889","owned_products":["ind_recibo_ult1"]}"#),
            "r",
        )
        .await;
    assert!(resp.degraded && resp.source == Source::Popular);
    assert!(resp
        .recommendations
        .iter()
        .all(|r| r.product != "ind_recibo_ult1"));
    assert_eq!(stats.store_failure, Some(BREAKER_OPEN));
    let b = BatchRequest::parse(br#"{"customer_ids":["15889","1050935"],"k":3}"#).unwrap();
    let (resp, stats) = svc.batch(&b, "r").await;
    assert!(resp.degraded && resp.results.iter().all(|i| i.degraded));
    assert_eq!(stats.store_failure, Some(BREAKER_OPEN));
    assert_eq!(svc.store().calls(), 1);
    // The store is back: after the cool-down one probe goes through and closes it.
    svc.store().set_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (resp, stats) = svc.recommend(&req(r#"{"customer_id":"15889"}"#), "r").await;
    assert!(!resp.degraded && resp.source == Source::Model);
    assert_eq!(stats.store_failure, None);
    let (resp, _) = svc.batch(&b, "r").await;
    assert!(!resp.degraded);
    assert_eq!(svc.store().calls(), 3);
}

#[tokio::test]
async fn batch_keeps_order_and_isolates_item_failures() {
    let store = stored();
    store.set_faults(Faults {
        bad_ids: vec!["1050935".into()],
        ..Faults::default()
    });
    let svc = service(store);
    let r = BatchRequest::parse(br#"{"customer_ids":["15889","1050935","777","15889"],"k":3}"#)
        .unwrap();
    let (resp, stats) = svc.batch(&r, "r").await;
    let ids: Vec<&str> = resp
        .results
        .iter()
        .map(|i| i.customer_id.as_str())
        .collect();
    assert_eq!(ids, ["15889", "1050935", "777", "15889"]);
    let summary: Vec<(Source, bool)> = resp
        .results
        .iter()
        .map(|i| (i.source, i.degraded))
        .collect();
    assert_eq!(
        summary,
        [
            (Source::Model, false),
            (Source::Popular, true),
            (Source::Popular, false),
            (Source::Model, false)
        ]
    );
    assert!(resp.degraded && stats.degraded);
    assert!(resp.results.iter().all(|i| i.recommendations.len() == 3));
    // One store call for the three distinct ids.
    assert_eq!(svc.store().calls(), 1);
}

#[tokio::test]
async fn batch_store_failure_degrades_every_item_but_answers() {
    let store = stored();
    store.set_faults(Faults::slow(Duration::from_secs(5)));
    let svc = service(store);
    let (resp, stats) = handle(&svc, &event("apigw-recommend-batch-valid.json"), "l").await;
    assert_eq!(resp.status_code, 200);
    let v = body_json(&resp);
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["degraded"] == true && r["source"] == "popular"));
    assert_eq!(stats.store_failure, Some("timeout"));
}

// ---------------------------------------------------------------- the sample events, in-process

#[tokio::test]
async fn sample_events_get_the_documented_answers() {
    let svc = service(stored());
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("apigw-recommend-valid.json", 200, None),
        ("apigw-recommend-valid-overrides.json", 200, None),
        ("apigw-recommend-valid-numeric-id.json", 200, None),
        ("apigw-recommend-valid-base64.json", 200, None),
        ("apigw-recommend-unknown-customer.json", 200, None),
        (
            "apigw-recommend-invalid-malformed-json.json",
            400,
            Some("malformed_json"),
        ),
        (
            "apigw-recommend-invalid-wrong-type.json",
            400,
            Some("invalid_field"),
        ),
        (
            "apigw-recommend-invalid-missing-id.json",
            400,
            Some("missing_field"),
        ),
        (
            "apigw-recommend-invalid-k-zero.json",
            400,
            Some("k_out_of_range"),
        ),
        (
            "apigw-recommend-invalid-k-too-large.json",
            400,
            Some("k_out_of_range"),
        ),
        (
            "apigw-recommend-invalid-unknown-feature.json",
            400,
            Some("unknown_feature"),
        ),
        (
            "apigw-recommend-invalid-non-finite.json",
            400,
            Some("non_finite_number"),
        ),
        ("apigw-recommend-batch-valid.json", 200, None),
        (
            "apigw-recommend-batch-invalid-too-many.json",
            400,
            Some("batch_too_large"),
        ),
        (
            "apigw-recommend-batch-invalid-empty.json",
            400,
            Some("batch_empty"),
        ),
        ("apigw-get-health.json", 200, None),
    ];
    let valid = body_json(
        &handle(&svc, &event("apigw-recommend-valid.json"), "l")
            .await
            .0,
    );
    for (name, status, code) in cases {
        let ev = event(name);
        let (resp, stats) = handle(&svc, &ev, "lambda-rid").await;
        assert_eq!(
            resp.status_code,
            i64::from(*status),
            "{name}: {:?}",
            resp.body
        );
        assert_eq!(stats.status, *status);
        assert_eq!(resp.headers["content-type"], "application/json", "{name}");
        let v = body_json(&resp);
        let rid = ev.request_context.request_id.clone().unwrap();
        assert_eq!(v["request_id"], rid.as_str(), "{name}");
        match code {
            Some(code) => {
                assert_eq!(v["code"], *code, "{name}: {v}");
                assert_eq!(v["status"], *status);
                assert_eq!(stats.error_code, Some(*code));
            }
            None => assert!(v.get("code").is_none(), "{name}: {v}"),
        }
        if name.contains("valid-numeric") || name.contains("valid-base64") {
            assert_eq!(v["recommendations"], valid["recommendations"], "{name}");
            assert_eq!(v["customer_id"], "15889");
        }
    }
    assert_eq!(valid["source"], "model");
    assert_eq!(valid["degraded"], false);
    assert_eq!(valid["variant"], "active");
    assert_eq!(valid["model"]["name"], "product-recommender");
    assert_eq!(products(&valid).len(), 7);

    let unknown = body_json(
        &handle(&svc, &event("apigw-recommend-unknown-customer.json"), "l")
            .await
            .0,
    );
    assert_eq!(unknown["source"], "popular");
    assert_eq!(unknown["degraded"], false);

    let over = body_json(
        &handle(&svc, &event("apigw-recommend-valid-overrides.json"), "l")
            .await
            .0,
    );
    assert_eq!(products(&over).len(), 3);
    assert!(!products(&over).contains(&"ind_cco_fin_ult1".to_string()));
    assert!(over["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["score"].is_f64()));

    let msg = body_json(
        &handle(
            &svc,
            &event("apigw-recommend-invalid-unknown-feature.json"),
            "l",
        )
        .await
        .0,
    );
    assert!(msg["message"].as_str().unwrap().contains("no_such_feature"));

    let health = body_json(&handle(&svc, &event("apigw-get-health.json"), "l").await.0);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["model"]["version"], "2026-11-22T10-00-00Z-test");
    assert!(
        health["init_ms"].is_f64()
            && health["cold_start_ms"].is_f64()
            && health["uptime_s"].is_f64()
    );

    let m = &health["models"][0];
    assert_eq!(m["kind"], "product-recommender");
    assert_eq!(m["outputs"].as_array().unwrap().len(), 24);
    assert_eq!(m["outputs"][2]["name"], "Current Accounts");
}

/// The fixtures as `lambda_http::request::from_str` reads them (what `lambda_http` hands a
/// handler), answered by the adapter: each recommend route answers its documented status.
#[tokio::test]
async fn sample_events_read_by_lambda_http_are_answered() {
    let svc = service(stored());
    for (name, req) in crate::api::tests::sample_events() {
        if !(name.starts_with("apigw-recommend") || name == "apigw-get-health.json") {
            continue;
        }
        let (resp, stats) = crate::api::recommend::handle(&svc, &req).await;
        let expected = if name.contains("invalid") { 400 } else { 200 };
        assert_eq!(resp.status().as_u16(), expected, "{name}");
        assert_eq!(stats.status, expected, "{name}");
        let v: Value = serde_json::from_str(crate::http::body_text(&resp)).unwrap();
        assert_eq!(v["request_id"], crate::http::request_id(&req), "{name}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let svc = service(stored());
    let mut ev = event("apigw-get-health.json");
    ev.raw_path = Some("/nope".into());
    let (resp, stats) = handle(&svc, &ev, "l").await;
    assert_eq!(resp.status_code, 404);
    assert_eq!(body_json(&resp)["code"], "not_found");
    assert!(!stats.counted);
    let mut ev = event("apigw-get-health.json");
    ev.raw_path = Some("/recommend".into());
    let (resp, _) = handle(&svc, &ev, "l").await;
    assert_eq!(resp.status_code, 405);
    assert_eq!(resp.headers["allow"], "POST");
    let big = with_body(
        event("apigw-recommend-valid.json"),
        &" ".repeat(MAX_BODY_BYTES + 1),
    );
    let (resp, _) = handle(&svc, &big, "l").await;
    assert_eq!(resp.status_code, 413);
    assert_eq!(body_json(&resp)["code"], "body_too_large");
}

#[tokio::test]
async fn a_bundle_swap_is_seen_by_the_next_request() {
    let svc = service(stored());
    svc.swap_bundle(rebuilt(|m| m.version = "v2".into()))
        .unwrap();
    let v = body_json(
        &handle(&svc, &event("apigw-recommend-valid.json"), "l")
            .await
            .0,
    );
    assert_eq!(v["model"]["version"], "v2");
}

#[test]
fn non_recommender_bundles_are_refused() {
    let swapped = rebuilt(|m| m.outputs.swap(0, 1));
    assert!(check_recommender_bundle(&swapped).is_err());
}

// ---------------------------------------------------------------- no panic from any input

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z_0-9]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "15889",
            "99999999",
            "ind_cco_fin_ult1",
            "age",
            "sexo",
            "renta"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let key = prop::sample::select(vec![
            "customer_id",
            "customer_ids",
            "k",
            "features",
            "owned_products",
            "return_scores",
            "age",
            "sexo",
            "renta",
            "canal_entrada",
            "ind_cco_fin_ult1",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), b64 in any::<bool>(), batch in any::<bool>()) {
        let svc = service(stored());
        let mut ev = event(if batch { "apigw-recommend-batch-valid.json" } else { "apigw-recommend-valid.json" });
        ev.body = Some(String::from_utf8_lossy(&body).into_owned());
        ev.is_base64_encoded = b64;
        let (resp, _) = runtime().block_on(handle(&svc, &ev, "l"));
        prop_assert!([200, 400, 413].contains(&resp.status_code), "{}", resp.status_code);
        let v = body_json(&resp);
        prop_assert!(v.is_object());
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value(), batch in any::<bool>()) {
        let svc = service(stored());
        let ev = with_body(
            event(if batch { "apigw-recommend-batch-valid.json" } else { "apigw-recommend-valid.json" }),
            &value.to_string(),
        );
        let (resp, _) = runtime().block_on(handle(&svc, &ev, "l"));
        prop_assert!([200, 400].contains(&resp.status_code), "{} for {}", resp.status_code, value);
        let v = body_json(&resp);
        if resp.status_code == 200 {
            prop_assert!(v.get("request_id").is_some());
        } else {
            prop_assert_eq!(v["status"].as_i64(), Some(resp.status_code));
        }
    }

    #[test]
    fn plausible_requests_are_answered_or_refused_cleanly(
        id in prop_oneof![Just(json!("15889")), Just(json!(15889)), Just(json!("99999999")), any::<i64>().prop_map(|i| json!(i))],
        k in prop_oneof![Just(Value::Null), (-3i64..30).prop_map(|k| json!(k))],
        age in prop_oneof![Just(Value::Null), any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))],
        owned in prop::collection::vec(prop::sample::select(PRODUCTS.iter().map(|p| p.0).collect::<Vec<_>>()), 0..30),
    ) {
        let svc = service(stored());
        let body = json!({"customer_id": id, "k": k, "features": {"age": age}, "owned_products": owned, "return_scores": true});
        let (resp, _) = runtime().block_on(handle(&svc, &with_body(event("apigw-recommend-valid.json"), &body.to_string()), "l"));
        let v = body_json(&resp);
        if resp.status_code == 200 {
            let recs = products(&v);
            prop_assert!(recs.iter().all(|p| !owned.contains(&p.as_str())));
            let want_k = k.as_i64().unwrap_or(7) as usize;
            let unowned = NUM_PRODUCTS - owned.iter().collect::<std::collections::HashSet<_>>().len();
            prop_assert_eq!(recs.len(), want_k.min(unowned));
        } else {
            prop_assert_eq!(resp.status_code, 400);
        }
    }
}

use serde_json::json;

// ---------------------------------------------------------------- canary and shadow

/// A recommender bundle scoring differently from [`bundle`] (product p uses model p + 5).
fn other_bundle(version: &str) -> Bundle {
    let mut m = bundle().manifest().clone();
    m.version = version.into();
    let files: Vec<(String, Vec<u8>)> = (0..NUM_PRODUCTS)
        .map(|p| {
            (
                format!("models/{}.txt", PRODUCTS[p].0),
                model_text((p + 5) % NUM_PRODUCTS).into_bytes(),
            )
        })
        .collect();
    let models: Vec<Model> = files
        .iter()
        .map(|(_, b)| Model::parse_bytes(b).unwrap())
        .collect();
    for g in &mut m.golden {
        let row = g.row();
        g.expected = models.iter().map(|x| x.predict(&row).unwrap()[0]).collect();
    }
    m.files = files
        .iter()
        .map(|(p, b)| crate::bundle::FileEntry::describe(p, b))
        .collect();
    Bundle::from_parts(m, files).unwrap()
}

fn with_candidate(svc: &Recommender<MemoryStore>, version: &str, weight: u8) {
    let mut set = ServingSet::clone(&svc.serving());
    set.candidate = Some((
        crate::registry::Slot::new(VersionRef::new(version), other_bundle(version)),
        weight,
    ));
    svc.swap_serving(set).unwrap();
}

fn request(id: &str) -> RecommendRequest {
    RecommendRequest::parse(format!(r#"{{"customer_id":"{id}"}}"#).as_bytes()).unwrap()
}

#[tokio::test]
async fn the_canary_serves_its_bucket_and_says_so() {
    let svc = service(stored());
    let active = svc.bundle().version().to_string();
    with_candidate(&svc, "v-candidate", 10);
    let model = svc.serving().model_name.clone();
    let mut n = 0;
    for i in 0..2000 {
        let id = (1_000_000 + i).to_string();
        let (resp, stats) = svc.recommend(&request(&id), "r").await;
        let expect = crate::registry::in_canary(&model, &id, 10);
        assert_eq!(resp.variant == VARIANT_CANDIDATE, expect, "{id}");
        assert_eq!(stats.variant, resp.variant);
        let version = if expect {
            "v-candidate"
        } else {
            active.as_str()
        };
        assert_eq!(resp.model.version, version);
        assert_eq!(stats.model_version, version);
        n += usize::from(expect);
    }
    assert!((140..=260).contains(&n), "{n} of 2000 in a 10% canary");
    // Sticky: the same customers again.
    for i in 0..200 {
        let id = (1_000_000 + i).to_string();
        let (resp, _) = svc.recommend(&request(&id), "r").await;
        assert_eq!(
            resp.variant == VARIANT_CANDIDATE,
            crate::registry::in_canary(&model, &id, 10)
        );
    }
    // GET /health lists both, with the weight.
    let v = body_json(&handle(&svc, &event("apigw-get-health.json"), "l").await.0);
    assert_eq!(v["models"][1]["role"], "candidate");
    assert_eq!(v["models"][1]["weight"], 10);
}

#[tokio::test]
async fn a_batch_reports_each_customers_variant() {
    let svc = service(stored());
    with_candidate(&svc, "v-candidate", 50);
    let ids: Vec<String> = (0..40).map(|i| (1_000_000 + i).to_string()).collect();
    let (resp, stats) = svc
        .batch(
            &BatchRequest {
                customer_ids: ids.clone(),
                k: 3,
                return_scores: false,
            },
            "r",
        )
        .await;
    assert_eq!(resp.variant, VARIANT_MIXED);
    assert_eq!(stats.variant, VARIANT_MIXED);
    let model = svc.serving().model_name.clone();
    for item in &resp.results {
        assert_eq!(
            item.variant == VARIANT_CANDIDATE,
            crate::registry::in_canary(&model, &item.customer_id, 50)
        );
    }
    with_candidate(&svc, "v-candidate", 100);
    let (resp, _) = svc
        .batch(
            &BatchRequest {
                customer_ids: ids,
                k: 3,
                return_scores: false,
            },
            "r",
        )
        .await;
    assert_eq!(resp.variant, VARIANT_CANDIDATE);
    assert_eq!(resp.model.version, "v-candidate");
}

#[tokio::test]
async fn the_shadow_is_measured_never_returned() {
    let svc = service(stored());
    let mut set = ServingSet::clone(&svc.serving());
    set.shadow = Some(crate::registry::Slot::new(
        VersionRef::new("v-shadow"),
        other_bundle("v-shadow"),
    ));
    svc.swap_serving(set).unwrap();
    let (resp, stats) = handle(&svc, &event("apigw-recommend-valid.json"), "l").await;
    let text = match &resp.body {
        Some(Body::Text(t)) => t.clone(),
        _ => panic!(),
    };
    assert!(!text.contains("v-shadow"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["variant"], "active");
    let sh = stats.shadow.expect("shadow compared");
    assert_eq!(sh.version, "v-shadow");
    assert!(sh.score_delta > 0.0 && sh.score_delta.is_finite());
    assert!((0.0..=1.0).contains(&sh.topk_overlap));
    assert_eq!(sh.compared, 1);

    // Popularity answers are not compared.
    let (_, stats) = handle(&svc, &event("apigw-recommend-unknown-customer.json"), "l").await;
    assert!(stats.shadow.is_none());

    // The same bundle as shadow agrees with itself exactly.
    let mut set = ServingSet::clone(&svc.serving());
    set.shadow = Some(crate::registry::Slot::new(
        VersionRef::new("same"),
        bundle(),
    ));
    svc.swap_serving(set).unwrap();
    let (_, stats) = svc.recommend(&request("15889"), "r").await;
    let sh = stats.shadow.unwrap();
    assert_eq!((sh.score_delta, sh.topk_overlap), (0.0, 1.0));
}

#[test]
fn a_set_with_a_non_recommender_is_refused() {
    let svc = service(stored());
    let mut set = ServingSet::clone(&svc.serving());
    set.shadow = Some(crate::registry::Slot::new(
        VersionRef::new("bad"),
        rebuilt(|m| m.outputs.swap(0, 1)),
    ));
    assert!(svc.swap_serving(set).is_err());
    assert!(svc.serving().shadow.is_none());
}

#[tokio::test]
async fn explain_true_lists_each_products_top_features_from_the_model_used() {
    let svc = service(stored());
    let body = r#"{"customer_id":"15889","k":3,"explain":true}"#;
    let (resp, _) = svc.recommend(&req(body), "r").await;
    assert_eq!(resp.recommendations.len(), 3);
    let customer = customer_15889();
    for rec in &resp.recommendations {
        let ex = rec.explanation.as_ref().expect("explained");
        assert_eq!(ex.len(), 5);
        assert!(ex
            .windows(2)
            .all(|w| w[0].contribution.abs() >= w[1].contribution.abs()));
        // The models split on age, income and the product's own lag-1 flag only.
        let lag1 = format!("{}_lag1", rec.product);
        for f in ex.iter().filter(|f| f.contribution != 0.0) {
            assert!(
                ["age", "renta", lag1.as_str()].contains(&f.feature.as_str()),
                "{rec:?}"
            );
        }
        let age = ex
            .iter()
            .find(|f| f.feature == "age")
            .expect("age moves the score");
        assert_eq!(age.value, customer.age);
    }
    let (plain, _) = svc
        .recommend(&req(r#"{"customer_id":"15889","k":3}"#), "r")
        .await;
    assert!(plain
        .recommendations
        .iter()
        .all(|r| r.explanation.is_none()));
    assert_eq!(
        plain
            .recommendations
            .iter()
            .map(|r| r.product)
            .collect::<Vec<_>>(),
        resp.recommendations
            .iter()
            .map(|r| r.product)
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- fairness

fn fairness_store() -> MemoryStore {
    let mut customers = Vec::new();
    for i in 0..30 {
        let mut c = customer_15889();
        c.customer_id = format!("c{i}");
        c.age = Some(18.0 + 2.0 * i as f64);
        c.sexo = match i % 3 {
            0 => Some("V".into()),
            1 => Some("H".into()),
            _ => None,
        };
        customers.push(c);
    }
    MemoryStore::new(customers)
}

fn fairness_req(body: &str) -> FairnessRequest {
    FairnessRequest::parse(body.as_bytes()).unwrap()
}

#[tokio::test]
async fn fairness_groups_customers_by_a_string_field_with_per_product_statistics() {
    let store = fairness_store();
    let svc = service(store.clone());
    let ids: Vec<String> = (0..30).map(|i| format!("\"c{i}\"")).collect();
    let body = format!(
        r#"{{"customer_ids":[{},"c0","nobody"],"group_by":"sexo"}}"#,
        ids.join(",")
    );
    let report = svc.fairness(&fairness_req(&body), "r").await.unwrap();
    assert_eq!(report.customers, 30);
    assert_eq!(
        report.skipped,
        [Skipped {
            customer_id: "nobody".into(),
            reason: "unknown"
        }]
    );
    let labels: Vec<(&str, usize)> = (report.groups.iter())
        .map(|g| (g.group.as_str(), g.count))
        .collect();
    assert_eq!(labels, [("H", 10), ("V", 10), ("missing", 10)]);
    // Each group's mean and std are those of the bundle's own probabilities.
    let b = bundle();
    for g in &report.groups {
        let members: Vec<Vec<f64>> = (0..30)
            .filter(|i| match g.group.as_str() {
                "V" => i % 3 == 0,
                "H" => i % 3 == 1,
                _ => i % 3 == 2,
            })
            .map(|i| {
                let mut c = customer_15889();
                c.age = Some(18.0 + 2.0 * i as f64);
                let mut out = vec![0.0; NUM_PRODUCTS];
                b.score_into(&c.row(), &mut out).unwrap();
                out
            })
            .collect();
        for (p, (code, _)) in PRODUCTS.iter().enumerate() {
            let mean = members.iter().map(|m| m[p]).sum::<f64>() / 10.0;
            let got = g.mean[*code].as_f64().unwrap();
            assert!((got - mean).abs() < 1e-12, "{code}: {got} vs {mean}");
            assert!(g.std[*code].as_f64().unwrap() >= 0.0);
        }
    }
    let ratio = report.min_max_ratio["ind_cco_fin_ult1"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
    assert_eq!(report.model.version, b.version());
}

#[tokio::test]
async fn fairness_bins_a_numerical_feature_at_the_given_edges() {
    let svc = service(fairness_store());
    let ids: Vec<String> = (0..30).map(|i| format!("\"c{i}\"")).collect();
    let body = format!(
        r#"{{"customer_ids":[{}],"group_by":"age","bins":[30,60]}}"#,
        ids.join(",")
    );
    let report = svc.fairness(&fairness_req(&body), "r").await.unwrap();
    let labels: Vec<(&str, usize)> = (report.groups.iter())
        .map(|g| (g.group.as_str(), g.count))
        .collect();
    // Ages 18, 20, …, 76: six under 30, fifteen in [30, 60), nine from 60.
    assert_eq!(labels, [("< 30", 6), (">= 60", 9), ("[30, 60)", 15)]);
}

#[tokio::test]
async fn fairness_reads_a_thousand_customers_in_pages_of_a_hundred() {
    let store = fairness_store();
    let svc = service(store.clone());
    let ids: Vec<String> = (0..1000).map(|i| format!("\"c{i}\"")).collect();
    let body = format!(
        r#"{{"customer_ids":[{}],"group_by":"sexo"}}"#,
        ids.join(",")
    );
    let report = svc.fairness(&fairness_req(&body), "r").await.unwrap();
    assert_eq!((report.customers, report.skipped.len()), (30, 970));
    assert_eq!(store.calls(), 10);
    let too_many: Vec<String> = (0..1001).map(|i| format!("\"c{i}\"")).collect();
    let body = format!(
        r#"{{"customer_ids":[{}],"group_by":"sexo"}}"#,
        too_many.join(",")
    );
    let e = FairnessRequest::parse(body.as_bytes()).unwrap_err();
    assert_eq!(e.code(), "batch_too_large");
}

#[tokio::test]
async fn fairness_without_the_store_is_a_503_not_a_partial_report() {
    let store = fairness_store();
    store.set_faults(Faults::slow(Duration::from_secs(5)));
    let svc = service(store);
    let (resp, stats) = handle(&svc, &event("apigw-recommend-fairness-valid.json"), "l").await;
    assert_eq!(resp.status_code, 503);
    assert_eq!(body_json(&resp)["code"], "store_unavailable");
    assert_eq!(stats.route, "recommend_fairness");
}

#[tokio::test]
async fn fairness_sample_events_answer_as_documented() {
    let svc = service(stored());
    let (resp, _) = handle(&svc, &event("apigw-recommend-fairness-valid.json"), "l").await;
    assert_eq!(resp.status_code, 200);
    let v = body_json(&resp);
    assert_eq!(v["group_by"], "sexo");
    assert_eq!(v["customers"], 2);
    assert_eq!(v["skipped"][0]["customer_id"], "1050824");
    assert_eq!(v["groups"][0]["group"], "V");
    assert_eq!(v["groups"][0]["count"], 2);
    assert_eq!(
        v["groups"][0]["mean"].as_object().unwrap().len(),
        NUM_PRODUCTS
    );
    assert_eq!(v["request_id"], "0kbUWXvQF02iGI=");
    let (resp, _) = handle(
        &svc,
        &event("apigw-recommend-fairness-invalid-group-by.json"),
        "l",
    )
    .await;
    assert_eq!(resp.status_code, 400);
    let v = body_json(&resp);
    assert_eq!(v["code"], "unknown_feature");
    assert!(v["message"].as_str().unwrap().contains("favourite_colour"));
    for (body, code) in [
        (r#"{"customer_ids":["1"]}"#, "missing_field"),
        (r#"{"customer_ids":["1"],"group_by":7}"#, "invalid_field"),
        (r#"{"customer_ids":[],"group_by":"age"}"#, "batch_empty"),
        (
            r#"{"customer_ids":["1"],"group_by":"age","k":3}"#,
            "unknown_field",
        ),
        (
            r#"{"customer_ids":["1"],"group_by":"age","bins":[3,2]}"#,
            "invalid_field",
        ),
    ] {
        assert_eq!(
            FairnessRequest::parse(body.as_bytes()).unwrap_err().code(),
            code,
            "{body}"
        );
    }
}
