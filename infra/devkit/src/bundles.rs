//! The recommender bundle's manifest skeleton, one definition for the trainer (`warmstart
//! train recommender`) and the synthetic bundles of the tests, so the two cannot drift: the
//! features in serving order, one output per product backed by `models/<code>.txt`.

use std::collections::BTreeMap;
use warmstart_core::bundle::{Feature, Manifest, Metrics, ModelKind, Output, MANIFEST_FORMAT};
use warmstart_core::recommend::{feature_names, PRODUCTS};

/// The model name every recommender bundle is published under.
pub const RECOMMENDER_NAME: &str = "product-recommender";

/// Where product `code`'s model lives in a recommender bundle.
pub fn recommender_model_path(code: &str) -> String {
    format!("models/{code}.txt")
}

/// A recommender manifest with what all recommender bundles share; the caller fills in
/// metrics, base rates, golden rows, rollout and training notes (struct update syntax).
/// `files` is empty: writing the bundle describes them.
pub fn recommender_manifest(version: &str, created_at: &str) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        name: RECOMMENDER_NAME.into(),
        version: version.into(),
        kind: ModelKind::ProductRecommender,
        created_at: created_at.into(),
        features: feature_names()
            .into_iter()
            .map(|name| Feature {
                name,
                categorical: false,
                categories: Vec::new(),
            })
            .collect(),
        outputs: PRODUCTS
            .iter()
            .map(|(code, name)| Output {
                code: code.to_string(),
                name: name.to_string(),
                model: recommender_model_path(code),
                class: 0,
            })
            .collect(),
        files: vec![],
        metrics: Metrics::default(),
        base_rates: vec![],
        golden: vec![],
        rollout: None,
        training: BTreeMap::new(),
    }
}
