//! Terminal value: perpetual growth (Gordon) or an exit multiple of EBITDA, and the perpetual
//! growth an exit multiple implies.

use super::discount::Discounting;
use super::error::ValuationError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalValueMethod {
    #[default]
    PerpetualGrowth,
    ExitMultiple,
}

/// Gordon growth terminal value at the end of the forecast: `FCFF_n·(1+g)/(WACC−g)`.
/// `g ≥ WACC` has no finite value and is an error naming `terminal_growth_rate`.
pub fn perpetual_growth_tv(last_fcff: f64, growth: f64, wacc: f64) -> Result<f64, ValuationError> {
    if growth.is_nan() || wacc.is_nan() || growth >= wacc {
        return Err(ValuationError::GrowthNotBelowWacc { growth, wacc });
    }
    Ok(last_fcff * (1.0 + growth) / (wacc - growth))
}

/// Exit-multiple terminal value: `multiple × EBITDA_n`.
pub fn exit_multiple_tv(terminal_ebitda: f64, multiple: f64) -> f64 {
    terminal_ebitda * multiple
}

/// The perpetual growth rate at which a Gordon terminal value has the same present value as
/// `tv` (an exit-multiple value at the end of year `n`).
///
/// End of year: solve `TV = F·(1+g)/(W−g)` → `g = (TV·W − F)/(TV + F)`.
///
/// Mid-year: the Gordon value of mid-year flows is a value at `n − 0.5`; at `n` it is worth
/// `F·(1+g)/(W−g)·(1+W)^½`. With `c = F·(1+W)^½`: `g = (TV·W − c)/(TV + c)`.
///
/// `None` when `TV + c ≤ 0` (no meaningful growth rate).
pub fn implied_perpetual_growth(
    tv: f64,
    last_fcff: f64,
    wacc: f64,
    discounting: Discounting,
) -> Option<f64> {
    let c = match discounting {
        Discounting::EndOfYear => last_fcff,
        Discounting::MidYear => last_fcff * (1.0 + wacc).sqrt(),
    };
    let denom = tv + c;
    if denom.is_nan() || denom <= 0.0 {
        return None;
    }
    let g = (tv * wacc - c) / denom;
    g.is_finite().then_some(g)
}

#[cfg(test)]
mod tests {
    use super::super::discount::discount_factor;
    use super::*;

    #[test]
    fn perpetual_known_check() {
        // 60·1.02/(0.08−0.02) = 1020.
        let tv = perpetual_growth_tv(60.0, 0.02, 0.08).unwrap();
        assert!((tv - 1020.0).abs() < 1e-12, "{tv}");
    }

    #[test]
    fn gordon_textbook() {
        // Dividend-discount form: next flow 5, r 10 %, g 5 % → 100; in FCFF_n form F·(1+g) = 5.
        let tv = perpetual_growth_tv(5.0 / 1.05, 0.05, 0.10).unwrap();
        assert!((tv - 100.0).abs() < 1e-12, "{tv}");
        // Zero growth is a plain perpetuity F/W.
        assert!((perpetual_growth_tv(8.0, 0.0, 0.08).unwrap() - 100.0).abs() < 1e-12);
    }

    #[test]
    fn growth_not_below_wacc_is_an_error() {
        for g in [0.08, 0.09, 0.2] {
            let e = perpetual_growth_tv(60.0, g, 0.08).unwrap_err();
            assert!(matches!(e, ValuationError::GrowthNotBelowWacc { .. }));
            assert_eq!(e.field(), "terminal_growth_rate");
        }
        assert!(perpetual_growth_tv(60.0, f64::NAN, 0.08).is_err());
    }

    #[test]
    fn exit_multiple_implied_growth_round_trip() {
        let (f, w, n) = (60.0, 0.09, 5usize);
        for ebitda in [80.0, 100.0, 150.0] {
            for m in [6.0, 10.0, 14.0] {
                let tv = exit_multiple_tv(ebitda, m);
                for d in [Discounting::EndOfYear, Discounting::MidYear] {
                    let g = implied_perpetual_growth(tv, f, w, d).unwrap();
                    assert!(g < w);
                    let gordon = perpetual_growth_tv(f, g, w).unwrap();
                    let pv_exit = tv * discount_factor(w, d.exit_periods(n));
                    let pv_gordon = gordon * discount_factor(w, d.perpetuity_periods(n));
                    assert!(
                        ((pv_exit - pv_gordon) / pv_exit).abs() < 1e-13,
                        "{d:?} m {m}: {pv_exit} vs {pv_gordon}"
                    );
                    if d == Discounting::EndOfYear {
                        assert!((gordon - tv).abs() / tv < 1e-13);
                    }
                }
            }
        }
        // The documented end-of-year closed form.
        let g = implied_perpetual_growth(1020.0, 60.0, 0.08, Discounting::EndOfYear).unwrap();
        assert!((g - 0.02).abs() < 1e-15, "{g}");
        assert_eq!(
            implied_perpetual_growth(-100.0, 50.0, 0.08, Discounting::EndOfYear),
            None
        );
    }
}
