//! Native LightGBM scorer: parses LightGBM text models and predicts bit-identically to
//! LightGBM's C API (`LGBM_BoosterPredictForMat`, normal or raw score).
//!
//! Bit-identity comes from replaying LightGBM's exact rules: inputs with `|x| <= 1e-35f` read as
//! 0.0 (the C API's dense-row conversion, folded into the thresholds: see [`layout`]),
//! `NumericalDecision`/`CategoricalDecision` as in `tree.h`, trees summed per iteration in file
//! order in f64, `average_output` division by the iteration count, then the objective's
//! `ConvertOutput`. [`compiled`] stores the same scoring layout in a binary file that loads
//! without text parsing. Trees are walked ([`walk`]) until [`Model::prepare_scan`] arranges a
//! model with categorical splits for [`quick`]'s scan, which scores the same sums faster.

pub mod compiled;
mod layout;
mod objective;
mod parse;
mod quick;
mod shap;
mod walk;

pub use objective::Objective;
pub use shap::ShapScratch;

use layout::{Node, CATEGORICAL};
use shap::ShapData;

/// `kZeroThreshold` is declared `1e-35f` in LightGBM: a float, widened to double.
const ZERO_THRESHOLD: f64 = 1e-35f32 as f64;
/// Trees (single row) or rows (batch) walked together: independent chains the CPU overlaps.
const LANES: usize = 8;

/// Errors from loading a model or from mismatched buffers at prediction time.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("model header `{key}`: {reason}")]
    Header { key: &'static str, reason: String },
    #[error("model text line {line}: {reason}")]
    Format { line: usize, reason: String },
    #[error("tree {tree}: {reason}")]
    Tree { tree: usize, reason: String },
    #[error("model text is truncated: no `end of trees`")]
    Truncated,
    #[error("unsupported objective `{0}`: Warmstart will not guess how to convert its output")]
    UnsupportedObjective(String),
    #[error("linear trees (linear_tree=true) are not supported by the native scorer")]
    LinearTree,
    #[error("model text is not UTF-8")]
    NotUtf8,
    #[error("input row has {got} values, the model expects {expected} features")]
    FeatureCount { expected: usize, got: usize },
    #[error("output buffer has {got} slots, the model produces {expected}")]
    OutputCount { expected: usize, got: usize },
    #[error("the model text lacks node counts (leaf_count / internal_count): it predicts but cannot be explained")]
    NoCover,
    #[error("a tree {depth} levels deep is too deep to explain (at most {max})")]
    TooDeepToExplain { depth: u32, max: u32 },
}

/// A parsed LightGBM model. Immutable after load, so `Send + Sync` and shareable across
/// threads and requests; prediction allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    num_features: usize,
    num_outputs: usize,
    feature_names: Vec<String>,
    categorical: Vec<bool>,
    objective: Objective,
    average_output: bool,
    num_iterations: usize,
    /// First node of each tree, in file order, then the end of the last tree.
    tree_starts: Vec<u32>,
    /// Steps from each tree's root to its deepest leaf.
    depths: Vec<u32>,
    /// Whether each tree has a node the fast comparison cannot decide (derived from `nodes`).
    special: Vec<bool>,
    /// The order single-row prediction walks the trees in (see [`walk::walk_order`]; derived).
    walk_order: Vec<u32>,
    /// The trees arranged for the scan (see [`quick`]), once [`Self::prepare_scan`] ran.
    quick: quick::ScanCell,
    /// All trees' nodes (see [`layout`]), flattened for cache locality.
    nodes: Vec<Node>,
    /// Every category bitset, back to back (categorical nodes hold where theirs lies).
    cat_words: Vec<u32>,
    /// Node counts and per-tree expected values for explanation; `None` when the text had no
    /// counts (such a model still predicts). Kept apart so the scoring nodes stay 16 bytes.
    shap: Option<ShapData>,
}

impl Model {
    /// Parses LightGBM model text (`save_model` output).
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        parse::parse(text)
    }

    /// Parses model bytes, rejecting non-UTF-8 input.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        Self::parse(std::str::from_utf8(bytes).map_err(|_| ModelError::NotUtf8)?)
    }

    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Values per prediction: `num_class` (1 except for multiclass).
    pub fn num_outputs(&self) -> usize {
        self.num_outputs
    }

    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Whether each feature was declared categorical when the model was trained.
    pub fn categorical_features(&self) -> &[bool] {
        &self.categorical
    }

    pub fn objective(&self) -> Objective {
        self.objective
    }

    pub fn num_trees(&self) -> usize {
        self.depths.len()
    }

    pub fn num_iterations(&self) -> usize {
        self.num_iterations
    }

    /// Bytes the model holds on the heap: what a container pays to keep it warm (the predict
    /// function's memory budget counts this). The scan counts once built
    /// ([`Self::prepare_scan`]).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.quick.get().map_or(0, quick::Quick::heap_bytes)
            + self.nodes.len() * size_of::<Node>()
            + (self.tree_starts.len() + self.depths.len()) * 4
            + self.cat_words.len() * 4
            + self
                .shap
                .as_ref()
                .map_or(0, |s| s.cover.len() * 4 + s.expected.len() * 8)
            + self.special.len()
            + self.walk_order.len() * 4
            + self.categorical.len()
            + self
                .feature_names
                .iter()
                .map(|n| n.len() + size_of::<String>())
                .sum::<usize>()
    }

    /// Fills in what the walks derive from the trees; both loaders call it last.
    fn derive_walk_data(&mut self) {
        self.special = layout::special_trees(&self.tree_starts, &self.nodes);
        self.walk_order = walk::walk_order(&self.depths, &self.special);
    }

    /// Arranges the trees for the scan ([`quick`]) when this model gains from it: models with
    /// categorical splits, which the lockstep walk cannot take (on the Python anchor's 24
    /// models, one row scores in 0.13 of the walk's time). Returns whether predictions now
    /// scan. Idempotent and callable from any thread while others predict: predictions are
    /// bit-identical before and after, only faster. Loading leaves it to the caller because it
    /// costs milliseconds (0.2 ms per anchor model): serving builds it off the cold start's
    /// path ([`crate::bundle::Bundle::prepare_scans`]).
    pub fn prepare_scan(&self) -> bool {
        self.quick.prepare(|| quick::Quick::build(self))
    }

    /// Tree `t`'s nodes.
    fn tree_nodes(&self, t: usize) -> &[Node] {
        &self.nodes[self.tree_starts[t] as usize..self.tree_starts[t + 1] as usize]
    }

    /// (feature, threshold) of every numerical split: the values a row's path turns on.
    pub(crate) fn split_values(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.nodes
            .iter()
            .filter(|n| !n.is_leaf() && n.bits & CATEGORICAL == 0)
            .map(|n| (n.feature(), n.value))
    }

    /// Predicts one row into `out` (length [`Self::num_outputs`]), with the objective's output
    /// transform applied, as LightGBM's normal prediction.
    pub fn predict_into(&self, row: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.predict_raw_into(row, out)?;
        if self.average_output {
            self.average(out);
        }
        self.finish(out);
        Ok(())
    }

    /// Raw scores, like LightGBM's `predict_raw_score`: the sum of the trees. Not averaged for
    /// random forests: `GBDT::PredictRaw` only sums, the division by the iteration count is
    /// `GBDT::Predict`'s (so a random forest's raw score is the iterations times its mean).
    pub fn predict_raw_into(&self, row: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.check(row.len(), 1, out.len())?;
        out.fill(0.0);
        match self.quick.get() {
            Some(q) => self.sum_trees_quick(q, row, out),
            None => self.sum_trees(row, out),
        }
        Ok(())
    }

    /// Convenience single-row prediction that allocates its result.
    pub fn predict(&self, row: &[f64]) -> Result<Vec<f64>, ModelError> {
        let mut out = vec![0.0; self.num_outputs];
        self.predict_into(row, &mut out)?;
        Ok(out)
    }

    /// Predicts `rows.len() / num_features` rows stored row-major into `out` (row-major,
    /// `num_outputs` per row). Walks tree-major for cache locality; each row still sums its
    /// trees in file order, so results equal [`Self::predict_into`] bit for bit.
    pub fn predict_batch_into(&self, rows: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        let nf = self.num_features;
        let k = self.num_outputs;
        if nf == 0 || !rows.len().is_multiple_of(nf) {
            return Err(ModelError::FeatureCount {
                expected: nf,
                got: rows.len() % nf.max(1),
            });
        }
        let n = rows.len() / nf;
        self.check(nf, n, out.len())?;
        out.fill(0.0);
        match self.quick.get() {
            Some(q) => {
                for (row, o) in rows.chunks_exact(nf).zip(out.chunks_exact_mut(k)) {
                    self.sum_trees_quick(q, row, o);
                }
            }
            None => self.sum_trees_batch(rows, out),
        }
        for chunk in out.chunks_exact_mut(k) {
            if self.average_output {
                self.average(chunk);
            }
            self.finish(chunk);
        }
        Ok(())
    }

    fn check(&self, row_len: usize, rows: usize, out_len: usize) -> Result<(), ModelError> {
        if row_len != self.num_features {
            return Err(ModelError::FeatureCount {
                expected: self.num_features,
                got: row_len,
            });
        }
        if out_len != rows * self.num_outputs {
            return Err(ModelError::OutputCount {
                expected: rows * self.num_outputs,
                got: out_len,
            });
        }
        Ok(())
    }

    #[inline]
    fn average(&self, out: &mut [f64]) {
        let n = self.num_iterations as f64;
        for x in out.iter_mut() {
            *x /= n;
        }
    }

    #[inline]
    fn finish(&self, out: &mut [f64]) {
        self.objective.convert(out);
    }
}

/// Adds the outputs of trees `first, first + 1, ...` into their classes (`out` holds one per
/// class, tree `t` feeds class `t % out.len()`), in file order as LightGBM adds them. One
/// output (most models) keeps its sum in a register, and the class cycles without a division
/// per tree: on the Python anchor's models the division alone was a fifth of a row's time.
#[inline(always)]
fn add_in_file_order(out: &mut [f64], first: usize, values: impl Iterator<Item = f64>) {
    let k = out.len();
    if k == 1 {
        out[0] = values.fold(out[0], |sum, v| sum + v);
        return;
    }
    let mut class = first % k;
    for v in values {
        out[class] += v;
        class = if class + 1 == k { 0 } else { class + 1 };
    }
}

#[cfg(test)]
mod tests;
