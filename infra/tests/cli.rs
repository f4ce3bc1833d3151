//! End-to-end: the built `warmstart` binary trains bundles, inspects them, scores rows, and
//! refuses damaged bundles.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
mod common;

use common::{fails, ok, s};
use warmstart_cli::train::bundle_out::block_on;
use warmstart_core::bundle::{Manifest, ModelKind, Rollout};
use warmstart_core::{Bundle, DirSource};

fn manifest(dir: &Path) -> Manifest {
    Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/models")
}

fn sample_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/santander_train_sample.csv")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

fn csv_token(x: Option<f64>) -> String {
    x.map_or("nan".into(), |v| format!("{v:?}"))
}

#[test]
fn synthetic_recommender_trains_inspects_scores_and_detects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reco");
    let stdout = ok(&[
        "train",
        "recommender",
        "--synthetic",
        "3000",
        "--trees",
        "20",
        "--out",
        s(&out),
    ]);
    assert!(stdout.contains("MAP@7"), "{stdout}");
    assert!(stdout.contains("Direct Debit"), "{stdout}");
    let m = manifest(&out);
    assert_eq!(m.name, "product-recommender");
    assert_eq!(m.kind, ModelKind::ProductRecommender);
    assert_eq!(m.outputs.len(), 24);
    // The 24 text models and the compiled file that serves them.
    assert_eq!(m.files.len(), 25);
    assert_eq!(
        m.compiled_file().map(|f| f.path.as_str()),
        Some("models.wsc")
    );
    assert_eq!(m.golden.len(), 32);
    assert_eq!(m.base_rates.len(), 24);
    assert!(m
        .golden
        .iter()
        .any(|g| g.features.iter().any(Option::is_none)));
    assert!(m.features.iter().all(|f| !f.categorical));
    assert!(m.rollout.is_none());
    let (model, base) = (
        m.metrics.map_at_7.unwrap(),
        m.metrics.baseline_map_at_7.unwrap(),
    );
    assert!(
        model > base,
        "MAP@7 {model} does not beat the baseline {base}"
    );
    assert!(m.metrics.auc.len() >= 8, "{:?}", m.metrics.auc);
    assert!(m.metrics.holdout_rows.unwrap() > 1000);
    // Version: <YYYY-MM-DDTHH-MM-SSZ>-<8 hex>.
    let (stamp, hash) = m.version.rsplit_once('-').unwrap();
    assert_eq!(stamp.len(), 20, "{}", m.version);
    assert!(stamp.ends_with('Z') && hash.len() == 8, "{}", m.version);
    for key in [
        "source",
        "customers",
        "rows",
        "months",
        "seed",
        "params",
        "rejected_rows",
    ] {
        assert!(m.training.contains_key(key), "training.{key}");
    }

    let report = ok(&["inspect", s(&out)]);
    assert!(
        report.contains("golden rows: 32/32 bit-identical"),
        "{report}"
    );
    assert!(report.contains("Current Accounts"), "{report}");
    assert!(report.contains("sha256 ok"), "{report}");
    // Reload's quality gate, previewed: the baseline alone, then against an active version.
    assert!(report.contains("quality gate (baseline only"), "{report}");
    assert!(report.contains("ok        map_at_7"), "{report}");
    assert!(report.contains("beats its baseline"), "{report}");
    let report = ok(&["inspect", s(&out), "--against", s(&out)]);
    assert!(
        report.contains(&format!("against {}", m.version)),
        "{report}"
    );
    assert!(report.contains("(+0.0%, higher is better)"), "{report}");
    let better = tmp.path().join("better-active");
    std::fs::create_dir_all(&better).unwrap();
    let mut b = m.clone();
    b.version = "2026-01-01T00-00-00Z-better01".into();
    b.metrics.map_at_7 = Some(model * 1.5);
    std::fs::write(better.join("manifest.json"), b.to_json()).unwrap();
    let err = fails(&["inspect", s(&out), "--against", s(&better)]);
    assert!(
        err.contains("reload would reject it (quality_gate)")
            && err.contains("map_at_7")
            && err.contains("-33.3%"),
        "{err}"
    );

    // `score` on a bundle prints every output, exactly as the bundle scores in-process.
    let bundle = block_on(Bundle::load(&DirSource::new(&out))).unwrap();
    let rows: Vec<&Vec<Option<f64>>> = m.golden.iter().map(|g| &g.features).take(6).collect();
    let input: String = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|x| csv_token(*x))
                .collect::<Vec<_>>()
                .join(",")
                + "\n\n"
        })
        .collect();
    let input_path = tmp.path().join("rows.csv");
    std::fs::write(&input_path, &input).unwrap();
    let scored = ok(&["score", s(&out), "--input", s(&input_path)]);
    let lines: Vec<&str> = scored.lines().collect();
    assert_eq!(lines.len(), rows.len(), "blank lines are skipped");
    for (line, row) in lines.iter().zip(&rows) {
        let row: Vec<f64> = row.iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        let mut want = vec![0.0; 24];
        bundle.score_into(&row, &mut want).unwrap();
        let got: Vec<f64> = line.split(',').map(|t| t.parse().unwrap()).collect();
        assert_eq!(got.len(), 24);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.to_bits(), w.to_bits(), "{line}");
        }
    }
    // A single model file of the bundle scores its own output column.
    let single = ok(&[
        "score",
        s(&out.join("models/ind_recibo_ult1.txt")),
        "--input",
        s(&input_path),
    ]);
    for (one, all) in single.lines().zip(&lines) {
        assert_eq!(one, all.split(',').nth(23).unwrap());
    }

    // A model file altered after the manifest was written.
    let tampered = tmp.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    copy_dir(&out, &tampered);
    let model_path = tampered.join("models/ind_tjcr_fin_ult1.txt");
    let text = std::fs::read_to_string(&model_path).unwrap();
    let changed = text.replacen("leaf_value=", "leaf_value=1", 1);
    std::fs::write(&model_path, changed).unwrap();
    let err = fails(&["inspect", s(&tampered)]);
    assert!(err.contains("ind_tjcr_fin_ult1"), "{err}");
    let err = fails(&["score", s(&tampered), "--input", s(&input_path)]);
    assert!(
        err.contains("ind_tjcr_fin_ult1") && err.contains("manifest says"),
        "{err}"
    );

    // A manifest whose golden outputs were edited.
    let edited = tmp.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    copy_dir(&out, &edited);
    let mut m2 = m.clone();
    m2.golden[3].expected[5] += 1e-9;
    std::fs::write(edited.join("manifest.json"), m2.to_json()).unwrap();
    let err = fails(&["inspect", s(&edited)]);
    assert!(err.contains("golden row 3"), "{err}");

    // Not a bundle at all.
    assert!(fails(&["inspect", s(tmp.path())]).contains("manifest.json"));
    // Refuses to overwrite without --force.
    let err = fails(&[
        "train",
        "recommender",
        "--synthetic",
        "50",
        "--out",
        s(&out),
    ]);
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn synthetic_training_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let dir = tmp.path().join(name);
        ok(&[
            "train",
            "recommender",
            "--synthetic",
            "800",
            "--trees",
            "5",
            "--months",
            "4",
            "--seed",
            "9",
            "--version",
            "v1",
            "--out",
            s(&dir),
        ]);
        manifest(&dir)
    };
    let (a, b) = (run("a"), run("b"));
    assert_eq!(a.files, b.files, "same seed, same models");
    assert_eq!(a.golden, b.golden);
    assert_eq!(a.version, "v1");
}

/// The Kaggle sample holds one month: no examples can be built, and the CLI says so.
#[test]
fn the_one_month_kaggle_sample_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reco");
    let err = fails(&[
        "train",
        "recommender",
        "--csv",
        s(&sample_csv()),
        "--out",
        s(&out),
    ]);
    assert!(err.contains("1 month (2015-01-28)"), "{err}");
    assert!(err.contains("at least 3 consecutive months"), "{err}");
    assert!(!out.join("manifest.json").exists());
}

/// Four months made from the real sample rows (dates shifted, some products flipped): tiny
/// data must still give a valid bundle.
#[test]
fn a_tiny_multi_month_santander_csv_trains_a_valid_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(sample_csv()).unwrap();
    let mut lines = sample.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut csv = format!("{header}\n");
    for month in 1..=4u32 {
        for (i, row) in rows.iter().enumerate() {
            let i = i as u32;
            // The last three columns are unquoted flags: nomina, nom_pens, recibo.
            let mut parts: Vec<&str> = row.rsplitn(4, ',').collect();
            parts.reverse();
            let flag = |on: bool| if on { "1" } else { "0" };
            let recibo = flag((i + month).is_multiple_of(3) || parts[3] == "1");
            let nomina = flag((i * 7 + month).is_multiple_of(5));
            let date = format!("2015-{month:02}-28");
            csv.push_str(&format!(
                "{},{nomina},{nomina}.0,{recibo}\n",
                parts[0].replacen("2015-01-28", &date, 1)
            ));
        }
        csv.push('\n');
    }
    let path = tmp.path().join("four_months.csv");
    std::fs::write(&path, csv).unwrap();
    let out = tmp.path().join("reco");
    let stdout = ok(&[
        "train",
        "recommender",
        "--csv",
        s(&path),
        "--trees",
        "10",
        "--rollout",
        "canary:10",
        "--out",
        s(&out),
    ]);
    assert!(stdout.contains("parsed 240 rows"), "{stdout}");
    assert!(stdout.contains("no rows rejected"), "{stdout}");
    let m = manifest(&out);
    assert_eq!(m.rollout, Some(Rollout::Canary(10)));
    assert_eq!(m.golden.len(), 32);
    assert_eq!(
        m.metrics.holdout_rows,
        Some(60),
        "time split: the last month"
    );
    assert!(m.training["holdout"].as_str().unwrap().contains("2015-04"));
    let report = ok(&["inspect", s(&out)]);
    assert!(
        report.contains("golden rows: 32/32 bit-identical"),
        "{report}"
    );
    assert!(report.contains("canary:10"), "{report}");
}

#[test]
fn fair_multiple_trains_and_beats_the_industry_median() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fm");
    let stdout = ok(&[
        "train",
        "fair-multiple",
        "--synthetic",
        "2000",
        "--out",
        s(&out),
    ]);
    assert!(stdout.contains("Semiconductors"), "{stdout}");
    let m = manifest(&out);
    assert_eq!(m.kind, ModelKind::FairMultiple);
    assert_eq!(m.name, "fair-multiple");
    assert_eq!(m.outputs[0].code, "fair_pe");
    assert_eq!(m.outputs[0].model, "models/fair_pe.txt");
    assert_eq!(m.features.len(), 9);
    assert_eq!(m.golden.len(), 32);
    assert!(m
        .golden
        .iter()
        .any(|g| g.features.iter().any(Option::is_none)));
    let o = &m.metrics.other;
    assert!(o["rmse"] < o["baseline_rmse"], "{o:?}");
    assert!(o["r2"] > 0.5 && o["mae"] > 0.0, "{o:?}");
    let report = ok(&["inspect", s(&out)]);
    assert!(
        report.contains("golden rows: 32/32 bit-identical"),
        "{report}"
    );
}

/// Parity through the CLI: every fixture model scores its rows exactly as LightGBM did.
#[test]
fn score_reproduces_lightgbm_fixture_outputs_exactly() {
    let dir = fixtures();
    let softmax = ok(&[
        "score",
        s(&dir.join("multiclass_softmax.txt")),
        "--input",
        s(&dir.join("multiclass_softmax.rows.csv")),
    ]);
    let expected = std::fs::read_to_string(dir.join("multiclass_softmax.expected.csv")).unwrap();
    assert_eq!(
        softmax.lines().collect::<Vec<_>>(),
        expected.lines().collect::<Vec<_>>()
    );
    assert_eq!(softmax.lines().next().unwrap().split(',').count(), 4);

    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        let Some(stem) = name.strip_suffix(".txt") else {
            continue;
        };
        if stem == "linear_tree" {
            // The native scorer refuses linear trees; say so, do not guess.
            let err = fails(&[
                "score",
                s(&path),
                "--input",
                s(&dir.join("linear_tree.rows.csv")),
            ]);
            assert!(err.contains("linear"), "{err}");
            continue;
        }
        let rows = dir.join(format!("{stem}.rows.csv"));
        if !rows.exists() {
            continue;
        }
        // Read from stdin this time.
        let mut child = Command::new(env!("CARGO_BIN_EXE_warmstart"))
            .args(["score", s(&path), "--input", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = std::fs::read(&rows).unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            stdin.write_all(&input).unwrap();
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(out.status.success(), "{stem}");
        let want = std::fs::read_to_string(dir.join(format!("{stem}.expected.csv"))).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{stem}");
        checked += 1;
    }
    assert!(checked >= 20, "{checked} fixtures");
}

#[test]
fn score_names_the_line_and_column_of_a_bad_token() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("bad.csv");
    std::fs::write(&input, "1,2,3,4,5,6,7,8,9,10\n\n1,2,oops,4,5,6,7,8,9,10\n").unwrap();
    let err = fails(&[
        "score",
        s(&fixtures().join("binary_nan.txt")),
        "--input",
        s(&input),
    ]);
    assert!(
        err.contains("line 3, column 3: `oops` is not a number"),
        "{err}"
    );
}

#[test]
fn help_explains_the_commands() {
    let help = ok(&["--help"]);
    for word in ["train", "inspect", "score"] {
        assert!(help.contains(word), "{help}");
    }
    let help = ok(&["train", "recommender", "--help"]);
    assert!(help.contains("--synthetic") && help.contains("--csv") && help.contains("--rollout"));
    // One data source, exactly.
    fails(&["train", "recommender", "--out", "/tmp/x"]);
    // Versions are S3 key segments; a bad one is refused before any training.
    let err = fails(&[
        "train",
        "recommender",
        "--synthetic",
        "10",
        "--version",
        "v1/../x",
        "--out",
        "/tmp/x",
    ]);
    assert!(err.contains("--version"), "{err}");
    let err = fails(&[
        "train",
        "recommender",
        "--synthetic",
        "10",
        "--rollout",
        "canary:0",
        "--out",
        "/tmp/x",
    ]);
    assert!(err.contains("canary"), "{err}");
}
