//! The fair-multiple model's contract: a LightGBM regression predicting a fair price/earnings
//! ratio from a company's fundamentals. Training (CLI) and serving (valuation function) both
//! encode rows with [`Fundamentals::row`], so the two cannot drift apart.
//!
//! Rates are decimals (`0.15` = 15 %), as everywhere in the valuation API.

use serde::{Deserialize, Serialize};

/// Model features, in row order.
pub const FAIR_MULTIPLE_FEATURES: [&str; 9] = [
    "revenue_growth",
    "ebit_margin",
    "net_margin",
    "roe",
    "debt_to_equity",
    "beta",
    "payout_ratio",
    "log_market_cap",
    "industry_code",
];

pub const FAIR_MULTIPLE_NUM_FEATURES: usize = FAIR_MULTIPLE_FEATURES.len();

/// A-share style industries: `(key, English name, names used by Chinese data sources)`. The
/// position is the `industry_code` feature; an unknown industry encodes as
/// `INDUSTRIES.len()` ("other"), a missing one as NaN.
pub const INDUSTRIES: [(&str, &str, &[&str]); 10] = [
    ("liquor", "Liquor", &["白酒", "酒类"]),
    ("banking", "Banking", &["银行"]),
    (
        "pharmaceuticals",
        "Pharmaceuticals",
        &["化学制药", "生物制药", "中成药", "医药"],
    ),
    ("semiconductors", "Semiconductors", &["半导体", "元器件"]),
    (
        "real_estate",
        "Real Estate",
        &["全国地产", "区域地产", "房地产"],
    ),
    (
        "utilities",
        "Utilities",
        &["电力", "水务", "供气供热", "公用事业"],
    ),
    ("autos", "Autos", &["汽车整车", "汽车配件", "汽车"]),
    (
        "food_beverage",
        "Food & Beverage",
        &["食品", "乳制品", "饮料", "软饮料"],
    ),
    ("software", "Software", &["软件服务", "互联网", "IT设备"]),
    ("insurance", "Insurance", &["保险"]),
];

/// Code of an industry given by key (`liquor`), English name (`Liquor`, any case) or a Chinese
/// source name (`白酒`). `None` when unknown.
pub fn industry_code(name: &str) -> Option<usize> {
    let name = name.trim();
    INDUSTRIES.iter().position(|(key, english, aliases)| {
        key.eq_ignore_ascii_case(name)
            || english.eq_ignore_ascii_case(name)
            || aliases.contains(&name)
    })
}

/// A company's fundamentals, the fair-multiple model's input. `None` is a missing value (NaN
/// in the row), which the trees route as missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fundamentals {
    /// Year-over-year revenue growth, e.g. `0.12`.
    #[serde(default)]
    pub revenue_growth: Option<f64>,
    /// EBIT / revenue.
    #[serde(default)]
    pub ebit_margin: Option<f64>,
    /// Net income / revenue.
    #[serde(default)]
    pub net_margin: Option<f64>,
    /// Return on equity.
    #[serde(default)]
    pub roe: Option<f64>,
    /// Total debt / equity.
    #[serde(default)]
    pub debt_to_equity: Option<f64>,
    #[serde(default)]
    pub beta: Option<f64>,
    /// Dividends / net income.
    #[serde(default)]
    pub payout_ratio: Option<f64>,
    /// Market capitalisation in yuan (the feature is its natural log).
    #[serde(default)]
    pub market_cap: Option<f64>,
    /// Industry key, English name or Chinese source name (see [`INDUSTRIES`]).
    #[serde(default)]
    pub industry: Option<String>,
}

impl Fundamentals {
    /// The model row, in [`FAIR_MULTIPLE_FEATURES`] order.
    pub fn row(&self) -> Vec<f64> {
        let mut row = vec![0.0; FAIR_MULTIPLE_NUM_FEATURES];
        self.write_row(&mut row);
        row
    }

    /// Writes the model row into `out` (length [`FAIR_MULTIPLE_NUM_FEATURES`]).
    pub fn write_row(&self, out: &mut [f64]) {
        assert_eq!(
            out.len(),
            FAIR_MULTIPLE_NUM_FEATURES,
            "fair-multiple row width"
        );
        let nan = |v: Option<f64>| v.filter(|x| x.is_finite()).unwrap_or(f64::NAN);
        out[0] = nan(self.revenue_growth);
        out[1] = nan(self.ebit_margin);
        out[2] = nan(self.net_margin);
        out[3] = nan(self.roe);
        out[4] = nan(self.debt_to_equity);
        out[5] = nan(self.beta);
        out[6] = nan(self.payout_ratio);
        out[7] = match self.market_cap {
            Some(cap) if cap > 0.0 && cap.is_finite() => cap.ln(),
            _ => f64::NAN,
        };
        out[8] = match self.industry.as_deref().map(str::trim) {
            None | Some("") => f64::NAN,
            Some(name) => industry_code(name).unwrap_or(INDUSTRIES.len()) as f64,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn industries_resolve_by_key_name_or_source_name() {
        assert_eq!(industry_code("liquor"), Some(0));
        assert_eq!(industry_code("Food & Beverage"), Some(7));
        assert_eq!(industry_code("real estate"), Some(4));
        assert_eq!(industry_code("白酒"), Some(0));
        assert_eq!(industry_code("银行"), Some(1));
        assert_eq!(industry_code("Shipbuilding"), None);
    }

    #[test]
    fn rows_follow_the_feature_order_with_nan_for_missing() {
        let f = Fundamentals {
            revenue_growth: Some(0.12),
            roe: Some(0.25),
            market_cap: Some(1e11),
            industry: Some("Liquor".into()),
            ..Fundamentals::default()
        };
        let row = f.row();
        assert_eq!(row.len(), FAIR_MULTIPLE_FEATURES.len());
        assert_eq!(row[0], 0.12);
        assert!(row[1].is_nan());
        assert_eq!(row[3], 0.25);
        assert_eq!(row[7], 1e11f64.ln());
        assert_eq!(row[8], 0.0);
        let other = Fundamentals {
            industry: Some("Shipbuilding".into()),
            market_cap: Some(-5.0),
            ..Fundamentals::default()
        };
        let row = other.row();
        assert_eq!(row[8], INDUSTRIES.len() as f64);
        assert!(row[7].is_nan());
        assert!(Fundamentals::default().row().iter().all(|x| x.is_nan()));
    }
}
