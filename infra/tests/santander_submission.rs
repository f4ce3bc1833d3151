//! Real data end to end on small Kaggle-format fixtures: `seed recommender --csv test_ver2.csv`
//! (products from the table or from --history) and `predict recommender`, whose submission
//! must be what the core's `Recommender` serves for the seeded profiles.

mod common;

use common::{fails, ok, s};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use warmstart_cli::data::panel::{product_codes, ProductSet};
use warmstart_cli::data::santander;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::{Bundle, DirSource};
use warmstart_core::recommend::{BatchRequest, Recommender, ServiceConfig, Source};
use warmstart_tests::{synthetic_recommender_bundle, Emulator};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Products of each customer's latest month in the history fixture.
fn latest_owned() -> HashMap<String, ProductSet> {
    let report = santander::parse_file(&fixture("santander_history.csv"), |_| {}).unwrap();
    assert_eq!(report.rejected, 0, "{:?}", report.reasons);
    report
        .panel
        .customer_groups()
        .map(|g| (g[0].customer.to_string(), g[g.len() - 1].owned))
        .collect()
}

/// `ncodpers → codes` of a submission, after checking its format.
fn read_submission(path: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ncodpers,added_products"));
    lines
        .map(|l| {
            let (id, codes) = l.split_once(',').expect("two fields");
            let codes: Vec<String> = codes.split_whitespace().map(str::to_string).collect();
            assert!(!codes.is_empty() && codes.len() <= 7, "{l}");
            (id.to_string(), codes)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_ranks_what_the_recommend_function_serves_after_seeding() {
    let emu = Emulator::start("submission").await;
    let endpoint = emu.dynamodb_endpoint.clone();
    let table = emu.features_table.as_str();
    let (history, test) = (
        fixture("santander_history.csv"),
        fixture("santander_test.csv"),
    );
    let seed = |extra: &[&str]| {
        let mut args = vec!["seed", "recommender", "--table", table];
        args.extend_from_slice(&["--endpoint-url", &endpoint]);
        args.extend_from_slice(extra);
        ok(&args)
    };

    // The history's latest months into the table, then the month to predict over them: the
    // products come from the stored items.
    seed(&["--csv", s(&history)]);
    let out = seed(&["--csv", s(&test)]);
    assert!(out.contains("wrote 7 customer items"), "{out}");
    assert!(
        out.contains("products from history 0, from the table 5, new customers 2"),
        "{out}"
    );
    let store = DynamoFeatureStore::new(emu.dynamo.clone(), table);
    let c = store.get_customer("1050935").await.unwrap().unwrap();
    // June's profile, predicting June: May's products, April's as lag 2.
    assert_eq!((c.as_of.as_str(), c.age), ("2016-05-28", Some(26.0)));
    assert_eq!(c.owned.len(), 3);
    assert_eq!(
        c.owned_prev,
        [
            "ind_cco_fin_ult1".to_string(),
            "ind_recibo_ult1".to_string()
        ]
    );
    let new = store.get_customer("1500001").await.unwrap().unwrap();
    assert!(new.owned.is_empty() && new.owned_prev.is_empty());
    assert_eq!(new.renta, None, "padded NA");

    // The bundle the function would serve, and the submission it ranks offline.
    let dir = tempfile::tempdir().unwrap();
    let bundle_dir = dir.path().join("bundle");
    synthetic_recommender_bundle(&bundle_dir, "v1", 3);
    let submission = dir.path().join("submission.csv");
    let out = ok(&[
        "predict",
        "recommender",
        "--bundle",
        s(&bundle_dir),
        "--csv",
        s(&test),
        "--history",
        s(&history),
        "--out",
        s(&submission),
    ]);
    assert!(
        out.contains("5 with products from the history, 2 new"),
        "{out}"
    );
    let lines = read_submission(&submission);
    assert_eq!(lines.len(), 7);

    let owned = latest_owned();
    for (id, codes) in &lines {
        let latest = owned.get(id).map_or(Vec::new(), |&set| product_codes(set));
        assert!(codes.iter().all(|c| !latest.contains(c)), "{id}: {codes:?}");
    }
    // The customer owning 8 products still gets 7.
    assert!(lines.iter().all(|(_, codes)| codes.len() == 7));

    // The expectation: the core's Recommender over the seeded table.
    let bundle = Bundle::load(&DirSource::new(&bundle_dir)).await.unwrap();
    let rec = Recommender::new(bundle, store, ServiceConfig::default(), Instant::now()).unwrap();
    let req = BatchRequest {
        customer_ids: lines.iter().map(|(id, _)| id.clone()).collect(),
        k: 7,
        return_scores: false,
    };
    let (served, _) = rec.batch(&req, "test").await;
    for (item, (id, codes)) in served.results.iter().zip(&lines) {
        assert_eq!(item.source, Source::Model, "{id}");
        let expected: Vec<&str> = item.recommendations.iter().map(|r| r.product).collect();
        assert_eq!(codes, &expected, "customer {id}");
    }

    // Seeding with --history takes the products from the file and gives the same profiles;
    // the two customers it does not know are in the table by now.
    let before = rec.store().get_customer("1375586").await.unwrap();
    let out = seed(&["--csv", s(&test), "--history", s(&history)]);
    assert!(
        out.contains("products from history 5, from the table 2, new customers 0"),
        "{out}"
    );
    let after = rec.store().get_customer("1375586").await.unwrap();
    assert_eq!(before, after);
}

#[test]
fn unreadable_test_rows_and_wrong_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("santander_test.csv")).unwrap();
    let bad = dir.path().join("test_ver2.csv");
    std::fs::write(&bad, text.replacen(", 24,", ", twenty-four,", 1)).unwrap();
    let bundle_dir = dir.path().join("bundle");
    synthetic_recommender_bundle(&bundle_dir, "v1", 3);
    let history = fixture("santander_history.csv");
    let out = dir.path().join("submission.csv");
    let predict = |csv: &Path, history: &Path| {
        fails(&[
            "predict",
            "recommender",
            "--bundle",
            s(&bundle_dir),
            "--csv",
            s(csv),
            "--history",
            s(history),
            "--out",
            s(&out),
        ])
    };
    let err = predict(&bad, &history);
    assert!(
        err.contains("test_ver2.csv:3: age `twenty-four` is not a number"),
        "{err}"
    );
    assert!(!out.exists(), "no submission after an error");
    let err = predict(&history, &history);
    assert!(err.contains("it is a train_ver2.csv"), "{err}");
    let err = predict(
        &fixture("santander_test.csv"),
        &fixture("santander_test.csv"),
    );
    assert!(err.contains("no product columns"), "{err}");
}
