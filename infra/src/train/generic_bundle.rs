//! Writing a `generic` bundle: one LightGBM text model at [`MODEL_PATH`], the features in the
//! model's order (with category strings where known), one output per class, and golden rows
//! whose expected outputs come from LightGBM itself (lightgbm3 on the very same text), so the
//! reload check `verify_golden` compares the native scorer with LightGBM, not with itself.
//! Shared by `warmstart import` and `warmstart train generic`.

use crate::train::bundle_out::{self, OutArgs};
use crate::train::lgbm;
use anyhow::{bail, Context, Result};
use lightgbm3::Booster;
use std::collections::BTreeMap;
use warmstart_core::bundle::{
    Feature, GoldenRow, Manifest, Metrics, ModelKind, Output, MANIFEST_FORMAT,
};
use warmstart_core::{Bundle, Model};

pub const MODEL_PATH: &str = "models/model.txt";
/// Output code of a single-output model.
pub const PREDICTION: &str = "prediction";

/// Everything a generic bundle holds besides what the model text says.
pub struct GenericBundle<'a> {
    pub name: &'a str,
    /// LightGBM model text (`save_model` output).
    pub text: &'a str,
    /// Per model feature: the category of each code, or empty (the codes are the data).
    pub categories: Vec<Vec<String>>,
    /// Per class of a multiclass model: its label, when known.
    pub class_names: Vec<String>,
    /// Golden input rows in the model's feature order (NaN = missing); at least
    /// `MIN_GOLDEN_ROWS`.
    pub golden_rows: Vec<Vec<f64>>,
    pub metrics: Metrics,
    pub training: BTreeMap<String, serde_json::Value>,
}

/// A header line's value (`key=value` before the first tree), e.g. `objective`, `version`.
pub fn header<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines()
        .take_while(|l| !l.starts_with("Tree="))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
}

/// The objective's name without its arguments, e.g. `binary` for `binary sigmoid:1`.
pub fn objective_name(text: &str) -> String {
    header(text, "objective")
        .and_then(|o| o.split_whitespace().next())
        .unwrap_or("prediction")
        .to_string()
}

/// The manifest outputs of `model`: one `prediction` output, or one per class.
pub fn outputs(model: &Model, objective: &str, class_names: &[String]) -> Vec<Output> {
    if model.num_outputs() == 1 {
        return vec![Output {
            code: PREDICTION.into(),
            name: objective.into(),
            model: MODEL_PATH.into(),
            class: 0,
        }];
    }
    (0..model.num_outputs())
        .map(|i| Output {
            code: format!("class_{i}"),
            name: class_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("class_{i}")),
            model: MODEL_PATH.into(),
            class: i,
        })
        .collect()
}

/// Scores the golden rows with LightGBM (and checks the native scorer agrees bit for bit),
/// builds the manifest, writes the bundle to `out.out` (versioned and with the rollout `out`
/// gives) and reloads it. Returns the loaded bundle.
pub fn write(out: &OutArgs, spec: GenericBundle<'_>) -> Result<Bundle> {
    let model = Model::parse(spec.text).context("the native scorer cannot serve this model")?;
    let nf = model.num_features();
    if spec.categories.len() != nf {
        bail!("{} category lists for {nf} features", spec.categories.len());
    }
    let flat: Vec<f64> = spec.golden_rows.concat();
    if flat.len() != spec.golden_rows.len() * nf {
        bail!("golden rows must have {nf} values each");
    }
    let booster = Booster::from_string(spec.text).context("LightGBM cannot load the model")?;
    lgbm::check_parity(&booster, &model, &flat, MODEL_PATH)?;
    let k = model.num_outputs();
    let expected = booster
        .predict(&flat, nf as i32, true)
        .context("LightGBM scoring the golden rows")?;
    let golden = spec
        .golden_rows
        .iter()
        .zip(expected.chunks_exact(k))
        .map(|(row, e)| GoldenRow {
            features: row.iter().map(|&x| (!x.is_nan()).then_some(x)).collect(),
            expected: e.to_vec(),
        })
        .collect();
    let features = model
        .feature_names()
        .iter()
        .zip(model.categorical_features())
        .zip(spec.categories)
        .map(|((name, &categorical), categories)| Feature {
            name: name.clone(),
            categorical,
            categories,
        })
        .collect();
    let files = vec![(MODEL_PATH.to_string(), spec.text.as_bytes().to_vec())];
    let (created_at, stamp) = bundle_out::now();
    let version =
        (out.version.clone()).unwrap_or_else(|| bundle_out::default_version(&stamp, &files));
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: spec.name.to_string(),
        version,
        kind: ModelKind::Generic,
        created_at,
        features,
        outputs: outputs(&model, &objective_name(spec.text), &spec.class_names),
        files: vec![],
        metrics: spec.metrics,
        base_rates: vec![],
        golden,
        rollout: out.rollout,
        training: spec.training,
    };
    bundle_out::write_and_verify(&out.out, manifest, &files)
}

/// Deterministic golden-row sampling: `take` rows spread evenly over `n` (repeating when
/// `n < take`).
pub fn spread(n: usize, take: usize) -> impl Iterator<Item = usize> {
    (0..take).map(move |g| {
        if n >= take {
            g * n / take
        } else {
            g % n.max(1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_stop_at_the_first_tree() {
        let text = "tree\nversion=v4\nobjective=binary sigmoid:1\n\nTree=0\nobjective=x\n";
        assert_eq!(header(text, "version"), Some("v4"));
        assert_eq!(objective_name(text), "binary");
        assert_eq!(header(text, "num_class"), None);
    }

    #[test]
    fn spread_covers_small_and_large_sets() {
        assert_eq!(spread(10, 4).collect::<Vec<_>>(), vec![0, 2, 5, 7]);
        assert_eq!(spread(3, 5).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1]);
    }
}
