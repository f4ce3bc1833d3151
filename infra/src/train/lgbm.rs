//! Training with LightGBM (lightgbm3, offline only) and the parity check against the native
//! scorer that serves the models.

use anyhow::{bail, Context, Result};
use lightgbm3::{Booster, Dataset};
use serde_json::{json, Value};
use warmstart_core::Model;

/// LightGBM settings the CLI exposes; everything else is fixed for reproducibility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub objective: &'static str,
    pub trees: u32,
    pub leaves: u32,
    pub learning_rate: f64,
    pub min_data_in_leaf: u32,
    pub seed: u64,
}

impl Params {
    /// The LightGBM parameter object (also recorded in the manifest's `training.params`).
    pub fn to_json(&self) -> Value {
        json!({
            "objective": self.objective,
            "num_iterations": self.trees,
            "num_leaves": self.leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": 0.9,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": true,
            // Skips LightGBM's timing-based row/col-wise choice (same trees, less noise).
            "force_row_wise": true,
            "num_threads": 2,
            "verbose": -1,
        })
    }
}

/// `min_data_in_leaf` for `n` training rows: LightGBM's 20, lower for tiny data so that a
/// 60-row file still gets some splits (LightGBM falls back to a constant model when none is
/// possible).
pub fn min_data_in_leaf(n: usize) -> u32 {
    (n / 10).clamp(1, 20) as u32
}

/// Trains one model on row-major `rows` (`names.len()` wide) and returns the booster with its
/// saved text. Feature names go into the dataset so the model text carries them.
pub fn train(rows: &[f64], labels: &[f32], names: &[String], params: &Value) -> Result<Booster> {
    if labels.is_empty() {
        bail!("no training rows");
    }
    let nf = i32::try_from(names.len()).context("too many features")?;
    let mut ds = Dataset::from_slice(rows, labels, nf, true).context("building the dataset")?;
    ds.set_feature_names(names)
        .context("setting feature names")?;
    Booster::train(ds, params).context("training")
}

/// Saves a booster as model text.
pub fn model_text(booster: &Booster) -> Result<String> {
    booster.save_string().context("saving the model")
}

/// Fails unless LightGBM and the native scorer give bit-identical outputs on `rows`.
pub fn check_parity(booster: &Booster, native: &Model, rows: &[f64], what: &str) -> Result<()> {
    let nf = native.num_features();
    let n = rows.len() / nf;
    let k = native.num_outputs();
    let want = booster
        .predict(rows, nf as i32, true)
        .with_context(|| format!("{what}: LightGBM prediction"))?;
    let mut got = vec![0.0; n * k];
    native.predict_batch_into(rows, &mut got)?;
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if w.to_bits() != g.to_bits() && !(w.is_nan() && g.is_nan()) {
            bail!(
                "{what}: row {} output {}: LightGBM {w:?}, native scorer {g:?}; the native \
                 scorer would not serve what was trained",
                i / k,
                i % k
            );
        }
    }
    if want.len() != got.len() {
        bail!(
            "{what}: LightGBM gave {} outputs, native {}",
            want.len(),
            got.len()
        );
    }
    Ok(())
}
