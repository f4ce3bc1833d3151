//! `warmstart train generic` on small CSVs (all three objectives, quoted fields, NA and empty
//! cells, string columns, refusals with file:line) and on the merchant examples.

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};
use warmstart_cli::train::bundle_out::block_on;
use warmstart_core::bundle::{Manifest, ModelKind};
use warmstart_core::{Bundle, DirSource, Model};

fn load(dir: &Path) -> Manifest {
    let b = block_on(Bundle::load(&DirSource::new(dir))).expect("bundle loads");
    assert_eq!(b.verify_golden().unwrap(), b.manifest().golden.len());
    b.manifest().clone()
}

/// 240 shoppers: `shop` (quoted strings with commas and quotes) drives `bought`, `spend` the
/// amount, `tier` (three strings) follows spend; some cells empty or NA.
fn shoppers(dir: &Path) -> PathBuf {
    let shops = [
        "\"Café, Paris\"",
        "\"Bäckerei \"\"Nord\"\"\"",
        "grocery",
        "fuel",
    ];
    let mut csv = String::from("id,shop,spend,visits,bought,amount,tier\n");
    for i in 0..240u32 {
        let shop = if i % 23 == 0 {
            "NA"
        } else {
            shops[(i * 7 % 13 % 4) as usize]
        };
        let spend = (i * 37 % 100) as f64;
        let spend_cell = if i % 19 == 0 {
            String::new()
        } else {
            format!("{spend}")
        };
        let likes = shop == "grocery" || shop == "fuel";
        let bought = u8::from(likes ^ (i % 9 == 0));
        let amount = 3.0 * spend + if likes { 40.0 } else { 0.0 } + (i % 5) as f64;
        let tier = ["low", "mid", "high"][(spend / 34.0) as usize];
        csv.push_str(&format!(
            "{i},{shop},{spend_cell},{},{bought},{amount},{tier}\r\n",
            i % 4
        ));
    }
    let path = dir.join("shoppers.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn train(csv: &Path, out: &Path, target: &str, objective: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "generic",
        "--csv",
        s(csv),
        "--target",
        target,
        "--objective",
        objective,
        "--out",
        s(out),
    ];
    if !extra.contains(&"--trees") {
        args.extend(["--trees", "20", "--leaves", "7"]);
    }
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn binary_from_strings_quotes_and_missing_cells_has_categorical_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = shoppers(tmp.path());
    let out = tmp.path().join("b");
    let report = train(
        &csv,
        &out,
        "bought",
        "binary",
        &["--drop", "id,amount,tier"],
    );
    assert!(
        report.contains("auc") && report.contains("baseline"),
        "{report}"
    );
    let m = load(&out);
    assert_eq!(m.kind, ModelKind::Generic);
    assert_eq!(m.name, "shoppers");
    let names: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["shop", "spend", "visits"]);
    assert_eq!(
        m.features[0].categories,
        ["Bäckerei \"Nord\"", "Café, Paris", "fuel", "grocery"]
    );
    assert!(m.features[0].categorical && !m.features[1].categorical);
    let text = std::fs::read_to_string(out.join("models/model.txt")).unwrap();
    let model = Model::parse(&text).unwrap();
    assert_eq!(model.categorical_features(), [true, false, false]);
    assert!(
        text.contains("cat_threshold="),
        "no categorical split in the model"
    );
    assert_eq!(m.outputs[0].code, "prediction");
    assert_eq!(m.outputs[0].name, "binary");
    let auc = m.metrics.auc["prediction"];
    assert!(auc > 0.8, "{auc}");
    for k in ["logloss", "baseline_auc", "baseline_logloss"] {
        assert!(m.metrics.other[k].is_finite(), "{k}");
    }
    assert!(m.metrics.other["logloss"] < m.metrics.other["baseline_logloss"]);
    assert_eq!(m.metrics.other["baseline_auc"], 0.5);
    let holdout = m.metrics.holdout_rows.unwrap();
    assert!((30..70).contains(&holdout), "{holdout}");
    assert!(m
        .golden
        .iter()
        .any(|g| g.features.iter().all(Option::is_none)));
    assert!(
        m.golden.iter().any(|g| g.features[0] == Some(5.0)),
        "unseen category"
    );
    assert_eq!(m.training["source"], "csv:shoppers.csv");
    assert_eq!(m.training["rows"], 240);
    assert!(m.training["lightgbm_version"]
        .as_str()
        .unwrap()
        .starts_with('v'));
}

#[test]
fn regression_and_multiclass_and_forced_categorical() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = shoppers(tmp.path());
    let out = tmp.path().join("r");
    train(
        &csv,
        &out,
        "amount",
        "regression",
        &[
            "--drop",
            "id,bought,tier",
            "--categorical",
            "visits",
            "--name",
            "spend-model",
        ],
    );
    let m = load(&out);
    assert_eq!(m.name, "spend-model");
    assert!(m.features[2].categorical && m.features[2].categories.is_empty());
    for k in [
        "rmse",
        "mae",
        "r2",
        "baseline_rmse",
        "baseline_mae",
        "baseline_r2",
    ] {
        assert!(m.metrics.other[k].is_finite(), "{k}");
    }
    assert!(m.metrics.other["r2"] > 0.8, "{:?}", m.metrics);
    assert!(m.metrics.other["rmse"] < m.metrics.other["baseline_rmse"]);
    assert_eq!(m.outputs[0].name, "regression");

    let out = tmp.path().join("m");
    train(
        &csv,
        &out,
        "tier",
        "multiclass",
        &["--drop", "id,amount", "--seed", "3"],
    );
    let m = load(&out);
    let outputs: Vec<(String, String, usize)> = m
        .outputs
        .iter()
        .map(|o| (o.code.clone(), o.name.clone(), o.class))
        .collect();
    assert_eq!(
        outputs,
        [
            ("class_0".into(), "high".into(), 0),
            ("class_1".into(), "low".into(), 1),
            ("class_2".into(), "mid".into(), 2)
        ]
    );
    assert!(m.metrics.other["accuracy"] > m.metrics.other["baseline_accuracy"]);
    assert!(m.metrics.other["multi_logloss"] < m.metrics.other["baseline_multi_logloss"]);
    assert_eq!(m.training["seed"], 3);
}

#[test]
fn bad_input_is_refused_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = shoppers(tmp.path());
    let text = std::fs::read_to_string(&csv).unwrap();
    let out = tmp.path().join("never");
    let refuse = |content: &str, target: &str, objective: &str, extra: &[&str]| -> String {
        let path = tmp.path().join("bad.csv");
        std::fs::write(&path, content).unwrap();
        let mut args = vec![
            "train",
            "generic",
            "--csv",
            s(&path),
            "--target",
            target,
            "--objective",
            objective,
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        let err = fails(&args);
        assert!(!out.exists(), "nothing written: {err}");
        err
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let ragged = lines[..10].concat() + "7,fuel,3\r\n" + &lines[10..].concat();
    let err = refuse(&ragged, "bought", "binary", &[]);
    assert!(
        err.contains("bad.csv:11: 3 fields; the header has 7"),
        "{err}"
    );
    let missing = text.replacen("\r\n4,grocery,48,0,1,", "\r\n4,grocery,48,0,,", 1);
    assert_ne!(missing, text);
    let err = refuse(&missing, "bought", "binary", &[]);
    assert!(
        err.contains("bad.csv:6: the target `bought` is missing"),
        "{err}"
    );
    let err = refuse(&text, "tier", "regression", &[]);
    assert!(
        err.contains("bad.csv:2: the regression target `tier` is `low`"),
        "{err}"
    );
    let err = refuse(&text, "nope", "binary", &[]);
    assert!(err.contains("--target `nope` is not a column"), "{err}");
    let err = refuse(&text, "bought", "binary", &["--drop", "idd"]);
    assert!(err.contains("--drop `idd` is not a column"), "{err}");
    let err = refuse(&text, "bought", "binary", &["--categorical", "spent"]);
    assert!(
        err.contains("--categorical `spent` is not a column"),
        "{err}"
    );
    let err = refuse(&lines[..40].concat(), "bought", "binary", &[]);
    assert!(err.contains("39 data rows; at least 50"), "{err}");
    let err = refuse(&text, "visits", "binary", &[]);
    assert!(
        err.contains("bad.csv:4: the binary target `visits` is `2`"),
        "{err}"
    );
    // Nobody bought: `bought` is the third field from the end.
    let none_bought: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut f: Vec<&str> = l.rsplitn(4, ',').collect();
            if i > 0 {
                f[2] = "0";
            }
            f.reverse();
            f.join(",")
        })
        .collect();
    let err = refuse(&none_bought, "bought", "binary", &[]);
    assert!(
        err.contains("bad.csv: the target `bought` has a single class (0)"),
        "{err}"
    );
    let err = refuse(
        &text
            .replace(",high\r", ",low\r")
            .replace(",mid\r", ",low\r"),
        "tier",
        "multiclass",
        &[],
    );
    assert!(err.contains("single class"), "{err}");
}

#[test]
fn merchant_examples_train_bundles_that_beat_their_baselines() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&[
        "examples",
        "merchant",
        "--out",
        s(&data),
        "--rows",
        "2000",
        "--seed",
        "11",
    ]);
    let again = tmp.path().join("again");
    ok(&[
        "examples",
        "merchant",
        "--out",
        s(&again),
        "--rows",
        "2000",
        "--seed",
        "11",
    ]);
    for f in ["cashflow.csv", "compliance.csv"] {
        assert_eq!(
            std::fs::read(data.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f} is deterministic by seed"
        );
    }
    let cash = tmp.path().join("cash");
    train(
        &data.join("cashflow.csv"),
        &cash,
        "next_month_net_cash_flow",
        "regression",
        &["--drop", "merchant_id", "--trees", "40", "--leaves", "15"],
    );
    let m = load(&cash);
    let o = &m.metrics.other;
    assert!(o["r2"] > 0.3 && o["baseline_r2"] < 0.01, "{o:?}");
    assert!(o["rmse"] < 0.85 * o["baseline_rmse"], "{o:?}");
    assert!(o["mae"] < 0.75 * o["baseline_mae"], "{o:?}");
    let cat: Vec<&str> = m
        .features
        .iter()
        .filter(|f| !f.categories.is_empty())
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(cat, ["category", "region"]);

    let risk = tmp.path().join("risk");
    train(
        &data.join("compliance.csv"),
        &risk,
        "compliance_risk",
        "binary",
        &["--drop", "merchant_id", "--trees", "40", "--leaves", "15"],
    );
    let m = load(&risk);
    let auc = m.metrics.auc["prediction"];
    assert!(auc > 0.75, "{auc}");
    let o = &m.metrics.other;
    assert!(o["logloss"] < 0.9 * o["baseline_logloss"], "{o:?}");
}
