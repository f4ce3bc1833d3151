//! The `POST /valuation` request, compatible with stock_vale's field names (aliases accepted on
//! input; the canonical name is used on output and in the cache key). Rates are decimals.
//!
//! Unknown fields are ignored (stock_vale clients send LLM and UI options this service does
//! not use) and reported in `data_warnings`, so a misspelt assumption does not pass silently.

use super::company::Company;
use super::error::{check_finite, check_range, ValuationError};
use super::response::BlendWeights;
use super::sensitivity::SensitivitySpec;
use super::terminal::TerminalValueMethod;
use super::wacc::WaccWeights;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Forecast length when the request gives none.
pub const DEFAULT_FORECAST_YEARS: usize = 5;
pub const MAX_FORECAST_YEARS: usize = 30;
pub const DEFAULT_RISK_FREE_RATE: f64 = 0.03;
pub const DEFAULT_MARKET_RISK_PREMIUM: f64 = 0.06;
pub const DEFAULT_COST_OF_DEBT: f64 = 0.045;
pub const DEFAULT_TERMINAL_GROWTH: f64 = 0.025;
/// Beta when neither the request nor the company has one.
pub const DEFAULT_BETA: f64 = 1.0;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValuationRequest {
    #[serde(alias = "stock_code", skip_serializing_if = "Option::is_none")]
    pub ts_code: Option<String>,
    /// 1..=30, default 5.
    #[serde(alias = "prediction_years", skip_serializing_if = "Option::is_none")]
    pub forecast_years: Option<i64>,

    // --- discount rate ---
    /// [−0.05, 0.5], default 0.03.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_free_rate: Option<f64>,
    /// [−1, 5], default the company's beta, else 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// [0, 0.3], default 0.06.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub market_risk_premium: Option<f64>,
    /// Added to the CAPM cost of equity; [−0.05, 0.2], default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_premium: Option<f64>,
    /// Pre-tax; [0, 0.5], default 0.045.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_of_debt: Option<f64>,
    /// D/V; [0, 0.95].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_debt_ratio: Option<f64>,
    /// [0, 0.6], default the company's average effective rate, else 25 %.
    #[serde(
        alias = "target_effective_tax_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub tax_rate: Option<f64>,
    /// `target` (default when `target_debt_ratio` is given) or `market` (default otherwise).
    #[serde(alias = "wacc_weight_mode", skip_serializing_if = "Option::is_none")]
    pub wacc_weights: Option<WaccWeights>,
    /// Explicit discount rate, replacing the computed WACC; (0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_rate: Option<f64>,

    // --- terminal value ---
    /// `perpetual_growth` (default) or `exit_multiple`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_value_method: Option<TerminalValueMethod>,
    /// EV/EBITDA at the end of the forecast; (0, 200]. Required for `exit_multiple`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_multiple: Option<f64>,
    /// [−0.1, 0.2], default 0.025; also the rate revenue growth fades to.
    #[serde(
        alias = "perpetual_growth_rate",
        skip_serializing_if = "Option::is_none"
    )]
    pub terminal_growth_rate: Option<f64>,
    /// Discount flows at t − 0.5 (see [`super::discount`]); default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid_year_convention: Option<bool>,
    /// `{rows: {axis, values}, columns: {axis, values}}`, ≤ 11 × 11.
    #[serde(
        alias = "sensitivity_analysis",
        skip_serializing_if = "Option::is_none"
    )]
    pub sensitivity: Option<SensitivitySpec>,

    // --- what-if inputs: supplied values replace the derived ones ---
    /// Year-by-year FCFF (CNY), replacing the whole operating forecast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fcff_forecast: Option<Vec<f64>>,
    /// Borrowings + bonds − cash (CNY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_debt: Option<f64>,
    /// In shares (not TuShare's 10⁴ shares).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares_outstanding: Option<f64>,
    /// EBITDA of the last forecast year for the exit multiple (CNY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_ebitda: Option<f64>,
    /// Revenue of the base year (CNY).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_revenue: Option<f64>,
    /// One growth rate per forecast year; each in [−0.9, 5].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue_growth_path: Option<Vec<f64>>,
    /// One EBIT margin per forecast year; each in [−2, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebit_margin_path: Option<Vec<f64>>,
    /// D&A as a share of revenue; [0, 1].
    #[serde(
        alias = "target_da_to_revenue_ratio",
        skip_serializing_if = "Option::is_none"
    )]
    pub da_to_revenue: Option<f64>,
    /// CapEx as a share of revenue; [0, 2].
    #[serde(
        alias = "target_capex_to_revenue_ratio",
        skip_serializing_if = "Option::is_none"
    )]
    pub capex_to_revenue: Option<f64>,
    /// Net working capital as a share of revenue; [−1, 2].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nwc_to_revenue: Option<f64>,
    /// Weights of the blended target (renormalised over the available methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blend_weights: Option<BlendWeights>,

    // --- offline use (`warmstart value`) ---
    /// The company's data, for a request that carries all its inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    /// Industry peers, for a request that carries all its inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<Company>>,

    /// Fields this service does not know; ignored and reported in `data_warnings`.
    #[serde(flatten, skip_serializing)]
    pub ignored: BTreeMap<String, Value>,
}

fn opt_range(field: &str, x: Option<f64>, lo: f64, hi: f64) -> Result<(), ValuationError> {
    match x {
        Some(v) => check_range(field, v, lo, hi).map(|_| ()),
        None => Ok(()),
    }
}

fn positive(field: &str, x: Option<f64>) -> Result<(), ValuationError> {
    if let Some(v) = x {
        check_finite(field, v)?;
        if v <= 0.0 {
            return Err(ValuationError::invalid(
                field,
                format!("must be positive, got {v}"),
            ));
        }
    }
    Ok(())
}

fn list(field: &str, xs: Option<&[f64]>, lo: f64, hi: f64) -> Result<(), ValuationError> {
    let Some(xs) = xs else { return Ok(()) };
    if xs.is_empty() || xs.len() > MAX_FORECAST_YEARS {
        return Err(ValuationError::invalid(
            field,
            format!("needs 1 to {MAX_FORECAST_YEARS} values, got {}", xs.len()),
        ));
    }
    for (i, x) in xs.iter().enumerate() {
        check_range(&format!("{field}[{i}]"), *x, lo, hi)?;
    }
    Ok(())
}

impl ValuationRequest {
    /// Parses a JSON body. A malformed body is an error naming `body`; a field of the wrong
    /// type or an unknown enum value names that field.
    pub fn from_json(body: &[u8]) -> Result<Self, ValuationError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ValuationError::invalid("body", format!("not valid JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Like [`Self::from_json`], from a parsed value.
    pub fn from_value(value: Value) -> Result<Self, ValuationError> {
        let Value::Object(map) = value else {
            return Err(ValuationError::invalid("body", "must be a JSON object"));
        };
        match serde_json::from_value::<Self>(Value::Object(map.clone())) {
            Ok(r) => Ok(r),
            Err(e) => {
                // Find the field: deserialize each one on its own (all fields are optional).
                for (k, v) in map {
                    let one = serde_json::Map::from_iter([(k.clone(), v)]);
                    if let Err(e1) = serde_json::from_value::<Self>(Value::Object(one)) {
                        return Err(ValuationError::invalid(k, e1.to_string()));
                    }
                }
                Err(ValuationError::invalid("body", e.to_string()))
            }
        }
    }

    /// Range and consistency checks that need no company data. Every error names its field.
    pub fn validate(&self) -> Result<(), ValuationError> {
        if let Some(c) = &self.ts_code {
            if c.trim().is_empty() || c.len() > 32 {
                return Err(ValuationError::invalid(
                    "ts_code",
                    "must be a non-empty code like 600519.SH",
                ));
            }
        }
        if let Some(n) = self.forecast_years {
            if !(1..=MAX_FORECAST_YEARS as i64).contains(&n) {
                return Err(ValuationError::invalid(
                    "forecast_years",
                    format!("must be between 1 and {MAX_FORECAST_YEARS}, got {n}"),
                ));
            }
        }
        opt_range("risk_free_rate", self.risk_free_rate, -0.05, 0.5)?;
        opt_range("beta", self.beta, -1.0, 5.0)?;
        opt_range("market_risk_premium", self.market_risk_premium, 0.0, 0.3)?;
        opt_range("size_premium", self.size_premium, -0.05, 0.2)?;
        opt_range("cost_of_debt", self.cost_of_debt, 0.0, 0.5)?;
        opt_range("target_debt_ratio", self.target_debt_ratio, 0.0, 0.95)?;
        opt_range("tax_rate", self.tax_rate, 0.0, 0.6)?;
        opt_range("discount_rate", self.discount_rate, 0.0001, 1.0)?;
        opt_range("terminal_growth_rate", self.terminal_growth_rate, -0.1, 0.2)?;
        opt_range("exit_multiple", self.exit_multiple, 0.01, 200.0)?;
        if let Some(n) = self.net_debt {
            check_finite("net_debt", n)?;
        }
        if let Some(e) = self.terminal_ebitda {
            check_finite("terminal_ebitda", e)?;
        }
        positive("shares_outstanding", self.shares_outstanding)?;
        positive("base_revenue", self.base_revenue)?;
        list("fcff_forecast", self.fcff_forecast.as_deref(), -1e18, 1e18)?;
        list(
            "revenue_growth_path",
            self.revenue_growth_path.as_deref(),
            -0.9,
            5.0,
        )?;
        list(
            "ebit_margin_path",
            self.ebit_margin_path.as_deref(),
            -2.0,
            1.0,
        )?;
        opt_range("da_to_revenue", self.da_to_revenue, 0.0, 1.0)?;
        opt_range("capex_to_revenue", self.capex_to_revenue, 0.0, 2.0)?;
        opt_range("nwc_to_revenue", self.nwc_to_revenue, -1.0, 2.0)?;
        if let Some(w) = &self.blend_weights {
            for (f, x) in [
                ("blend_weights.dcf", w.dcf),
                ("blend_weights.relative", w.relative),
                ("blend_weights.ml", w.ml),
            ] {
                check_range(f, x, 0.0, 1e6)?;
            }
            if w.dcf + w.relative + w.ml <= 0.0 {
                return Err(ValuationError::invalid(
                    "blend_weights",
                    "at least one weight must be positive",
                ));
            }
        }
        if let Some(s) = &self.sensitivity {
            s.validate("sensitivity")?;
        }
        if self.terminal_value_method == Some(TerminalValueMethod::ExitMultiple)
            && self.exit_multiple.is_none()
        {
            return Err(ValuationError::invalid(
                "exit_multiple",
                "required when terminal_value_method is exit_multiple",
            ));
        }
        if self.wacc_weights == Some(WaccWeights::Target)
            && self.target_debt_ratio.is_none()
            && self.discount_rate.is_none()
        {
            return Err(ValuationError::invalid(
                "target_debt_ratio",
                "required when wacc_weights is target",
            ));
        }
        self.forecast_years()?;
        Ok(())
    }

    /// The forecast length: `forecast_years`, else the length of a supplied path or FCFF list,
    /// else 5. Paths and lists must agree with it.
    pub fn forecast_years(&self) -> Result<usize, ValuationError> {
        let lists = [
            ("fcff_forecast", self.fcff_forecast.as_ref()),
            ("revenue_growth_path", self.revenue_growth_path.as_ref()),
            ("ebit_margin_path", self.ebit_margin_path.as_ref()),
        ];
        let mut n = self
            .forecast_years
            .map(|n| n.clamp(1, MAX_FORECAST_YEARS as i64) as usize);
        for (field, l) in lists {
            if let Some(l) = l {
                match n {
                    None => n = Some(l.len()),
                    Some(n) if n != l.len() => {
                        return Err(ValuationError::invalid(
                            field,
                            format!(
                                "has {} values but the forecast has {n} years (forecast_years \
                                 or another path)",
                                l.len()
                            ),
                        ))
                    }
                    _ => {}
                }
            }
        }
        Ok(n.unwrap_or(DEFAULT_FORECAST_YEARS))
    }

    /// `ts_code` trimmed and upper-cased.
    pub fn normalized_ts_code(&self) -> Option<String> {
        self.ts_code.as_ref().map(|c| c.trim().to_ascii_uppercase())
    }

    /// The assumptions in canonical form: aliases resolved (by deserialization), static
    /// defaults filled in, `ts_code`/`company`/`peers`/unknown fields removed, `-0.0` → `0.0`.
    /// Company-dependent defaults (beta, tax rate, history) are left out: the company's data
    /// date covers them in the cache key.
    pub fn normalized_assumptions(&self) -> Result<Value, ValuationError> {
        let mut r = self.clone();
        r.ts_code = None;
        r.company = None;
        r.peers = None;
        r.ignored.clear();
        r.forecast_years = Some(self.forecast_years()? as i64);
        r.risk_free_rate.get_or_insert(DEFAULT_RISK_FREE_RATE);
        r.market_risk_premium
            .get_or_insert(DEFAULT_MARKET_RISK_PREMIUM);
        r.cost_of_debt.get_or_insert(DEFAULT_COST_OF_DEBT);
        r.terminal_value_method
            .get_or_insert(TerminalValueMethod::PerpetualGrowth);
        r.terminal_growth_rate
            .get_or_insert(DEFAULT_TERMINAL_GROWTH);
        r.mid_year_convention.get_or_insert(false);
        r.wacc_weights
            .get_or_insert(if r.target_debt_ratio.is_some() {
                WaccWeights::Target
            } else {
                WaccWeights::Market
            });
        let mut v =
            serde_json::to_value(&r).map_err(|e| ValuationError::invalid("body", e.to_string()))?;
        canonical_zeros(&mut v);
        Ok(v)
    }

    /// `ValuationCache` key: hex sha256 of the canonical JSON of
    /// `[ts_code, normalized assumptions, model version, data as-of]`.
    pub fn cache_key(
        &self,
        model_version: Option<&str>,
        as_of: &str,
    ) -> Result<String, ValuationError> {
        let material = serde_json::json!([
            self.normalized_ts_code(),
            self.normalized_assumptions()?,
            model_version,
            as_of,
        ]);
        let bytes = serde_json::to_vec(&material)
            .map_err(|e| ValuationError::invalid("body", e.to_string()))?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }

    /// The request's inputs alone: hex sha256 of the canonical JSON of
    /// `[ts_code, normalized assumptions]`, whatever the company data's date and the model
    /// version. Keys the latest answer a store outage is answered from.
    pub fn request_key(&self) -> Result<String, ValuationError> {
        let material =
            serde_json::json!([self.normalized_ts_code(), self.normalized_assumptions()?]);
        let bytes = serde_json::to_vec(&material)
            .map_err(|e| ValuationError::invalid("body", e.to_string()))?;
        Ok(hex::encode(Sha256::digest(&bytes)))
    }

    /// Names of the ignored unknown fields.
    pub fn ignored_fields(&self) -> Vec<&str> {
        self.ignored.keys().map(String::as_str).collect()
    }
}

/// Rewrites `-0.0` as `0.0` so the two hash alike.
fn canonical_zeros(v: &mut Value) {
    match v {
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => {
            *v = Value::from(0.0);
        }
        Value::Array(a) => a.iter_mut().for_each(canonical_zeros),
        Value::Object(o) => o.values_mut().for_each(canonical_zeros),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"ts_code":"600519.SH","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.025,"sensitivity":{"rows":{"axis":"wacc","values":[0.07,0.08,0.09]},"columns":{"axis":"terminal_growth","values":[0.015,0.02,0.025]}}}"#;
    const ALIASES: &str = r#"{"stock_code":"600519.SH","prediction_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","perpetual_growth_rate":0.025}"#;

    #[test]
    fn parses_the_event_bodies_and_aliases() {
        let v = ValuationRequest::from_json(VALID.as_bytes()).unwrap();
        v.validate().unwrap();
        assert_eq!(v.ts_code.as_deref(), Some("600519.SH"));
        assert_eq!(v.sensitivity.as_ref().unwrap().rows.values.len(), 3);
        let a = ValuationRequest::from_json(ALIASES.as_bytes()).unwrap();
        a.validate().unwrap();
        assert_eq!(a.ts_code, v.ts_code);
        assert_eq!(a.forecast_years, Some(5));
        assert_eq!(a.terminal_growth_rate, Some(0.025));
        // Same assumptions apart from the sensitivity table.
        let mut v2 = v.clone();
        v2.sensitivity = None;
        assert_eq!(
            a.cache_key(Some("m1"), "20241231").unwrap(),
            v2.cache_key(Some("m1"), "20241231").unwrap()
        );
        assert!(a.ignored.is_empty());
    }

    #[test]
    fn cache_key_normalizes_and_separates() {
        let a = ValuationRequest::from_json(br#"{"ts_code":" 600519.sh "}"#).unwrap();
        let b = ValuationRequest::from_json(
            br#"{"ts_code":"600519.SH","forecast_years":5,"terminal_growth_rate":0.025,"mid_year_convention":false,"llm_provider":"x"}"#,
        )
        .unwrap();
        let k = |r: &ValuationRequest, m: Option<&str>, d: &str| r.cache_key(m, d).unwrap();
        assert_eq!(k(&a, Some("v1"), "20241231"), k(&b, Some("v1"), "20241231"));
        assert_ne!(k(&a, Some("v1"), "20241231"), k(&a, Some("v2"), "20241231"));
        assert_ne!(k(&a, Some("v1"), "20241231"), k(&a, Some("v1"), "20250101"));
        assert_ne!(k(&a, None, "20241231"), k(&a, Some("v1"), "20241231"));
        let c = ValuationRequest::from_json(br#"{"ts_code":"600519.SH","beta":1.2}"#).unwrap();
        assert_ne!(k(&a, None, "d"), k(&c, None, "d"));
        let z1 = ValuationRequest::from_json(br#"{"ts_code":"X","size_premium":-0.0}"#).unwrap();
        let z2 = ValuationRequest::from_json(br#"{"ts_code":"X","size_premium":0.0}"#).unwrap();
        assert_eq!(k(&z1, None, "d"), k(&z2, None, "d"));
        assert_eq!(k(&a, None, "d").len(), 64);
        // The request key ignores the data date and model, not the inputs.
        assert_eq!(a.request_key().unwrap(), b.request_key().unwrap());
        assert_ne!(a.request_key().unwrap(), c.request_key().unwrap());
        assert_ne!(a.request_key().unwrap(), k(&a, None, "d"));
        assert_eq!(b.ignored_fields(), vec!["llm_provider"]);
    }

    #[test]
    fn errors_name_the_field() {
        let field = |body: &str| match ValuationRequest::from_json(body.as_bytes()) {
            Err(e) => e.field().to_string(),
            Ok(r) => r.validate().unwrap_err().field().to_string(),
        };
        assert_eq!(field(r#"{"ts_code":"#), "body");
        assert_eq!(field(r#"[1]"#), "body");
        assert_eq!(
            field(r#"{"ts_code":"A","forecast_years":0}"#),
            "forecast_years"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","forecast_years":31}"#),
            "forecast_years"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","forecast_years":"five"}"#),
            "forecast_years"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","prediction_years":2.5}"#),
            "prediction_years"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","risk_free_rate":0.6}"#),
            "risk_free_rate"
        );
        assert_eq!(field(r#"{"ts_code":"A","risk_free_rate":1e999}"#), "body");
        assert_eq!(field(r#"{"ts_code":"A","beta":7}"#), "beta");
        assert_eq!(
            field(r#"{"ts_code":"A","terminal_growth_rate":0.3}"#),
            "terminal_growth_rate"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","terminal_value_method":"magic"}"#),
            "terminal_value_method"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","terminal_value_method":"exit_multiple"}"#),
            "exit_multiple"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","shares_outstanding":-1}"#),
            "shares_outstanding"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","wacc_weights":"target"}"#),
            "target_debt_ratio"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","fcff_forecast":[]}"#),
            "fcff_forecast"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","forecast_years":3,"fcff_forecast":[1,2]}"#),
            "fcff_forecast"
        );
        assert_eq!(
            field(r#"{"ts_code":"A","revenue_growth_path":[0.1,-0.95]}"#),
            "revenue_growth_path[1]"
        );
        assert_eq!(field(r#"{"ts_code":"  "}"#), "ts_code");
        assert_eq!(
            field(r#"{"blend_weights":{"dcf":0,"relative":0,"ml":0}}"#),
            "blend_weights"
        );
        let big: Vec<String> = (0..12).map(|i| format!("0.0{}", i % 9 + 1)).collect();
        assert_eq!(
            field(&format!(
                r#"{{"sensitivity":{{"rows":{{"axis":"wacc","values":[{}]}},"columns":{{"axis":"terminal_growth","values":[0.02]}}}}}}"#,
                big.join(",")
            )),
            "sensitivity.rows.values"
        );
    }

    #[test]
    fn forecast_years_from_lists() {
        let r = ValuationRequest {
            fcff_forecast: Some(vec![1.0, 2.0, 3.0]),
            ..Default::default()
        };
        assert_eq!(r.forecast_years().unwrap(), 3);
        assert_eq!(ValuationRequest::default().forecast_years().unwrap(), 5);
    }
}
