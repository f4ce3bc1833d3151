//! `warmstart train fair-multiple --csv`: the fair-P/E model trained on a TuShare export (the
//! committed fixture plus `fixtures/tushare_extra`), served by the valuation core.

mod common;

use common::{fails, s, warmstart};
use std::path::{Path, PathBuf};
use warmstart_core::bundle::{Bundle, DirSource, ModelKind};
use warmstart_core::valuation::{FairMultipleModel, FAIR_MULTIPLE_FEATURES};

const FILES: [&str; 6] = [
    "income.csv",
    "balancesheet.csv",
    "cashflow.csv",
    "daily_basic.csv",
    "stock_basic.csv",
    "beta.csv",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed export with the extra companies' rows appended.
fn enlarged_export(dir: &Path) {
    for f in FILES {
        let base =
            std::fs::read_to_string(manifest_dir().join("testdata/tushare").join(f)).unwrap();
        let extra =
            std::fs::read_to_string(manifest_dir().join("fixtures/tushare_extra").join(f)).unwrap();
        let rows = extra.split_once('\n').unwrap().1;
        std::fs::write(dir.join(f), format!("{base}{rows}")).unwrap();
    }
}

#[tokio::test]
async fn trains_on_real_companies_and_the_valuation_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir(&export).unwrap();
    enlarged_export(&export);
    let out_dir = dir.path().join("bundle");
    let out = warmstart(&[
        "train",
        "fair-multiple",
        "--csv",
        s(&export),
        "--trees",
        "20",
        "--out",
        s(&out_dir),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("11 companies with a P/E") && stdout.contains("9 for training, 2 held out"),
        "{stdout}"
    );
    assert!(
        stderr.contains("skipped 1 of 12 imported companies for training: 600733.SH: no P/E"),
        "{stderr}"
    );
    assert!(
        stderr.contains("300999.SZ: no daily_basic.csv row"),
        "{stderr}"
    );

    let bundle = Bundle::load(&DirSource::new(&out_dir)).await.unwrap();
    let m = bundle.manifest();
    assert_eq!(m.kind, ModelKind::FairMultiple);
    let names: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, FAIR_MULTIPLE_FEATURES);
    assert_eq!(m.metrics.holdout_rows, Some(2));
    assert!(m.metrics.other.contains_key("baseline_rmse"));
    assert_eq!(m.training["skipped_companies"], 1);
    assert_eq!(m.training["skipped_by_import"], 1);
    assert!(m.training["source"]
        .as_str()
        .unwrap()
        .starts_with("tushare:"));

    // The valuation function's model over the same import scores every company.
    let model = FairMultipleModel::new(bundle).unwrap();
    let (companies, _) = warmstart_cli::data::tushare::import_dir(&export, None).unwrap();
    for c in &companies {
        let pe = model.fair_pe(&c.fundamentals()).unwrap();
        assert!(pe.is_finite() && pe > 0.0, "{}: {pe}", c.ts_code);
    }
}

#[test]
fn too_few_companies_is_a_clear_error() {
    let out = tempfile::tempdir().unwrap();
    let out = warmstart(&[
        "train",
        "fair-multiple",
        "--csv",
        s(&manifest_dir().join("testdata/tushare")),
        "--out",
        s(&out.path().join("b")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    // The import's summary comes first, then the reason.
    assert!(err.contains("error: 5 companies are too few"), "{err}");
    let err = fails(&["train", "fair-multiple", "--synthetic", "50", "--csv", "x"]);
    assert!(err.contains("cannot be used with"), "{err}");
}
