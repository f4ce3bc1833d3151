//! The compiled serving format: every model of a bundle in one binary file (`models.wsc`),
//! stored in the scorer's own layout, so loading is one bounds-checked pass over the bytes with
//! one allocation per array and no text parsing.
//!
//! Layout version 3, little-endian throughout:
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `WSCMODEL` |
//! | 4 | layout version (`u32`) |
//! | 4 | reserved, 0 |
//! | 8 | payload length (`u64`) |
//! | 32 | sha256 of the payload |
//! | … | payload: `u32` model count, then per model: path, sha256 of its source text (32 bytes), features, outputs, objective (code `u8` + parameter `f64`), `average_output` (`u8`), iterations, feature names, categorical flags (`u8` each), tree starts, tree depths, nodes (`f64` value, `u32` right offset, `u32` input slot + flags; a categorical node's value holds its bitset's first word and word count), category words, then explanation data: `u8` 1 followed by node counts (`i32` per node, an array) and per-tree expected values (`f64`, an array), or `u8` 0 when the text had no counts. Strings are a `u32` length and UTF-8; arrays a `u32` count and their elements. |
//!
//! A file is refused (never read out of bounds, never a panic) on a wrong magic, an unknown
//! layout version, a length or checksum that disagrees, truncation, trailing bytes, or any
//! index or count that is inconsistent: feature out of range, a child outside its tree, a
//! node list that is not a binary tree in pre-order, a recorded depth that is not the tree's,
//! a category bitset outside the category words, unknown flag bits.

use super::layout::{cat_set, Node, CATEGORICAL, KNOWN_FLAGS, MAX_FEATURES, SLOT_MASK};
use super::shap::ShapData;
use super::{Model, Objective};
use sha2::{Digest, Sha256};

pub const MAGIC: [u8; 8] = *b"WSCMODEL";
/// Bumped whenever the node layout or the payload changes meaning. 2: explanation data.
/// 3: categorical nodes point at their bitset's words (no category bounds).
pub const LAYOUT_VERSION: u32 = 3;
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
    put_u32s(p, &m.tree_starts);
    put_u32s(p, &m.depths);
    put_u32(p, m.nodes.len());
    for n in &m.nodes {
        p.extend_from_slice(&n.value.to_le_bytes());
        p.extend_from_slice(&n.right.to_le_bytes());
        p.extend_from_slice(&n.bits.to_le_bytes());
    }
    put_u32s(p, &m.cat_words);
    match &m.shap {
        Some(shap) => {
            p.push(1);
            put_u32(p, shap.cover.len());
            for c in &shap.cover {
                p.extend_from_slice(&c.to_le_bytes());
            }
            put_u32(p, shap.expected.len());
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
    let tree_starts = r.u32s()?;
    let depths = r.u32s()?;
    let num_nodes = r.u32()? as usize;
    if num_nodes > r.remaining() / 16 {
        return Err(CompiledError::Truncated("nodes"));
    }
    let raw = r.bytes(num_nodes * 16)?;
    let nodes: Vec<Node> = raw
        .chunks_exact(16)
        .map(|c| Node {
            value: f64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            right: u32::from_le_bytes(c[8..12].try_into().expect("4 bytes")),
            bits: u32::from_le_bytes(c[12..].try_into().expect("4 bytes")),
        })
        .collect();
    let cat_words = r.u32s()?;
    let shap = match r.u8()? {
        0 => None,
        1 => {
            let n = r.u32()? as usize;
            let b = r.bytes(n.checked_mul(4).ok_or(CompiledError::Truncated("counts"))?)?;
            let cover = (b.chunks_exact(4))
                .map(|c| i32::from_le_bytes(c.try_into().expect("4")))
                .collect();
            let n = r.u32()? as usize;
            let b = r.bytes(
                n.checked_mul(8)
                    .ok_or(CompiledError::Truncated("expected"))?,
            )?;
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
        tree_starts,
        depths,
        nodes,
        cat_words,
        shap,
    };
    check_model(&model).map_err(bad)?;
    model.derive_walk_data();
    Ok(CompiledModel {
        path,
        source_sha256,
        model,
    })
}

/// Every invariant the scorer relies on to stay in bounds, plus the ones that make the node
/// list a faithful tree (so a file cannot score differently from the text it claims to be).
fn check_model(m: &Model) -> Result<(), String> {
    let trees = m.depths.len();
    if trees == 0 || !trees.is_multiple_of(m.num_outputs) {
        return Err(format!(
            "{trees} trees for {} outputs per iteration",
            m.num_outputs
        ));
    }
    if m.num_iterations != trees / m.num_outputs {
        return Err(format!(
            "{} iterations recorded, the trees make {}",
            m.num_iterations,
            trees / m.num_outputs
        ));
    }
    if m.tree_starts.len() != trees + 1
        || m.tree_starts[0] != 0
        || m.tree_starts.windows(2).any(|w| w[0] >= w[1])
        || *m.tree_starts.last().expect("non-empty") as usize != m.nodes.len()
    {
        return Err("tree starts do not partition the nodes".into());
    }
    if let Some(shap) = &m.shap {
        if shap.cover.len() != m.nodes.len() || shap.expected.len() != trees {
            return Err("explanation data does not match the nodes and trees".into());
        }
    }
    // Per node: depth below it and one past the end of its subtree.
    let mut depth = Vec::new();
    let mut end = Vec::new();
    for (t, w) in m.tree_starts.windows(2).enumerate() {
        let (s, e) = (w[0] as usize, w[1] as usize);
        let n = e - s;
        depth.clear();
        depth.resize(n, 0u32);
        end.clear();
        end.resize(n, 0usize);
        for i in (0..n).rev() {
            let node = &m.nodes[s + i];
            let flags = node.bits & !SLOT_MASK;
            if flags & !KNOWN_FLAGS != 0 {
                return Err(format!("tree {t} node {i}: unknown flags {flags:#x}"));
            }
            if node.feature() >= m.num_features {
                return Err(format!("tree {t} node {i}: feature out of range"));
            }
            if node.is_leaf() {
                if node.bits != 0 {
                    return Err(format!("tree {t} node {i}: a leaf with flags or a feature"));
                }
                end[i] = i + 1;
                continue;
            }
            let right = node.right as usize;
            if right < 2 || i + right >= n {
                return Err(format!("tree {t} node {i}: right child outside the tree"));
            }
            if end[i + 1] != i + right {
                return Err(format!("tree {t} node {i}: subtrees are not in pre-order"));
            }
            if node.bits & CATEGORICAL != 0 {
                let (first, words) = cat_set(node.value);
                if first + words > m.cat_words.len() {
                    return Err(format!(
                        "tree {t} node {i}: category set (words {first}..{}) outside the {} category words",
                        first + words,
                        m.cat_words.len()
                    ));
                }
            }
            depth[i] = 1 + depth[i + 1].max(depth[i + right]);
            end[i] = end[i + right];
        }
        if end[0] != n {
            return Err(format!("tree {t}: nodes outside the root's subtree"));
        }
        if depth[0] != m.depths[t] {
            return Err(format!(
                "tree {t}: depth {} recorded, the tree has {}",
                m.depths[t], depth[0]
            ));
        }
    }
    Ok(())
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

    fn str(&mut self) -> Result<String, CompiledError> {
        let n = self.u32()? as usize;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| CompiledError::NotUtf8)
    }

    fn u32s(&mut self) -> Result<Vec<u32>, CompiledError> {
        let n = self.u32()? as usize;
        let b = self.bytes(n.checked_mul(4).ok_or(CompiledError::Truncated("array"))?)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect())
    }
}

#[cfg(test)]
mod tests;
