//! The body of `POST /models/{name}/predict`, read before the model is needed: its shape and
//! limits are checked first so a bad request never costs a model load.

use crate::http::fields::{kind, parse_bool, parse_id, parse_object, present, reject_unknown};
use crate::http::{clip, ApiError};
use serde_json::{Map, Value};

/// Most rows per request: a body of this many rows still fits Lambda's 6 MB synchronous
/// payload with room to spare, and scores in a few milliseconds.
pub const MAX_ROWS: usize = 1000;
/// Largest predict body: 1,000 rows of ~100 features (API Gateway and Lambda allow 6 MB).
pub const MAX_PREDICT_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Most rows per explain request: TreeSHAP costs about a millisecond per row and model.
pub const MAX_EXPLAIN_ROWS: usize = 100;
/// Features listed in each row's `top` unless `top_n` says otherwise.
pub const DEFAULT_TOP_N: usize = 10;

const FIELDS: &str = "rows, id, raw_score";
const EXPLAIN_FIELDS: &str = "rows, id, raw_score, top_n";

#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// Feature values by name; checked against the model's schema when scored.
    pub rows: Vec<Map<String, Value>>,
    /// One id per row: the canary routes each row by its id (sticky across calls).
    pub ids: Option<Vec<String>>,
    /// LightGBM's raw margin instead of the transformed prediction.
    pub raw_score: bool,
    /// Explain requests: how many features each row's `top` lists.
    pub top_n: usize,
    /// Not part of the body: the adapter sets it when the request is sampled for the data
    /// capture (`CAPTURE_SAMPLE_RATE`), so scoring keeps each row's outputs and the shadow's.
    pub capture: bool,
}

impl PredictRequest {
    /// A `POST /models/{name}/predict` body.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        Self::parse_with(body, MAX_ROWS, false)
    }

    /// A `POST /models/{name}/explain` body: the predict body with at most
    /// [`MAX_EXPLAIN_ROWS`] rows and an optional `top_n`.
    pub fn parse_explain(body: &[u8]) -> Result<Self, ApiError> {
        Self::parse_with(body, MAX_EXPLAIN_ROWS, true)
    }

    fn parse_with(body: &[u8], max_rows: usize, explain: bool) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        if explain {
            reject_unknown(&obj, &["rows", "id", "raw_score", "top_n"], EXPLAIN_FIELDS)?;
        } else {
            reject_unknown(&obj, &["rows", "id", "raw_score"], FIELDS)?;
        }
        let rows = parse_rows(&obj, max_rows)?;
        let ids = match present(&obj, "id") {
            None => None,
            Some(Value::Array(items)) if items.len() == rows.len() => Some(
                (items.iter().enumerate())
                    .map(|(i, v)| parse_id(v, &format!("id[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(Value::Array(items)) => {
                return Err(ApiError::invalid(
                    "id",
                    format!(
                        "holds {} ids for {} rows; send one id per row",
                        items.len(),
                        rows.len()
                    ),
                ))
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "id",
                    format!("must be an array of ids, one per row, not {}", kind(other)),
                ))
            }
        };
        let top_n = match present(&obj, "top_n") {
            None => DEFAULT_TOP_N,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => n as usize,
                _ => {
                    return Err(ApiError::invalid(
                        "top_n",
                        format!(
                            "must be a positive integer, not {}",
                            clip(&v.to_string(), 32)
                        ),
                    ))
                }
            },
        };
        Ok(PredictRequest {
            rows,
            ids,
            raw_score: parse_bool(present(&obj, "raw_score"), "raw_score")?,
            top_n,
            capture: false,
        })
    }
}

/// `rows`: 1..=`max_rows` objects of feature values.
pub(super) fn parse_rows(
    obj: &Map<String, Value>,
    max_rows: usize,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    match present(obj, "rows") {
        None => Err(ApiError::MissingField { field: "rows" }),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::RowsEmpty);
            }
            if items.len() > max_rows {
                return Err(ApiError::TooManyRows {
                    got: items.len(),
                    max: max_rows,
                });
            }
            (items.iter().enumerate())
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    other => Err(ApiError::invalid(
                        format!("rows[{i}]"),
                        format!("must be an object of feature values, not {}", kind(other)),
                    )),
                })
                .collect()
        }
        Some(other) => Err(ApiError::invalid(
            "rows",
            format!("must be an array of objects, not {}", kind(other)),
        )),
    }
}
