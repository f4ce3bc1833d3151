//! Helpers the model integration tests share (each test file includes this module).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The fixture models: this module is also included by tests of other packages
/// (`functions/predict`), so the path is found from either package's directory.
pub fn fixtures() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = here.join("tests/fixtures/models");
    if own.is_dir() {
        own
    } else {
        here.join("../../shared/tests/fixtures/models")
    }
}

/// Every fixture the scorer must reproduce (linear_tree is the one it must refuse).
pub const MODELS: &[&str] = &[
    "binary_nan",
    "binary_zero_as_missing",
    "binary_no_missing",
    "binary_sigmoid07",
    "regression_l2",
    "regression_l1",
    "regression_huber",
    "regression_quantile",
    "regression_sqrt",
    "regression_poisson",
    "regression_gamma",
    "regression_tweedie",
    "cross_entropy",
    "multiclass_softmax",
    "multiclass_ova",
    "rf_binary",
    "rf_regression",
    "categorical_binary",
    "categorical_multiclass",
    "categorical_regression",
    "single_leaf",
    "single_leaf_mixed",
    "many_features",
    "deep_tree",
];

/// Every fixture model except linear_tree, which the scorer refuses.
pub fn model_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".txt").map(str::to_string)
        })
        .filter(|n| n != "linear_tree")
        .collect();
    names.sort();
    names
}

/// Equal bit for bit, or both NaN.
pub fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Values a split can turn on: every threshold in the model, one ulp either side, and the
/// edge cases LightGBM treats specially.
pub fn interesting_values(text: &str) -> Vec<f64> {
    let mut v = vec![
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e-40,
        -1e-40,
        1e-35,
        1.000_000_018_002_509_5e-35,
        -1.000_000_018_002_509_5e-35,
        2e-35,
        5e-324,
        1e300,
        -1e300,
        1e12,
        -1.0,
        -0.5,
        0.99,
        2.5,
        1000.0,
        3e9,
        4_294_967_301.0,
        f64::MAX,
        f64::MIN,
    ];
    v.extend((0..70).map(f64::from));
    for line in text.lines().filter(|l| l.starts_with("threshold=")) {
        for t in line["threshold=".len()..]
            .split(' ')
            .filter_map(|t| t.parse::<f64>().ok())
        {
            v.extend([t, t.next_up(), t.next_down()]);
        }
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup_by(|a, b| a.to_bits() == b.to_bits());
    v
}
