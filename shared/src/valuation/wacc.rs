//! Discount rate: cost of equity by CAPM, after-tax cost of debt, and the weighted average cost
//! of capital from a target debt ratio or from market weights. All rates are decimals.

use serde::{Deserialize, Serialize};

/// CAPM cost of equity: `Ke = Rf + β·MRP`.
pub fn cost_of_equity(risk_free_rate: f64, beta: f64, market_risk_premium: f64) -> f64 {
    risk_free_rate + beta * market_risk_premium
}

/// After-tax cost of debt: `Kd·(1 − t)` (interest is tax-deductible).
pub fn after_tax_cost_of_debt(cost_of_debt: f64, tax_rate: f64) -> f64 {
    cost_of_debt * (1.0 - tax_rate)
}

/// WACC for a debt weight `D/V`: `(1 − D/V)·Ke + D/V·Kd·(1 − t)`.
pub fn wacc_from_debt_ratio(debt_ratio: f64, ke: f64, kd: f64, tax_rate: f64) -> f64 {
    (1.0 - debt_ratio) * ke + debt_ratio * after_tax_cost_of_debt(kd, tax_rate)
}

/// WACC from market values: `E/(D+E)·Ke + D/(D+E)·Kd·(1 − t)`. `None` when `D + E ≤ 0` or
/// either value is negative.
pub fn wacc_from_values(equity: f64, debt: f64, ke: f64, kd: f64, tax_rate: f64) -> Option<f64> {
    let v = equity + debt;
    if v.is_nan() || v <= 0.0 || equity < 0.0 || debt < 0.0 {
        return None;
    }
    Some(wacc_from_debt_ratio(debt / v, ke, kd, tax_rate))
}

/// Where the debt/equity weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaccWeights {
    /// The request's `target_debt_ratio` (D/V).
    Target,
    /// Market values: E = price·shares, D = borrowings + bonds.
    Market,
}

/// How the discount rate was obtained, reported in the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaccBreakdown {
    /// `"target"`, `"market"` or `"override"` (the request's `discount_rate`).
    pub source: String,
    /// CAPM cost of equity (`None` when the discount rate was overridden).
    pub cost_of_equity: Option<f64>,
    pub cost_of_debt: Option<f64>,
    pub after_tax_cost_of_debt: Option<f64>,
    /// D/V used.
    pub debt_weight: Option<f64>,
    /// E/V used.
    pub equity_weight: Option<f64>,
    pub tax_rate: f64,
    pub wacc: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capm_known_check() {
        // Rf 3 %, β 1.2, MRP 6 % → 10.2 %.
        let ke = cost_of_equity(0.03, 1.2, 0.06);
        assert!((ke - 0.102).abs() < 1e-15, "{ke}");
    }

    #[test]
    fn wacc_known_check() {
        // E 600k, D 200k, Ke 19.4 %, Kd 10 %, tax 20 % → 0.75·0.194 + 0.25·0.08 = 16.55 %.
        let w = wacc_from_values(600_000.0, 200_000.0, 0.194, 0.10, 0.20).unwrap();
        assert!((w - 0.1655).abs() < 1e-15, "{w}");
        // The same through the target ratio D/V = 0.25.
        let w2 = wacc_from_debt_ratio(0.25, 0.194, 0.10, 0.20);
        assert!((w2 - 0.1655).abs() < 1e-15, "{w2}");
    }

    #[test]
    fn after_tax_debt_and_limits() {
        assert!((after_tax_cost_of_debt(0.10, 0.25) - 0.075).abs() < 1e-15);
        // All equity → Ke; all debt → after-tax Kd.
        assert_eq!(wacc_from_debt_ratio(0.0, 0.1, 0.05, 0.25), 0.1);
        assert!((wacc_from_debt_ratio(1.0, 0.1, 0.05, 0.25) - 0.0375).abs() < 1e-15);
        assert_eq!(wacc_from_values(0.0, 0.0, 0.1, 0.05, 0.25), None);
        assert_eq!(wacc_from_values(-1.0, 5.0, 0.1, 0.05, 0.25), None);
        // Textbook (Brealey–Myers style): E 60 %, D 40 %, Ke 12 %, Kd 6 %, t 30 % → 8.88 %.
        let w = wacc_from_values(60.0, 40.0, 0.12, 0.06, 0.30).unwrap();
        assert!((w - 0.0888).abs() < 1e-15, "{w}");
    }
}
