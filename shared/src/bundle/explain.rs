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

impl Bundle {
    /// One output's contributions (features in manifest order, then the bias): what
    /// [`Self::contrib_into`] writes for `output`, computing only that output's model.
    pub fn contrib_output_into(
        &self,
        row: &[f64],
        output: usize,
        out: &mut [f64],
        scratch: &mut ShapScratch,
    ) -> Result<(), ModelError> {
        let width = self.num_features() + 1;
        let slot = self.slots.get(output).ok_or(ModelError::OutputCount {
            expected: self.slots.len(),
            got: output + 1,
        })?;
        if out.len() != width {
            return Err(ModelError::OutputCount {
                expected: width,
                got: out.len(),
            });
        }
        let model = &self.models[slot.model];
        if model.num_outputs() == 1 {
            return model.contrib_into(row, out, scratch);
        }
        let mut block = std::mem::take(&mut scratch.block);
        block.resize(model.contrib_len(), 0.0);
        let result = model.contrib_into(row, &mut block, scratch);
        if result.is_ok() {
            out.copy_from_slice(&block[slot.class * width..(slot.class + 1) * width]);
        }
        scratch.block = block;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        Feature, FileEntry, GoldenRow, Manifest, Metrics, ModelKind, Output, MANIFEST_FORMAT,
        MIN_GOLDEN_ROWS,
    };
    use super::*;
    use crate::model::Model;

    const MULTICLASS: &str = include_str!("../../tests/fixtures/models/multiclass_softmax.txt");

    /// A bundle over `files` (path, text) whose outputs read (path, class).
    fn bundle(files: &[(&str, &str)], outputs: &[(&str, usize)]) -> Bundle {
        let model = Model::parse(files[0].1).unwrap();
        let nf = model.num_features();
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            name: "explain".into(),
            version: "v1".into(),
            kind: ModelKind::Generic,
            created_at: "2026-12-02T00:00:00Z".into(),
            features: (model.feature_names().iter())
                .map(|n| Feature {
                    name: n.clone(),
                    categorical: false,
                    categories: Vec::new(),
                })
                .collect(),
            outputs: (outputs.iter().enumerate())
                .map(|(i, (path, class))| Output {
                    code: format!("o{i}"),
                    name: format!("O{i}"),
                    model: path.to_string(),
                    class: *class,
                })
                .collect(),
            files: (files.iter())
                .map(|(p, t)| FileEntry::describe(p, t.as_bytes()))
                .collect(),
            metrics: Metrics::default(),
            base_rates: vec![],
            golden: (0..MIN_GOLDEN_ROWS)
                .map(|_| GoldenRow {
                    features: vec![Some(0.0); nf],
                    expected: vec![0.0; outputs.len()],
                })
                .collect(),
            rollout: None,
            training: Default::default(),
        };
        let files = (files.iter())
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect();
        Bundle::from_parts(manifest, files).unwrap()
    }

    fn rows(nf: usize) -> Vec<Vec<f64>> {
        [0.0, -1.5, 0.7, f64::NAN, 3.0, -0.2]
            .iter()
            .map(|&v| (0..nf).map(|f| v * (f as f64 + 1.0) / 3.0).collect())
            .collect()
    }

    #[test]
    fn outputs_pick_their_class_blocks_in_manifest_order() {
        let model = Model::parse(MULTICLASS).unwrap();
        let (nf, k) = (model.num_features(), model.num_outputs());
        let width = nf + 1;
        let classes: Vec<usize> = (0..k).collect();
        let reordered: Vec<usize> = (0..k).rev().chain([0]).collect();
        let mut scratch = ShapScratch::new();
        let mut whole = vec![0.0; model.contrib_len()];
        for picks in [classes, reordered] {
            let outputs: Vec<(&str, usize)> = picks.iter().map(|&c| ("m.txt", c)).collect();
            let b = bundle(&[("m.txt", MULTICLASS)], &outputs);
            assert!(b.can_explain());
            let mut out = vec![0.0; b.contrib_len()];
            for row in rows(nf) {
                model.contrib_into(&row, &mut whole, &mut scratch).unwrap();
                b.contrib_into(&row, &mut out, &mut scratch).unwrap();
                for (o, &c) in picks.iter().enumerate() {
                    let (got, want) = (&out[o * width..][..width], &whole[c * width..][..width]);
                    assert!(got
                        .iter()
                        .zip(want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()));
                }
            }
        }
    }

    #[test]
    fn single_output_models_fill_one_block_each() {
        let text = include_str!("../../tests/fixtures/models/regression_l2.txt");
        let b = bundle(
            &[("a.txt", text), ("b.txt", text)],
            &[("a.txt", 0), ("b.txt", 0)],
        );
        let model = Model::parse(text).unwrap();
        let mut scratch = ShapScratch::new();
        let mut want = vec![0.0; model.contrib_len()];
        let mut out = vec![0.0; b.contrib_len()];
        for row in rows(model.num_features()) {
            model.contrib_into(&row, &mut want, &mut scratch).unwrap();
            b.contrib_into(&row, &mut out, &mut scratch).unwrap();
            assert_eq!(out[..want.len()], want[..]);
            assert_eq!(out[want.len()..], want[..]);
        }
        let mut short = vec![0.0; b.contrib_len() - 1];
        assert!(matches!(
            b.contrib_into(&rows(model.num_features())[0], &mut short, &mut scratch),
            Err(ModelError::OutputCount { .. })
        ));
    }
}
