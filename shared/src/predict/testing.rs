//! Generic bundles made from a model text in tests (the function's unit tests, the e2e tests):
//! what `warmstart import` writes, except that the golden rows are scored by the native scorer
//! itself (LightGBM equality is proven by the parity tests, not here).

use crate::bundle::{Feature, FileEntry, GoldenRow, Manifest, ModelKind, Output, MANIFEST_FORMAT};
use crate::model::Model;
use std::collections::BTreeMap;

/// The model file's path in a generic bundle.
pub const MODEL_FILE: &str = "models/model.txt";

/// Manifest and files of a generic bundle `name`/`version` of the model `text`; `categories`
/// names the strings of categorical features (code = position).
pub fn generic_parts(
    text: &str,
    name: &str,
    version: &str,
    categories: &[(&str, &[&str])],
) -> (Manifest, Vec<(String, Vec<u8>)>) {
    let model = Model::parse(text).expect("model text parses");
    let features = (model.feature_names().iter())
        .zip(model.categorical_features())
        .map(|(n, &c)| Feature {
            name: n.clone(),
            categorical: c,
            categories: (categories.iter())
                .find(|(f, _)| f == n)
                .map(|(_, cs)| cs.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        })
        .collect();
    let k = model.num_outputs();
    let outputs = (0..k)
        .map(|c| Output {
            code: if k == 1 {
                "prediction".into()
            } else {
                format!("class_{c}")
            },
            name: format!("class {c}"),
            model: MODEL_FILE.into(),
            class: c,
        })
        .collect();
    let golden = (0..20)
        .map(|i| {
            let row: Vec<f64> = (0..model.num_features())
                .map(|f| match (i + f) % 5 {
                    0 => f64::NAN,
                    _ => (i * f) as f64 / 7.0,
                })
                .collect();
            GoldenRow {
                features: row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect(),
                expected: model.predict(&row).expect("scores"),
            }
        })
        .collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: name.into(),
        version: version.into(),
        kind: ModelKind::Generic,
        created_at: "2026-12-02T00:00:00Z".into(),
        features,
        outputs,
        files: vec![FileEntry::describe(MODEL_FILE, text.as_bytes())],
        metrics: Default::default(),
        base_rates: vec![],
        golden,
        rollout: None,
        training: BTreeMap::new(),
    };
    (
        manifest,
        vec![(MODEL_FILE.into(), text.as_bytes().to_vec())],
    )
}
