//! `warmstart import`: LightGBM models trained elsewhere (the Python fixtures) become generic
//! bundles that load, reproduce LightGBM on their golden rows and work with inspect/score.

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};
use warmstart_cli::train::bundle_out::block_on;
use warmstart_core::bundle::{Manifest, ModelKind, MIN_GOLDEN_ROWS};
use warmstart_core::{Bundle, DirSource, Model};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/models")
}

fn pandas_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/categorical_pandas.txt")
}

fn load(dir: &Path) -> Bundle {
    let b = block_on(Bundle::load(&DirSource::new(dir))).expect("bundle loads");
    assert_eq!(b.verify_golden().unwrap(), b.manifest().golden.len());
    b
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn every_servable_fixture_model_imports_into_a_verified_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut imported = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('_', "-");
        let out = tmp.path().join(&name);
        let args = ["import", s(&path), "--name", &name, "--out", s(&out)];
        if name == "linear-tree" {
            let err = fails(&args);
            assert!(err.contains("linear trees"), "{err}");
            assert!(!out.exists(), "nothing is written for a refused model");
            continue;
        }
        ok(&args);
        let text = std::fs::read_to_string(&path).unwrap();
        let model = Model::parse(&text).unwrap();
        let bundle = load(&out);
        let m = bundle.manifest();
        assert_eq!(m.kind, ModelKind::Generic);
        assert_eq!(m.name, name);
        let names: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, model.feature_names(), "{name}");
        let cat: Vec<bool> = m.features.iter().map(|f| f.categorical).collect();
        assert_eq!(cat, model.categorical_features(), "{name}");
        assert!(m.features.iter().all(|f| f.categories.is_empty()));
        assert!(m.golden.len() >= MIN_GOLDEN_ROWS);
        assert!(m
            .golden
            .iter()
            .any(|g| g.features.iter().any(Option::is_none)));
        assert!(m
            .golden
            .iter()
            .any(|g| g.features.iter().all(Option::is_some)));
        let objective = text
            .lines()
            .find_map(|l| l.strip_prefix("objective="))
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        if model.num_outputs() == 1 {
            assert_eq!(m.outputs.len(), 1);
            assert_eq!(
                (m.outputs[0].code.as_str(), m.outputs[0].name.as_str()),
                ("prediction", objective)
            );
        } else {
            assert!(objective.starts_with("multiclass"));
            for (i, o) in m.outputs.iter().enumerate() {
                assert_eq!((o.code.clone(), o.class), (format!("class_{i}"), i));
                assert_eq!(o.model, "models/model.txt");
            }
            assert_eq!(m.outputs.len(), model.num_outputs());
        }
        assert_eq!(m.training["lightgbm_version"], "v4");
        imported += 1;
    }
    assert_eq!(imported, 24);
}

#[test]
fn unknown_objectives_and_non_models_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("regression_l2.txt")).unwrap();
    let weird = tmp.path().join("weird.txt");
    std::fs::write(
        &weird,
        text.replacen("objective=regression", "objective=my_loss", 1),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let err = fails(&["import", s(&weird), "--name", "w", "--out", s(&out)]);
    assert!(err.contains("unsupported objective `my_loss`"), "{err}");
    std::fs::write(&weird, "a,b\n1,2\n").unwrap();
    let err = fails(&["import", s(&weird), "--name", "w", "--out", s(&out)]);
    assert!(
        err.contains("cannot be served by the native scorer"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn imported_bundles_inspect_and_score_like_lightgbm() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("multi");
    let model = fixtures().join("categorical_multiclass.txt");
    ok(&["import", s(&model), "--name", "multi", "--out", s(&out)]);
    let report = ok(&["inspect", s(&out)]);
    assert!(report.contains("kind      generic"), "{report}");
    assert!(report.contains("bit-identical"), "{report}");
    let rows = fixtures().join("categorical_multiclass.rows.csv");
    let scored = ok(&["score", s(&out), "--input", s(&rows)]);
    let expected =
        std::fs::read_to_string(fixtures().join("categorical_multiclass.expected.csv")).unwrap();
    let parse = |t: &str| -> Vec<u64> {
        t.split([',', '\n'])
            .filter(|x| !x.trim().is_empty())
            .map(|x| x.trim().parse::<f64>().unwrap().to_bits())
            .collect()
    };
    assert_eq!(parse(&scored), parse(&expected));
    // --force is needed to write over it.
    let err = fails(&["import", s(&model), "--name", "multi", "--out", s(&out)]);
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn pandas_categorical_gives_the_category_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cats");
    ok(&[
        "import",
        s(&pandas_fixture()),
        "--name",
        "cats",
        "--out",
        s(&out),
    ]);
    let report = ok(&["inspect", s(&out)]);
    assert!(
        report.contains("cat_small              3 categories: low | mid | high\n"),
        "{report}"
    );
    assert!(
        report.contains("60 categories: 100 | 101 | 102 | 103 | 104, …"),
        "{report}"
    );
    let m = load(&out).manifest().clone();
    let big = &m.features[6];
    assert_eq!(big.name, "cat_big");
    assert!(big.categorical);
    assert_eq!(big.categories.len(), 60);
    assert_eq!(
        (big.categories[0].as_str(), big.categories[59].as_str()),
        ("100", "159")
    );
    assert_eq!(m.features[7].categories, vec!["low", "mid", "high"]);
    assert!(m.features[..6].iter().all(|f| f.categories.is_empty()));
    // An unseen category (code past the list) is among the golden rows.
    assert!(m
        .golden
        .iter()
        .any(|g| g.features[7].is_some_and(|c| c >= 3.0)));

    // A list count that does not match the categorical features is refused.
    let text = std::fs::read_to_string(pandas_fixture()).unwrap();
    let one_list = text
        .replace("[[100,", "[[")
        .replace("],[\"low\",\"mid\",\"high\"]]", "]]");
    let bad = tmp.path().join("bad.txt");
    std::fs::write(&bad, one_list).unwrap();
    let err = fails(&[
        "import",
        s(&bad),
        "--name",
        "bad",
        "--out",
        s(&tmp.path().join("bad")),
    ]);
    assert!(
        err.contains("1 category lists but the model has 2"),
        "{err}"
    );
}

fn rows_args<'a>(model: &'a Path, rows: &'a Path, out: &'a Path) -> [&'a str; 8] {
    [
        "import",
        s(model),
        "--name",
        "b",
        "--out",
        s(out),
        "--rows",
        s(rows),
    ]
}

#[test]
fn rows_csv_become_the_golden_rows() {
    let tmp = tempfile::tempdir().unwrap();
    // Columns in another order, an extra column, strings for cat_small, quoted and missing
    // cells.
    let mut csv =
        String::from("id,cat_small,x_nan_hi,x_nan_lo,x_neg,x_zero,x_big,x_count,cat_big\n");
    for i in 0..25 {
        let small = ["low", "\"mid\"", "high", "NA"][i % 4];
        let hi = if i % 5 == 0 {
            String::new()
        } else {
            format!("{}", i as f64 / 10.0)
        };
        csv.push_str(&format!(
            "{i},{small},{hi},0.5,-1,{i},1e6,3,{}\n",
            100 + i % 7
        ));
    }
    let rows = tmp.path().join("rows.csv");
    std::fs::write(&rows, &csv).unwrap();
    let out = tmp.path().join("b");
    let model = pandas_fixture();
    ok(&rows_args(&model, &rows, &out));
    let m = load(&out).manifest().clone();
    assert_eq!(m.training["golden_rows_from"], s(&rows));
    let g1 = &m.golden[1].features;
    assert_eq!(g1[0], Some(0.1));
    assert_eq!(g1[3], Some(1.0));
    assert_eq!(g1[6], Some(1.0), "cat_big 101 is code 1");
    assert_eq!(g1[7], Some(1.0), "cat_small mid is code 1");
    assert_eq!(m.golden[0].features[0], None);
    assert_eq!(m.golden[3].features[7], None);
    assert!(m.golden.len() >= 25);

    // Every feature needs its column.
    std::fs::write(&rows, csv.replace(",x_zero,", ",x_zeros,")).unwrap();
    let err = fails(&rows_args(&model, &rows, &tmp.path().join("c")));
    assert!(err.contains("feature `x_zero` is not a column"), "{err}");
    // A category the model does not know is refused with its line.
    std::fs::write(&rows, csv.replace(",high,", ",huge,")).unwrap();
    let err = fails(&rows_args(&model, &rows, &tmp.path().join("c")));
    assert!(
        err.contains("rows.csv:4: `huge` is not a category of `cat_small`"),
        "{err}"
    );
}

#[test]
fn metrics_json_is_recorded_or_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixtures().join("binary_nan.txt");
    let good = tmp.path().join("m.json");
    std::fs::write(
        &good,
        r#"{"auc": {"prediction": 0.81}, "logloss": 0.42, "holdout_rows": 900}"#,
    )
    .unwrap();
    let out = tmp.path().join("ok");
    ok(&[
        "import",
        s(&model),
        "--name",
        "m",
        "--out",
        s(&out),
        "--metrics",
        s(&good),
    ]);
    let m = manifest(&out);
    assert_eq!(m.metrics.auc["prediction"], 0.81);
    assert_eq!(m.metrics.other["logloss"], 0.42);
    assert_eq!(m.metrics.holdout_rows, Some(900));
    for (body, want) in [
        (
            r#"{"rmse": "low"}"#,
            "metric `rmse` is \"low\", not a finite number",
        ),
        (r#"[1, 2]"#, "must be a JSON object"),
        (r#"{"auc": {"prediction": null}}"#, "metric `auc` is null"),
        ("{rmse", "is not JSON"),
    ] {
        let bad = tmp.path().join("bad.json");
        std::fs::write(&bad, body).unwrap();
        let dir = tmp.path().join("never");
        let err = fails(&[
            "import",
            s(&model),
            "--name",
            "m",
            "--out",
            s(&dir),
            "--metrics",
            s(&bad),
        ]);
        assert!(err.contains(want), "{body}: {err}");
        assert!(!dir.exists());
    }
}

#[test]
fn a_bundle_compiled_by_an_older_layout_is_recompiled_in_place() {
    use warmstart_cli::train::bundle_out::{read_manifest, recompile};
    let needs_compiling = |dir: &Path| read_manifest(dir).map(|m| m.compiled_file().is_none());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    ok(&[
        "import",
        s(&fixtures().join("binary_nan.txt")),
        "--name",
        "m",
        "--out",
        s(&out),
    ]);
    assert!(!needs_compiling(&out).unwrap());
    // Make it look like an older CLI's bundle: its compiled file and marker say layout 3.
    let mut m = manifest(&out);
    let files: Vec<(String, Vec<u8>)> = m
        .files
        .iter()
        .map(|f| {
            let mut bytes = std::fs::read(out.join(&f.path)).unwrap();
            if f.compiled.is_some() {
                bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
            }
            (f.path.clone(), bytes)
        })
        .collect();
    for f in m.files.iter_mut().filter(|f| f.compiled.is_some()) {
        f.compiled.as_mut().unwrap().layout_version = 3;
    }
    warmstart_core::bundle::write_bundle(&out, m, &files).unwrap();
    let stale = load(&out);
    assert!(
        !stale.is_compiled(),
        "an older layout is served from the text"
    );
    assert!(needs_compiling(&out).unwrap());

    // A recompile interrupted after removing the old file is run again.
    std::fs::remove_file(out.join("models.wsc")).unwrap();
    let bundle = recompile(&out, read_manifest(&out).unwrap()).unwrap();
    assert!(bundle.is_compiled());
    assert!(!needs_compiling(&out).unwrap());
    let after = manifest(&out);
    let text = |m: &Manifest| {
        m.files
            .iter()
            .filter(|f| f.compiled.is_none())
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        text(&after),
        text(stale.manifest()),
        "the text models are kept"
    );
    assert_eq!(after.golden, stale.manifest().golden);
    load(&out);
}
