//! A loaded bundle ready to answer rows: its models and the schema requests are read with.

use super::Schema;
use crate::bundle::Bundle;
use crate::model::ModelError;

/// One version of a registered model, as the predict function serves it. Every bundle kind
/// can be predicted (a recommender answers one probability per product); a generic bundle is
/// the usual case.
#[derive(Debug)]
pub struct Predictor {
    bundle: Bundle,
    schema: Schema,
    bytes: usize,
}

impl Predictor {
    /// What the registry loader builds from a verified bundle.
    pub fn servable(bundle: Bundle) -> Result<Self, String> {
        // The memory budget must count the scans, so they are built here rather than left to
        // the load's thread (a fraction of a millisecond per 100-tree model).
        for (_, model) in bundle.models() {
            model.prepare_scan();
        }
        let schema = Schema::from_manifest(bundle.manifest());
        let bytes = bundle.heap_bytes() + schema.heap_bytes();
        Ok(Predictor {
            bundle,
            schema,
            bytes,
        })
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// What keeping this version warm costs (the predict function's memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    pub fn num_outputs(&self) -> usize {
        self.bundle.num_outputs()
    }

    /// Scores one encoded row into `out` (one value per output): LightGBM's `predict`, or its
    /// raw margin when `raw`.
    pub fn score_into(&self, row: &[f64], raw: bool, out: &mut [f64]) -> Result<(), ModelError> {
        if raw {
            self.bundle.score_raw_into(row, out)
        } else {
            self.bundle.score_into(row, out)
        }
    }
}
