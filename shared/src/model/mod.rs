//! Native LightGBM scorer: parses LightGBM text models and predicts bit-identically to
//! LightGBM's C API (`LGBM_BoosterPredictForMat`, normal or raw score).
//!
//! Bit-identity comes from replaying LightGBM's exact rules: inputs with `|x| <= 1e-35f` read as
//! 0.0 (the C API's dense-row conversion, folded into the thresholds: see [`layout`]),
//! `NumericalDecision`/`CategoricalDecision` as in `tree.h`, trees summed per iteration in file
//! order in f64, `average_output` division by the iteration count, then the objective's
//! `ConvertOutput`. [`compiled`] stores the same scoring layout in a binary file that loads
//! without text parsing.

pub mod compiled;
mod layout;
mod objective;
mod parse;

pub use objective::Objective;

use layout::{Node, CATEGORICAL, DEFAULT_LEFT, NAN_LEFT, SPECIAL};

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
    /// All trees' nodes (see [`layout`]), flattened for cache locality.
    nodes: Vec<Node>,
    /// Offsets into `cat_words`, one more than there are category sets.
    cat_bounds: Vec<u32>,
    cat_words: Vec<u32>,
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
        self.finish(out);
        Ok(())
    }

    /// Raw scores (sum of trees, averaged for random forests), like `predict_raw_score`.
    pub fn predict_raw_into(&self, row: &[f64], out: &mut [f64]) -> Result<(), ModelError> {
        self.check(row.len(), 1, out.len())?;
        out.fill(0.0);
        let k = self.num_outputs;
        let n = self.num_trees();
        // Trees are walked `LANES` at a time but their outputs are added in file order, so the
        // sums are LightGBM's.
        let mut first = 0;
        while first < n {
            let count = LANES.min(n - first);
            // A short last group repeats its last tree; the extra values are dropped.
            let trees: [usize; LANES] = std::array::from_fn(|l| first + l.min(count - 1));
            let steps = trees.iter().map(|&t| self.depths[t]).max().unwrap_or(0);
            let at = trees.map(|t| self.tree_starts[t] as usize);
            let values = self.walk_trees(at, row, steps);
            for (i, v) in values.iter().take(count).enumerate() {
                out[(first + i) % k] += v;
            }
            first += count;
        }
        if self.average_output {
            self.average(out);
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
        // Blocks of rows small enough to stay in L1 while every tree walks them.
        const BLOCK: usize = 64;
        for (block, out_block) in rows.chunks(BLOCK * nf).zip(out.chunks_mut(BLOCK * k)) {
            let len = block.len() / nf;
            for (t, &start) in self.tree_starts[..self.num_trees()].iter().enumerate() {
                let class = t % k;
                let steps = self.depths[t];
                let mut first = 0;
                while first < len {
                    let count = LANES.min(len - first);
                    let r: [&[f64]; LANES] = std::array::from_fn(|l| {
                        let at = (first + l.min(count - 1)) * nf;
                        &block[at..at + nf]
                    });
                    let values = self.walk_rows(start as usize, r, steps);
                    for (i, v) in values.iter().take(count).enumerate() {
                        out_block[(first + i) * k + class] += v;
                    }
                    first += count;
                }
            }
        }
        for chunk in out.chunks_exact_mut(k) {
            if self.average_output {
                self.average(chunk);
            }
            self.finish(chunk);
        }
        Ok(())
    }

    /// Walks `LANES` trees for one row for `steps` levels and returns the leaves reached.
    /// Leaves are their own successors, so lanes whose path is shorter simply stay put: no
    /// per-lane branch, and the child select compiles to a conditional move.
    #[inline(always)]
    fn walk_trees(&self, mut at: [usize; LANES], row: &[f64], steps: u32) -> [f64; LANES] {
        for _ in 0..steps {
            for a in at.iter_mut() {
                *a += self.step(*a, row);
            }
        }
        at.map(|a| self.nodes[a].value)
    }

    /// Walks one tree for `LANES` rows.
    #[inline(always)]
    fn walk_rows(&self, start: usize, rows: [&[f64]; LANES], steps: u32) -> [f64; LANES] {
        let mut at = [start; LANES];
        for _ in 0..steps {
            for (a, row) in at.iter_mut().zip(rows) {
                *a += self.step(*a, row);
            }
        }
        at.map(|a| self.nodes[a].value)
    }

    /// The offset from node `at` to where `row` goes next (0 on a leaf).
    #[inline(always)]
    fn step(&self, at: usize, row: &[f64]) -> usize {
        let n = self.nodes[at];
        let x = row[n.feature()];
        let mut left = (x <= n.value) | (x.is_nan() & (n.bits & NAN_LEFT != 0));
        if n.bits & SPECIAL != 0 {
            left = self.special_decision(&n, x);
        }
        let right = n.right as usize;
        if left {
            (right != 0) as usize
        } else {
            right
        }
    }

    /// Categorical splits and missing type Zero, as LightGBM's `CategoricalDecision` and
    /// `NumericalDecision` decide them.
    #[cold]
    fn special_decision(&self, n: &Node, x: f64) -> bool {
        if n.bits & CATEGORICAL == 0 {
            // Missing type Zero: NaN counts as 0.0, and 0.0 (any `|x| <= kZeroThreshold`) is
            // missing.
            if x.is_nan() || x.abs() <= ZERO_THRESHOLD {
                return n.bits & DEFAULT_LEFT != 0;
            }
            return x <= n.value;
        }
        if x.is_nan() {
            return false;
        }
        // C++ `static_cast<int>` truncates; out-of-range values go right either way (negative
        // there, past the bitset here). Inputs below kZeroThreshold truncate to 0 either way.
        let cat = x as i32;
        if cat < 0 {
            return false;
        }
        let set = n.value.to_bits() as usize;
        let (start, end) = (
            self.cat_bounds[set] as usize,
            self.cat_bounds[set + 1] as usize,
        );
        let word = (cat / 32) as usize;
        word < end - start && (self.cat_words[start + word] >> (cat % 32)) & 1 == 1
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

#[cfg(test)]
mod tests;
