//! Reading fields of a JSON request body, the same way for every route: one error per wrong
//! field, naming it.

use super::{clip, parse_json, ApiError};
use serde_json::{Map, Value};

/// Longest accepted id (customer ids, row ids).
pub const MAX_ID_LEN: usize = 64;

pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::invalid(
            "body",
            format!("must be a JSON object, not {}", kind(&other)),
        )),
    }
}

pub(crate) fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn reject_unknown(
    obj: &Map<String, Value>,
    known: &[&str],
    accepted: &'static str,
) -> Result<(), ApiError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::UnknownField {
            field: clip(k, 64),
            accepted,
        }),
        None => Ok(()),
    }
}

/// A customer id: a string of letters, digits and `-_.:` (≤ 64), or a non-negative integer
/// (stringified: `15889` is `"15889"`).
pub(crate) fn parse_id(v: &Value, field: &str) -> Result<String, ApiError> {
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

pub(crate) fn parse_bool(v: Option<&Value>, field: &str) -> Result<bool, ApiError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid(
            field,
            format!("must be true or false, not {}", kind(other)),
        )),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
