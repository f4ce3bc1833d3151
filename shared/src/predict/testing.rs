//! Generic bundles made from a model text in tests (the function's unit tests, the e2e tests):
//! what `warmstart import` writes, except that the golden rows are scored by the native scorer
//! itself (LightGBM equality is proven by the parity tests, not here).

use super::{ModelDetail, ModelSummary, Predictor};
use crate::api::predict::ModelSource;
use crate::bundle::{
    Bundle, Feature, FileEntry, GoldenRow, Manifest, ModelKind, Output, MANIFEST_FORMAT,
};
use crate::http::ApiError;
use crate::model::Model;
use crate::registry::{Active, RegistryItem, ServingSet, VersionRef};
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Registered models held in memory: the predict routes' model source in tests.
pub struct InMemoryModels(pub Vec<(RegistryItem, Arc<ServingSet<Predictor>>)>);

impl InMemoryModels {
    /// One model, registered with `bundle` as its active version.
    pub fn single(bundle: Bundle) -> Self {
        let mut item = RegistryItem::new(bundle.name());
        let reference = VersionRef::new(bundle.version().to_string());
        item.active = Some(Active::new(reference.clone()));
        let predictor = Predictor::servable(bundle).expect("servable");
        let set = ServingSet::single(item.model.clone(), reference, predictor);
        InMemoryModels(vec![(item, Arc::new(set))])
    }

    fn find(&self, name: &str) -> Result<&(RegistryItem, Arc<ServingSet<Predictor>>), ApiError> {
        (self.0.iter())
            .find(|(i, _)| i.model == name)
            .ok_or_else(|| ApiError::UnknownModel(name.into()))
    }
}

impl ModelSource for InMemoryModels {
    async fn serving(&self, name: &str) -> Result<Arc<ServingSet<Predictor>>, ApiError> {
        self.find(name).map(|(_, s)| Arc::clone(s))
    }

    async fn list(&self) -> Result<Vec<ModelSummary>, ApiError> {
        Ok((self.0.iter())
            .map(|(i, s)| ModelSummary::new(i, Some(s.active.model.bundle().manifest())))
            .collect())
    }

    async fn describe(&self, name: &str) -> Result<ModelDetail, ApiError> {
        let (i, s) = self.find(name)?;
        Ok(ModelDetail::new(
            i,
            Some(s.active.model.bundle().manifest()),
            (s.candidate.as_ref()).map(|(c, _)| c.model.bundle().manifest()),
            (s.shadow.as_ref()).map(|sh| sh.model.bundle().manifest()),
        ))
    }
}
