//! Training through LightGBM's C API directly. LightGBM decides which features are categorical
//! when it bins the dataset (`categorical_feature` given to the booster afterwards is ignored),
//! and lightgbm3's `Dataset` passes no parameters at that moment, so a model with categorical
//! splits needs its dataset built here. Owning the boosting loop also lets the caller report
//! progress per tree.

use anyhow::{bail, Context, Result};
use lightgbm3_sys as sys;
use serde_json::Value;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};

fn check(rc: c_int, what: &str) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: LightGBM returns a pointer to its thread-local, NUL-terminated last error.
    let msg = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }
        .to_string_lossy()
        .into_owned();
    bail!("LightGBM {what}: {msg}")
}

struct DatasetHandle(sys::DatasetHandle);

impl Drop for DatasetHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_DatasetCreateFromMat and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.0) };
    }
}

struct BoosterHandle(sys::BoosterHandle);

impl Drop for BoosterHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterCreate and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.0) };
    }
}

/// LightGBM's `key=value …` parameter string of a JSON object; strings go unquoted.
pub fn param_string(params: &Value) -> String {
    params
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Trains on row-major `rows` (`names.len()` wide) with the features at `categorical`
/// declared categorical, calls `on_tree` after every boosting round and returns the saved
/// model text. `params` must hold `num_iterations`.
pub fn train_text(
    rows: &[f64],
    labels: &[f32],
    names: &[String],
    categorical: &[usize],
    params: &Value,
    mut on_tree: impl FnMut(),
) -> Result<String> {
    let nf = names.len();
    if labels.is_empty() || nf == 0 || rows.len() != labels.len() * nf {
        bail!(
            "{} values do not make {} rows of {nf} features",
            rows.len(),
            labels.len()
        );
    }
    let n = i32::try_from(labels.len()).context("too many rows")?;
    let ncol = i32::try_from(nf).context("too many features")?;
    let mut all = param_string(params);
    if !categorical.is_empty() {
        let list: Vec<String> = categorical.iter().map(usize::to_string).collect();
        all.push_str(&format!(" categorical_feature={}", list.join(",")));
    }
    let all = CString::new(all).context("parameters contain a NUL byte")?;
    let mut ds = DatasetHandle(std::ptr::null_mut());
    // SAFETY: `rows` holds n * ncol f64 values in row-major order; LightGBM copies them.
    check(
        unsafe {
            sys::LGBM_DatasetCreateFromMat(
                rows.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT64 as c_int,
                n,
                ncol,
                1,
                all.as_ptr(),
                std::ptr::null_mut(),
                &mut ds.0,
            )
        },
        "building the dataset",
    )?;
    let label = CString::new("label").expect("no NUL");
    // SAFETY: `labels` holds n f32 values; LightGBM copies them.
    check(
        unsafe {
            sys::LGBM_DatasetSetField(
                ds.0,
                label.as_ptr(),
                labels.as_ptr() as *const c_void,
                n,
                sys::C_API_DTYPE_FLOAT32 as c_int,
            )
        },
        "setting labels",
    )?;
    let cnames: Vec<CString> = names
        .iter()
        .map(|s| CString::new(s.as_str()).context("feature name contains a NUL byte"))
        .collect::<Result<_>>()?;
    let mut ptrs: Vec<*const c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
    // SAFETY: `ptrs` points at nf NUL-terminated names that outlive the call.
    check(
        unsafe { sys::LGBM_DatasetSetFeatureNames(ds.0, ptrs.as_mut_ptr(), ncol) },
        "setting feature names",
    )?;
    let mut booster = BoosterHandle(std::ptr::null_mut());
    // SAFETY: the dataset outlives the booster (dropped after it, declared before it).
    check(
        unsafe { sys::LGBM_BoosterCreate(ds.0, all.as_ptr(), &mut booster.0) },
        "creating the booster",
    )?;
    let rounds = params["num_iterations"].as_u64().unwrap_or(100);
    for _ in 0..rounds {
        let mut finished: c_int = 0;
        // SAFETY: a live booster handle and a valid out pointer.
        check(
            unsafe { sys::LGBM_BoosterUpdateOneIter(booster.0, &mut finished) },
            "training",
        )?;
        on_tree();
        if finished != 0 {
            break;
        }
    }
    save_string(&booster)
}

fn save_string(booster: &BoosterHandle) -> Result<String> {
    let mut len: i64 = 0;
    let mut buf: Vec<u8> = vec![0; 1 << 16];
    loop {
        // SAFETY: `buf` has `buf.len()` writable bytes; LightGBM writes at most that many and
        // reports the size it needs in `len`.
        check(
            unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    booster.0,
                    0,
                    -1,
                    0,
                    buf.len() as i64,
                    &mut len,
                    buf.as_mut_ptr() as *mut c_char,
                )
            },
            "saving the model",
        )?;
        if (len as usize) <= buf.len() {
            break;
        }
        buf = vec![0; len as usize];
    }
    buf.truncate((len as usize).saturating_sub(1)); // drop the NUL terminator
    String::from_utf8(buf).context("the saved model is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warmstart_core::Model;

    #[test]
    fn declared_categorical_features_get_categorical_splits() {
        // y depends on whether the category is in {1, 4}: only a categorical split (or many
        // numerical ones) separates it.
        let n = 400;
        let rows: Vec<f64> = (0..n)
            .flat_map(|i| [(i % 7) as f64, (i % 13) as f64 / 13.0])
            .collect();
        let labels: Vec<f32> = (0..n)
            .map(|i| if matches!(i % 7, 1 | 4) { 1.0 } else { 0.0 })
            .collect();
        let names = vec!["shop".to_string(), "noise".to_string()];
        let params = json!({"objective": "binary", "num_iterations": 5, "verbose": -1,
                            "min_data_in_leaf": 5, "num_threads": 1});
        let mut trees = 0;
        let text = train_text(&rows, &labels, &names, &[0], &params, || trees += 1).unwrap();
        assert_eq!(trees, 5);
        let model = Model::parse(&text).unwrap();
        assert_eq!(model.categorical_features(), &[true, false]);
        assert_eq!(model.feature_names(), &names[..]);
        assert!(text.contains("cat_threshold="), "no categorical split");
        let plain = train_text(&rows, &labels, &names, &[], &params, || {}).unwrap();
        assert_eq!(
            Model::parse(&plain).unwrap().categorical_features(),
            &[false, false]
        );
    }

    #[test]
    fn strings_are_unquoted_in_the_parameter_string() {
        let s = param_string(&json!({"objective": "binary", "num_leaves": 7}));
        assert_eq!(s, "num_leaves=7 objective=binary");
    }
}
