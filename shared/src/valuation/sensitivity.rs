//! Sensitivity grid: value per share (and EV, equity, TV share) over two of WACC, terminal
//! growth and exit multiple, at most 11 × 11.
//!
//! The explicit FCFF forecast is held fixed; only the discount rate and the terminal value
//! vary. The valid pairs are `wacc` × `terminal_growth` (the grid values the terminal by
//! perpetual growth, whatever the request's own method) and `wacc` × `exit_multiple` (by exit
//! multiple). Pairing `terminal_growth` with `exit_multiple` mixes two terminal methods and is
//! rejected. A cell with growth ≥ WACC has no value and is `null`.

use super::dcf::{dcf, DcfInput, TerminalSpec};
use super::discount::Discounting;
use super::error::{check_range, ValuationError};
use super::response::{SensitivityResult, SensitivityTables};
use serde::{Deserialize, Serialize};

/// At most this many values per axis.
pub const MAX_AXIS_VALUES: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitivityAxis {
    #[serde(alias = "discount_rate")]
    Wacc,
    #[serde(alias = "terminal_growth_rate", alias = "perpetual_growth_rate")]
    TerminalGrowth,
    ExitMultiple,
}

impl SensitivityAxis {
    /// Accepted range of the axis values.
    fn range(self) -> (f64, f64) {
        match self {
            SensitivityAxis::Wacc => (0.0001, 1.0),
            SensitivityAxis::TerminalGrowth => (-0.1, 0.2),
            SensitivityAxis::ExitMultiple => (0.01, 200.0),
        }
    }
}

/// One axis: which input varies and its values. stock_vale's `parameter_name` is accepted for
/// `axis`; its `step`/`points` are accepted and ignored (the values are used as given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSpec {
    #[serde(alias = "parameter_name")]
    pub axis: SensitivityAxis,
    pub values: Vec<f64>,
    #[serde(default, skip_serializing)]
    pub step: Option<f64>,
    #[serde(default, skip_serializing)]
    pub points: Option<f64>,
}

/// `{rows: {axis, values}, columns: {axis, values}}` (stock_vale's `row_axis` / `column_axis`
/// are accepted as aliases).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivitySpec {
    #[serde(alias = "row_axis")]
    pub rows: AxisSpec,
    #[serde(alias = "column_axis")]
    pub columns: AxisSpec,
}

impl SensitivitySpec {
    /// Checks axis counts, ranges and that the two axes make a valid pair. `field` is the
    /// request field the spec came from (`sensitivity`).
    pub fn validate(&self, field: &str) -> Result<(), ValuationError> {
        for (name, a) in [("rows", &self.rows), ("columns", &self.columns)] {
            let f = format!("{field}.{name}.values");
            if a.values.is_empty() || a.values.len() > MAX_AXIS_VALUES {
                return Err(ValuationError::invalid(
                    f,
                    format!(
                        "needs 1 to {MAX_AXIS_VALUES} values, got {}",
                        a.values.len()
                    ),
                ));
            }
            let (lo, hi) = a.axis.range();
            for (i, v) in a.values.iter().enumerate() {
                check_range(&format!("{f}[{i}]"), *v, lo, hi)?;
            }
        }
        let pair = (self.rows.axis, self.columns.axis);
        if pair.0 == pair.1 {
            return Err(ValuationError::invalid(
                format!("{field}.columns.axis"),
                "rows and columns must vary different inputs",
            ));
        }
        use SensitivityAxis::*;
        if matches!(
            pair,
            (TerminalGrowth, ExitMultiple) | (ExitMultiple, TerminalGrowth)
        ) {
            return Err(ValuationError::invalid(
                format!("{field}.columns.axis"),
                "terminal_growth and exit_multiple belong to different terminal methods; pair \
                 either with wacc",
            ));
        }
        Ok(())
    }

    fn has(&self, axis: SensitivityAxis) -> bool {
        self.rows.axis == axis || self.columns.axis == axis
    }
}

/// The base case the grid varies.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityBase<'a> {
    pub fcff: &'a [f64],
    /// Used for every cell unless an axis is `wacc`.
    pub wacc: f64,
    /// EBITDA an exit-multiple axis applies to.
    pub terminal_ebitda: Option<f64>,
    pub discounting: Discounting,
    pub net_debt: f64,
    pub shares: f64,
}

/// Computes the grid.
pub fn sensitivity(
    spec: &SensitivitySpec,
    base: &SensitivityBase<'_>,
) -> Result<SensitivityResult, ValuationError> {
    spec.validate("sensitivity")?;
    // Every valid pair has a terminal axis, and that axis decides the method.
    let ebitda = if spec.has(SensitivityAxis::ExitMultiple) {
        Some(base.terminal_ebitda.ok_or_else(|| {
            ValuationError::invalid(
                "terminal_ebitda",
                "an exit-multiple sensitivity needs the terminal EBITDA; supply terminal_ebitda",
            )
        })?)
    } else {
        None
    };

    let (nr, nc) = (spec.rows.values.len(), spec.columns.values.len());
    let grid = || vec![vec![None; nc]; nr];
    let mut tables = SensitivityTables {
        value_per_share: grid(),
        enterprise_value: grid(),
        equity_value: grid(),
        tv_ev_ratio: grid(),
    };
    for (i, &rv) in spec.rows.values.iter().enumerate() {
        for (j, &cv) in spec.columns.values.iter().enumerate() {
            // Every valid pair has exactly one terminal axis, which sets growth or multiple.
            let (mut wacc, mut growth, mut multiple) = (base.wacc, 0.0, None);
            for (axis, v) in [(spec.rows.axis, rv), (spec.columns.axis, cv)] {
                match axis {
                    SensitivityAxis::Wacc => wacc = v,
                    SensitivityAxis::TerminalGrowth => growth = v,
                    SensitivityAxis::ExitMultiple => multiple = Some(v),
                }
            }
            let terminal = match (ebitda, multiple) {
                (Some(ebitda), Some(multiple)) => TerminalSpec::ExitMultiple { multiple, ebitda },
                _ => TerminalSpec::PerpetualGrowth { growth },
            };
            let input = DcfInput {
                fcff: base.fcff,
                wacc,
                terminal,
                discounting: base.discounting,
                net_debt: base.net_debt,
                shares: base.shares,
            };
            match dcf(&input) {
                Ok(o) => {
                    tables.value_per_share[i][j] = Some(o.value_per_share);
                    tables.enterprise_value[i][j] = Some(o.enterprise_value);
                    tables.equity_value[i][j] = Some(o.equity_value);
                    tables.tv_ev_ratio[i][j] = o.terminal_value_share;
                }
                // Growth ≥ WACC (or another cell-specific impossibility): no number.
                Err(ValuationError::GrowthNotBelowWacc { .. }) => {}
                Err(ValuationError::Invalid { field, .. }) if field == "wacc" => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(SensitivityResult {
        row_axis: spec.rows.axis,
        column_axis: spec.columns.axis,
        row_values: spec.rows.values.clone(),
        column_values: spec.columns.values.clone(),
        result_tables: tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(axis: SensitivityAxis, values: &[f64]) -> AxisSpec {
        AxisSpec {
            axis,
            values: values.to_vec(),
            step: None,
            points: None,
        }
    }

    fn base(fcff: &[f64]) -> SensitivityBase<'_> {
        SensitivityBase {
            fcff,
            wacc: 0.08,
            terminal_ebitda: Some(100.0),
            discounting: Discounting::EndOfYear,
            net_debt: 50.0,
            shares: 10.0,
        }
    }

    #[test]
    fn grid_matches_single_valuations_and_nulls_growth_above_wacc() {
        let fcff = [50.0, 55.0, 60.0];
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::Wacc, &[0.02, 0.08, 0.10]),
            columns: axis(SensitivityAxis::TerminalGrowth, &[0.0, 0.02, 0.03]),
        };
        let r = sensitivity(&spec, &base(&fcff)).unwrap();
        let t = &r.result_tables.value_per_share;
        assert_eq!((t.len(), t[0].len()), (3, 3));
        // WACC 2 %: growth 2 % and 3 % have no value.
        assert!(t[0][0].is_some());
        assert_eq!((t[0][1], t[0][2]), (None, None));
        // The centre equals a direct valuation.
        let o = dcf(&DcfInput {
            fcff: &fcff,
            wacc: 0.08,
            terminal: TerminalSpec::PerpetualGrowth { growth: 0.02 },
            discounting: Discounting::EndOfYear,
            net_debt: 50.0,
            shares: 10.0,
        })
        .unwrap();
        assert_eq!(t[1][1], Some(o.value_per_share));
        // Value rises with growth and falls with WACC.
        assert!(t[1][2].unwrap() > t[1][1].unwrap());
        assert!(t[2][1].unwrap() < t[1][1].unwrap());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["row_axis"], "wacc");
        assert!(json["result_tables"]["value_per_share"][0][1].is_null());
    }

    #[test]
    fn exit_multiple_axis_uses_exit_method() {
        let fcff = [50.0, 55.0, 60.0];
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::ExitMultiple, &[8.0, 12.0]),
            columns: axis(SensitivityAxis::Wacc, &[0.08]),
        };
        let r = sensitivity(&spec, &base(&fcff)).unwrap();
        let v = &r.result_tables.value_per_share;
        let pv: f64 = fcff
            .iter()
            .enumerate()
            .map(|(k, f)| f / 1.08f64.powi(k as i32 + 1))
            .sum();
        let want = (pv + 1200.0 / 1.08f64.powi(3) - 50.0) / 10.0;
        assert!((v[1][0].unwrap() - want).abs() < 1e-10);
        assert!(v[0][0].unwrap() < v[1][0].unwrap());
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let fcff = [1.0];
        let too_many: Vec<f64> = (0..12).map(|i| 0.05 + i as f64 * 0.001).collect();
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::Wacc, &too_many),
            columns: axis(SensitivityAxis::TerminalGrowth, &[0.02]),
        };
        let e = sensitivity(&spec, &base(&fcff)).unwrap_err();
        assert_eq!(e.field(), "sensitivity.rows.values");
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::Wacc, &[0.08]),
            columns: axis(SensitivityAxis::Wacc, &[0.09]),
        };
        assert_eq!(
            sensitivity(&spec, &base(&fcff)).unwrap_err().field(),
            "sensitivity.columns.axis"
        );
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::TerminalGrowth, &[0.02]),
            columns: axis(SensitivityAxis::ExitMultiple, &[9.0]),
        };
        assert_eq!(
            sensitivity(&spec, &base(&fcff)).unwrap_err().field(),
            "sensitivity.columns.axis"
        );
        let spec = SensitivitySpec {
            rows: axis(SensitivityAxis::Wacc, &[0.08]),
            columns: axis(SensitivityAxis::TerminalGrowth, &[0.5]),
        };
        assert_eq!(
            sensitivity(&spec, &base(&fcff)).unwrap_err().field(),
            "sensitivity.columns.values[0]"
        );
    }

    #[test]
    fn stock_vale_spelling_is_accepted() {
        let s: SensitivitySpec = serde_json::from_str(
            r#"{"row_axis":{"parameter_name":"wacc","values":[0.07,0.08],"step":0.01,"points":2},
                "column_axis":{"parameter_name":"perpetual_growth_rate","values":[0.02]}}"#,
        )
        .unwrap();
        assert_eq!(s.columns.axis, SensitivityAxis::TerminalGrowth);
        assert!(serde_json::from_str::<SensitivitySpec>(
            r#"{"rows":{"axis":"beta","values":[1]},"columns":{"axis":"wacc","values":[0.1]}}"#
        )
        .is_err());
    }
}
