//! The bodies of `POST /recommend` and `POST /recommend/batch`, validated strictly: unknown
//! fields, wrong types, unknown features or products and out-of-range `k` are each their own
//! [`ApiError`], naming the field.

use super::{product_index, Customer, OverrideError, NUM_PRODUCTS};
use crate::http::{self, ApiError};
use crate::store::MAX_BATCH_GET;
use serde_json::{Map, Value};

pub const DEFAULT_K: usize = 7;
pub const MAX_K: usize = NUM_PRODUCTS;
pub const MAX_BATCH: usize = MAX_BATCH_GET;
pub const MAX_ID_LEN: usize = 64;

const RECOMMEND_FIELDS: &str = "customer_id, k, features, owned_products, return_scores";
const BATCH_FIELDS: &str = "customer_ids, k, return_scores";

/// `POST /recommend` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendRequest {
    pub customer_id: String,
    pub k: usize,
    /// What-if profile overrides, already checked against the overridable fields.
    pub features: Option<Map<String, Value>>,
    /// What-if ownership, already checked against the product codes.
    pub owned_products: Option<Vec<String>>,
    pub return_scores: bool,
}

/// `POST /recommend/batch` body, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRequest {
    pub customer_ids: Vec<String>,
    pub k: usize,
    pub return_scores: bool,
}

impl RecommendRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(
            &obj,
            &[
                "customer_id",
                "k",
                "features",
                "owned_products",
                "return_scores",
            ],
            RECOMMEND_FIELDS,
        )?;
        let customer_id = match present(&obj, "customer_id") {
            Some(v) => parse_id(v, "customer_id")?,
            None => {
                return Err(ApiError::MissingField {
                    field: "customer_id",
                })
            }
        };
        let features = match present(&obj, "features") {
            None => None,
            Some(Value::Object(m)) => {
                let mut scratch = Customer::default();
                for (name, value) in m {
                    scratch
                        .apply_override(name, value)
                        .map_err(override_error)?;
                }
                Some(m.clone())
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "features",
                    format!("must be an object of feature values, not {}", kind(other)),
                ))
            }
        };
        let owned_products = match present(&obj, "owned_products") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::String(s) if product_index(s).is_some() => Ok(s.clone()),
                        Value::String(s) => Err(ApiError::UnknownProduct(http::clip(s, 64))),
                        other => Err(ApiError::invalid(
                            format!("owned_products[{i}]"),
                            format!("must be a product code string, not {}", kind(other)),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(ApiError::invalid(
                    "owned_products",
                    format!("must be an array of product codes, not {}", kind(other)),
                ))
            }
        };
        Ok(RecommendRequest {
            customer_id,
            k: parse_k(present(&obj, "k"))?,
            features,
            owned_products,
            return_scores: parse_bool(present(&obj, "return_scores"), "return_scores")?,
        })
    }

    /// The stored profile with this request's overrides applied.
    pub(super) fn overlay(&self, base: Customer) -> Customer {
        let mut c = base;
        if let Some(features) = &self.features {
            for (name, value) in features {
                // Validated at parse time; a failure here would leave the stored value.
                let _ = c.apply_override(name, value);
            }
        }
        if let Some(owned) = &self.owned_products {
            let _ = c.set_owned(owned);
        }
        c
    }

    pub(super) fn has_overrides(&self) -> bool {
        self.features.is_some() || self.owned_products.is_some()
    }
}

impl BatchRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(&obj, &["customer_ids", "k", "return_scores"], BATCH_FIELDS)?;
        let customer_ids = match present(&obj, "customer_ids") {
            None => {
                return Err(ApiError::MissingField {
                    field: "customer_ids",
                })
            }
            Some(Value::Array(items)) => {
                if items.is_empty() {
                    return Err(ApiError::BatchEmpty);
                }
                if items.len() > MAX_BATCH {
                    return Err(ApiError::BatchTooLarge {
                        got: items.len(),
                        max: MAX_BATCH,
                    });
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| parse_id(v, &format!("customer_ids[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "customer_ids",
                    format!("must be an array of ids, not {}", kind(other)),
                ))
            }
        };
        Ok(BatchRequest {
            customer_ids,
            k: parse_k(present(&obj, "k"))?,
            return_scores: parse_bool(present(&obj, "return_scores"), "return_scores")?,
        })
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match http::parse_json(body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::invalid(
            "body",
            format!("must be a JSON object, not {}", kind(&other)),
        )),
    }
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    accepted: &'static str,
) -> Result<(), ApiError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::UnknownField {
            field: http::clip(k, 64),
            accepted,
        }),
        None => Ok(()),
    }
}

/// A customer id: a string of letters, digits and `-_.:` (≤ 64), or a non-negative integer
/// (stringified: `15889` is `"15889"`).
fn parse_id(v: &Value, field: &str) -> Result<String, ApiError> {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(ApiError::invalid(field, "must not be empty"));
            }
            if s.len() > MAX_ID_LEN {
                return Err(ApiError::invalid(
                    field,
                    format!("must be at most {MAX_ID_LEN} characters"),
                ));
            }
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
            {
                return Err(ApiError::invalid(
                    field,
                    "may only hold letters, digits and - _ . :",
                ));
            }
            Ok(s.to_string())
        }
        Value::Number(n) => match n.as_u64() {
            Some(u) => Ok(u.to_string()),
            None => Err(ApiError::invalid(
                field,
                "must be a string or a non-negative integer",
            )),
        },
        Value::Null => Err(ApiError::invalid(field, "must not be null")),
        other => Err(ApiError::invalid(
            field,
            format!(
                "must be a string or a non-negative integer, not {}",
                kind(other)
            ),
        )),
    }
}

fn parse_k(v: Option<&Value>) -> Result<usize, ApiError> {
    let Some(v) = v else { return Ok(DEFAULT_K) };
    let k: i128 = match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 => f as i128,
                    _ => return Err(ApiError::invalid("k", "must be an integer")),
                }
            }
        }
        other => {
            return Err(ApiError::invalid(
                "k",
                format!(
                    "must be an integer between 1 and {MAX_K}, not {}",
                    kind(other)
                ),
            ))
        }
    };
    if (1..=MAX_K as i128).contains(&k) {
        Ok(k as usize)
    } else {
        Err(ApiError::KOutOfRange { k, max: MAX_K })
    }
}

fn parse_bool(v: Option<&Value>, field: &str) -> Result<bool, ApiError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("must be true or false, not {}", kind(other)),
        )),
    }
}

fn override_error(e: OverrideError) -> ApiError {
    match e {
        OverrideError::Unknown { .. } => ApiError::UnknownFeature(e.to_string()),
        OverrideError::NotNumber { name } => ApiError::invalid(
            format!("features.{name}"),
            "must be a finite number or null",
        ),
        OverrideError::NotString { name } => {
            ApiError::invalid(format!("features.{name}"), "must be a string or null")
        }
        OverrideError::UnknownProduct(code) => ApiError::UnknownProduct(code),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
