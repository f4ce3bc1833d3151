//! Explaining a bundle's outputs: per output, its model's contributions for that output's
//! class (features in manifest order, then the bias), so a bundle of one multiclass model
//! whose outputs are its classes gives LightGBM's `predict_contrib` layout exactly.

use super::Bundle;
use crate::model::{ModelError, ShapScratch};

impl Bundle {
    /// Whether every model of the bundle can be explained (see [`crate::Model::can_explain`]).
    pub fn can_explain(&self) -> bool {
        self.models.iter().all(|m| m.can_explain())
    }

    /// Values [`Self::contrib_into`] writes per row: `num_outputs * (num_features + 1)`.
    pub fn contrib_len(&self) -> usize {
        self.slots.len() * (self.num_features() + 1)
    }

    /// Feature contributions of one row (manifest feature order): for each manifest output,
    /// one value per feature followed by the bias, in raw-score space (see
    /// [`crate::Model::contrib_into`]). Allocation-free once `scratch` has grown, for the same
    /// bundle shapes [`Self::score_into`] serves without allocating.
    pub fn contrib_into(
        &self,
        row: &[f64],
        out: &mut [f64],
        scratch: &mut ShapScratch,
    ) -> Result<(), ModelError> {
        if out.len() != self.contrib_len() {
            return Err(ModelError::OutputCount {
                expected: self.contrib_len(),
                got: out.len(),
            });
        }
        if let [model] = self.models.as_slice() {
            if model.num_outputs() == self.slots.len()
                && self.slots.iter().enumerate().all(|(i, s)| s.class == i)
            {
                return model.contrib_into(row, out, scratch);
            }
        }
        let width = self.num_features() + 1;
        if self.direct {
            for (model, block) in self.models.iter().zip(out.chunks_exact_mut(width)) {
                model.contrib_into(row, block, scratch)?;
            }
            return Ok(());
        }
        // Outputs picked out of models: each model explains into the scratch block first.
        let mut block = std::mem::take(&mut scratch.block);
        let result = (|| {
            for (m, model) in self.models.iter().enumerate() {
                block.resize(model.contrib_len(), 0.0);
                model.contrib_into(row, &mut block, scratch)?;
                for (o, slot) in self.slots.iter().enumerate().filter(|(_, s)| s.model == m) {
                    let from = slot.class * width;
                    out[o * width..(o + 1) * width].copy_from_slice(&block[from..from + width]);
                }
            }
            Ok(())
        })();
        scratch.block = block;
        result
    }
}
