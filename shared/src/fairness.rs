//! The seed API's fairness report, shared by `POST /models/{name}/fairness` (rows of any model)
//! and `POST /recommend/fairness` (stored customers, 24 product scores): members are grouped
//! by one feature — their category, or for a numerical feature its bin — and each group gets
//! its count and the mean and (population) standard deviation of every output;
//! `min_max_ratio` is, per output, the smallest group mean over the largest.

use crate::http::fields::{kind, present};
use crate::http::ApiError;
use serde::Serialize;
use serde_json::{Map, Value};

/// `group_by` and `bins` of a fairness body.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub group_by: String,
    /// Bin edges for a numerical `group_by` (strictly increasing); quartiles of the members'
    /// values when absent.
    pub bins: Option<Vec<f64>>,
}

impl Grouping {
    pub(crate) fn parse(obj: &Map<String, Value>) -> Result<Self, ApiError> {
        let group_by = match present(obj, "group_by") {
            Some(Value::String(s)) => s.clone(),
            None => return Err(ApiError::MissingField { field: "group_by" }),
            Some(other) => {
                return Err(ApiError::invalid(
                    "group_by",
                    format!("must be a feature name, not {}", kind(other)),
                ))
            }
        };
        let bins = match present(obj, "bins") {
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
        Ok(Grouping { group_by, bins })
    }
}

/// One scored member: its group label when the feature is categorical (`None`: bin `value`),
/// the feature's value (NaN = missing) and the outputs.
#[derive(Debug, Clone)]
pub struct Member {
    pub category: Option<String>,
    pub value: f64,
    pub outputs: Vec<f64>,
}

/// One group's statistics, one entry per output.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    pub group: String,
    pub count: usize,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl GroupStats {
    /// The group as an endpoint answers it, each output's figures shaped by `shape` (a list,
    /// or a map keyed by product code).
    pub fn shaped<T>(self, shape: impl Fn(&[f64]) -> T) -> Group<T> {
        Group {
            group: self.group,
            count: self.count,
            mean: shape(&self.mean),
            std: shape(&self.std),
        }
    }
}

/// One group of a fairness report as answered.
#[derive(Debug, Clone, Serialize)]
pub struct Group<T> {
    pub group: String,
    pub count: usize,
    pub mean: T,
    pub std: T,
}

/// Groups sorted by label, and per output the min/max ratio of group means (NaN when
/// undefined: a negative mean or all means 0).
pub fn report(
    members: &[Member],
    bins: Option<&[f64]>,
    outputs: usize,
) -> (Vec<GroupStats>, Vec<f64>) {
    let edges = match bins {
        Some(b) => b.to_vec(),
        None => quartiles(
            &(members.iter())
                .filter(|m| m.category.is_none())
                .map(|m| m.value)
                .collect::<Vec<_>>(),
        ),
    };
    let mut groups: Vec<(String, Vec<&[f64]>)> = Vec::new();
    for m in members {
        let label = match &m.category {
            Some(c) => c.clone(),
            None => bin_label(&edges, m.value),
        };
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, of)) => of.push(&m.outputs),
            None => groups.push((label, vec![&m.outputs])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let stats: Vec<GroupStats> = (groups.into_iter())
        .map(|(group, of)| {
            let n = of.len() as f64;
            let mean: Vec<f64> = (0..outputs)
                .map(|c| of.iter().map(|m| m[c]).sum::<f64>() / n)
                .collect();
            let std = (0..outputs)
                .map(|c| (of.iter().map(|m| (m[c] - mean[c]).powi(2)).sum::<f64>() / n).sqrt())
                .collect();
            GroupStats {
                group,
                count: of.len(),
                mean,
                std,
            }
        })
        .collect();
    let ratio = (0..outputs)
        .map(|c| {
            let (lo, hi) = (stats.iter().map(|g| g.mean[c]))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                });
            if hi > 0.0 && lo >= 0.0 {
                lo / hi
            } else {
                f64::NAN
            }
        })
        .collect();
    (stats, ratio)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn member(category: Option<&str>, value: f64, outputs: &[f64]) -> Member {
        Member {
            category: category.map(str::to_string),
            value,
            outputs: outputs.to_vec(),
        }
    }

    #[test]
    fn categories_group_with_population_std_and_min_max_ratio() {
        let members = [
            member(Some("b"), 0.0, &[1.0, 10.0]),
            member(Some("a"), 0.0, &[2.0, 20.0]),
            member(Some("b"), 0.0, &[3.0, 30.0]),
        ];
        let (groups, ratio) = report(&members, None, 2);
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].group.as_str(), groups[0].count), ("a", 1));
        assert_eq!(groups[1].mean, vec![2.0, 20.0]);
        assert_eq!(groups[1].std, vec![1.0, 10.0]);
        assert_eq!(ratio, vec![1.0, 1.0]);
    }

    #[test]
    fn numerical_values_fall_into_the_given_bins_and_missing_apart() {
        let members = [
            member(None, 1.0, &[1.0]),
            member(None, 5.0, &[2.0]),
            member(None, 50.0, &[4.0]),
            member(None, f64::NAN, &[8.0]),
        ];
        let (groups, ratio) = report(&members, Some(&[2.0, 10.0]), 1);
        let labels: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(labels, ["< 2", ">= 10", "[2, 10)", "missing"]);
        assert_eq!(ratio, vec![1.0 / 8.0]);
    }

    #[test]
    fn default_bins_are_the_quartiles_of_the_values() {
        let members: Vec<Member> = (0..9).map(|i| member(None, i as f64, &[1.0])).collect();
        let (groups, _) = report(&members, None, 1);
        let labels: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
        assert_eq!(labels, ["< 2", ">= 6", "[2, 4)", "[4, 6)"]);
    }

    #[test]
    fn a_negative_group_mean_has_no_ratio() {
        let members = [
            member(Some("a"), 0.0, &[-1.0]),
            member(Some("b"), 0.0, &[1.0]),
        ];
        assert!(report(&members, None, 1).1[0].is_nan());
    }

    #[test]
    fn bins_must_increase_strictly() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        let bad = obj(serde_json::json!({"group_by": "x", "bins": [1, 1]}));
        assert_eq!(Grouping::parse(&bad).unwrap_err().code(), "invalid_field");
        let missing = obj(serde_json::json!({"bins": [1]}));
        assert_eq!(
            Grouping::parse(&missing).unwrap_err().code(),
            "missing_field"
        );
        let ok = obj(serde_json::json!({"group_by": "x", "bins": [1, 2.5]}));
        assert_eq!(Grouping::parse(&ok).unwrap().bins, Some(vec![1.0, 2.5]));
    }
}
