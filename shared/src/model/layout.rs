//! The scoring layout: every tree as a run of 16-byte nodes in depth-first (pre-order) order,
//! leaves inline. Shared by the text parser and the compiled format, which stores exactly these
//! nodes, so both load paths produce the same `Model`.
//!
//! LightGBM's decision rules are folded into each node when it is built, so the hot loop is one
//! comparison and one select per level:
//! - the C API's `|x| <= kZeroThreshold → 0.0` input rule only changes a `x <= t` comparison
//!   when `t` lies in `[-kZeroThreshold, kZeroThreshold)`; such thresholds are moved to the
//!   edge of that interval, which gives the same answer for every raw `x`;
//! - NaN's direction (missing type None turns NaN into 0.0; type NaN follows `default_left`)
//!   picks which of two copies of the input the node reads: its *slot* is `2 * feature`, the
//!   raw value, where an ordered `NaN <= t` is false and NaN goes right, or `2 * feature + 1`,
//!   the value with NaN replaced by -inf, which goes left of any threshold but NaN;
//! - categorical splits, missing type Zero (an interval, not a point) and NaN thresholds keep
//!   a slow path; a categorical node's value holds where its bitset lies in the model's
//!   category words, so the bitset is one load away.

use super::ZERO_THRESHOLD;

/// Low 24 bits of [`Node::bits`]: the input slot, `2 * feature + nan_left`.
pub(crate) const SLOT_MASK: u32 = (1 << 24) - 1;
/// Largest feature count the layout can address.
pub(crate) const MAX_FEATURES: usize = 1 << 23;
/// Categorical split: `value`'s raw bits hold the bitset's first word in the model's category
/// words (low 32 bits) and its length in words (high 32 bits): see [`cat_set`].
pub(crate) const CATEGORICAL: u32 = 1 << 24;
/// Missing type Zero: NaN and `|x| <= kZeroThreshold` take the default direction.
pub(crate) const ZERO_MISSING: u32 = 1 << 25;
/// LightGBM's `default_left` (used by missing type Zero).
pub(crate) const DEFAULT_LEFT: u32 = 1 << 26;
/// A NaN threshold where NaN goes left: -inf would not.
pub(crate) const NAN_THRESHOLD: u32 = 1 << 27;
/// Nodes the fast comparison cannot decide.
pub(crate) const SPECIAL: u32 = CATEGORICAL | ZERO_MISSING | NAN_THRESHOLD;
/// Every flag a valid node may carry.
pub(crate) const KNOWN_FLAGS: u32 = SPECIAL | DEFAULT_LEFT;

/// One tree node. The left child of an internal node is the next node; `right` is the forward
/// offset of the right child, 0 on leaves, which makes a leaf its own successor: a walk may
/// take more steps than its path is long and still ends on the right leaf.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Node {
    /// Threshold (numerical), category-set index (categorical, raw bits), or leaf value.
    pub value: f64,
    pub right: u32,
    /// Input slot (low 24 bits) and flags.
    pub bits: u32,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.value.to_bits() == other.value.to_bits()
            && self.right == other.right
            && self.bits == other.bits
    }
}

impl Node {
    pub fn leaf(value: f64) -> Self {
        Node {
            value,
            right: 0,
            bits: 0,
        }
    }

    #[inline(always)]
    pub fn slot(&self) -> usize {
        (self.bits & SLOT_MASK) as usize
    }

    pub fn feature(&self) -> usize {
        self.slot() >> 1
    }

    pub fn nan_left(&self) -> bool {
        self.bits & 1 != 0
    }

    pub fn is_leaf(&self) -> bool {
        self.right == 0
    }
}

/// One tree as LightGBM's text stores it (already checked to be a proper binary tree).
pub(crate) struct TextTree<'a> {
    pub left: &'a [i32],
    pub right: &'a [i32],
    pub feature: &'a [usize],
    pub threshold: &'a [f64],
    pub decision: &'a [i8],
    pub leaf_values: &'a [f64],
    /// The tree's `cat_boundaries` (empty when `num_cat` is 0: LightGBM only honours
    /// categorical flags in trees with category sets).
    pub cat_bounds: &'a [u32],
    /// Where the tree's `cat_threshold` words start in the model's category words.
    pub word_base: u32,
}

/// LightGBM's missing types (bits 2-3 of `decision_type`); 3 is undefined and acts as None.
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;

/// Appends `tree` in pre-order and returns its depth (the longest root-to-leaf path, in steps).
pub(crate) fn append_tree(nodes: &mut Vec<Node>, tree: &TextTree) -> u32 {
    if tree.left.is_empty() {
        nodes.push(Node::leaf(tree.leaf_values[0]));
        return 0;
    }
    let mut depth = 0;
    // (child reference as in the text, parent slot whose `right` to patch, depth)
    let mut stack: Vec<(i32, Option<usize>, u32)> = vec![(0, None, 0)];
    while let Some((child, parent, d)) = stack.pop() {
        let at = nodes.len();
        if let Some(p) = parent {
            nodes[p].right = (at - p) as u32;
        }
        if child < 0 {
            nodes.push(Node::leaf(tree.leaf_values[!child as usize]));
            depth = depth.max(d);
            continue;
        }
        let i = child as usize;
        nodes.push(internal(tree, i));
        stack.push((tree.right[i], Some(at), d + 1));
        stack.push((tree.left[i], None, d + 1));
    }
    depth
}

fn internal(tree: &TextTree, i: usize) -> Node {
    let dt = tree.decision[i] as u8;
    let feature = tree.feature[i] as u32;
    if !tree.cat_bounds.is_empty() && dt & 1 != 0 {
        // Validated by the parser: an integral index below num_cat. NaN always goes right.
        let set = tree.threshold[i] as usize;
        let (first, end) = (tree.cat_bounds[set], tree.cat_bounds[set + 1]);
        return Node {
            value: pack_cat_set(tree.word_base + first, end - first),
            right: 0,
            bits: (2 * feature) | CATEGORICAL,
        };
    }
    let default_left = dt & 2 != 0;
    let missing = (dt >> 2) & 3;
    let t = fold_zero(tree.threshold[i]);
    let nan_left = match missing {
        MISSING_NAN | MISSING_ZERO => default_left,
        // None (and undefined 3): NaN is compared as 0.0.
        _ => 0.0 <= t,
    };
    let mut bits = 2 * feature + nan_left as u32;
    if nan_left && t.is_nan() {
        bits |= NAN_THRESHOLD;
    }
    if missing == MISSING_ZERO {
        bits |= ZERO_MISSING;
    }
    if default_left {
        bits |= DEFAULT_LEFT;
    }
    Node {
        value: t,
        right: 0,
        bits,
    }
}

/// A categorical node's `value`: its bitset's first word and length.
pub(crate) fn pack_cat_set(first: u32, words: u32) -> f64 {
    f64::from_bits(u64::from(words) << 32 | u64::from(first))
}

/// A categorical node's bitset: (first word, length in words) in the model's category words.
#[inline(always)]
pub(crate) fn cat_set(value: f64) -> (usize, usize) {
    let bits = value.to_bits();
    (bits as u32 as usize, (bits >> 32) as usize)
}

/// Per tree, whether any node needs the slow decision.
pub(crate) fn special_trees(tree_starts: &[u32], nodes: &[Node]) -> Vec<bool> {
    tree_starts
        .windows(2)
        .map(|w| {
            nodes[w[0] as usize..w[1] as usize]
                .iter()
                .any(|n| n.bits & SPECIAL != 0)
        })
        .collect()
}

/// The threshold that compares raw inputs the way `t` compares inputs after the C API zeroed
/// every `|x| <= kZeroThreshold`: those inputs all read 0.0, so they must land on 0.0's side.
pub(crate) fn fold_zero(t: f64) -> f64 {
    if (0.0..ZERO_THRESHOLD).contains(&t) {
        ZERO_THRESHOLD
    } else if (-ZERO_THRESHOLD..0.0).contains(&t) {
        (-ZERO_THRESHOLD).next_down()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeroed(x: f64) -> f64 {
        if x.abs() <= ZERO_THRESHOLD {
            0.0
        } else {
            x
        }
    }

    #[test]
    fn folded_thresholds_compare_raw_inputs_like_zeroed_inputs() {
        let z = ZERO_THRESHOLD;
        let edges = [
            0.0,
            -0.0,
            z,
            -z,
            z.next_up(),
            z.next_down(),
            (-z).next_up(),
            (-z).next_down(),
            1e-36,
            -1e-36,
            5e-324,
            -5e-324,
            1.0,
            -1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for &t in &edges {
            for &x in &edges {
                assert_eq!(x <= fold_zero(t), zeroed(x) <= t, "x {x:e}, t {t:e}");
            }
        }
    }

    #[test]
    fn right_children_follow_their_left_subtree() {
        // root: f0 <= 1 ? (f1 <= 2 ? L0 : L1) : L2
        let tree = TextTree {
            left: &[1, -1],
            right: &[-3, -2],
            feature: &[0, 1],
            threshold: &[1.0, 2.0],
            decision: &[0, 0],
            leaf_values: &[10.0, 20.0, 30.0],
            cat_bounds: &[],
            word_base: 0,
        };
        let mut nodes = Vec::new();
        assert_eq!(append_tree(&mut nodes, &tree), 2);
        let values: Vec<f64> = nodes.iter().map(|n| n.value).collect();
        assert_eq!(values, [1.0, 2.0, 10.0, 20.0, 30.0]);
        let rights: Vec<u32> = nodes.iter().map(|n| n.right).collect();
        assert_eq!(rights, [4, 2, 0, 0, 0]);
    }
}
