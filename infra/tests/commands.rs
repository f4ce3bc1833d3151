//! `warmstart seed`, `publish` and `value`: the built binary against the embedded S3 +
//! DynamoDB emulators (127.0.0.1, started by the tests) and offline.

mod common;

use common::{fails, ok, s};
use std::path::Path;
use std::process::Command;
use warmstart_core::aws::valuation_store::DynamoCompanyStore;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::write_bundle;
use warmstart_core::valuation::synthetic::synthetic_fair_multiple_parts;
use warmstart_core::valuation::synthetic_companies;
use warmstart_tests::{synthetic_recommender_bundle, Emulator};

/// `warmstart seed <args…>` into the emulator's Features table.
fn seed<'a>(emu: &'a Emulator, args: &[&'a str]) -> Vec<&'a str> {
    let at = [
        "--table",
        &emu.features_table,
        "--endpoint-url",
        &emu.dynamodb_endpoint,
    ];
    [&["seed"][..], args, &at[..]].concat()
}

/// `warmstart publish <dir>` to the emulator's bucket.
fn publish<'a>(emu: &'a Emulator, dir: &'a str) -> Vec<&'a str> {
    vec![
        "publish",
        dir,
        "--bucket",
        &emu.bucket,
        "--endpoint-url",
        &emu.s3_endpoint,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_writes_customers_and_companies() {
    let emu = Emulator::start("seed").await;
    let table = emu.features_table.as_str();

    let out = ok(&seed(
        &emu,
        &["recommender", "--synthetic", "300", "--seed", "5"],
    ));
    assert!(out.contains("wrote 300 customer items"), "{out}");
    let store = DynamoFeatureStore::new(emu.dynamo.clone(), table);
    let c = store
        .get_customer("1000299")
        .await
        .unwrap()
        .expect("last customer");
    assert_eq!(c.as_of, "2016-05-28");
    assert!(store.get_customer("1000300").await.unwrap().is_none());

    // The Kaggle sample: one month, so owned_prev is empty; rejected rows are reported.
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/santander_train_sample.csv");
    let out = ok(&seed(&emu, &["recommender", "--csv", s(&csv)]));
    assert!(
        out.contains("customer items") && out.contains("rows read"),
        "{out}"
    );

    let out = ok(&seed(
        &emu,
        &["valuation", "--synthetic", "40", "--as-of", "20250331"],
    ));
    assert!(out.contains("wrote 40 company items"), "{out}");
    let companies = DynamoCompanyStore::new(emu.dynamo.clone(), table);
    let moutai = companies
        .get_company("600519.SH")
        .await
        .unwrap()
        .expect("600519.SH");
    let industry = moutai.industry.clone().expect("industry");
    let members = companies
        .industry_members(&industry)
        .await
        .unwrap()
        .expect("industry index item");
    assert!(members.contains(&"600519.SH".to_string()), "{members:?}");
    // Same seed, same universe as the library generator.
    assert_eq!(moutai, synthetic_companies(40, 42, "20250331")[0]);

    // A TuShare export directory without its statements: refused before anything is written.
    let empty = tempfile::tempdir().unwrap();
    let err = fails(&seed(&emu, &["valuation", "--csv", s(empty.path())]));
    assert!(err.contains("income.csv is missing"), "{err}");
    // Every file there but no usable company: refused, and the message reads as one sentence.
    for (name, header) in [
        ("income.csv", "ts_code,end_date,revenue"),
        ("balancesheet.csv", "ts_code,end_date,money_cap"),
        ("cashflow.csv", "ts_code,end_date,c_pay_acq_const_fiolta"),
        ("daily_basic.csv", "ts_code,trade_date,close,total_share"),
    ] {
        std::fs::write(empty.path().join(name), format!("{header}\n")).unwrap();
    }
    let err = fails(&seed(&emu, &["valuation", "--csv", s(empty.path())]));
    assert!(
        err.contains("has an annual income statement and market data; nothing written"),
        "{err}"
    );
    let err = fails(&[
        "seed",
        "valuation",
        "--synthetic",
        "5",
        "--csv",
        s(empty.path()),
        "--table",
        table,
    ]);
    assert!(err.contains("cannot be used with"), "{err}");

    let err = fails(&["seed", "recommender", "--table", table]);
    assert!(
        err.contains("--synthetic") || err.contains("--csv"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_uploads_models_then_manifest_and_refuses_a_changed_version() {
    let emu = Emulator::start("publish").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reco");
    let version = "2026-11-22T10-00-00Z-cli0001";
    let manifest = synthetic_recommender_bundle(&dir, version, 1);

    let args = publish(&emu, s(&dir));
    let out = ok(&args);
    let key = format!("models/product-recommender/{version}/manifest.json");
    assert_eq!(out.trim(), format!("s3://{}/{key}", emu.bucket));
    let listed = emu
        .s3
        .list_objects_v2()
        .bucket(&emu.bucket)
        .prefix("models/")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    assert_eq!(keys.len(), manifest.files.len() + 1, "{keys:?}");
    assert!(keys.contains(&key));
    // The manifest went up last.
    let modified = |k: &str| {
        listed
            .contents()
            .iter()
            .find(|o| o.key() == Some(k))
            .and_then(|o| o.last_modified().copied())
            .unwrap()
    };
    assert!(keys.iter().all(|k| modified(k) <= modified(&key)));

    // Again: a no-op with the same answer.
    assert_eq!(ok(&args), out);
    // Another bundle under the same version is refused.
    let other = tmp.path().join("other");
    synthetic_recommender_bundle(&other, version, 2);
    let err = fails(&publish(&emu, s(&other)));
    assert!(err.contains("already holds a different manifest"), "{err}");
    // A damaged bundle is refused before anything is uploaded.
    let broken = tmp.path().join("broken");
    synthetic_recommender_bundle(&broken, "2026-11-22T10-00-00Z-cli0002", 3);
    std::fs::write(broken.join("models/ind_cco_fin_ult1.txt"), "tree\n").unwrap();
    let err = fails(&publish(&emu, s(&broken)));
    assert!(err.contains("invalid"), "{err}");
    let after = emu
        .s3
        .list_objects_v2()
        .bucket(&emu.bucket)
        .prefix("models/product-recommender/2026-11-22T10-00-00Z-cli0002/")
        .send()
        .await
        .unwrap();
    assert_eq!(after.key_count(), Some(0));
}

#[test]
fn value_runs_the_valuation_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let companies = synthetic_companies(30, 7, "20250331");
    let company = &companies[0];
    let peers: Vec<_> = companies
        .iter()
        .filter(|c| c.industry == company.industry)
        .cloned()
        .collect();
    let request = serde_json::json!({
        "ts_code": company.ts_code,
        "forecast_years": 5,
        "terminal_value_method": "exit_multiple",
        "exit_multiple": 12.0,
        "company": company,
        "peers": peers,
    });
    let path = tmp.path().join("request.json");
    std::fs::write(&path, serde_json::to_vec(&request).unwrap()).unwrap();

    let out: serde_json::Value = serde_json::from_str(&ok(&["value", s(&path)])).unwrap();
    let dcf = &out["valuation_results"]["dcf_forecast_details"];
    assert!(
        dcf["value_per_share"].as_f64().unwrap().is_finite(),
        "{out}"
    );
    assert!(out["ml_fair_multiple"].is_null(), "no model given: {out}");

    // With a fair-multiple bundle the ML section is there.
    let bundle = tmp.path().join("fm");
    let (manifest, files) = synthetic_fair_multiple_parts("2026-11-22T10-00-00Z-fmcli01", 1);
    write_bundle(&bundle, manifest, &files).unwrap();
    let out: serde_json::Value =
        serde_json::from_str(&ok(&["value", s(&path), "--model", s(&bundle)])).unwrap();
    assert!(
        out["ml_fair_multiple"]["fair_pe"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    assert_eq!(out["model"]["version"], "2026-11-22T10-00-00Z-fmcli01");

    // What-if cash flows, no company; from standard input.
    let what_if = r#"{"fcff_forecast":[100,110,120],"net_debt":50,"shares_outstanding":10,
                      "discount_rate":0.09,"terminal_growth_rate":0.02}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(["value", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(what_if.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["valuation_results"]["dcf_forecast_details"]["equity_value"]
            .as_f64()
            .unwrap()
            .is_finite()
    );

    // Bad input names the field.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"ts_code":"600519.SH","forecast_years":0}"#).unwrap();
    let err = fails(&["value", s(&bad)]);
    assert!(err.contains("forecast_years"), "{err}");
    std::fs::write(&bad, r#"{"ts_code":"600519.SH"}"#).unwrap();
    let err = fails(&["value", s(&bad)]);
    assert!(err.contains("600519.SH"), "{err}");
    std::fs::write(&bad, "{not json").unwrap();
    let err = fails(&["value", s(&bad)]);
    assert!(err.contains("body"), "{err}");
}
