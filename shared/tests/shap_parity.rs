//! Feature contributions must equal LightGBM's `predict_contrib` (C API,
//! `C_API_PREDICT_CONTRIB`) on every fixture the scorer serves, bit for bit where LightGBM's
//! arithmetic allows it, and add up to the raw score. Random forests included: as in LightGBM,
//! their contributions are not divided by the iteration count (lightgbm-org/LightGBM#6217) and
//! add up to the raw score, which for them is a sum.

use proptest::prelude::*;
use warmstart_core::model::compiled::{self, Entry};
use warmstart_core::model::ShapScratch;
use warmstart_core::{Model, ModelError};

mod common;
use common::{fixtures, interesting_values, same, MODELS};

// The one copy of the C API oracle lives with the CLI (see its header for why by path).
#[path = "../../infra/src/train/contrib_oracle.rs"]
mod contrib_oracle;
use contrib_oracle::ContribOracle as Oracle;

struct Pair {
    name: &'static str,
    text: String,
    native: Model,
    oracle: Oracle,
}

fn load(name: &'static str) -> Pair {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.txt"))).unwrap();
    let native = Model::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let oracle = Oracle::load(&text).expect("LightGBM loads the fixture");
    Pair {
        name,
        text,
        native,
        oracle,
    }
}

/// How far one fixture's contributions are from LightGBM's.
#[derive(Debug, Default)]
struct Diff {
    values: usize,
    identical: usize,
    max_abs: f64,
    max_rel: f64,
    /// Largest |sum of contributions - raw score|, relative to the contributions' magnitude.
    max_sum_err: f64,
}

/// Relative difference, absolute near zero (LightGBM's values are O(1) sums of leaf values).
fn tolerance_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want.abs().max(1.0)
}

/// Explains `rows` natively (text-parsed and compiled models) and through LightGBM; checks
/// every value is LightGBM's bit for bit and every row's sum is the raw score within 1e-12.
fn compare(
    p: &Pair,
    compiled: &Model,
    rows: &[Vec<f64>],
    diff: &mut Diff,
) -> Result<(), TestCaseError> {
    let nf = p.native.num_features();
    let k = p.native.num_outputs();
    let width = k * (nf + 1);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let oracle = p.oracle.contrib(&flat, nf, k);
    let mut scratch = ShapScratch::new();
    let mut ours = vec![0.0; width];
    let mut again = vec![0.0; width];
    let mut raw = vec![0.0; k];
    for (r, row) in rows.iter().enumerate() {
        p.native.contrib_into(row, &mut ours, &mut scratch).unwrap();
        compiled
            .contrib_into(row, &mut again, &mut scratch)
            .unwrap();
        for (i, (a, b)) in ours.iter().zip(&again).enumerate() {
            prop_assert!(
                same(*a, *b),
                "{}: compiled model differs at {i}: {a:?} vs {b:?}",
                p.name
            );
        }
        let want = &oracle[r * width..(r + 1) * width];
        for (i, (g, w)) in ours.iter().zip(want).enumerate() {
            diff.values += 1;
            if same(*g, *w) {
                diff.identical += 1;
                continue;
            }
            let err = tolerance_err(*g, *w);
            diff.max_abs = diff.max_abs.max((g - w).abs());
            diff.max_rel = diff.max_rel.max((g - w).abs() / w.abs());
            // The brief's bound is 1e-12; every fixture is bit-identical today, so hold that.
            prop_assert!(
                err <= 1e-12 && same(*g, *w),
                "{}: row {r} class {} slot {}: native {g:?}, LightGBM {w:?}; row = {row:?}",
                p.name,
                i / (nf + 1),
                i % (nf + 1)
            );
        }
        p.native.predict_raw_into(row, &mut raw).unwrap();
        for (c, block) in ours.chunks_exact(nf + 1).enumerate() {
            let sum: f64 = block.iter().sum();
            let scale: f64 = block.iter().map(|v| v.abs()).sum::<f64>().max(1.0);
            let err = (sum - raw[c]).abs() / scale;
            diff.max_sum_err = diff.max_sum_err.max(err);
            prop_assert!(
                err <= 1e-12,
                "{}: row {r} class {c}: contributions sum to {sum:?}, raw score {:?}",
                p.name,
                raw[c]
            );
        }
    }
    Ok(())
}

fn compile(model: &Model) -> Model {
    let file = compiled::write(&[Entry {
        path: "m.txt",
        source_sha256: [0; 32],
        model,
    }]);
    compiled::load(&file).unwrap().remove(0).model
}

fn read_rows(name: &str) -> Vec<Vec<f64>> {
    std::fs::read_to_string(fixtures().join(format!("{name}.rows.csv")))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|t| t.trim().parse().unwrap()).collect())
        .collect()
}

/// The fixture rows of every model, with a per-fixture report of how close LightGBM is
/// (`cargo test --test shap_parity -- --nocapture` prints it).
#[test]
fn fixture_rows_match_lightgbm_contrib() {
    for &name in MODELS {
        let p = load(name);
        assert!(p.native.can_explain(), "{name}");
        let compiled = compile(&p.native);
        assert!(compiled.can_explain(), "{name}");
        let mut diff = Diff::default();
        compare(&p, &compiled, &read_rows(name), &mut diff).unwrap();
        println!(
            "{name:24} {:6}/{:6} bit-identical  max abs {:.3e}  max rel {:.3e}  sum err {:.3e}",
            diff.identical, diff.values, diff.max_abs, diff.max_rel, diff.max_sum_err
        );
    }
}

fn rows_strategy(nf: usize, values: Vec<f64>) -> impl Strategy<Value = Vec<Vec<f64>>> {
    let cell = prop_oneof![
        3 => proptest::sample::select(values),
        1 => proptest::num::f64::ANY,
        1 => -1e6f64..1e6,
    ];
    proptest::collection::vec(proptest::collection::vec(cell, nf), 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random rows (NaN, ±inf, zeros, tiny, huge, thresholds ± 1 ulp, unseen / negative /
    /// fractional / huge categories) for every fixture model.
    #[test]
    fn random_rows_match_lightgbm_contrib(
        model in proptest::sample::select(MODELS),
        seed in any::<u64>(),
    ) {
        let p = load(model);
        let compiled = compile(&p.native);
        let strategy = rows_strategy(p.native.num_features(), interesting_values(&p.text));
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() },
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
            .run(&strategy, |rows| compare(&p, &compiled, &rows, &mut Diff::default()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

/// Text written before LightGBM v2 has no node counts: the model predicts, explaining it is
/// refused with a clear error, and the compiled form carries that through.
#[test]
fn models_without_counts_predict_but_refuse_to_explain() {
    let text = std::fs::read_to_string(fixtures().join("binary_nan.txt")).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.starts_with("leaf_count=") && !l.starts_with("internal_count="))
        .map(|l| format!("{l}\n"))
        .collect();
    let full = Model::parse(&text).unwrap();
    let bare = Model::parse(&stripped).unwrap();
    let row = vec![0.5; bare.num_features()];
    assert_eq!(bare.predict(&row).unwrap(), full.predict(&row).unwrap());
    let mut out = vec![0.0; bare.contrib_len()];
    for m in [&bare, &compile(&bare)] {
        assert!(!m.can_explain());
        assert_eq!(
            m.contrib_into(&row, &mut out, &mut ShapScratch::new()),
            Err(ModelError::NoCover)
        );
    }
}

#[test]
fn wrong_buffer_sizes_are_errors() {
    let m = load("multiclass_softmax").native;
    let mut s = ShapScratch::new();
    let row = vec![0.0; m.num_features()];
    let mut out = vec![0.0; m.contrib_len() - 1];
    assert!(matches!(
        m.contrib_into(&row, &mut out, &mut s),
        Err(ModelError::OutputCount { .. })
    ));
    let mut out = vec![0.0; m.contrib_len()];
    assert!(matches!(
        m.contrib_into(&row[1..], &mut out, &mut s),
        Err(ModelError::FeatureCount { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Hostile counts (zero, negative, huge) give odd numbers, as in LightGBM, never a panic.
    #[test]
    fn mutated_counts_never_panic(
        model in proptest::sample::select(&["binary_nan", "categorical_multiclass", "rf_binary"][..]),
        edits in proptest::collection::vec((0.0f64..1.0, prop_oneof![
            Just("0"), Just("-1"), Just("2147483647"), Just("-2147483648"), Just("1")
        ]), 1..6),
    ) {
        let text = std::fs::read_to_string(fixtures().join(format!("{model}.txt"))).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let counted: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].starts_with("leaf_count=") || lines[i].starts_with("internal_count="))
            .collect();
        for (at, with) in edits {
            let i = counted[((counted.len() as f64) * at) as usize];
            let (key, values) = lines[i].split_once('=').unwrap();
            let mut values: Vec<&str> = values.split(' ').collect();
            let j = ((values.len() as f64) * at.fract() * 7.0) as usize % values.len();
            values[j] = with;
            lines[i] = format!("{key}={}", values.join(" "));
        }
        let m = Model::parse(&(lines.join("\n") + "\n")).unwrap();
        let mut out = vec![0.0; m.contrib_len()];
        let mut s = ShapScratch::new();
        for v in [f64::NAN, 0.0, 1.0, -1.0, 1e300, 37.0] {
            m.contrib_into(&vec![v; m.num_features()], &mut out, &mut s).unwrap();
        }
    }
}

/// A chain tree deeper than the explainer accepts: predicted, refused for explanation.
#[test]
fn trees_too_deep_to_explain_are_refused_with_their_depth() {
    let internal = 1025;
    let ids = |f: &dyn Fn(usize) -> String| (0..internal).map(f).collect::<Vec<_>>().join(" ");
    let text = format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
         max_feature_idx=0\nobjective=regression\nfeature_names=x\nfeature_infos=[0:1]\n\
         tree_sizes=1\n\nTree=0\nnum_leaves={}\nnum_cat=0\nsplit_feature={}\nthreshold={}\n\
         decision_type={}\nleft_child={}\nright_child={}\nleaf_value={}\nleaf_count={}\n\
         internal_count={}\nshrinkage=1\n\n\nend of trees\n",
        internal + 1,
        ids(&|_| "0".into()),
        ids(&|i| i.to_string()),
        ids(&|_| "2".into()),
        ids(&|i| (-(i as i64) - 1).to_string()),
        ids(&|i| if i + 1 < internal {
            (i + 1).to_string()
        } else {
            (-(i as i64) - 2).to_string()
        }),
        (0..=internal)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        (0..=internal)
            .map(|_| "1".to_string())
            .collect::<Vec<_>>()
            .join(" "),
        ids(&|i| (internal + 1 - i).to_string()),
    );
    let m = Model::parse(&text).unwrap();
    assert_eq!(m.predict(&[2.5]).unwrap(), vec![3.0]);
    assert!(!m.can_explain());
    let mut out = vec![0.0; m.contrib_len()];
    assert_eq!(
        m.contrib_into(&[2.5], &mut out, &mut ShapScratch::new()),
        Err(ModelError::TooDeepToExplain {
            depth: 1025,
            max: 1024
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Damaged compiled payloads (re-framed so the checksum passes) load or are refused; a
    /// model that loads explains without panicking.
    #[test]
    fn damaged_compiled_files_explain_or_refuse(
        model in proptest::sample::select(&["binary_nan", "categorical_multiclass", "single_leaf_mixed"][..]),
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..4),
        from_end in any::<bool>(),
    ) {
        let text = std::fs::read_to_string(fixtures().join(format!("{model}.txt"))).unwrap();
        let file = compiled::write(&[Entry { path: model, source_sha256: [0; 32], model: &Model::parse(&text).unwrap() }]);
        let mut payload = file[56..].to_vec();
        for (at, byte) in edits {
            // Half the cases hit the explanation data, which ends the payload.
            let span = if from_end { payload.len().min(4096) } else { payload.len() };
            let i = payload.len() - 1 - ((span as f64 * at) as usize).min(span - 1);
            payload[i] = byte;
        }
        if let Ok(models) = compiled::load(&compiled::frame(&payload)) {
            for m in models.into_iter().map(|c| c.model).filter(|m| m.can_explain()) {
                let mut out = vec![0.0; m.contrib_len()];
                let mut s = ShapScratch::new();
                for v in [f64::NAN, 0.0, 1.0, -1.0, 1e300, 37.0] {
                    m.contrib_into(&vec![v; m.num_features()], &mut out, &mut s).unwrap();
                }
            }
        }
    }
}
