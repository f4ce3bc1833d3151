//! Parser for LightGBM's text model format (v3/v4, as written by `save_model`).
//!
//! Strict where LightGBM is undefined: any count, index or structure that LightGBM would read
//! out of bounds is a load error here, so a hostile or truncated file can never panic or loop
//! at prediction time. Nothing is allocated from a number in the file; arrays are sized by the
//! text they were parsed from.

use super::layout::{append_tree, TextTree, MAX_FEATURES};
use super::objective::Objective;
use super::shap::{expected_value, preorder_cover, ShapData};
use super::{Model, ModelError};
use std::collections::HashMap;

/// LightGBM's own cap on `num_leaves`.
const MAX_LEAVES: usize = 131_072;
/// Keeps node and leaf offsets well inside `i32`/`u32`.
const MAX_TOTAL_NODES: usize = 1 << 28;

pub(super) fn parse(text: &str) -> Result<Model, ModelError> {
    let mut lines = text.lines().enumerate().peekable();

    // Header: key=value lines up to the first `Tree=`.
    let mut header: HashMap<&str, &str> = HashMap::new();
    while let Some(&(_, line)) = lines.peek() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("Tree=") || line == "end of trees" {
            break;
        }
        lines.next();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                header.insert(k, v);
            }
            None => {
                header.insert(line, "");
            }
        }
    }
    if !header.contains_key("tree") && !header.contains_key("version") {
        return Err(ModelError::Header {
            key: "tree",
            reason: "not a LightGBM text model (no `tree` / `version` header)".into(),
        });
    }

    let num_class = header_usize(&header, "num_class")?;
    if num_class == 0 || num_class > 100_000 {
        return Err(header_err("num_class", "must be between 1 and 100000"));
    }
    let trees_per_iter = match header.get("num_tree_per_iteration") {
        Some(_) => header_usize(&header, "num_tree_per_iteration")?,
        None => num_class,
    };
    if trees_per_iter != num_class {
        return Err(header_err(
            "num_tree_per_iteration",
            "must equal num_class for the supported objectives",
        ));
    }
    header_usize(&header, "label_index")?;
    let max_feature_idx = header_usize(&header, "max_feature_idx")?;
    let feature_names: Vec<String> = header
        .get("feature_names")
        .ok_or_else(|| header_err("feature_names", "missing"))?
        .split(' ')
        .map(str::to_string)
        .collect();
    if feature_names.len() != max_feature_idx.saturating_add(1) {
        return Err(header_err(
            "feature_names",
            "count disagrees with max_feature_idx",
        ));
    }
    if feature_names.len() > MAX_FEATURES {
        return Err(header_err(
            "max_feature_idx",
            "more than 8388608 features are not supported",
        ));
    }
    let feature_infos: Vec<&str> = header
        .get("feature_infos")
        .ok_or_else(|| header_err("feature_infos", "missing"))?
        .split(' ')
        .collect();
    if feature_infos.len() != feature_names.len() {
        return Err(header_err(
            "feature_infos",
            "count disagrees with max_feature_idx",
        ));
    }
    // Numerical infos are `[min:max]`, unused features `none`; categorical ones list categories.
    let categorical: Vec<bool> = feature_infos
        .iter()
        .map(|i| !i.starts_with('[') && *i != "none")
        .collect();
    let objective = match header.get("objective") {
        Some(o) => Objective::parse(o, num_class)?,
        // LightGBM predicts raw scores when no objective is recorded.
        None => Objective::Identity,
    };
    let average_output = header.contains_key("average_output");
    let declared_trees = match header.get("tree_sizes") {
        Some(s) if !s.is_empty() => Some(s.split(' ').count()),
        _ => None,
    };

    let mut model = Model {
        num_features: feature_names.len(),
        num_outputs: num_class,
        feature_names,
        categorical,
        objective,
        average_output,
        num_iterations: 0,
        tree_starts: vec![0],
        depths: Vec::new(),
        special: Vec::new(),
        walk_order: Vec::new(),
        quick: Default::default(),
        nodes: Vec::new(),
        // Every tree's category bitsets, back to back; categorical nodes point into them.
        cat_words: Vec::new(),
        // Dropped at the first tree without counts.
        shap: Some(ShapData {
            cover: Vec::new(),
            expected: Vec::new(),
        }),
    };

    // Trees: `Tree=<i>` followed by key=value lines up to a blank line.
    let mut ended = false;
    while let Some((lineno, line)) = lines.next() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if line == "end of trees" {
            ended = true;
            break;
        }
        let Some(index) = line.strip_prefix("Tree=") else {
            return Err(ModelError::Format {
                line: lineno + 1,
                reason: format!("expected `Tree=` or `end of trees`, found `{}`", clip(line)),
            });
        };
        if index.parse::<usize>().ok() != Some(model.depths.len()) {
            return Err(ModelError::Format {
                line: lineno + 1,
                reason: format!("tree index `{}` out of sequence", clip(index)),
            });
        }
        let mut fields: HashMap<&str, &str> = HashMap::new();
        while let Some(&(_, l)) = lines.peek() {
            let l = l.trim_end_matches('\r');
            if l.is_empty() || l.starts_with("Tree=") || l == "end of trees" {
                break;
            }
            lines.next();
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            fields.insert(k, v);
        }
        if fields.get("is_linear").is_some_and(|v| v.trim() != "0") {
            return Err(ModelError::LinearTree);
        }
        add_tree(&mut model, &fields).map_err(|reason| ModelError::Tree {
            tree: model.depths.len(),
            reason,
        })?;
    }
    if !ended {
        return Err(ModelError::Truncated);
    }
    // Linear trees may also be announced only in the parameters block.
    if lines.any(|(_, l)| l.trim_end_matches('\r').starts_with("[linear_tree: 1]")) {
        return Err(ModelError::LinearTree);
    }
    if let Some(n) = declared_trees {
        if n != model.depths.len() {
            return Err(header_err(
                "tree_sizes",
                "count disagrees with the trees present",
            ));
        }
    }
    if model.depths.is_empty() || !model.depths.len().is_multiple_of(trees_per_iter) {
        return Err(header_err(
            "tree_sizes",
            "tree count must be a positive multiple of num_tree_per_iteration",
        ));
    }
    model.num_iterations = model.depths.len() / trees_per_iter;
    model.derive_walk_data();
    debug_assert!(model
        .shap
        .as_ref()
        .is_none_or(|s| s.cover.len() == model.nodes.len()));
    Ok(model)
}

fn add_tree(model: &mut Model, f: &HashMap<&str, &str>) -> Result<(), String> {
    let get = |k: &str| f.get(k).copied().ok_or_else(|| format!("missing `{k}`"));
    let num_leaves: usize = parse_scalar(get("num_leaves")?, "num_leaves")?;
    if num_leaves == 0 || num_leaves > MAX_LEAVES {
        return Err(format!("num_leaves {num_leaves} outside 1..={MAX_LEAVES}"));
    }
    let num_cat: usize = parse_scalar(get("num_cat")?, "num_cat")?;
    let leaf_values: Vec<f64> = parse_array(get("leaf_value")?, num_leaves, "leaf_value")?;
    let internal = num_leaves - 1;
    if model.nodes.len() + internal + num_leaves > MAX_TOTAL_NODES {
        return Err("model too large".into());
    }
    let mut tree = TextTree {
        left: &[],
        right: &[],
        feature: &[],
        threshold: &[],
        decision: &[],
        leaf_values: &leaf_values,
        cat_bounds: &[],
        word_base: model.cat_words.len() as u32,
    };
    // Counts only feed explanations: a text without them (written before LightGBM v2) still
    // predicts, but counts that are present and malformed mean a damaged file.
    let leaf_count: Option<Vec<i32>> = match f.get("leaf_count") {
        Some(v) => Some(parse_array(v, num_leaves, "leaf_count")?),
        None => None,
    };
    if internal == 0 {
        model.depths.push(append_tree(&mut model.nodes, &tree));
        model.tree_starts.push(model.nodes.len() as u32);
        // A single leaf explains itself: `ExpectedValue()` is its value, no counts needed.
        if let Some(shap) = &mut model.shap {
            shap.cover.push(leaf_count.map_or(0, |c| c[0]));
            shap.expected.push(leaf_values[0]);
        }
        return Ok(());
    }
    let left: Vec<i32> = parse_array(get("left_child")?, internal, "left_child")?;
    let right: Vec<i32> = parse_array(get("right_child")?, internal, "right_child")?;
    let internal_count: Option<Vec<i32>> = match f.get("internal_count") {
        Some(v) => Some(parse_array(v, internal, "internal_count")?),
        None => None,
    };
    let feature: Vec<usize> = parse_array(get("split_feature")?, internal, "split_feature")?;
    let threshold: Vec<f64> = parse_array(get("threshold")?, internal, "threshold")?;
    let decision: Vec<i8> = match f.get("decision_type") {
        Some(v) => parse_array(v, internal, "decision_type")?,
        None => vec![0; internal],
    };
    check_structure(&left, &right, num_leaves)?;

    let (bounds, words) = if num_cat > 0 {
        let bounds: Vec<u32> = parse_array(get("cat_boundaries")?, num_cat + 1, "cat_boundaries")?;
        let total = *bounds.last().unwrap_or(&0) as usize;
        let words: Vec<u32> = parse_array(get("cat_threshold")?, total, "cat_threshold")?;
        if bounds[0] != 0 || bounds.windows(2).any(|w| w[0] > w[1]) {
            return Err("cat_boundaries must start at 0 and not decrease".into());
        }
        if model.cat_words.len() + total > u32::MAX as usize {
            return Err("model too large".into());
        }
        (bounds, words)
    } else {
        (Vec::new(), Vec::new())
    };

    for i in 0..internal {
        if feature[i] >= model.num_features {
            return Err(format!(
                "split_feature {} out of range (model has {} features)",
                feature[i], model.num_features
            ));
        }
        if num_cat > 0 && decision[i] & 1 != 0 {
            let t = threshold[i];
            if !(t >= 0.0 && t < num_cat as f64 && t.fract() == 0.0) {
                return Err(format!(
                    "categorical threshold {t} is not a category set index"
                ));
            }
        }
    }
    tree.left = &left;
    tree.right = &right;
    tree.feature = &feature;
    tree.threshold = &threshold;
    tree.decision = &decision;
    tree.cat_bounds = &bounds;
    model.depths.push(append_tree(&mut model.nodes, &tree));
    model.tree_starts.push(model.nodes.len() as u32);
    match (&mut model.shap, leaf_count, internal_count) {
        (Some(shap), Some(leaf_count), Some(internal_count)) => {
            shap.cover
                .extend(preorder_cover(&left, &right, &internal_count, &leaf_count));
            shap.expected
                .push(expected_value(&leaf_values, &leaf_count, internal_count[0]));
        }
        _ => model.shap = None,
    }
    model.cat_words.extend(words);
    Ok(())
}

/// The tree must be a proper binary tree rooted at node 0: every internal node and every leaf
/// reached exactly once. This rules out cycles, shared subtrees and out-of-range children.
fn check_structure(left: &[i32], right: &[i32], num_leaves: usize) -> Result<(), String> {
    let internal = left.len();
    let mut seen_node = vec![false; internal];
    let mut seen_leaf = vec![false; num_leaves];
    let mut stack = vec![0usize];
    seen_node[0] = true;
    while let Some(n) = stack.pop() {
        for c in [left[n], right[n]] {
            if c >= 0 {
                let c = c as usize;
                if c >= internal {
                    return Err(format!("child node {c} out of range"));
                }
                if std::mem::replace(&mut seen_node[c], true) {
                    return Err(format!("node {c} reached twice (cycle or shared subtree)"));
                }
                stack.push(c);
            } else {
                let leaf = !c as usize;
                if leaf >= num_leaves {
                    return Err(format!("leaf {leaf} out of range"));
                }
                if std::mem::replace(&mut seen_leaf[leaf], true) {
                    return Err(format!("leaf {leaf} reached twice"));
                }
            }
        }
    }
    if seen_node.iter().any(|s| !s) || seen_leaf.iter().any(|s| !s) {
        return Err("unreachable nodes or leaves".into());
    }
    Ok(())
}

fn parse_scalar<T: std::str::FromStr>(v: &str, key: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{key}` value `{}` is not valid", clip(v)))
}

fn parse_array<T: std::str::FromStr>(v: &str, n: usize, key: &str) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(n.min(v.len() / 2 + 1));
    for tok in v.split(' ').filter(|t| !t.is_empty()) {
        if out.len() == n {
            return Err(format!("`{key}` has more than {n} values"));
        }
        out.push(parse_scalar(tok, key)?);
    }
    if out.len() != n {
        return Err(format!("`{key}` has {} values, expected {n}", out.len()));
    }
    Ok(out)
}

fn header_usize(h: &HashMap<&str, &str>, key: &'static str) -> Result<usize, ModelError> {
    let v = h.get(key).ok_or_else(|| header_err(key, "missing"))?;
    v.trim()
        .parse()
        .map_err(|_| header_err(key, "not a non-negative integer"))
}

fn header_err(key: &'static str, reason: &str) -> ModelError {
    ModelError::Header {
        key,
        reason: reason.to_string(),
    }
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(60);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
