//! The tree walks behind prediction. `LANES` independent walks (eight trees for one row, or one
//! tree for eight rows) advance together, one level per step, with no per-lane branch: a leaf
//! is its own successor, so a lane that arrives early stays put, and the child is chosen with a
//! select, not a jump. The group stops when no lane moved. Trees with special nodes
//! (categorical, zero-as-missing, NaN thresholds) are walked one at a time instead, a branch per
//! level. Outputs are added in file order, so sums are LightGBM's.

use super::layout::{cat_set, Node, CATEGORICAL, DEFAULT_LEFT, SPECIAL, ZERO_MISSING};
use super::{add_in_file_order, Model, LANES, ZERO_THRESHOLD};

/// Rows up to this wide are expanded on the stack for single-row prediction.
const STACK_FEATURES: usize = 256;
/// Trees per window of single-row prediction: each window is walked in [`walk_order`] and its
/// leaf values wait here, on the stack, to be added in file order.
pub(super) const WINDOW: usize = 64;
/// Rows expanded at a time in batch prediction: the block stays in L1 while every tree walks it.
const BLOCK: usize = 32;

/// A row as nodes read it: slot `2f` is feature `f` as given, slot `2f + 1` the same with NaN
/// replaced by -inf (see [`super::layout`]).
trait Input {
    /// # Safety
    /// `slot < 2 * width`, where width is the row's feature count.
    unsafe fn slot(&self, slot: usize) -> f64;
    /// The raw value, for the slow decisions.
    fn raw(&self, slot: usize) -> f64;
}

/// A row expanded into both copies, interleaved.
struct Expanded<'a>(&'a [f64]);

impl Input for Expanded<'_> {
    #[inline(always)]
    unsafe fn slot(&self, slot: usize) -> f64 {
        debug_assert!(slot < self.0.len());
        // SAFETY: the caller keeps `slot` below `2 * width`, the length of an expanded row.
        unsafe { *self.0.get_unchecked(slot) }
    }
    fn raw(&self, slot: usize) -> f64 {
        self.0[slot & !1]
    }
}

/// A row too wide to expand: the substitution happens at each read.
struct Raw<'a>(&'a [f64]);

impl Input for Raw<'_> {
    #[inline(always)]
    unsafe fn slot(&self, slot: usize) -> f64 {
        let x = self.0[slot >> 1];
        if slot & 1 != 0 && x.is_nan() {
            f64::NEG_INFINITY
        } else {
            x
        }
    }
    fn raw(&self, slot: usize) -> f64 {
        self.0[slot >> 1]
    }
}

fn expand(row: &[f64], into: &mut [f64]) {
    for (x, pair) in row.iter().zip(into.chunks_exact_mut(2)) {
        pair[0] = *x;
        pair[1] = if x.is_nan() { f64::NEG_INFINITY } else { *x };
    }
}

/// The order single-row prediction walks each window of [`WINDOW`] trees in: trees without
/// special nodes first, each kind by increasing depth. LightGBM's trees grow leaf-wise, so
/// depths differ a lot, and the eight trees walked together wait for the deepest: grouping
/// trees of a like depth (and keeping the slow decisions to the groups that need them) cuts
/// the steps where most lanes already sit on their leaf.
pub(crate) fn walk_order(depths: &[u32], special: &[bool]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..depths.len() as u32).collect();
    for window in order.chunks_mut(WINDOW) {
        window.sort_by_key(|&t| (special[t as usize], depths[t as usize]));
    }
    order
}

impl Model {
    /// Adds every tree's output for `row` into `out` (zeroed, `num_outputs` long).
    pub(super) fn sum_trees(&self, row: &[f64], out: &mut [f64]) {
        if row.len() <= STACK_FEATURES {
            let mut buf = [0.0; 2 * STACK_FEATURES];
            expand(row, &mut buf);
            self.sum_trees_with(&Expanded(&buf[..2 * row.len()]), out);
        } else {
            self.sum_trees_with(&Raw(row), out);
        }
    }

    fn sum_trees_with<I: Input>(&self, input: &I, out: &mut [f64]) {
        let mut leaves = [0.0; WINDOW];
        for (w, order) in self.walk_order.chunks(WINDOW).enumerate() {
            let first = w * WINDOW;
            for group in order.chunks(LANES) {
                let count = group.len();
                // A short group repeats its last tree; the extra values are dropped.
                let trees: [usize; LANES] =
                    std::array::from_fn(|l| group[l.min(count - 1)] as usize);
                let special = trees.iter().any(|&t| self.special[t]);
                let at = trees.map(|t| self.tree_starts[t] as usize);
                let at = if special {
                    at.map(|a| self.walk_one(a, input))
                } else {
                    let steps = trees.iter().map(|&t| self.depths[t]).max().unwrap_or(0);
                    self.walk(at, [input; LANES], steps)
                };
                for (t, a) in trees.iter().zip(at).take(count) {
                    leaves[t - first] = self.nodes[a].value;
                }
            }
            // File order, whatever order the trees were walked in: LightGBM's sums.
            add_in_file_order(out, first, leaves[..order.len()].iter().copied());
        }
    }

    /// Adds every tree's output for each row (row-major, `num_features` wide) into `out`
    /// (zeroed, `num_outputs` per row). Tree-major within blocks of rows.
    pub(super) fn sum_trees_batch(&self, rows: &[f64], out: &mut [f64]) {
        let nf = self.num_features;
        let k = self.num_outputs;
        let mut buf = vec![0.0; BLOCK * 2 * nf];
        for (block, out_block) in rows.chunks(BLOCK * nf).zip(out.chunks_mut(BLOCK * k)) {
            let len = block.len() / nf;
            for (row, into) in block.chunks_exact(nf).zip(buf.chunks_exact_mut(2 * nf)) {
                expand(row, into);
            }
            let inputs: [Expanded; BLOCK] =
                std::array::from_fn(|r| Expanded(&buf[(r * 2 * nf)..(r + 1) * 2 * nf]));
            for t in 0..self.num_trees() {
                let class = t % k;
                let start = self.tree_starts[t] as usize;
                let steps = self.depths[t];
                let mut first = 0;
                while first < len {
                    let count = LANES.min(len - first);
                    let lanes: [&Expanded; LANES] =
                        std::array::from_fn(|l| &inputs[first + l.min(count - 1)]);
                    let at = if self.special[t] {
                        lanes.map(|input| self.walk_one(start, input))
                    } else {
                        self.walk([start; LANES], lanes, steps)
                    };
                    for (i, a) in at.iter().take(count).enumerate() {
                        out_block[(first + i) * k + class] += self.nodes[*a].value;
                    }
                    first += count;
                }
            }
        }
    }

    /// Walks each lane from its node for at most `steps` levels; returns the leaves reached.
    /// Only for trees without special nodes (the others take [`Self::walk_one`]).
    #[inline(always)]
    fn walk<I: Input>(
        &self,
        mut at: [usize; LANES],
        input: [&I; LANES],
        steps: u32,
    ) -> [usize; LANES] {
        for _ in 0..steps {
            let mut moved = 0;
            for (a, input) in at.iter_mut().zip(input) {
                debug_assert!(
                    *a < self.nodes.len() && self.nodes[*a].feature() < self.num_features
                );
                // SAFETY: lanes start on tree roots and only ever move to a child in the same
                // tree or stay on a leaf; both loaders prove every right offset lands inside
                // its tree (the parser builds them, `compiled::check_model` checks them). Every
                // node's feature is below `num_features` (checked by both loaders) and every
                // row was checked to be `num_features` wide, so its slot is below `2 * width`.
                let n = unsafe { *self.nodes.get_unchecked(*a) };
                let left = unsafe { input.slot(n.slot()) } <= n.value;
                let right = n.right as usize;
                let step = if left { (right != 0) as usize } else { right };
                moved |= step;
                *a += step;
            }
            if moved == 0 {
                break;
            }
        }
        at
    }

    /// Walks one tree from `at` to its leaf, one branch per level: the walk of trees with
    /// special nodes. Models with categorical features have them in most trees, and there the
    /// lockstep walk lost twice over: each lane tested every node for the slow decision (an
    /// unpredictable branch) and every group waited for its deepest tree; on the Python
    /// anchor's 24 categorical models it scored a row in 1.21 of `SingleRowFast`'s time.
    #[inline(always)]
    fn walk_one<I: Input>(&self, mut at: usize, input: &I) -> usize {
        loop {
            debug_assert!(at < self.nodes.len() && self.nodes[at].feature() < self.num_features);
            // SAFETY: as in `walk`: `at` starts on a root and only moves to a child inside the
            // same tree (right offsets proven by both loaders), and the node's slot is below
            // `2 * width`.
            let n = unsafe { *self.nodes.get_unchecked(at) };
            let right = n.right as usize;
            if right == 0 {
                return at;
            }
            let left = if n.bits & SPECIAL != 0 {
                self.special_decision(&n, input.raw(n.slot()))
            } else {
                (unsafe { input.slot(n.slot()) }) <= n.value
            };
            at += if left { 1 } else { right };
        }
    }

    /// Categorical splits, missing type Zero and NaN thresholds, as LightGBM's
    /// `CategoricalDecision` and `NumericalDecision` decide them on the raw value.
    #[inline]
    pub(super) fn special_decision(&self, n: &Node, x: f64) -> bool {
        if n.bits & CATEGORICAL == 0 {
            if n.bits & ZERO_MISSING != 0 {
                // NaN counts as 0.0, and 0.0 (any `|x| <= kZeroThreshold`) is missing.
                if x.is_nan() || x.abs() <= ZERO_THRESHOLD {
                    return n.bits & DEFAULT_LEFT != 0;
                }
                return x <= n.value;
            }
            return if x.is_nan() {
                n.nan_left()
            } else {
                x <= n.value
            };
        }
        self.cat_left(n.value, x)
    }

    /// A categorical split's decision on the raw value (`CategoricalDecision`); `set` is the
    /// node's value, where its bitset lies.
    #[inline(always)]
    pub(super) fn cat_left(&self, set: f64, x: f64) -> bool {
        if x.is_nan() {
            return false;
        }
        // C++ `static_cast<int>` truncates; out-of-range values go right either way (negative
        // there, past the bitset here). Inputs below kZeroThreshold truncate to 0 either way.
        let cat = x as i32;
        if cat < 0 {
            return false;
        }
        let (first, words) = cat_set(set);
        let word = (cat / 32) as usize;
        word < words && (self.cat_words[first + word] >> (cat % 32)) & 1 == 1
    }

    /// Walks the trees `first + local` one at a time on a raw row, each leaf value into
    /// `values[local]`: the trees [`super::quick`] cannot scan.
    pub(super) fn walk_trees(&self, first: usize, locals: &[u32], row: &[f64], values: &mut [f64]) {
        let input = Raw(row);
        for &l in locals {
            let t = first + l as usize;
            let leaf = self.walk_one(self.tree_starts[t] as usize, &input);
            values[l as usize] = self.nodes[leaf].value;
        }
    }
}
