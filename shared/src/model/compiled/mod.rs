//! The compiled serving format: every model of a bundle in one binary file (`models.wsc`),
//! stored in the scorer's own layout, so loading is one bounds-checked pass over the bytes with
//! one allocation per array and no text parsing.
//!
//! Layout version 4, little-endian throughout:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `WSCMODEL` |
//! | 4 | layout version (`u32`) |
//! | 4 | reserved, 0 |
//! | 8 | payload length (`u64`) |
//! | 32 | sha256 of the payload |
//! | … | payload: `u32` model count, then per model: path, sha256 of its source text (32 bytes), features, outputs, objective (code `u8` + parameter `f64`), `average_output` (`u8`), iterations, feature names, categorical flags (`u8` each), category words, tree count, node count, then the trees' nodes in pre-order as four runs: the shape (one bit per node, least significant first, set on internal nodes, padded with zeros to a byte), each internal node's input slot and flags (`u32`), the distinct split values (an array of `f64`: thresholds, or a categorical node's bitset as first word and word count) and each internal node's index into them (`u16`, `u32` when there are more than 65,536), then each leaf's value (`f64`); then explanation data: `u8` 1 followed by each node's count (zigzag LEB128 varint of the `i32`) and each tree's expected value (`f64`), or `u8` 0 when the text had no counts. Strings are a `u32` length and UTF-8; arrays a `u32` count and their elements. |
//!
//! Child offsets, tree starts and depths are not stored: the shape determines them.
//!
//! A file is refused (never read out of bounds, never a panic) on a wrong magic, an unknown
//! layout version, a length or checksum that disagrees, truncation, trailing bytes, or any
//! index or count that is inconsistent: feature out of range, a shape that does not split
//! into the declared number of trees, a category bitset outside the category words, unknown
//! flag bits, an overlong varint.

use super::layout::{cat_set, Node, CATEGORICAL, KNOWN_FLAGS, MAX_FEATURES, SLOT_MASK};
use super::shap::ShapData;
use super::{Model, Objective};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const MAGIC: [u8; 8] = *b"WSCMODEL";
/// Bumped whenever the node layout or the payload changes meaning. 2: explanation data.
/// 3: categorical nodes point at their bitset's words (no category bounds). 4: the tree shape
/// as bits instead of child offsets, split values stored once, varint node counts.
pub const LAYOUT_VERSION: u32 = 4;
/// The file name bundles use.
pub const FILE_NAME: &str = "models.wsc";
const HEADER_LEN: usize = 56;
/// As in the text parser: `num_class` above this is refused.
const MAX_OUTPUTS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompiledError {
    #[error("not a compiled model file (bad magic number)")]
    BadMagic,
    #[error(
        "compiled layout version {found} is not supported (this scorer reads {LAYOUT_VERSION})"
    )]
    UnsupportedLayout { found: u32 },
    #[error("compiled file is truncated: {0}")]
    Truncated(&'static str),
    #[error("compiled file header declares a {declared}-byte payload, the file holds {actual}")]
    LengthMismatch { declared: u64, actual: u64 },
    #[error("compiled file checksum does not match its payload")]
    ChecksumMismatch,
    #[error("compiled file header has reserved bits set")]
    Reserved,
    #[error("compiled model {model}: {reason}")]
    Inconsistent { model: usize, reason: String },
    #[error("compiled file has {0} bytes after its last model")]
    TrailingBytes(usize),
    #[error("compiled file holds a string that is not UTF-8")]
    NotUtf8,
    #[error("compiled file holds a node count that is not a valid varint")]
    BadVarint,
}

/// One model to write: the path of the text it was compiled from (relative to the bundle) and
/// that text's sha256, which the bundle loader matches against its manifest.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub path: &'a str,
    pub source_sha256: [u8; 32],
    pub model: &'a Model,
}

/// One model read back from a compiled file.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledModel {
    pub path: String,
    pub source_sha256: [u8; 32],
    pub model: Model,
}

/// Serializes `entries` into one compiled file.
pub fn write(entries: &[Entry]) -> Vec<u8> {
    let mut p = Vec::new();
    put_u32(&mut p, entries.len());
    for e in entries {
        write_model(&mut p, e);
    }
    frame(&p)
}

/// Wraps `payload` in a header (magic, current layout version, length, checksum). Public for
/// tests and fuzzing, which build payloads by hand.
#[doc(hidden)]
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    out
}

/// The layout version a file declares, if it has a header at all.
pub fn layout_version(bytes: &[u8]) -> Option<u32> {
    (bytes.len() >= 12 && bytes[..8] == MAGIC)
        .then(|| u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")))
}

/// Reads and validates a compiled file.
pub fn load(bytes: &[u8]) -> Result<Vec<CompiledModel>, CompiledError> {
    load_with(bytes, true)
}

/// [`load`] for bytes whose whole-file sha256 the caller has already checked against one it
/// trusts (a bundle's manifest): the payload checksum covers a subset of those bytes, so it
/// is skipped. The second hash of recommend's 1.8 MB `models.wsc` cost its init 1.4 ms on the
/// bench machine, and a 128 MB Lambda has 1/14 of that CPU. Every structural check still runs.
pub fn load_verified(bytes: &[u8]) -> Result<Vec<CompiledModel>, CompiledError> {
    load_with(bytes, false)
}

fn load_with(bytes: &[u8], checksum: bool) -> Result<Vec<CompiledModel>, CompiledError> {
    if bytes.len() < 8 || bytes[..8] != MAGIC {
        return Err(if bytes.len() < 8 && MAGIC.starts_with(bytes) {
            CompiledError::Truncated("header")
        } else {
            CompiledError::BadMagic
        });
    }
    let mut h = Reader::new(&bytes[8..]);
    let found = h.u32().map_err(|_| CompiledError::Truncated("header"))?;
    if found != LAYOUT_VERSION {
        return Err(CompiledError::UnsupportedLayout { found });
    }
    if bytes.len() < HEADER_LEN {
        return Err(CompiledError::Truncated("header"));
    }
    if h.u32()? != 0 {
        return Err(CompiledError::Reserved);
    }
    let declared = h.u64()?;
    let payload = &bytes[HEADER_LEN..];
    if declared != payload.len() as u64 {
        return Err(CompiledError::LengthMismatch {
            declared,
            actual: payload.len() as u64,
        });
    }
    if checksum && Sha256::digest(payload)[..] != bytes[24..HEADER_LEN] {
        return Err(CompiledError::ChecksumMismatch);
    }
    let mut r = Reader::new(payload);
    let count = r.u32()? as usize;
    // Every model takes far more than 16 bytes; a bigger count is a lie about the file.
    if count > payload.len() / 16 {
        return Err(CompiledError::Truncated("model count exceeds the payload"));
    }
    let mut models = Vec::with_capacity(count);
    for i in 0..count {
        models.push(read_model(&mut r, i)?);
    }
    if r.remaining() != 0 {
        return Err(CompiledError::TrailingBytes(r.remaining()));
    }
    Ok(models)
}

fn write_model(p: &mut Vec<u8>, e: &Entry) {
    let m = e.model;
    put_str(p, e.path);
    p.extend_from_slice(&e.source_sha256);
    put_u32(p, m.num_features);
    put_u32(p, m.num_outputs);
    let (code, param) = m.objective.to_code();
    p.push(code);
    p.extend_from_slice(&param.to_le_bytes());
    p.push(m.average_output as u8);
    put_u32(p, m.num_iterations);
    for name in &m.feature_names {
        put_str(p, name);
    }
    p.extend(m.categorical.iter().map(|&c| c as u8));
    put_u32s(p, &m.cat_words);
    put_u32(p, m.depths.len());
    put_u32(p, m.nodes.len());
    let mut shape = vec![0u8; m.nodes.len().div_ceil(8)];
    for (i, n) in m.nodes.iter().enumerate() {
        shape[i / 8] |= (!n.is_leaf() as u8) << (i % 8);
    }
    p.extend_from_slice(&shape);
    let internal = || m.nodes.iter().filter(|n| !n.is_leaf());
    for n in internal() {
        p.extend_from_slice(&n.bits.to_le_bytes());
    }
    // Split values repeat (LightGBM's thresholds are bin bounds): each distinct one is stored
    // once and internal nodes index it.
    let mut table: Vec<u64> = Vec::new();
    let mut splits: HashMap<u64, u32> = HashMap::new();
    let index: Vec<u32> = internal()
        .map(|n| {
            let bits = n.value.to_bits();
            *splits.entry(bits).or_insert_with(|| {
                table.push(bits);
                table.len() as u32 - 1
            })
        })
        .collect();
    put_u32(p, table.len());
    for &v in &table {
        p.extend_from_slice(&v.to_le_bytes());
    }
    let wide = wide_index(table.len());
    for i in index {
        if wide {
            p.extend_from_slice(&i.to_le_bytes());
        } else {
            p.extend_from_slice(&(i as u16).to_le_bytes());
        }
    }
    for n in m.nodes.iter().filter(|n| n.is_leaf()) {
        p.extend_from_slice(&n.value.to_le_bytes());
    }
    match &m.shap {
        Some(shap) => {
            p.push(1);
            for &c in &shap.cover {
                put_varint(p, c);
            }
            for e in &shap.expected {
                p.extend_from_slice(&e.to_le_bytes());
            }
        }
        None => p.push(0),
    }
}

fn read_model(r: &mut Reader, index: usize) -> Result<CompiledModel, CompiledError> {
    let bad = |reason: String| CompiledError::Inconsistent {
        model: index,
        reason,
    };
    let path = r.str()?;
    let source_sha256: [u8; 32] = r.bytes(32)?.try_into().expect("32 bytes");
    let num_features = r.u32()? as usize;
    if num_features == 0 || num_features > MAX_FEATURES {
        return Err(bad(format!("{num_features} features")));
    }
    let num_outputs = r.u32()? as usize;
    if num_outputs == 0 || num_outputs > MAX_OUTPUTS {
        return Err(bad(format!("{num_outputs} outputs")));
    }
    let code = r.u8()?;
    let param = r.f64()?;
    let objective = Objective::from_code(code, param, num_outputs)
        .ok_or_else(|| bad(format!("objective code {code} ({param}) is not valid")))?;
    let average_output = match r.u8()? {
        0 => false,
        1 => true,
        v => return Err(bad(format!("average_output flag {v}"))),
    };
    let num_iterations = r.u32()? as usize;
    // Each name costs at least its 4-byte length: check before allocating for them.
    if num_features > r.remaining() / 4 {
        return Err(CompiledError::Truncated("feature names"));
    }
    let feature_names = (0..num_features)
        .map(|_| r.str())
        .collect::<Result<Vec<_>, _>>()?;
    let categorical = r
        .bytes(num_features)?
        .iter()
        .map(|&b| match b {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(format!("categorical flag {v}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cat_words = r.u32s()?;
    let trees = r.u32()? as usize;
    if trees == 0 || !trees.is_multiple_of(num_outputs) || num_iterations != trees / num_outputs {
        return Err(bad(format!(
            "{trees} trees for {num_outputs} outputs per iteration and {num_iterations} iterations"
        )));
    }
    let num_nodes = r.u32()? as usize;
    // Every node takes at least 4 bytes (an internal node 6, a leaf 8): check before
    // allocating for them.
    if num_nodes > r.remaining() / 4 || trees > num_nodes {
        return Err(CompiledError::Truncated("nodes"));
    }
    let shape = r.bytes(num_nodes.div_ceil(8))?;
    if !num_nodes.is_multiple_of(8) && shape[num_nodes / 8] >> (num_nodes % 8) != 0 {
        return Err(bad("shape bits past the last node".into()));
    }
    let internal: usize = shape.iter().map(|b| b.count_ones() as usize).sum();
    let slots = r.bytes(internal * 4)?;
    let splits: Vec<f64> = r
        .array(8)?
        .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    let index = r.bytes(internal * if wide_index(splits.len()) { 4 } else { 2 })?;
    let leaves = r.bytes((num_nodes - internal) * 8)?;
    let tree = build_trees(
        Shape {
            bits: shape,
            slots,
            splits: &splits,
            index,
            leaves,
            nodes: num_nodes,
            trees,
        },
        num_features,
        cat_words.len(),
    )
    .map_err(bad)?;
    let shap = match r.u8()? {
        0 => None,
        1 => {
            let cover = r.varints(num_nodes)?;
            let b = r.bytes(trees * 8)?;
            let expected = (b.chunks_exact(8))
                .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
                .collect();
            Some(ShapData { cover, expected })
        }
        v => return Err(bad(format!("explanation flag {v}"))),
    };
    let mut model = Model {
        special: Vec::new(),
        walk_order: Vec::new(),
        quick: Default::default(),
        num_features,
        num_outputs,
        feature_names,
        categorical,
        objective,
        average_output,
        num_iterations,
        tree_starts: tree.starts,
        depths: tree.depths,
        nodes: tree.nodes,
        cat_words,
        shap,
    };
    model.derive_walk_data();
    Ok(CompiledModel {
        path,
        source_sha256,
        model,
    })
}

/// The scoring layout rebuilt from the file's node runs.
struct Trees {
    nodes: Vec<Node>,
    starts: Vec<u32>,
    depths: Vec<u32>,
}

/// A model's trees as the file stores them.
struct Shape<'a> {
    /// One bit per node in pre-order, set on internal nodes.
    bits: &'a [u8],
    /// Each internal node's input slot and flags (`u32`).
    slots: &'a [u8],
    /// The distinct split values (thresholds, categorical bitset locations).
    splits: &'a [f64],
    /// Each internal node's split value, an index into `splits` (`u16`, or `u32` when
    /// [`wide_index`]).
    index: &'a [u8],
    /// Each leaf's value (`f64`).
    leaves: &'a [u8],
    nodes: usize,
    trees: usize,
}

/// Whether split indexes take 4 bytes rather than 2.
fn wide_index(splits: usize) -> bool {
    splits > 1 << 16
}

/// Rebuilds the pre-order nodes in one pass. The file stores no child offsets, tree starts or
/// depths: they follow from the shape, so a file cannot hold inconsistent ones, and a leaf
/// costs its 8-byte value instead of a 16-byte node. With split values stored once, the 24
/// models recommend's cold start bench serves take 1.2 MB instead of layout 3's 2.4 MB; their
/// S3 fetch is the largest part of its init.
fn build_trees(s: Shape, num_features: usize, cat_words: usize) -> Result<Trees, String> {
    let n = s.nodes;
    let mut nodes = Vec::with_capacity(n);
    let mut starts = Vec::with_capacity(s.trees + 1);
    let mut depths = Vec::with_capacity(s.trees);
    // Pre-order with one counter, no stack walk: `open` is the number of subtrees the current
    // tree still owes (1 before its root, +1 per internal node, -1 per leaf; 0 when complete).
    // An internal node's left subtree ends at the first leaf that brings `open` back to the
    // count it had before the node, and no other node waits on that count meanwhile, so
    // `waiting[open]` names the node whose right child comes next, and its depth.
    let mut open = 0usize;
    // Index 0 is never read: a leaf that brings `open` to 0 completes its tree.
    let mut waiting: Vec<(usize, u32)> = vec![(0, 0)];
    // Depth of node `i`, and the deepest leaf of the current tree.
    let (mut depth, mut deepest) = (0u32, 0u32);
    let mut slots = s.slots.chunks_exact(4);
    let mut leaves = s.leaves.chunks_exact(8);
    let mut index = s
        .index
        .chunks_exact(if wide_index(s.splits.len()) { 4 } else { 2 });
    for i in 0..n {
        if open == 0 {
            if starts.len() == s.trees {
                return Err(format!("nodes after the last of {} trees", s.trees));
            }
            starts.push(i as u32);
            (open, depth, deepest) = (1, 0, 0);
        }
        let t = starts.len() - 1;
        if s.bits[i / 8] >> (i % 8) & 1 != 0 {
            let b = u32::from_le_bytes(
                slots
                    .next()
                    .expect("one per shape bit")
                    .try_into()
                    .expect("4"),
            );
            let at = match index.next().expect("one per shape bit") {
                &[a, b] => u16::from_le_bytes([a, b]) as usize,
                w => u32::from_le_bytes(w.try_into().expect("4")) as usize,
            };
            let value = *s.splits.get(at).ok_or_else(|| {
                format!("tree {t} node {i}: split value {at} of {}", s.splits.len())
            })?;
            let flags = b & !SLOT_MASK;
            if flags & !KNOWN_FLAGS != 0 {
                return Err(format!("tree {t} node {i}: unknown flags {flags:#x}"));
            }
            if (b & SLOT_MASK) as usize >> 1 >= num_features {
                return Err(format!("tree {t} node {i}: feature out of range"));
            }
            if b & CATEGORICAL != 0 {
                let (first, words) = cat_set(value);
                if first + words > cat_words {
                    return Err(format!(
                        "tree {t} node {i}: category set (words {first}..{}) outside the {cat_words} category words",
                        first + words,
                    ));
                }
            }
            nodes.push(Node {
                value,
                right: 0,
                bits: b,
            });
            // The count after this node is `open + 1`; its left subtree ends at `open`.
            if waiting.len() == open {
                waiting.push((i, depth));
            } else {
                waiting[open] = (i, depth);
            }
            open += 1;
            depth += 1;
            continue;
        }
        let value = leaves.next().expect("one per clear shape bit");
        nodes.push(Node::leaf(f64::from_le_bytes(value.try_into().expect("8"))));
        deepest = deepest.max(depth);
        open -= 1;
        if open == 0 {
            depths.push(deepest);
        } else {
            let (p, d) = waiting[open];
            nodes[p].right = (i + 1 - p) as u32;
            depth = d + 1;
        }
    }
    if open != 0 {
        return Err("the last tree's shape ends before its leaves".into());
    }
    if starts.len() != s.trees {
        return Err(format!(
            "{} trees in the shape, {} declared",
            starts.len(),
            s.trees
        ));
    }
    starts.push(n as u32);
    Ok(Trees {
        nodes,
        starts,
        depths,
    })
}

/// Zigzag LEB128: node counts are mostly small, and the text's `int` may be negative.
fn put_varint(p: &mut Vec<u8>, v: i32) {
    let mut z = ((v << 1) ^ (v >> 31)) as u32;
    while z >= 0x80 {
        p.push(z as u8 | 0x80);
        z >>= 7;
    }
    p.push(z as u8);
}

fn put_u32(p: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).expect("counts fit u32: the parser caps model sizes");
    p.extend_from_slice(&v.to_le_bytes());
}

fn put_str(p: &mut Vec<u8>, s: &str) {
    put_u32(p, s.len());
    p.extend_from_slice(s.as_bytes());
}

fn put_u32s(p: &mut Vec<u8>, v: &[u32]) {
    put_u32(p, v.len());
    for x in v {
        p.extend_from_slice(&x.to_le_bytes());
    }
}

/// A cursor that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CompiledError> {
        if n > self.remaining() {
            return Err(CompiledError::Truncated("payload ends inside a model"));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CompiledError> {
        Ok(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, CompiledError> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, CompiledError> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }

    fn f64(&mut self) -> Result<f64, CompiledError> {
        Ok(f64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }

    /// `n` [`put_varint`] values. Overlong encodings and values past 32 bits are refused, so
    /// every `i32` has exactly one encoding. One loop over the bytes: on the Python anchor's
    /// 146,400 node counts a `Result` per byte cost its load 1 ms.
    fn varints(&mut self, n: usize) -> Result<Vec<i32>, CompiledError> {
        // Each value takes at least a byte: check before allocating for them.
        if n > self.remaining() {
            return Err(CompiledError::Truncated("node counts"));
        }
        let bytes = &self.bytes[self.at..];
        let mut out = Vec::with_capacity(n);
        let mut at = 0;
        for _ in 0..n {
            let mut z = 0u32;
            let mut shift = 0;
            loop {
                let &b = bytes
                    .get(at)
                    .ok_or(CompiledError::Truncated("node counts"))?;
                at += 1;
                if shift == 28 && b > 0x0f {
                    return Err(CompiledError::BadVarint);
                }
                z |= u32::from(b & 0x7f) << shift;
                if b < 0x80 {
                    if b == 0 && shift > 0 {
                        return Err(CompiledError::BadVarint);
                    }
                    break;
                }
                shift += 7;
            }
            out.push((z >> 1) as i32 ^ -((z & 1) as i32));
        }
        self.at += at;
        Ok(out)
    }

    fn str(&mut self) -> Result<String, CompiledError> {
        let n = self.u32()? as usize;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| CompiledError::NotUtf8)
    }

    /// A `u32` count and that many `width`-byte elements.
    fn array(&mut self, width: usize) -> Result<std::slice::ChunksExact<'a, u8>, CompiledError> {
        let n = self.u32()? as usize;
        let b = self.bytes(
            n.checked_mul(width)
                .ok_or(CompiledError::Truncated("array"))?,
        )?;
        Ok(b.chunks_exact(width))
    }

    fn u32s(&mut self) -> Result<Vec<u32>, CompiledError> {
        Ok(self
            .array(4)?
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect())
    }
}

#[cfg(test)]
mod tests;
