//! `POST /models/{name}/fairness`: how the active version's scores differ between groups of
//! rows (the seed API's fairness report). Rows are grouped by one feature — its category, or
//! for numerical features its bin — and each group gets its count and the mean and standard
//! deviation of every output; `min_max_ratio` is the smallest group mean over the largest.

use super::score::{numbers, ServedModel};
use super::Predictor;
use crate::http::fields::{kind, parse_object, present, reject_unknown};
use crate::http::{clip, ApiError};
use crate::registry::ServingSet;
use serde::Serialize;
use serde_json::{Map, Value};

const FIELDS: &str = "rows, group_by, bins";

/// A validated fairness body.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessRequest {
    pub rows: Vec<Map<String, Value>>,
    pub group_by: String,
    /// Bin edges for a numerical `group_by` (ascending); quartiles of the rows when absent.
    pub bins: Option<Vec<f64>>,
}

impl FairnessRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(&obj, &["rows", "group_by", "bins"], FIELDS)?;
        let rows = super::request::parse_rows(&obj, super::MAX_ROWS)?;
        let group_by = match present(&obj, "group_by") {
            Some(Value::String(s)) => s.clone(),
            None => return Err(ApiError::MissingField { field: "group_by" }),
            Some(other) => {
                return Err(ApiError::invalid(
                    "group_by",
                    format!("must be a feature name, not {}", kind(other)),
                ))
            }
        };
        let bins = match present(&obj, "bins") {
            None => None,
            Some(Value::Array(edges)) => {
                let edges: Option<Vec<f64>> = edges.iter().map(Value::as_f64).collect();
                match edges {
                    Some(e) if !e.is_empty() && e.windows(2).all(|w| w[0] < w[1]) => Some(e),
                    _ => {
                        return Err(ApiError::invalid(
                            "bins",
                            "must be a non-empty array of strictly increasing numbers",
                        ))
                    }
                }
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "bins",
                    format!("must be an array of numbers, not {}", kind(other)),
                ))
            }
        };
        Ok(FairnessRequest {
            rows,
            group_by,
            bins,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub model: ServedModel,
    pub group_by: String,
    pub groups: Vec<Group>,
    /// Per output: smallest group mean / largest group mean (`null` when undefined).
    pub min_max_ratio: Value,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub group: String,
    pub count: usize,
    pub mean: Value,
    pub std: Value,
}

/// The report for `req` on the active version of `set`.
pub fn fairness(
    set: &ServingSet<Predictor>,
    req: &FairnessRequest,
    request_id: &str,
) -> Result<FairnessReport, ApiError> {
    let model = &set.active.model;
    let schema = model.schema();
    let Some(feature) = schema.names().iter().position(|n| *n == req.group_by) else {
        return Err(ApiError::UnknownFeature(format!(
            "`group_by` is `{}`, which is not a feature of `{}`",
            clip(&req.group_by, 64),
            set.model_name
        )));
    };
    let categorical = model.bundle().manifest().features[feature].categorical;
    let k = model.num_outputs();
    let mut input = vec![0.0; schema.len()];
    let mut scored: Vec<(String, Vec<f64>)> = Vec::with_capacity(req.rows.len());
    let mut values = Vec::with_capacity(req.rows.len());
    for (i, row) in req.rows.iter().enumerate() {
        schema.encode(i, row, &mut input)?;
        let mut out = vec![0.0; k];
        model
            .score_into(&input, false, &mut out)
            .map_err(|e| ApiError::Internal(format!("scoring row {i}: {e}")))?;
        values.push(input[feature]);
        let label = match row.get(&req.group_by) {
            None | Some(Value::Null) => "missing".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) if categorical => v.to_string(),
            Some(_) => String::new(), // binned below
        };
        scored.push((label, out));
    }
    if !categorical {
        let edges = match &req.bins {
            Some(b) => b.clone(),
            None => quartiles(&values),
        };
        for ((label, _), x) in scored.iter_mut().zip(&values) {
            if label.is_empty() {
                *label = bin_label(&edges, *x);
            }
        }
    }
    let mut groups: Vec<(String, Vec<&Vec<f64>>)> = Vec::new();
    for (label, out) in &scored {
        match groups.iter_mut().find(|(l, _)| l == label) {
            Some((_, members)) => members.push(out),
            None => groups.push((label.clone(), vec![out])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut means: Vec<Vec<f64>> = Vec::new();
    let groups: Vec<Group> = (groups.into_iter())
        .map(|(group, members)| {
            let n = members.len() as f64;
            let mean: Vec<f64> = (0..k)
                .map(|c| members.iter().map(|m| m[c]).sum::<f64>() / n)
                .collect();
            let std: Vec<f64> = (0..k)
                .map(|c| {
                    (members
                        .iter()
                        .map(|m| (m[c] - mean[c]).powi(2))
                        .sum::<f64>()
                        / n)
                        .sqrt()
                })
                .collect();
            means.push(mean.clone());
            Group {
                group,
                count: members.len(),
                mean: numbers(&mean),
                std: numbers(&std),
            }
        })
        .collect();
    let ratio: Vec<f64> = (0..k)
        .map(|c| {
            let col = means.iter().map(|m| m[c]);
            let (lo, hi) = col.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                (lo.min(x), hi.max(x))
            });
            if hi > 0.0 && lo >= 0.0 {
                lo / hi
            } else {
                f64::NAN
            }
        })
        .collect();
    Ok(FairnessReport {
        model: ServedModel::of(set),
        group_by: req.group_by.clone(),
        groups,
        min_max_ratio: numbers(&ratio),
        request_id: request_id.to_string(),
    })
}

/// The 25th, 50th and 75th percentiles of the present values (deduplicated).
fn quartiles(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Vec::new();
    }
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let mut e = vec![at(0.25), at(0.5), at(0.75)];
    e.dedup();
    e
}

/// `< a`, `[a, b)`, …, `>= z`; NaN (missing) is `missing`.
fn bin_label(edges: &[f64], x: f64) -> String {
    if x.is_nan() {
        return "missing".into();
    }
    match edges.iter().position(|&e| x < e) {
        Some(0) => format!("< {}", edges[0]),
        Some(i) => format!("[{}, {})", edges[i - 1], edges[i]),
        None => match edges.last() {
            Some(last) => format!(">= {last}"),
            None => "all".into(),
        },
    }
}
