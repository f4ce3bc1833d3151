//! Discounted cash flow: present value of the forecast FCFF and of the terminal value →
//! enterprise value → equity value (minus net debt) → value per share.

use super::discount::{discount_factor, Discounting};
use super::error::{check_finite, ValuationError};
use super::terminal::{exit_multiple_tv, implied_perpetual_growth, perpetual_growth_tv};

/// How the value after the explicit forecast is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TerminalSpec {
    /// Gordon growth on the last forecast FCFF.
    PerpetualGrowth { growth: f64 },
    /// `multiple × ebitda` (EBITDA of the last forecast year).
    ExitMultiple { multiple: f64, ebitda: f64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DcfInput<'a> {
    /// Forecast FCFF, year 1 first.
    pub fcff: &'a [f64],
    pub wacc: f64,
    pub terminal: TerminalSpec,
    pub discounting: Discounting,
    /// Borrowings + bonds − cash.
    pub net_debt: f64,
    /// Shares outstanding (in shares).
    pub shares: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DcfOutcome {
    /// Per forecast year.
    pub discount_factors: Vec<f64>,
    /// Per forecast year: `fcff × discount factor`.
    pub pv_fcff: Vec<f64>,
    pub pv_forecast_ufcf: f64,
    /// Undiscounted terminal value as its formula gives it (see [`super::discount`] for the
    /// period it is discounted over).
    pub terminal_value: f64,
    pub terminal_discount_periods: f64,
    pub pv_terminal_value: f64,
    pub enterprise_value: f64,
    pub equity_value: f64,
    pub value_per_share: f64,
    /// `PV(TV)/EV`, only when EV > 0.
    pub terminal_value_share: Option<f64>,
    /// The perpetual growth an exit-multiple terminal value implies (exit multiple only).
    pub implied_perpetual_growth: Option<f64>,
}

/// Values a stream of FCFF. Errors name the offending input: `fcff_forecast`, `wacc`,
/// `terminal_growth_rate` (growth ≥ WACC), `exit_multiple`, `terminal_ebitda`, `net_debt`,
/// `shares_outstanding`.
pub fn dcf(input: &DcfInput<'_>) -> Result<DcfOutcome, ValuationError> {
    let n = input.fcff.len();
    if n == 0 {
        return Err(ValuationError::invalid(
            "fcff_forecast",
            "the forecast has no years",
        ));
    }
    for (i, f) in input.fcff.iter().enumerate() {
        check_finite(&format!("fcff_forecast[{i}]"), *f)?;
    }
    let w = check_finite("wacc", input.wacc)?;
    if w <= 0.0 {
        return Err(ValuationError::invalid(
            "wacc",
            format!("the discount rate must be positive, got {w}"),
        ));
    }
    let net_debt = check_finite("net_debt", input.net_debt)?;
    let shares = check_finite("shares_outstanding", input.shares)?;
    if shares <= 0.0 {
        return Err(ValuationError::invalid(
            "shares_outstanding",
            format!("must be positive, got {shares}"),
        ));
    }

    let d = input.discounting;
    let discount_factors: Vec<f64> = (1..=n)
        .map(|t| discount_factor(w, d.flow_periods(t)))
        .collect();
    let pv_fcff: Vec<f64> = input
        .fcff
        .iter()
        .zip(&discount_factors)
        .map(|(f, df)| f * df)
        .collect();
    let pv_forecast_ufcf: f64 = pv_fcff.iter().sum();
    let last = input.fcff[n - 1];

    let (terminal_value, periods, implied) = match input.terminal {
        TerminalSpec::PerpetualGrowth { growth } => {
            check_finite("terminal_growth_rate", growth)?;
            (
                perpetual_growth_tv(last, growth, w)?,
                d.perpetuity_periods(n),
                None,
            )
        }
        TerminalSpec::ExitMultiple { multiple, ebitda } => {
            check_finite("exit_multiple", multiple)?;
            check_finite("terminal_ebitda", ebitda)?;
            let tv = exit_multiple_tv(ebitda, multiple);
            (
                tv,
                d.exit_periods(n),
                implied_perpetual_growth(tv, last, w, d),
            )
        }
    };
    let pv_terminal_value = terminal_value * discount_factor(w, periods);
    let enterprise_value = pv_forecast_ufcf + pv_terminal_value;
    let equity_value = enterprise_value - net_debt;
    let value_per_share = equity_value / shares;
    let terminal_value_share =
        (enterprise_value > 0.0).then(|| pv_terminal_value / enterprise_value);
    for (field, x) in [
        ("enterprise_value", enterprise_value),
        ("value_per_share", value_per_share),
    ] {
        if !x.is_finite() {
            return Err(ValuationError::invalid(
                field,
                format!("the inputs give a non-finite {field}"),
            ));
        }
    }
    Ok(DcfOutcome {
        discount_factors,
        pv_fcff,
        pv_forecast_ufcf,
        terminal_value,
        terminal_discount_periods: periods,
        pv_terminal_value,
        enterprise_value,
        equity_value,
        value_per_share,
        terminal_value_share,
        implied_perpetual_growth: implied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input(fcff: &[f64], wacc: f64, terminal: TerminalSpec) -> DcfInput<'_> {
        DcfInput {
            fcff,
            wacc,
            terminal,
            discounting: Discounting::EndOfYear,
            net_debt: 0.0,
            shares: 1.0,
        }
    }

    #[test]
    fn five_year_dcf_by_hand() {
        // FCFF 100, 110, 120, 130, 140; WACC 10 %; g 3 %; net debt 200; 10 shares.
        // PV flows: 100/1.1 + 110/1.21 + 120/1.331 + 130/1.4641 + 140/1.61051
        //         = 90.9090… + 90.9090… + 90.1577… + 88.7917… + 86.9289… = 447.6966…
        // TV = 140·1.03/0.07 = 2060; PV = 2060/1.61051 = 1279.0979…
        let fcff = [100.0, 110.0, 120.0, 130.0, 140.0];
        let mut i = input(&fcff, 0.10, TerminalSpec::PerpetualGrowth { growth: 0.03 });
        i.net_debt = 200.0;
        i.shares = 10.0;
        let o = dcf(&i).unwrap();
        let pv_by_hand =
            100.0 / 1.1 + 110.0 / 1.21 + 120.0 / 1.331 + 130.0 / 1.4641 + 140.0 / 1.61051;
        assert!((o.pv_forecast_ufcf - pv_by_hand).abs() < 1e-10);
        assert!(
            (o.pv_forecast_ufcf - 447.696_692_352_112).abs() < 1e-9,
            "{}",
            o.pv_forecast_ufcf
        );
        assert!((o.terminal_value - 2060.0).abs() < 1e-10);
        assert!((o.pv_terminal_value - 2060.0 / 1.61051).abs() < 1e-10);
        let ev = pv_by_hand + 2060.0 / 1.61051;
        assert!((o.enterprise_value - ev).abs() < 1e-10);
        assert!((o.equity_value - (ev - 200.0)).abs() < 1e-10);
        assert!((o.value_per_share - (ev - 200.0) / 10.0).abs() < 1e-11);
        assert!((o.terminal_value_share.unwrap() - (2060.0 / 1.61051) / ev).abs() < 1e-14);
        assert_eq!(o.implied_perpetual_growth, None);
        assert_eq!(o.terminal_discount_periods, 5.0);
    }

    #[test]
    fn level_perpetuity_equals_gordon() {
        // A flat 100 forever at 10 %: explicit 5 years + zero-growth TV = 100/0.10 = 1000.
        let fcff = [100.0; 5];
        let o = dcf(&input(
            &fcff,
            0.10,
            TerminalSpec::PerpetualGrowth { growth: 0.0 },
        ))
        .unwrap();
        assert!(
            (o.enterprise_value - 1000.0).abs() < 1e-10,
            "{}",
            o.enterprise_value
        );
        // Growing at g from year 1 on: EV = F1/(W−g) whatever the horizon.
        let (w, g) = (0.09f64, 0.03f64);
        let fcff: Vec<f64> = (0..7).map(|t| 50.0 * (1.0 + g).powi(t)).collect();
        let o = dcf(&input(
            &fcff,
            w,
            TerminalSpec::PerpetualGrowth { growth: g },
        ))
        .unwrap();
        assert!((o.enterprise_value - 50.0 / (w - g)).abs() < 1e-9);
        // Same with mid-year discounting: everything shifts by half a year.
        let mut i = input(&fcff, w, TerminalSpec::PerpetualGrowth { growth: g });
        i.discounting = Discounting::MidYear;
        let o = dcf(&i).unwrap();
        assert!((o.enterprise_value - 50.0 / (w - g) * (1.0 + w).sqrt()).abs() < 1e-9);
        assert_eq!(o.terminal_discount_periods, 6.5);
    }

    #[test]
    fn exit_multiple_reports_implied_growth() {
        let fcff = [60.0, 62.0, 64.0];
        let t = TerminalSpec::ExitMultiple {
            multiple: 10.0,
            ebitda: 90.0,
        };
        let o = dcf(&input(&fcff, 0.08, t)).unwrap();
        assert_eq!(o.terminal_value, 900.0);
        let g = o.implied_perpetual_growth.unwrap();
        // Valuing by perpetual growth at g gives the same EV.
        let o2 = dcf(&input(
            &fcff,
            0.08,
            TerminalSpec::PerpetualGrowth { growth: g },
        ))
        .unwrap();
        assert!((o2.enterprise_value - o.enterprise_value).abs() < 1e-10);
    }

    #[test]
    fn errors_name_fields() {
        let fcff = [1.0, 2.0];
        let e = dcf(&input(
            &fcff,
            0.05,
            TerminalSpec::PerpetualGrowth { growth: 0.05 },
        ))
        .unwrap_err();
        assert_eq!(e.field(), "terminal_growth_rate");
        let e = dcf(&input(
            &fcff,
            0.0,
            TerminalSpec::PerpetualGrowth { growth: 0.0 },
        ))
        .unwrap_err();
        assert_eq!(e.field(), "wacc");
        let e = dcf(&input(
            &[],
            0.1,
            TerminalSpec::PerpetualGrowth { growth: 0.0 },
        ))
        .unwrap_err();
        assert_eq!(e.field(), "fcff_forecast");
        let mut i = input(&fcff, 0.1, TerminalSpec::PerpetualGrowth { growth: 0.0 });
        i.shares = -5.0;
        assert_eq!(dcf(&i).unwrap_err().field(), "shares_outstanding");
        i.shares = 1.0;
        i.net_debt = f64::NAN;
        assert_eq!(dcf(&i).unwrap_err().field(), "net_debt");
        let bad = [1.0, f64::INFINITY];
        let e = dcf(&input(
            &bad,
            0.1,
            TerminalSpec::PerpetualGrowth { growth: 0.0 },
        ))
        .unwrap_err();
        assert_eq!(e.field(), "fcff_forecast[1]");
    }

    proptest! {
        #[test]
        fn prop_finite_and_additive(
            fcff in proptest::collection::vec(-1e9f64..1e10, 1..=30),
            wacc in 0.01f64..0.30,
            gap in 0.005f64..0.2,
            exit in proptest::option::of((0.5f64..40.0, -1e9f64..1e10)),
            mid in any::<bool>(),
            net_debt in -1e10f64..1e10,
            shares in 1e3f64..1e11,
        ) {
            let growth = (wacc - gap).max(-0.1);
            let terminal = match exit {
                Some((multiple, ebitda)) => TerminalSpec::ExitMultiple { multiple, ebitda },
                None => TerminalSpec::PerpetualGrowth { growth },
            };
            let i = DcfInput {
                fcff: &fcff,
                wacc,
                terminal,
                discounting: Discounting::from_mid_year(mid),
                net_debt,
                shares,
            };
            let o = dcf(&i).unwrap();
            for x in [o.enterprise_value, o.equity_value, o.value_per_share, o.pv_forecast_ufcf,
                      o.pv_terminal_value, o.terminal_value] {
                prop_assert!(x.is_finite());
            }
            // EV = PV(FCFF) + PV(TV), with PVs recomputed independently.
            let pv: f64 = fcff.iter().enumerate().map(|(k, f)| {
                let p = if mid { k as f64 + 0.5 } else { k as f64 + 1.0 };
                f / (1.0 + wacc).powf(p)
            }).sum();
            let scale = fcff.iter().map(|f| f.abs()).fold(1.0, f64::max)
                .max(o.terminal_value.abs());
            prop_assert!((o.pv_forecast_ufcf - pv).abs() <= 1e-12 * scale * fcff.len() as f64);
            prop_assert_eq!(o.enterprise_value, o.pv_forecast_ufcf + o.pv_terminal_value);
            prop_assert!((o.equity_value - (o.enterprise_value - net_debt)).abs()
                <= 1e-12 * (scale + net_debt.abs()));
            prop_assert_eq!(o.pv_fcff.len(), fcff.len());
        }
    }
}
