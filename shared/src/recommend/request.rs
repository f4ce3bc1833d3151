//! The bodies of `POST /recommend` and `POST /recommend/batch`, validated strictly: unknown
//! fields, wrong types, unknown features or products and out-of-range `k` are each their own
//! [`ApiError`], naming the field.

use super::{product_index, Customer, OverrideError, NUM_PRODUCTS};
pub use crate::http::fields::MAX_ID_LEN;
use crate::http::fields::{kind, parse_bool, parse_id, parse_object, present, reject_unknown};
use crate::http::{self, ApiError};
use crate::store::MAX_BATCH_GET;
use serde_json::{Map, Value};

pub const DEFAULT_K: usize = 7;
pub const MAX_K: usize = NUM_PRODUCTS;
pub const MAX_BATCH: usize = MAX_BATCH_GET;

const RECOMMEND_FIELDS: &str = "customer_id, k, features, owned_products, return_scores, explain";
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
    /// Each recommended product's top contributing features (TreeSHAP).
    pub explain: bool,
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
                "explain",
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
            explain: parse_bool(present(&obj, "explain"), "explain")?,
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
        let customer_ids = parse_customer_ids(&obj, MAX_BATCH)?;
        Ok(BatchRequest {
            customer_ids,
            k: parse_k(present(&obj, "k"))?,
            return_scores: parse_bool(present(&obj, "return_scores"), "return_scores")?,
        })
    }
}

/// `customer_ids`: 1..=`max` ids.
pub(super) fn parse_customer_ids(
    obj: &Map<String, Value>,
    max: usize,
) -> Result<Vec<String>, ApiError> {
    match present(obj, "customer_ids") {
        None => Err(ApiError::MissingField {
            field: "customer_ids",
        }),
        Some(Value::Array(items)) => {
            if items.is_empty() {
                return Err(ApiError::BatchEmpty);
            }
            if items.len() > max {
                return Err(ApiError::BatchTooLarge {
                    got: items.len(),
                    max,
                });
            }
            (items.iter().enumerate())
                .map(|(i, v)| parse_id(v, &format!("customer_ids[{i}]")))
                .collect()
        }
        Some(other) => Err(ApiError::invalid(
            "customer_ids",
            format!("must be an array of ids, not {}", kind(other)),
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
