//! `POST /models/{name}/fairness`: how the active version's scores differ between groups of
//! rows (the seed API's fairness report). Rows are grouped by one feature — its category, or
//! for numerical features its bin — and each group gets its count and the mean and standard
//! deviation of every output; `min_max_ratio` is the smallest group mean over the largest.

use super::score::{numbers, ServedModel};
use super::Predictor;
use crate::fairness::{report, Grouping, Member};
use crate::http::fields::{parse_object, reject_unknown};
use crate::http::{clip, ApiError};
use crate::registry::ServingSet;
use serde::Serialize;
use serde_json::{Map, Value};

const FIELDS: &str = "rows, group_by, bins";

/// A validated fairness body.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessRequest {
    pub rows: Vec<Map<String, Value>>,
    pub grouping: Grouping,
}

impl FairnessRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(&obj, &["rows", "group_by", "bins"], FIELDS)?;
        let rows = super::request::parse_rows(&obj, super::MAX_ROWS)?;
        Ok(FairnessRequest {
            rows,
            grouping: Grouping::parse(&obj)?,
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

/// One group; `mean` and `std` have one entry per output.
pub type Group = crate::fairness::Group<Value>;

/// The report for `req` on the active version of `set`.
pub fn fairness(
    set: &ServingSet<Predictor>,
    req: &FairnessRequest,
    request_id: &str,
) -> Result<FairnessReport, ApiError> {
    let model = &set.active.model;
    let schema = model.schema();
    let group_by = &req.grouping.group_by;
    let Some(feature) = schema.names().iter().position(|n| n == group_by) else {
        return Err(ApiError::UnknownFeature(format!(
            "`group_by` is `{}`, which is not a feature of `{}`",
            clip(group_by, 64),
            set.model_name
        )));
    };
    let categorical = model.bundle().manifest().features[feature].categorical;
    let k = model.num_outputs();
    let mut input = vec![0.0; schema.len()];
    let mut members = Vec::with_capacity(req.rows.len());
    for (i, row) in req.rows.iter().enumerate() {
        schema.encode(i, row, &mut input)?;
        let mut outputs = vec![0.0; k];
        model
            .score_into(&input, false, &mut outputs)
            .map_err(|e| ApiError::Internal(format!("scoring row {i}: {e}")))?;
        let category = match row.get(group_by) {
            None | Some(Value::Null) => Some("missing".to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) if categorical => Some(v.to_string()),
            Some(_) => None, // binned
        };
        members.push(Member {
            category,
            value: input[feature],
            outputs,
        });
    }
    let (groups, ratio) = report(&members, req.grouping.bins.as_deref(), k);
    Ok(FairnessReport {
        model: ServedModel::of(set),
        group_by: group_by.clone(),
        groups: (groups.into_iter()).map(|g| g.shaped(numbers)).collect(),
        min_max_ratio: numbers(&ratio),
        request_id: request_id.to_string(),
    })
}
