//! Feature contributions (SHAP values) as LightGBM's `predict_contrib` computes them:
//! path-dependent TreeSHAP (arXiv:1706.06060) over each node's training count as cover.
//!
//! Every function here replays its LightGBM 4.x counterpart operation for operation
//! (`src/io/tree.cpp`: `Tree::TreeSHAP`, `ExtendPath`, `UnwindPath`, `UnwoundPathSum`,
//! `ExpectedValue`; `Tree::PredictContrib` in `tree.h`; `GBDT::PredictContrib` in `gbdt.cpp`)
//! so results equal LightGBM's bit for bit: floating-point sums depend on their order, so the
//! order of every product and addition is LightGBM's, not the most natural one.
//!
//! The recursion walks the scorer's own pre-order nodes (see [`super::layout`]) and decides
//! hot/cold children with the prediction's decision, so a contribution can never follow a
//! different path than the score. Only two arrays are added: each node's count (cover), in
//! node order, and each tree's expected value, which LightGBM sums over leaves in *leaf index*
//! order, an order the pre-order layout has lost, so it is computed once at parse time.

use super::layout::{Node, SPECIAL};
use super::{Model, ModelError};

/// Trees deeper than this are not explained: the path buffer grows with the square of the
/// depth (LightGBM's own layout) and the recursion with the depth. 1024 levels need 16 MiB of
/// path; LightGBM's default `num_leaves=31` allows at most 30.
pub(crate) const MAX_EXPLAIN_DEPTH: u32 = 1024;

/// What explanation needs beyond the scoring layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShapData {
    /// Training rows that reached each node (`internal_count` / `leaf_count`), parallel to
    /// [`Model::nodes`]. LightGBM reads them as `int`.
    pub cover: Vec<i32>,
    /// Per tree, `Tree::ExpectedValue()`: the cover-weighted mean leaf value.
    pub expected: Vec<f64>,
}

/// LightGBM's `PathElement`.
#[derive(Debug, Clone, Copy, Default)]
struct PathElement {
    feature: i32,
    zero_fraction: f64,
    one_fraction: f64,
    pweight: f64,
}

/// Reusable working memory for [`Model::contrib_into`], so explaining a row allocates nothing
/// once the scratch has grown to the deepest tree it has met.
#[derive(Debug, Clone, Default)]
pub struct ShapScratch {
    path: Vec<PathElement>,
    /// Per-model contributions when a bundle's outputs do not map straight onto one model.
    pub(crate) block: Vec<f64>,
}

impl ShapScratch {
    pub fn new() -> Self {
        Self::default()
    }

    fn path(&mut self, max_depth: u32) -> &mut [PathElement] {
        // `Tree::PredictContrib` sizes it `max_path_len * (max_path_len + 1) / 2`.
        let len = (max_depth as usize + 1) * (max_depth as usize + 2) / 2;
        if self.path.len() < len {
            self.path.resize(len, PathElement::default());
        }
        &mut self.path[..len]
    }
}

/// `Tree::ExpectedValue()`: leaves in index order, each weighted by its share of the root.
pub(crate) fn expected_value(leaf_values: &[f64], leaf_count: &[i32], root_count: i32) -> f64 {
    if leaf_values.len() == 1 {
        return leaf_values[0];
    }
    let total_count = root_count as f64;
    let mut exp_value = 0.0;
    for (v, c) in leaf_values.iter().zip(leaf_count) {
        exp_value += (*c as f64 / total_count) * v;
    }
    exp_value
}

/// Each node's count in the order [`super::layout::append_tree`] emits nodes (pre-order, left
/// subtree first): the same stack discipline, so index `i` here is node `i` there.
pub(crate) fn preorder_cover(
    left: &[i32],
    right: &[i32],
    internal_count: &[i32],
    leaf_count: &[i32],
) -> Vec<i32> {
    if left.is_empty() {
        return vec![leaf_count.first().copied().unwrap_or(0)];
    }
    let mut out = Vec::with_capacity(internal_count.len() + leaf_count.len());
    let mut stack = vec![0i32];
    while let Some(child) = stack.pop() {
        if child < 0 {
            out.push(leaf_count[!child as usize]);
            continue;
        }
        let i = child as usize;
        out.push(internal_count[i]);
        stack.push(right[i]);
        stack.push(left[i]);
    }
    out
}

impl Model {
    /// Whether [`Self::contrib_into`] can explain this model: its text recorded every node's
    /// count (LightGBM has written `leaf_count` / `internal_count` since v2) and no tree is
    /// deeper than the explainer accepts. Models that cannot be explained still predict.
    pub fn can_explain(&self) -> bool {
        self.explain_check().is_ok()
    }

    fn explain_check(&self) -> Result<&ShapData, ModelError> {
        let shap = self.shap.as_ref().ok_or(ModelError::NoCover)?;
        let depth = self.depths.iter().copied().max().unwrap_or(0);
        if depth > MAX_EXPLAIN_DEPTH {
            return Err(ModelError::TooDeepToExplain {
                depth,
                max: MAX_EXPLAIN_DEPTH,
            });
        }
        Ok(shap)
    }

    /// Values [`Self::contrib_into`] writes per row: per output, one per feature and the bias.
    pub fn contrib_len(&self) -> usize {
        self.num_outputs * (self.num_features + 1)
    }

    /// Explains one row: for each output (class), each feature's contribution followed by the
    /// expected value (bias), in raw-score space. This is LightGBM's `predict_contrib` layout
    /// and values, bit for bit, random forests (`average_output`) included: like LightGBM's
    /// raw score ([`Self::predict_raw_into`]) their contributions are not divided by the
    /// iteration count (`GBDT::PredictContrib` only sums; lightgbm-org/LightGBM#6217), so they
    /// add up to the raw score, which is `num_iterations` times the averaged prediction.
    pub fn contrib_into(
        &self,
        row: &[f64],
        out: &mut [f64],
        scratch: &mut ShapScratch,
    ) -> Result<(), ModelError> {
        let shap = self.explain_check()?;
        if row.len() != self.num_features {
            return Err(ModelError::FeatureCount {
                expected: self.num_features,
                got: row.len(),
            });
        }
        if out.len() != self.contrib_len() {
            return Err(ModelError::OutputCount {
                expected: self.contrib_len(),
                got: out.len(),
            });
        }
        // `GBDT::PredictContrib`: zero, then trees in file order into their class's block.
        out.fill(0.0);
        let width = self.num_features + 1;
        let max_depth = self.depths.iter().copied().max().unwrap_or(0);
        let path = scratch.path(max_depth);
        for t in 0..self.num_trees() {
            let class = t % self.num_outputs;
            let phi = &mut out[class * width..(class + 1) * width];
            // `Tree::PredictContrib`: the expected value first, then the recursion.
            phi[self.num_features] += shap.expected[t];
            if self.depths[t] > 0 {
                let mut tree = TreeShap {
                    model: self,
                    cover: &shap.cover,
                    row,
                    phi,
                };
                let root = self.tree_starts[t] as usize;
                tree.recurse(path, root, 0, 0, 1.0, 1.0, -1);
            }
        }
        Ok(())
    }

    /// `Tree::Decision`, through the scorer's folded node: the same answer as prediction.
    #[inline]
    fn goes_left(&self, n: &Node, x: f64) -> bool {
        if n.bits & SPECIAL != 0 {
            self.special_decision(n, x)
        } else if x.is_nan() {
            n.nan_left()
        } else {
            x <= n.value
        }
    }
}

struct TreeShap<'a> {
    model: &'a Model,
    cover: &'a [i32],
    row: &'a [f64],
    phi: &'a mut [f64],
}

impl TreeShap<'_> {
    /// `Tree::TreeSHAP`. `parent` is where the parent's unique path starts in `path`; this
    /// node's starts `unique_depth` elements further, as in LightGBM's pointer arithmetic.
    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &mut self,
        path: &mut [PathElement],
        node: usize,
        mut unique_depth: usize,
        parent: usize,
        parent_zero_fraction: f64,
        parent_one_fraction: f64,
        parent_feature: i32,
    ) {
        let at = parent + unique_depth;
        if unique_depth > 0 {
            path.copy_within(parent..parent + unique_depth, at);
        }
        let unique_path = &mut path[at..];
        extend_path(
            unique_path,
            unique_depth,
            parent_zero_fraction,
            parent_one_fraction,
            parent_feature,
        );

        let n = self.model.nodes[node];
        if n.is_leaf() {
            for i in 1..=unique_depth {
                let w = unwound_path_sum(unique_path, unique_depth, i);
                let el = unique_path[i];
                self.phi[el.feature as usize] += w * (el.one_fraction - el.zero_fraction) * n.value;
            }
            return;
        }
        let feature = n.feature();
        let (left, right) = (node + 1, node + n.right as usize);
        let (hot, cold) = if self.model.goes_left(&n, self.row[feature]) {
            (left, right)
        } else {
            (right, left)
        };
        // `data_count` is an `int`; the divisions are in double.
        let w = self.cover[node] as f64;
        let hot_zero_fraction = self.cover[hot] as f64 / w;
        let cold_zero_fraction = self.cover[cold] as f64 / w;
        let mut incoming_zero_fraction = 1.0;
        let mut incoming_one_fraction = 1.0;

        // Split on this feature before: undo that split so this node can redo it.
        let feature = feature as i32;
        if let Some(path_index) = (0..=unique_depth).find(|&i| unique_path[i].feature == feature) {
            incoming_zero_fraction = unique_path[path_index].zero_fraction;
            incoming_one_fraction = unique_path[path_index].one_fraction;
            unwind_path(unique_path, unique_depth, path_index);
            unique_depth -= 1;
        }

        self.recurse(
            path,
            hot,
            unique_depth + 1,
            at,
            hot_zero_fraction * incoming_zero_fraction,
            incoming_one_fraction,
            feature,
        );
        self.recurse(
            path,
            cold,
            unique_depth + 1,
            at,
            cold_zero_fraction * incoming_zero_fraction,
            0.0,
            feature,
        );
    }
}

/// `Tree::ExtendPath`.
fn extend_path(
    unique_path: &mut [PathElement],
    unique_depth: usize,
    zero_fraction: f64,
    one_fraction: f64,
    feature: i32,
) {
    unique_path[unique_depth] = PathElement {
        feature,
        zero_fraction,
        one_fraction,
        pweight: if unique_depth == 0 { 1.0 } else { 0.0 },
    };
    let d1 = (unique_depth + 1) as f64;
    for i in (0..unique_depth).rev() {
        unique_path[i + 1].pweight += one_fraction * unique_path[i].pweight * (i + 1) as f64 / d1;
        unique_path[i].pweight =
            zero_fraction * unique_path[i].pweight * (unique_depth - i) as f64 / d1;
    }
}

/// `Tree::UnwindPath`.
fn unwind_path(unique_path: &mut [PathElement], unique_depth: usize, path_index: usize) {
    let one_fraction = unique_path[path_index].one_fraction;
    let zero_fraction = unique_path[path_index].zero_fraction;
    let mut next_one_portion = unique_path[unique_depth].pweight;
    let d1 = (unique_depth + 1) as f64;
    for i in (0..unique_depth).rev() {
        if one_fraction != 0.0 {
            let tmp = unique_path[i].pweight;
            unique_path[i].pweight = next_one_portion * d1 / ((i + 1) as f64 * one_fraction);
            next_one_portion =
                tmp - unique_path[i].pweight * zero_fraction * (unique_depth - i) as f64 / d1;
        } else {
            unique_path[i].pweight =
                (unique_path[i].pweight * d1) / (zero_fraction * (unique_depth - i) as f64);
        }
    }
    for i in path_index..unique_depth {
        unique_path[i].feature = unique_path[i + 1].feature;
        unique_path[i].zero_fraction = unique_path[i + 1].zero_fraction;
        unique_path[i].one_fraction = unique_path[i + 1].one_fraction;
    }
}

/// `Tree::UnwoundPathSum`. Its grouping of `(unique_depth - i) / (unique_depth + 1)` differs
/// from `UnwindPath`'s; kept, since it changes the last bit.
fn unwound_path_sum(unique_path: &[PathElement], unique_depth: usize, path_index: usize) -> f64 {
    let one_fraction = unique_path[path_index].one_fraction;
    let zero_fraction = unique_path[path_index].zero_fraction;
    let mut next_one_portion = unique_path[unique_depth].pweight;
    let d1 = (unique_depth + 1) as f64;
    let mut total = 0.0;
    for i in (0..unique_depth).rev() {
        if one_fraction != 0.0 {
            let tmp = next_one_portion * d1 / ((i + 1) as f64 * one_fraction);
            total += tmp;
            next_one_portion =
                unique_path[i].pweight - tmp * zero_fraction * ((unique_depth - i) as f64 / d1);
        } else {
            total += (unique_path[i].pweight / zero_fraction) / ((unique_depth - i) as f64 / d1);
        }
    }
    total
}
