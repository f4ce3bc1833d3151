//! `warmstart score --contrib`: per row, every output's feature contributions and bias, equal
//! bit for bit (printed shortest round-trip) to LightGBM's `predict_contrib`, for a model file
//! and for the bundle `warmstart import` makes of it.

mod common;

use common::{fails, ok, s};
use std::ffi::{c_void, CString};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/models")
}

/// LightGBM's contributions through the C API (lightgbm3's `predict_contrib` sizes its buffer
/// for one class only), divided by the iteration count for random forests as Warmstart's are.
fn lightgbm_contrib(text: &str, rows: &[f64], nf: usize, classes: usize) -> Vec<f64> {
    let c_text = CString::new(text).unwrap();
    let params = CString::new("num_threads=1").unwrap();
    let n = rows.len() / nf;
    let mut out = vec![0.0; n * classes * (nf + 1)];
    let (mut handle, mut iterations, mut len) = (std::ptr::null_mut(), 0, 0i64);
    // SAFETY: NUL-terminated strings, `rows` holds n × nf doubles, `out` is sized for every
    // class (checked against `len`), and the handle is freed once.
    unsafe {
        let rc = lightgbm3_sys::LGBM_BoosterLoadModelFromString(
            c_text.as_ptr(),
            &mut iterations,
            &mut handle,
        );
        assert_eq!(rc, 0);
        let rc = lightgbm3_sys::LGBM_BoosterPredictForMat(
            handle,
            rows.as_ptr() as *const c_void,
            lightgbm3_sys::C_API_DTYPE_FLOAT64 as i32,
            n as i32,
            nf as i32,
            1,
            lightgbm3_sys::C_API_PREDICT_CONTRIB as i32,
            0,
            -1,
            params.as_ptr(),
            &mut len,
            out.as_mut_ptr(),
        );
        assert_eq!(rc, 0);
        lightgbm3_sys::LGBM_BoosterFree(handle);
    }
    assert_eq!(len as usize, out.len());
    out
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
        let want = lightgbm_contrib(&text, &flat, nf, classes);

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

#[test]
fn models_without_node_counts_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("binary_nan.txt")).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.starts_with("leaf_count=") && !l.starts_with("internal_count="))
        .map(|l| format!("{l}\n"))
        .collect();
    let model = tmp.path().join("old.txt");
    std::fs::write(&model, stripped).unwrap();
    let rows = fixtures().join("binary_nan.rows.csv");
    // Still scores…
    ok(&["score", s(&model), "--input", s(&rows)]);
    // …but is not explained.
    let err = fails(&["score", s(&model), "--input", s(&rows), "--contrib"]);
    assert!(err.contains("node counts"), "{err}");
}
