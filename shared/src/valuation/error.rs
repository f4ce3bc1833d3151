//! Typed valuation errors. Every variant names the request field it is about, so the endpoint
//! can answer 400/404 with a message that tells the caller what to fix (statuses and codes:
//! `crate::http::ApiError`).

/// Field that a growth-not-below-WACC error is about.
pub const TERMINAL_GROWTH_FIELD: &str = "terminal_growth_rate";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValuationError {
    /// An input is missing, malformed or outside its sane range (HTTP 400).
    #[error("invalid `{field}`: {message}")]
    Invalid { field: String, message: String },
    /// Perpetual growth at or above the discount rate has no finite value (HTTP 400).
    #[error(
        "invalid `terminal_growth_rate`: terminal growth {growth} must be below the discount \
         rate (WACC {wacc}); a perpetuity growing at or above its discount rate has no finite value"
    )]
    GrowthNotBelowWacc { growth: f64, wacc: f64 },
    /// No company data for the ts_code (HTTP 404).
    #[error("no company data for ts_code `{ts_code}`")]
    NotFound { ts_code: String },
}

impl ValuationError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValuationError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The request field the error is about.
    pub fn field(&self) -> &str {
        match self {
            ValuationError::Invalid { field, .. } => field,
            ValuationError::GrowthNotBelowWacc { .. } => TERMINAL_GROWTH_FIELD,
            ValuationError::NotFound { .. } => "ts_code",
        }
    }
}

/// `Ok(x)` when `x` is finite and in `[lo, hi]`, otherwise an [`ValuationError::Invalid`]
/// naming `field`.
pub(crate) fn check_range(field: &str, x: f64, lo: f64, hi: f64) -> Result<f64, ValuationError> {
    if !x.is_finite() {
        return Err(ValuationError::invalid(
            field,
            format!("must be a finite number, got {x}"),
        ));
    }
    if x < lo || x > hi {
        return Err(ValuationError::invalid(
            field,
            format!("{x} is outside the accepted range [{lo}, {hi}]"),
        ));
    }
    Ok(x)
}

/// `Ok(x)` when `x` is finite.
pub(crate) fn check_finite(field: &str, x: f64) -> Result<f64, ValuationError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(ValuationError::invalid(
            field,
            format!("must be a finite number, got {x}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_names_a_field() {
        let e = ValuationError::invalid("beta", "too large");
        assert_eq!(e.field(), "beta");
        assert!(e.to_string().contains("`beta`"));
        let e = ValuationError::GrowthNotBelowWacc {
            growth: 0.2,
            wacc: 0.08,
        };
        assert_eq!(e.field(), "terminal_growth_rate");
        assert!(e.to_string().contains("terminal_growth_rate"));
        let e = ValuationError::NotFound {
            ts_code: "000000.XX".into(),
        };
        assert_eq!(e.field(), "ts_code");
    }

    #[test]
    fn ranges_reject_non_finite_and_out_of_range() {
        assert_eq!(check_range("x", 0.5, 0.0, 1.0), Ok(0.5));
        assert!(check_range("x", f64::NAN, 0.0, 1.0).is_err());
        assert!(check_range("x", f64::INFINITY, 0.0, 1.0).is_err());
        assert_eq!(check_range("x", 1.5, 0.0, 1.0).unwrap_err().field(), "x");
        assert!(check_finite("y", f64::NEG_INFINITY).is_err());
    }
}
