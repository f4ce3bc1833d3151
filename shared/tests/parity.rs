//! The native scorer must equal LightGBM bit for bit (`f64::to_bits`), not approximately.
//! Oracle: lightgbm3 (LightGBM's C API) loading the very same model text. Fixtures were made by
//! Python LightGBM (`infra/fixtures/make_fixture_models.py`) because lightgbm3 cannot declare
//! categorical features when training.

use lightgbm3::Booster;
use proptest::prelude::*;
use std::path::Path;
use warmstart_core::{Model, ModelError};

mod common;
use common::{fixtures, interesting_values, same, MODELS};

struct Pair {
    name: &'static str,
    text: String,
    /// As loaded: every tree walked.
    native: Model,
    /// The same model with its scan prepared (the same as `native` when it gains none).
    scanned: Model,
    oracle: Booster,
}

fn load(name: &'static str) -> Pair {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.txt"))).unwrap();
    let native = Model::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let oracle = Booster::from_string(&text).unwrap();
    let scanned = native.clone();
    scanned.prepare_scan();
    Pair {
        name,
        text,
        native,
        scanned,
        oracle,
    }
}

fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|t| t.trim().parse::<f64>().unwrap())
                .collect()
        })
        .collect()
}

/// Compares native batch, native single-row and LightGBM (batch and single-row C API paths).
fn assert_parity(p: &Pair, rows: &[Vec<f64>]) -> Result<(), TestCaseError> {
    let nf = p.native.num_features();
    let k = p.native.num_outputs();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let oracle = p
        .oracle
        .predict_with_params(&flat, nf as i32, true, "num_threads=1")
        .unwrap();
    for (how, native) in [("walked", &p.native), ("scanned", &p.scanned)] {
        let mut batch = vec![0.0; rows.len() * k];
        native.predict_batch_into(&flat, &mut batch).unwrap();
        let mut single = vec![0.0; k];
        for (r, row) in rows.iter().enumerate() {
            native.predict_into(row, &mut single).unwrap();
            for c in 0..k {
                let want = oracle[r * k + c];
                prop_assert!(
                    same(single[c], want) && same(batch[r * k + c], want),
                    "{} ({how}): row {r} class {c}: native {:?} / batch {:?}, LightGBM {:?}; \
                     row = {:?}",
                    p.name,
                    single[c],
                    batch[r * k + c],
                    want,
                    row
                );
            }
        }
    }
    Ok(())
}

/// The scan must actually serve the models it is for, or the parity above proves nothing
/// about it: every fixture with categorical splits (all of them within 32 leaves) scans.
#[test]
fn models_with_categorical_splits_scan_and_numerical_ones_walk() {
    for &name in MODELS {
        let text = std::fs::read_to_string(fixtures().join(format!("{name}.txt"))).unwrap();
        let model = Model::parse(&text).unwrap();
        let categorical = model.categorical_features().iter().any(|&c| c);
        assert_eq!(model.prepare_scan(), categorical, "{name}");
    }
}

#[test]
fn fixture_rows_match_lightgbm_c_api_and_python() {
    for &name in MODELS {
        let p = load(name);
        let rows = read_csv(&fixtures().join(format!("{name}.rows.csv")));
        assert_parity(&p, &rows).unwrap();
        // The single-row C entry point (`LGBM_BoosterPredictForMatSingleRow`) too.
        for row in rows.iter().take(20) {
            let one = p
                .oracle
                .predict_with_params(row, row.len() as i32, true, "num_threads=1")
                .unwrap();
            let ours = p.native.predict(row).unwrap();
            for (a, b) in ours.iter().zip(&one) {
                assert!(same(*a, *b), "{name}: single-row {a:?} vs {b:?}");
            }
        }
        // Python's predictions are a second, independent oracle.
        let expected = read_csv(&fixtures().join(format!("{name}.expected.csv")));
        assert_eq!(expected.len(), rows.len(), "{name}");
        for (r, (row, want)) in rows.iter().zip(&expected).enumerate() {
            for native in [&p.native, &p.scanned] {
                let got = native.predict(row).unwrap();
                for (c, (g, w)) in got.iter().zip(want).enumerate() {
                    assert!(
                        same(*g, *w),
                        "{name}: row {r} class {c}: {g:?} vs python {w:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn linear_tree_models_are_refused() {
    let text = std::fs::read_to_string(fixtures().join("linear_tree.txt")).unwrap();
    assert_eq!(Model::parse(&text).unwrap_err(), ModelError::LinearTree);
}

fn rows_strategy(nf: usize, values: Vec<f64>) -> impl Strategy<Value = Vec<Vec<f64>>> {
    let cell = prop_oneof![
        3 => proptest::sample::select(values),
        1 => proptest::num::f64::ANY,
        1 => -1e6f64..1e6,
    ];
    proptest::collection::vec(proptest::collection::vec(cell, nf), 1..48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random rows (NaN, ±inf, zeros, tiny, huge, thresholds ± 1 ulp, unseen / negative /
    /// fractional / huge categories) score bit-identically for every fixture model.
    #[test]
    fn random_rows_match_lightgbm_bit_for_bit(model in proptest::sample::select(MODELS), seed in any::<u64>()) {
        let p = load(model);
        let values = interesting_values(&p.text);
        let strategy = rows_strategy(p.native.num_features(), values);
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            ProptestConfig { cases: 8, failure_persistence: None, ..ProptestConfig::default() },
            proptest::test_runner::TestRng::from_seed(
                proptest::test_runner::RngAlgorithm::ChaCha,
                &{
                    let mut s = [0u8; 32];
                    s[..8].copy_from_slice(&seed.to_le_bytes());
                    s
                },
            ),
        );
        runner
            .run(&strategy, |rows| assert_parity(&p, &rows))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Hostile model text never panics or hangs: truncations, digit swaps and huge numbers
    /// either fail to load or load into a model that predicts without panicking.
    #[test]
    fn mutated_models_never_panic(
        model in proptest::sample::select(&["binary_nan", "categorical_multiclass", "single_leaf_mixed", "rf_binary"][..]),
        cut in 0.0f64..1.0,
        edits in proptest::collection::vec((0.0f64..1.0, prop_oneof![
            Just("-1"), Just("0"), Just("99999999999999999999"), Just("4294967295"),
            Just("2147483647"), Just("-2147483648"), Just("nan"), Just("1e308"), Just(""),
            Just(" "), Just("="), Just("\n"), Just("Tree=0"), Just("end of trees")
        ]), 0..4),
        truncate in any::<bool>(),
    ) {
        let text = std::fs::read_to_string(fixtures().join(format!("{model}.txt"))).unwrap();
        let mut text = text.into_bytes();
        for (at, with) in edits {
            let pos = ((text.len() as f64) * at) as usize;
            let end = (pos + 3).min(text.len());
            text.splice(pos..end, with.bytes());
        }
        if truncate {
            text.truncate(((text.len() as f64) * cut) as usize);
        }
        if let Ok(m) = Model::parse_bytes(&text) {
            let nf = m.num_features();
            let scanned = m.clone();
            scanned.prepare_scan();
            for v in [f64::NAN, 0.0, 1.0, -1.0, 1e300, 37.0] {
                let row = vec![v; nf];
                assert_eq!(
                    m.predict(&row).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    scanned.predict(&row).unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }
}

/// `predict_raw_into` is LightGBM's `raw_score`: for random forests the plain sum of the trees
/// (`GBDT::PredictRaw`), not the average `predict` converts. A raw path that averaged passed
/// every transformed-output test; this is the test that caught it.
#[test]
fn raw_scores_match_lightgbm_including_random_forests() {
    for &name in MODELS {
        let p = load(name);
        let rows = read_csv(&fixtures().join(format!("{name}.rows.csv")));
        let nf = p.native.num_features();
        let k = p.native.num_outputs();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let want = p.oracle.raw_scores(&flat, nf as i32, true).unwrap();
        let mut got = vec![0.0; k];
        for (r, row) in rows.iter().enumerate() {
            p.scanned.predict_raw_into(row, &mut got).unwrap();
            for c in 0..k {
                assert!(
                    same(got[c], want[r * k + c]),
                    "{name}: row {r} class {c}: raw {} vs LightGBM {}",
                    got[c],
                    want[r * k + c]
                );
            }
        }
    }
}
