//! Discounting conventions.
//!
//! * **End of year** (default): the year-`t` flow arrives at the end of year `t`, discount
//!   factor `1/(1+WACC)^t`.
//! * **Mid-year** (`mid_year_convention: true`): flows arrive evenly through the year, which is
//!   approximated by discounting each at `t − 0.5`.
//!
//! Terminal value under mid-year discounting depends on what the terminal value stands for:
//! * a **perpetual-growth** TV, `FCFF_n·(1+g)/(WACC−g)`, values a perpetuity whose flows are
//!   themselves mid-year (`n+0.5, n+1.5, …`); the Gordon formula then gives its value at
//!   `n − 0.5`, so it is discounted over `n − 0.5` periods, consistent with the explicit flows;
//! * an **exit-multiple** TV is a sale price at the end of year `n`, discounted over `n` periods.
//!
//! Under end-of-year discounting both are discounted over `n` periods.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discounting {
    #[default]
    EndOfYear,
    MidYear,
}

impl Discounting {
    pub fn from_mid_year(mid_year: bool) -> Self {
        if mid_year {
            Discounting::MidYear
        } else {
            Discounting::EndOfYear
        }
    }

    /// Discount periods for the flow of forecast year `t` (1-based).
    pub fn flow_periods(self, t: usize) -> f64 {
        match self {
            Discounting::EndOfYear => t as f64,
            Discounting::MidYear => t as f64 - 0.5,
        }
    }

    /// Discount periods for a perpetual-growth terminal value after `n` forecast years.
    pub fn perpetuity_periods(self, n: usize) -> f64 {
        self.flow_periods(n)
    }

    /// Discount periods for an exit-multiple terminal value (a price at the end of year `n`).
    pub fn exit_periods(self, n: usize) -> f64 {
        n as f64
    }
}

/// `1/(1+rate)^periods`.
pub fn discount_factor(rate: f64, periods: f64) -> f64 {
    (1.0 + rate).powf(-periods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors() {
        assert!((discount_factor(0.10, 1.0) - 1.0 / 1.1).abs() < 1e-15);
        assert!((discount_factor(0.10, 2.0) - 1.0 / 1.21).abs() < 1e-15);
        // Mid-year year 1 at 10 %: 1/√1.1.
        let f = discount_factor(0.10, Discounting::MidYear.flow_periods(1));
        assert!((f - 1.0 / 1.1f64.sqrt()).abs() < 1e-15);
        // Mid-year factor is the end-of-year factor grown by half a year.
        for t in 1..=10 {
            let e = discount_factor(0.08, Discounting::EndOfYear.flow_periods(t));
            let m = discount_factor(0.08, Discounting::MidYear.flow_periods(t));
            assert!((m - e * 1.08f64.sqrt()).abs() < 1e-15);
        }
        assert_eq!(Discounting::MidYear.perpetuity_periods(5), 4.5);
        assert_eq!(Discounting::MidYear.exit_periods(5), 5.0);
        assert_eq!(Discounting::EndOfYear.perpetuity_periods(5), 5.0);
        assert_eq!(
            serde_json::to_string(&Discounting::MidYear).unwrap(),
            "\"mid_year\""
        );
    }
}
