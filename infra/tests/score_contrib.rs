//! `warmstart score --contrib`: per row, every output's feature contributions and bias, equal
//! bit for bit (printed shortest round-trip) to LightGBM's `predict_contrib`, for a model file
//! and for the bundle `warmstart import` makes of it.

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};
use warmstart_cli::train::contrib_oracle::ContribOracle;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/models")
}

fn parse_output(stdout: &str) -> Vec<Vec<f64>> {
    stdout
        .lines()
        .map(|l| l.split(',').map(|t| t.parse().unwrap()).collect())
        .collect()
}

fn header(text: &str, key: &str) -> usize {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn contributions_match_lightgbm_for_models_and_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "multiclass_softmax",
        "categorical_multiclass",
        "binary_nan",
        "binary_zero_as_missing",
        "rf_regression",
        "single_leaf_mixed",
    ] {
        let model = fixtures().join(format!("{name}.txt"));
        let rows = fixtures().join(format!("{name}.rows.csv"));
        let text = std::fs::read_to_string(&model).unwrap();
        let nf = header(&text, "max_feature_idx=") + 1;
        let classes = header(&text, "num_class=");
        let flat: Vec<f64> = std::fs::read_to_string(&rows)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .flat_map(|l| {
                l.split(',')
                    .map(|t| t.trim().parse::<f64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        let want = ContribOracle::load(&text)
            .unwrap()
            .contrib(&flat, nf, classes);

        let from_model = ok(&["score", s(&model), "--input", s(&rows), "--contrib"]);
        let got = parse_output(&from_model);
        assert_eq!(got.len(), flat.len() / nf, "{name}: one line per row");
        for (r, line) in got.iter().enumerate() {
            let width = classes * (nf + 1);
            assert_eq!(line.len(), width, "{name}: row {r}");
            for (i, (g, w)) in line.iter().zip(&want[r * width..]).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{name}: row {r} value {i}: {g} vs {w}"
                );
            }
        }

        // A generic bundle of the model: outputs are its classes, so the layout is the same.
        let bundle = tmp.path().join(name.replace('_', "-"));
        ok(&[
            "import",
            s(&model),
            "--name",
            &name.replace('_', "-"),
            "--out",
            s(&bundle),
        ]);
        let from_bundle = ok(&["score", s(&bundle), "--input", s(&rows), "--contrib"]);
        assert_eq!(
            from_bundle, from_model,
            "{name}: bundle and model file agree"
        );
    }
}

/// `text` as LightGBM before v2 wrote it: without the node counts that explaining needs.
fn without_node_counts(text: &str) -> String {
    let counts = ["leaf_count=", "internal_count="];
    text.lines()
        .filter(|l| !counts.iter().any(|c| l.starts_with(c)))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn models_without_node_counts_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("binary_nan.txt")).unwrap();
    let model = tmp.path().join("old.txt");
    std::fs::write(&model, without_node_counts(&text)).unwrap();
    let rows = fixtures().join("binary_nan.rows.csv");
    // Still scores…
    ok(&["score", s(&model), "--input", s(&rows)]);
    // …but is not explained.
    let err = fails(&["score", s(&model), "--input", s(&rows), "--contrib"]);
    assert!(err.contains("node counts"), "{err}");
}
