//! The one error type of the HTTP surface and its one mapping to HTTP statuses and problem
//! codes. Domain errors convert into it with `From`.

use crate::valuation::ValuationError;
use serde::Serialize;

/// Everything that can be wrong with a request, as the client should hear it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("body is not valid base64")]
    BadBase64,
    #[error("body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("`{field}` is required")]
    MissingField { field: &'static str },
    #[error("`{field}` {reason}")]
    InvalidField { field: String, reason: String },
    #[error("unknown field `{field}`; accepted fields are: {accepted}")]
    UnknownField {
        field: String,
        accepted: &'static str,
    },
    #[error("`k` is {k}; it must be between 1 and {max}")]
    KOutOfRange { k: i128, max: usize },
    #[error("{0}")]
    UnknownFeature(String),
    #[error("unknown product code `{0}`")]
    UnknownProduct(String),
    #[error("`{field}` holds a number that is not finite (it overflows a 64-bit float)")]
    NonFiniteNumber { field: String },
    #[error("`customer_ids` holds {got} ids; at most {max} are accepted per batch")]
    BatchTooLarge { got: usize, max: usize },
    #[error("`customer_ids` is empty; send at least one id")]
    BatchEmpty,
    #[error("no model named `{0}` is registered")]
    UnknownModel(String),
    #[error("`{field}` is `{value}`, which is not a category of `{feature}`")]
    UnknownCategory {
        field: String,
        feature: String,
        value: String,
    },
    #[error("`rows` holds {got} rows; at most {max} are accepted per request")]
    TooManyRows { got: usize, max: usize },
    #[error("`rows` is empty; send at least one row")]
    RowsEmpty,
    /// The model predicts but cannot be explained (its text lacks the node counts) (422).
    #[error("{0}")]
    NotExplainable(String),
    /// The model exists but cannot be loaded right now (S3 or registry failing) (503).
    #[error("{0}")]
    ModelUnavailable(String),
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed here; allowed: {allowed}")]
    MethodNotAllowed { method: String, allowed: String },
    /// A valuation input problem (400) or an unknown company (404).
    #[error(transparent)]
    Valuation(#[from] ValuationError),
    /// A store the answer depends on could not answer in time (503).
    #[error("{0}")]
    StoreUnavailable(String),
    /// A bug, never a request's doing; logged with detail, answered without it.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BodyTooLarge { .. } | ApiError::TooManyRows { .. } => 413,
            ApiError::UnknownModel(_) => 404,
            ApiError::ModelUnavailable(_) => 503,
            ApiError::NotExplainable(_) => 422,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Valuation(ValuationError::NotFound { .. }) => 404,
            ApiError::StoreUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
            _ => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::BadBase64 => "malformed_body",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::MissingField { .. } => "missing_field",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::UnknownField { .. } => "unknown_field",
            ApiError::KOutOfRange { .. } => "k_out_of_range",
            ApiError::UnknownFeature(_) => "unknown_feature",
            ApiError::UnknownProduct(_) => "unknown_product",
            ApiError::NonFiniteNumber { .. } => "non_finite_number",
            ApiError::BatchTooLarge { .. } => "batch_too_large",
            ApiError::BatchEmpty => "batch_empty",
            ApiError::UnknownModel(_) => "unknown_model",
            ApiError::UnknownCategory { .. } => "unknown_category",
            ApiError::TooManyRows { .. } => "too_many_rows",
            ApiError::RowsEmpty => "rows_empty",
            ApiError::ModelUnavailable(_) => "model_unavailable",
            ApiError::NotExplainable(_) => "not_explainable",
            ApiError::NotFound { .. } => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Valuation(ValuationError::Invalid { .. }) => "invalid_field",
            ApiError::Valuation(ValuationError::GrowthNotBelowWacc { .. }) => {
                "growth_not_below_wacc"
            }
            ApiError::Valuation(ValuationError::NotFound { .. }) => "not_found",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Problem JSON, the one error shape of the API.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Problem {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl Problem {
    pub fn new(err: &ApiError, request_id: &str) -> Self {
        Problem {
            status: err.status(),
            code: err.code().to_string(),
            message: err.to_string(),
            request_id: request_id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valuation_errors_keep_their_status_and_code() {
        let e = ApiError::from(ValuationError::invalid("beta", "too large"));
        assert_eq!((e.status(), e.code()), (400, "invalid_field"));
        assert!(e.to_string().contains("`beta`"));
        let e = ApiError::from(ValuationError::GrowthNotBelowWacc {
            growth: 0.2,
            wacc: 0.08,
        });
        assert_eq!((e.status(), e.code()), (400, "growth_not_below_wacc"));
        let e = ApiError::from(ValuationError::NotFound {
            ts_code: "000000.XX".into(),
        });
        assert_eq!((e.status(), e.code()), (404, "not_found"));
        let e = ApiError::StoreUnavailable("no answer within 150 ms".into());
        assert_eq!((e.status(), e.code()), (503, "store_unavailable"));
    }
}
