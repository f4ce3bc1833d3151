//! Operating forecast: from a company's history (or the request's paths) to yearly revenue,
//! EBIT, NOPAT, D&A, CapEx, ΔNWC and FCFF.
//!
//! * **Revenue growth** fades linearly from the recent revenue CAGR (last ≤ 5 fiscal years) to
//!   the terminal growth rate: `g_t = CAGR + (g_T − CAGR)·t/n` for `t = 1..=n`, so the last
//!   forecast year grows at `g_T` and hands over smoothly to the terminal value. The CAGR is
//!   clamped to [−30 %, +50 %] (with a warning).
//! * **EBIT margin, D&A, CapEx and NWC** as a share of revenue are the averages over the last
//!   ≤ 5 years that have both figures. ΔNWC in year `t` is `NWC% × (Rev_t − Rev_{t−1})`.
//! * Every driver can be replaced from the request: `base_revenue`, `revenue_growth_path`,
//!   `ebit_margin_path` (one value per forecast year), `da_to_revenue`, `capex_to_revenue`,
//!   `nwc_to_revenue`.

use super::company::YearFigures;
use super::error::ValuationError;
use super::fcff::{fcff, nopat};
use serde::{Deserialize, Serialize};

/// How many recent fiscal years the averages and the CAGR look at.
pub const HISTORY_WINDOW: usize = 5;
/// China's statutory corporate income tax rate, used when history gives no usable rate.
pub const DEFAULT_TAX_RATE: f64 = 0.25;
/// Clamp for the historical revenue CAGR used as the start of the fade.
pub const CAGR_BOUNDS: (f64, f64) = (-0.30, 0.50);

/// Request-supplied replacements for derived drivers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DriverOverrides<'a> {
    pub base_revenue: Option<f64>,
    pub revenue_growth_path: Option<&'a [f64]>,
    pub ebit_margin_path: Option<&'a [f64]>,
    pub da_to_revenue: Option<f64>,
    pub capex_to_revenue: Option<f64>,
    pub nwc_to_revenue: Option<f64>,
}

/// The drivers a forecast was built from (reported in the response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drivers {
    /// Last historical fiscal year (0 when there is no history).
    pub base_year: i32,
    pub base_revenue: f64,
    /// Recent revenue CAGR (after clamping), when history gave one.
    pub historical_revenue_cagr: Option<f64>,
    /// Per forecast year.
    pub revenue_growth: Vec<f64>,
    /// Per forecast year.
    pub ebit_margin: Vec<f64>,
    pub da_to_revenue: f64,
    pub capex_to_revenue: f64,
    pub nwc_to_revenue: f64,
    pub tax_rate: f64,
}

/// One projected year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedYear {
    pub year: i32,
    pub revenue: f64,
    pub revenue_growth: f64,
    pub ebit: f64,
    pub ebit_margin: f64,
    pub nopat: f64,
    pub d_and_a: f64,
    pub capex: f64,
    pub delta_nwc: f64,
    pub ufcf: f64,
}

/// `start + (end − start)·t/n` for `t = 1..=n`.
pub fn fade(start: f64, end: f64, n: usize) -> Vec<f64> {
    (1..=n)
        .map(|t| start + (end - start) * t as f64 / n as f64)
        .collect()
}

fn window(history: &[YearFigures]) -> &[YearFigures] {
    &history[history.len().saturating_sub(HISTORY_WINDOW)..]
}

/// Compound annual revenue growth over the last ≤ 5 years with positive revenue, using the
/// fiscal-year distance between the first and last of them.
pub fn revenue_cagr(history: &[YearFigures]) -> Option<f64> {
    let pos: Vec<&YearFigures> = window(history)
        .iter()
        .filter(|y| y.revenue.is_some_and(|r| r > 0.0))
        .collect();
    let (first, last) = (pos.first()?, pos.last()?);
    let years = last.year - first.year;
    if years < 1 {
        return None;
    }
    let g = (last.revenue? / first.revenue?).powf(1.0 / years as f64) - 1.0;
    g.is_finite().then_some(g)
}

/// Average of `f(year)/revenue` over the window's years with positive revenue and a value.
pub fn average_ratio(
    history: &[YearFigures],
    f: impl Fn(&YearFigures) -> Option<f64>,
) -> Option<f64> {
    let xs: Vec<f64> = window(history)
        .iter()
        .filter_map(|y| {
            let r = y.revenue.filter(|r| *r > 0.0)?;
            Some(f(y)? / r)
        })
        .filter(|x| x.is_finite())
        .collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Average effective tax rate of the window (years with positive pre-tax profit), when it lies
/// in [0, 50 %]; otherwise [`DEFAULT_TAX_RATE`] with a warning.
pub fn historical_tax_rate(history: &[YearFigures], warnings: &mut Vec<String>) -> f64 {
    let xs: Vec<f64> = window(history)
        .iter()
        .filter_map(|y| y.effective_tax_rate)
        .collect();
    if xs.is_empty() {
        warnings.push(format!(
            "no income_tax/total_profit history: tax rate {DEFAULT_TAX_RATE} (statutory) assumed"
        ));
        return DEFAULT_TAX_RATE;
    }
    let t = xs.iter().sum::<f64>() / xs.len() as f64;
    if (0.0..=0.5).contains(&t) {
        t
    } else {
        warnings.push(format!(
            "historical effective tax rate {t:.4} is implausible: {DEFAULT_TAX_RATE} assumed"
        ));
        DEFAULT_TAX_RATE
    }
}

fn path(field: &str, given: Option<&[f64]>, n: usize) -> Result<Option<Vec<f64>>, ValuationError> {
    match given {
        None => Ok(None),
        Some(p) if p.len() != n => Err(ValuationError::invalid(
            field,
            format!("has {} values but the forecast has {n} years", p.len()),
        )),
        Some(p) => Ok(Some(p.to_vec())),
    }
}

/// Builds the drivers for an `n`-year forecast.
pub fn derive_drivers(
    history: &[YearFigures],
    n: usize,
    terminal_growth: f64,
    tax_rate: f64,
    o: &DriverOverrides<'_>,
    warnings: &mut Vec<String>,
) -> Result<Drivers, ValuationError> {
    let latest = history.last();
    if !history.is_empty() && history.len() < 3 {
        warnings.push(format!(
            "only {} year(s) of statements: averages and growth rest on little history",
            history.len()
        ));
    }
    let base_revenue = match o.base_revenue {
        Some(r) => r,
        None => latest
            .and_then(|y| y.revenue)
            .filter(|r| *r > 0.0)
            .ok_or_else(|| {
                ValuationError::invalid(
                    "base_revenue",
                    "the company has no positive revenue in its latest statement; supply \
                     base_revenue (or fcff_forecast)",
                )
            })?,
    };

    let mut cagr = revenue_cagr(history);
    if let Some(g) = cagr {
        let clamped = g.clamp(CAGR_BOUNDS.0, CAGR_BOUNDS.1);
        if clamped != g {
            warnings.push(format!(
                "historical revenue CAGR {g:.4} clamped to {clamped} for the forecast"
            ));
            cagr = Some(clamped);
        }
    }
    let revenue_growth = match path("revenue_growth_path", o.revenue_growth_path, n)? {
        Some(p) => p,
        None => {
            let start = cagr.unwrap_or_else(|| {
                warnings.push(
                    "no revenue history to measure growth: revenue grows at the terminal \
                     growth rate"
                        .to_string(),
                );
                terminal_growth
            });
            fade(start, terminal_growth, n)
        }
    };

    let ebit_margin = match path("ebit_margin_path", o.ebit_margin_path, n)? {
        Some(p) => p,
        None => {
            let m = average_ratio(history, |y| y.ebit).ok_or_else(|| {
                ValuationError::invalid(
                    "ebit_margin_path",
                    "the company has no EBIT/operate_profit with revenue in its history; supply \
                     ebit_margin_path (or fcff_forecast)",
                )
            })?;
            vec![m; n]
        }
    };

    let mut ratio = |given: Option<f64>, derived: Option<f64>, what: &str, fallback: f64| {
        given.or(derived).unwrap_or_else(|| {
            warnings.push(format!(
                "no {what} history: {what} assumed to be {fallback} of revenue"
            ));
            fallback
        })
    };
    let da = ratio(
        o.da_to_revenue,
        average_ratio(history, |y| y.d_and_a),
        "D&A",
        0.0,
    );
    // Without CapEx history, assume maintenance spending equal to D&A.
    let capex = ratio(
        o.capex_to_revenue,
        average_ratio(history, |y| y.capex),
        "CapEx",
        da,
    );
    let nwc = ratio(
        o.nwc_to_revenue,
        average_ratio(history, |y| y.nwc),
        "net working capital",
        0.0,
    );

    Ok(Drivers {
        base_year: latest.map(|y| y.year).unwrap_or(0),
        base_revenue,
        historical_revenue_cagr: cagr,
        revenue_growth,
        ebit_margin,
        da_to_revenue: da,
        capex_to_revenue: capex,
        nwc_to_revenue: nwc,
        tax_rate,
    })
}

/// Projects the forecast years from the drivers.
pub fn project(d: &Drivers) -> Vec<ProjectedYear> {
    let mut prev = d.base_revenue;
    d.revenue_growth
        .iter()
        .zip(&d.ebit_margin)
        .enumerate()
        .map(|(i, (&g, &m))| {
            let revenue = prev * (1.0 + g);
            let ebit = revenue * m;
            let d_and_a = revenue * d.da_to_revenue;
            let capex = revenue * d.capex_to_revenue;
            let delta_nwc = d.nwc_to_revenue * (revenue - prev);
            prev = revenue;
            ProjectedYear {
                year: d.base_year + i as i32 + 1,
                revenue,
                revenue_growth: g,
                ebit,
                ebit_margin: m,
                nopat: nopat(ebit, d.tax_rate),
                d_and_a,
                capex,
                delta_nwc,
                ufcf: fcff(ebit, d.tax_rate, d_and_a, capex, delta_nwc),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn year(year: i32, revenue: f64, ebit: f64) -> YearFigures {
        YearFigures {
            year,
            revenue: Some(revenue),
            ebit: Some(ebit),
            d_and_a: Some(revenue * 0.05),
            capex: Some(revenue * 0.08),
            nwc: Some(revenue * 0.10),
            effective_tax_rate: Some(0.25),
        }
    }

    #[test]
    fn fade_reaches_terminal_growth() {
        let f = fade(0.10, 0.02, 4);
        let want = [0.08, 0.06, 0.04, 0.02];
        for (a, b) in f.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{f:?}");
        }
        assert_eq!(fade(0.1, 0.03, 1), vec![0.03]);
    }

    #[test]
    fn cagr_and_averages() {
        // 100 → 121 over two years: 10 %.
        let h = [
            year(2021, 100.0, 10.0),
            year(2022, 110.0, 12.0),
            year(2023, 121.0, 14.0),
        ];
        assert!((revenue_cagr(&h).unwrap() - 0.10).abs() < 1e-14);
        let m = average_ratio(&h, |y| y.ebit).unwrap();
        assert!((m - (0.10 + 12.0 / 110.0 + 14.0 / 121.0) / 3.0).abs() < 1e-15);
        // The window is the last five years.
        let long: Vec<YearFigures> = (0..8)
            .map(|i| year(2016 + i, 100.0 * 2f64.powi(i), 1.0))
            .collect();
        assert!((revenue_cagr(&long).unwrap() - 1.0).abs() < 1e-14);
        assert_eq!(revenue_cagr(&h[..1]), None);
        let mut w = Vec::new();
        assert_eq!(historical_tax_rate(&h, &mut w), 0.25);
        assert!(w.is_empty());
        assert_eq!(historical_tax_rate(&[], &mut w), DEFAULT_TAX_RATE);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn projection_by_hand() {
        let d = Drivers {
            base_year: 2023,
            base_revenue: 1000.0,
            historical_revenue_cagr: Some(0.10),
            revenue_growth: vec![0.10, 0.05],
            ebit_margin: vec![0.20, 0.20],
            da_to_revenue: 0.05,
            capex_to_revenue: 0.08,
            nwc_to_revenue: 0.10,
            tax_rate: 0.25,
        };
        let p = project(&d);
        // Year 1: revenue 1100, EBIT 220, NOPAT 165, D&A 55, CapEx 88, ΔNWC 10 → 122.
        assert_eq!(p[0].year, 2024);
        assert!((p[0].revenue - 1100.0).abs() < 1e-12);
        assert!((p[0].ufcf - 122.0).abs() < 1e-12, "{}", p[0].ufcf);
        // Year 2: revenue 1155, EBIT 231, NOPAT 173.25, D&A 57.75, CapEx 92.4, ΔNWC 5.5
        // → 133.1.
        assert!((p[1].revenue - 1155.0).abs() < 1e-12);
        assert!((p[1].ufcf - 133.1).abs() < 1e-12, "{}", p[1].ufcf);
    }

    #[test]
    fn drivers_from_history_and_overrides() {
        let h = [
            year(2021, 100.0, 10.0),
            year(2022, 110.0, 12.0),
            year(2023, 121.0, 14.0),
        ];
        let mut w = Vec::new();
        let d = derive_drivers(&h, 5, 0.02, 0.25, &DriverOverrides::default(), &mut w).unwrap();
        assert_eq!(d.base_year, 2023);
        assert_eq!(d.base_revenue, 121.0);
        assert!((d.revenue_growth[0] - (0.10 + (0.02 - 0.10) / 5.0)).abs() < 1e-15);
        assert!((d.revenue_growth[4] - 0.02).abs() < 1e-15);
        assert!((d.da_to_revenue - 0.05).abs() < 1e-15);
        assert!((d.capex_to_revenue - 0.08).abs() < 1e-15);
        assert!((d.nwc_to_revenue - 0.10).abs() < 1e-15);
        assert!(w.is_empty(), "{w:?}");

        let growth = [0.3, 0.2];
        let o = DriverOverrides {
            base_revenue: Some(500.0),
            revenue_growth_path: Some(&growth),
            ebit_margin_path: Some(&[0.1, 0.12]),
            capex_to_revenue: Some(0.2),
            ..Default::default()
        };
        let d = derive_drivers(&h, 2, 0.02, 0.25, &o, &mut w).unwrap();
        assert_eq!(d.base_revenue, 500.0);
        assert_eq!(d.revenue_growth, vec![0.3, 0.2]);
        assert_eq!(d.ebit_margin, vec![0.1, 0.12]);
        assert_eq!(d.capex_to_revenue, 0.2);
        let e = derive_drivers(&h, 3, 0.02, 0.25, &o, &mut w).unwrap_err();
        assert_eq!(e.field(), "revenue_growth_path");
    }

    #[test]
    fn missing_history_is_named() {
        let mut w = Vec::new();
        let e =
            derive_drivers(&[], 5, 0.02, 0.25, &DriverOverrides::default(), &mut w).unwrap_err();
        assert_eq!(e.field(), "base_revenue");
        let o = DriverOverrides {
            base_revenue: Some(100.0),
            ..Default::default()
        };
        let e = derive_drivers(&[], 5, 0.02, 0.25, &o, &mut w).unwrap_err();
        assert_eq!(e.field(), "ebit_margin_path");
        let o = DriverOverrides {
            base_revenue: Some(100.0),
            ebit_margin_path: Some(&[0.1; 5]),
            ..Default::default()
        };
        let d = derive_drivers(&[], 5, 0.02, 0.25, &o, &mut w).unwrap();
        assert_eq!(d.revenue_growth, vec![0.02; 5]);
        assert!(w.iter().any(|m| m.contains("D&A")));
    }
}
