//! Native LightGBM scorer: parses LightGBM text models and predicts bit-identically to
//! LightGBM's C API (`LGBM_BoosterPredictForMat`, normal or raw score).
//!
//! Bit-identity comes from replaying LightGBM's exact rules: inputs with `|x| <= 1e-35f` become
//! 0.0 (the C API's dense-row conversion), `NumericalDecision`/`CategoricalDecision` as in
//! `tree.h`, trees summed per iteration in file order in f64, `average_output` division by the
//! iteration count, then the objective's `ConvertOutput`.

mod objective;
mod parse;

pub use objective::Objective;

/// `kZeroThreshold` is declared `1e-35f` in LightGBM: a float, widened to double.
const ZERO_THRESHOLD: f64 = 1e-35f32 as f64;
const CATEGORICAL: u8 = 1;
const DEFAULT_LEFT: u8 = 2;
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;
/// Trees walked together in single-row prediction.
const LANES: usize = 4;

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

#[derive(Debug, Clone, Copy)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Absolute node index when `>= 0`; `!leaf` (tree-relative) when negative.
    left: i32,
    right: i32,
    /// bit 0 categorical, bit 1 default-left, bits 2-3 missing type.
    flags: u8,
    /// Index of this node's category set within its tree (categorical nodes only).
    cat: u32,
}

#[derive(Debug, Clone, Copy)]
struct TreeRef {
    node_base: u32,
    leaf_base: u32,
    cat_base: u32,
    num_leaves: u32,
    /// LightGBM only honours categorical flags in trees with `num_cat > 0`.
    has_cat: bool,
}

/// A parsed LightGBM model. Immutable after load, so `Send + Sync` and shareable across
/// threads and requests; prediction allocates nothing.
#[derive(Debug, Clone)]
pub struct Model {
    num_features: usize,
    num_outputs: usize,
    feature_names: Vec<String>,
    categorical: Vec<bool>,
    objective: Objective,
    average_output: bool,
    num_iterations: usize,
    trees: Vec<TreeRef>,
    /// All trees' internal nodes, flattened for cache locality.
    nodes: Vec<Node>,
    leaf_values: Vec<f64>,
    /// Absolute offsets into `cat_words`, `num_cat + 1` per tree.
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
        self.trees.len()
    }

    pub fn num_iterations(&self) -> usize {
        self.num_iterations
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
        // Four trees walked in lockstep give the CPU independent chains to overlap; their
        // outputs are still added in file order, so sums are unchanged.
        let mut groups = self.trees.chunks_exact(LANES);
        let mut i = 0;
        for group in &mut groups {
            let trees = [&group[0], &group[1], &group[2], &group[3]];
            for v in self.walk_lanes(trees, [row; LANES]) {
                out[i % k] += v;
                i += 1;
            }
        }
        for tree in groups.remainder() {
            out[i % k] += self.tree_output(tree, row);
            i += 1;
        }
        if self.average_output {
            self.average(out);
        }
        Ok(())
    }

    /// Walks `LANES` independent (tree, row) pairs in lockstep and returns their leaf values.
    #[inline]
    fn walk_lanes(&self, trees: [&TreeRef; LANES], rows: [&[f64]; LANES]) -> [f64; LANES] {
        let mut node = [0i32; LANES];
        for (n, t) in node.iter_mut().zip(trees) {
            // A single-leaf tree starts at its leaf 0 (`!0`).
            *n = if t.num_leaves == 1 {
                !0
            } else {
                t.node_base as i32
            };
        }
        loop {
            let mut active = false;
            for ((n, t), row) in node.iter_mut().zip(trees).zip(rows) {
                if *n >= 0 {
                    *n = self.step(t, *n, row);
                    active = true;
                }
            }
            if !active {
                break;
            }
        }
        let mut values = [0.0; LANES];
        for ((v, n), t) in values.iter_mut().zip(node).zip(trees) {
            *v = self.leaf_values[t.leaf_base as usize + !n as usize];
        }
        values
    }

    #[inline(always)]
    fn step(&self, tree: &TreeRef, node: i32, row: &[f64]) -> i32 {
        let n = &self.nodes[node as usize];
        let fval = read(row, n);
        if tree.has_cat && n.flags & CATEGORICAL != 0 {
            self.categorical_decision(tree, n, fval)
        } else {
            numerical_decision(n, fval)
        }
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
        // Blocks of rows small enough to stay in L1 while every tree walks them; within a block
        // each row still sums its trees in file order.
        const BLOCK: usize = 64;
        for (block, out_block) in rows.chunks(BLOCK * nf).zip(out.chunks_mut(BLOCK * k)) {
            for (i, tree) in self.trees.iter().enumerate() {
                let class = i % k;
                let mut rows = block.chunks_exact(LANES * nf);
                let mut outs = out_block.chunks_exact_mut(LANES * k);
                for (quad, o) in (&mut rows).zip(&mut outs) {
                    let r: [&[f64]; LANES] = std::array::from_fn(|j| &quad[j * nf..(j + 1) * nf]);
                    for (j, v) in self.walk_lanes([tree; LANES], r).into_iter().enumerate() {
                        o[j * k + class] += v;
                    }
                }
                let rest = rows.remainder().chunks_exact(nf);
                for (row, o) in rest.zip(outs.into_remainder().chunks_exact_mut(k)) {
                    o[class] += self.tree_output(tree, row);
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

    #[inline]
    fn tree_output(&self, tree: &TreeRef, row: &[f64]) -> f64 {
        let leaf_base = tree.leaf_base as usize;
        if tree.num_leaves == 1 {
            return self.leaf_values[leaf_base];
        }
        let mut node = tree.node_base as i32;
        if tree.has_cat {
            loop {
                let n = &self.nodes[node as usize];
                let fval = read(row, n);
                node = if n.flags & CATEGORICAL != 0 {
                    self.categorical_decision(tree, n, fval)
                } else {
                    numerical_decision(n, fval)
                };
                if node < 0 {
                    return self.leaf_values[leaf_base + !node as usize];
                }
            }
        }
        // LightGBM ignores categorical flags in trees without category sets.
        loop {
            let n = &self.nodes[node as usize];
            node = numerical_decision(n, read(row, n));
            if node < 0 {
                return self.leaf_values[leaf_base + !node as usize];
            }
        }
    }

    #[inline]
    fn categorical_decision(&self, tree: &TreeRef, n: &Node, fval: f64) -> i32 {
        if fval.is_nan() {
            return n.right;
        }
        // C++ `static_cast<int>` truncates; out-of-range values land on the right either way
        // (negative there, past the bitset here).
        let cat = fval as i32;
        if cat < 0 {
            return n.right;
        }
        let b = (tree.cat_base + n.cat) as usize;
        let (start, end) = (self.cat_bounds[b] as usize, self.cat_bounds[b + 1] as usize);
        let word = (cat / 32) as usize;
        if word < end - start && (self.cat_words[start + word] >> (cat % 32)) & 1 == 1 {
            n.left
        } else {
            n.right
        }
    }
}

/// The C API drops `|x| <= kZeroThreshold` from dense rows; absent features read as 0.0.
#[inline(always)]
fn read(row: &[f64], n: &Node) -> f64 {
    let raw = row[n.feature as usize];
    if raw.abs() <= ZERO_THRESHOLD {
        0.0
    } else {
        raw
    }
}

#[inline(always)]
fn numerical_decision(n: &Node, mut fval: f64) -> i32 {
    let missing = (n.flags >> 2) & 3;
    if !fval.is_nan() && missing != MISSING_ZERO {
        // The common case: a number on a split whose missing type is not Zero. A branch (not a
        // branch-free select) measured faster: speculation overlaps the next node's load.
        return if fval <= n.threshold { n.left } else { n.right };
    }
    if fval.is_nan() && missing != MISSING_NAN {
        fval = 0.0;
    }
    if (missing == MISSING_ZERO && (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&fval))
        || (missing == MISSING_NAN && fval.is_nan())
    {
        return if n.flags & DEFAULT_LEFT != 0 {
            n.left
        } else {
            n.right
        };
    }
    if fval <= n.threshold {
        n.left
    } else {
        n.right
    }
}

#[cfg(test)]
mod tests;
