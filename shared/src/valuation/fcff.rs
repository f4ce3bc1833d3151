//! Free cash flow to the firm (unlevered free cash flow, UFCF).

/// `FCFF = EBIT·(1 − t) + D&A − CapEx − ΔNWC`.
///
/// CapEx is a positive outflow; ΔNWC is the increase in net working capital (positive = cash
/// tied up). A negative EBIT is taxed at the same rate (a tax credit), the usual simplification
/// for a going concern that can use its losses.
pub fn fcff(ebit: f64, tax_rate: f64, d_and_a: f64, capex: f64, delta_nwc: f64) -> f64 {
    nopat(ebit, tax_rate) + d_and_a - capex - delta_nwc
}

/// Net operating profit after tax: `EBIT·(1 − t)`.
pub fn nopat(ebit: f64, tax_rate: f64) -> f64 {
    ebit * (1.0 - tax_rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcff_known_check() {
        // EBIT 300, tax 35 %, D&A 20, CapEx 60, ΔNWC 30 → 195 + 20 − 60 − 30 = 125.
        let f = fcff(300.0, 0.35, 20.0, 60.0, 30.0);
        assert!((f - 125.0).abs() < 1e-12, "{f}");
    }

    #[test]
    fn fcff_signs() {
        // Releasing working capital adds cash; heavy investment can make FCFF negative.
        assert_eq!(fcff(100.0, 0.0, 0.0, 0.0, -10.0), 110.0);
        assert!(fcff(100.0, 0.25, 10.0, 200.0, 5.0) < 0.0);
        assert_eq!(nopat(-100.0, 0.25), -75.0);
    }
}
