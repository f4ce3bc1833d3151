//! How a request row (`{"<feature>": number | string | null}`) becomes the model's input
//! vector: by name, in the manifest's order, with absent and `null` features missing (NaN, as
//! LightGBM reads them) and category strings mapped to the codes the model was trained on.

use crate::bundle::Manifest;
use crate::http::fields::kind;
use crate::http::{clip, ApiError};
use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    names: Vec<String>,
    index: HashMap<String, usize>,
    kinds: Vec<Kind>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Numerical,
    /// Codes by category string; empty when the client sends the integer codes.
    Categorical(HashMap<String, f64>),
}

impl Schema {
    pub fn from_manifest(m: &Manifest) -> Self {
        let names: Vec<String> = m.features.iter().map(|f| f.name.clone()).collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let kinds = (m.features.iter())
            .map(|f| match f.categorical {
                false => Kind::Numerical,
                true => Kind::Categorical(
                    (f.categories.iter().enumerate())
                        .map(|(code, c)| (c.clone(), code as f64))
                        .collect(),
                ),
            })
            .collect();
        Schema {
            names,
            index,
            kinds,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let strings: usize = self.names.iter().map(|n| 2 * (n.len() + 48)).sum();
        let categories: usize = (self.kinds.iter())
            .map(|k| match k {
                Kind::Numerical => 0,
                Kind::Categorical(m) => m.keys().map(|c| c.len() + 48).sum(),
            })
            .sum();
        strings + categories
    }

    /// Writes row `row` (`rows[i]` in messages) into `out` (one slot per feature).
    pub fn encode(
        &self,
        i: usize,
        row: &Map<String, Value>,
        out: &mut [f64],
    ) -> Result<(), ApiError> {
        out.fill(f64::NAN);
        for (name, value) in row {
            let Some(&f) = self.index.get(name) else {
                return Err(ApiError::UnknownFeature(format!(
                    "rows[{i}] has unknown feature `{}`; the model's features are listed by GET /models/{{name}}",
                    clip(name, 64)
                )));
            };
            let field = || format!("rows[{i}].{name}");
            out[f] = match (value, &self.kinds[f]) {
                (Value::Null, _) => f64::NAN,
                // serde_json only yields finite numbers (overflow is refused while parsing).
                (Value::Number(n), _) => n.as_f64().unwrap_or(f64::NAN),
                (Value::String(s), Kind::Categorical(codes)) if !codes.is_empty() => {
                    match codes.get(s.as_str()) {
                        Some(&code) => code,
                        None => {
                            return Err(ApiError::UnknownCategory {
                                field: field(),
                                feature: name.clone(),
                                value: clip(s, 64),
                            })
                        }
                    }
                }
                (other, Kind::Categorical(codes)) if codes.is_empty() => {
                    return Err(ApiError::invalid(
                        field(),
                        format!(
                            "must be an integer category code or null, not {}",
                            kind(other)
                        ),
                    ))
                }
                (other, Kind::Categorical(_)) => {
                    return Err(ApiError::invalid(
                        field(),
                        format!(
                            "must be a category string, an integer code or null, not {}",
                            kind(other)
                        ),
                    ))
                }
                (other, Kind::Numerical) => {
                    return Err(ApiError::invalid(
                        field(),
                        format!("must be a number or null, not {}", kind(other)),
                    ))
                }
            };
        }
        Ok(())
    }
}
