//! Synthetic merchant analytics for `warmstart examples merchant`: one row per merchant and
//! month, written as two training CSVs for `train generic`:
//!
//! - `cashflow.csv`, regression target `next_month_net_cash_flow`: this month's revenue
//!   carried into next month by the category's seasonality (retail peaks in December, travel
//!   in summer), times the category's margin, minus the region's fixed costs, refunds and
//!   chargeback losses;
//! - `compliance.csv`, binary target `compliance_risk` (`flagged` / `clear`): more likely with
//!   chargebacks, refunds, young accounts, unverified KYC and large tickets in risky
//!   categories.
//!
//! Category and region are strings (one category holds a comma, so the CSV quotes it); a few
//! cells are empty or `NA`. Row `i` draws from ChaCha8 stream `i` of the seed: deterministic.

use anyhow::{Context, Result};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use std::path::{Path, PathBuf};

/// (name, median ticket, margin, seasonal amplitude, peak month, risk).
const CATEGORIES: [(&str, f64, f64, f64, u32, f64); 8] = [
    ("grocery", 35.0, 0.08, 0.10, 12, 0.0),
    ("restaurant", 28.0, 0.12, 0.15, 7, 0.2),
    ("electronics", 240.0, 0.10, 0.45, 12, 1.0),
    ("apparel", 60.0, 0.22, 0.35, 11, 0.4),
    ("travel", 420.0, 0.09, 0.50, 7, 1.2),
    ("fuel", 45.0, 0.05, 0.08, 8, 0.1),
    ("pharmacy", 30.0, 0.18, 0.05, 1, -0.3),
    ("home, garden", 85.0, 0.16, 0.40, 5, 0.3),
];

/// (name, monthly fixed costs, risk).
const REGIONS: [(&str, f64, f64); 5] = [
    ("north", 2500.0, -0.2),
    ("south", 1800.0, 0.3),
    ("east", 2200.0, 0.0),
    ("west", 3000.0, 0.1),
    ("central", 2000.0, -0.1),
];

/// One merchant in one month. `None` cells are written empty (region: `NA`).
#[derive(Debug, Clone, PartialEq)]
pub struct MerchantMonth {
    pub merchant_id: String,
    pub month: u32,
    pub category: &'static str,
    pub region: Option<&'static str>,
    pub account_age_months: Option<u32>,
    pub transactions: u32,
    pub avg_ticket: Option<f64>,
    pub revenue: f64,
    pub refund_rate: Option<f64>,
    pub chargebacks: u32,
    pub kyc_verified: Option<bool>,
    pub next_month_net_cash_flow: f64,
    pub compliance_risk: bool,
}

/// Seasonal multiplier of `month` for a category peaking at `peak`.
fn season(month: u32, amplitude: f64, peak: u32) -> f64 {
    let phase = (month as f64 - peak as f64) / 12.0 * std::f64::consts::TAU;
    1.0 + amplitude * phase.cos()
}

/// `n` merchant-months, deterministic by `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<MerchantMonth> {
    (0..n)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let c = rng.gen_range(0..CATEGORIES.len());
            let (category, ticket, margin, amplitude, peak, cat_risk) = CATEGORIES[c];
            let r = rng.gen_range(0..REGIONS.len());
            let (region, fixed, region_risk) = REGIONS[r];
            let month = rng.gen_range(1..=12u32);
            let age = (LogNormal::new(3.0, 0.9).expect("valid").sample(&mut rng) as u32).min(240);
            let avg_ticket = ticket * LogNormal::new(0.0, 0.35).expect("valid").sample(&mut rng);
            let size = LogNormal::new(5.5, 0.8).expect("valid").sample(&mut rng);
            let lambda = (size * season(month, amplitude, peak)).max(1.0);
            let transactions = Poisson::new(lambda).expect("valid").sample(&mut rng) as u32;
            let revenue = transactions as f64 * avg_ticket;
            let refund_rate = (0.02 + 0.03 * cat_risk.max(0.0) + rng.gen_range(0.0..0.05)).min(0.5);
            let cb_rate = 0.002 * (1.0 + 2.0 * cat_risk.max(0.0)) * if age < 6 { 3.0 } else { 1.0 };
            let chargebacks = Poisson::new((transactions as f64 * cb_rate).max(1e-3))
                .expect("valid")
                .sample(&mut rng) as u32;
            let kyc = rng.gen_bool(if age < 6 { 0.6 } else { 0.93 });
            let next = month % 12 + 1;
            let growth = 1.0 + 0.1 * (-(age as f64) / 24.0).exp();
            let next_revenue =
                revenue * growth * season(next, amplitude, peak) / season(month, amplitude, peak);
            let noise = Normal::new(0.0, 250.0 + 0.04 * revenue)
                .expect("valid")
                .sample(&mut rng);
            let cash_flow = next_revenue * margin
                - fixed
                - refund_rate * revenue * 0.5
                - chargebacks as f64 * avg_ticket * 1.5
                + noise;
            let logit = -4.0
                + 1.2 * (chargebacks as f64).sqrt()
                + 25.0 * (refund_rate - 0.04)
                + if age < 6 { 1.5 } else { 0.0 }
                + if kyc { 0.0 } else { 2.0 }
                + 1.2 * cat_risk * (avg_ticket / ticket).ln().max(0.0)
                + region_risk
                + Normal::new(0.0, 0.3).expect("valid").sample(&mut rng);
            let risk = rng.gen_bool(1.0 / (1.0 + (-logit).exp()));
            let mut maybe = |p: f64| !rng.gen_bool(p);
            MerchantMonth {
                merchant_id: format!("M{:06}", i + 1),
                month,
                category,
                region: maybe(0.03).then_some(region),
                account_age_months: maybe(0.04).then_some(age),
                transactions,
                avg_ticket: maybe(0.03).then_some((avg_ticket * 100.0).round() / 100.0),
                revenue: (revenue * 100.0).round() / 100.0,
                refund_rate: maybe(0.05).then_some((refund_rate * 1e4).round() / 1e4),
                chargebacks,
                kyc_verified: maybe(0.05).then_some(kyc),
                next_month_net_cash_flow: (cash_flow * 100.0).round() / 100.0,
                compliance_risk: risk,
            }
        })
        .collect()
}

const COLUMNS: [&str; 11] = [
    "merchant_id",
    "month",
    "category",
    "region",
    "account_age_months",
    "transactions",
    "avg_ticket",
    "revenue",
    "refund_rate",
    "chargebacks",
    "kyc_verified",
];

fn cells(m: &MerchantMonth) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        m.merchant_id.clone(),
        m.month.to_string(),
        m.category.to_string(),
        m.region.unwrap_or("NA").to_string(),
        opt(m.account_age_months.map(|a| a.to_string())),
        m.transactions.to_string(),
        opt(m.avg_ticket.map(|t| t.to_string())),
        m.revenue.to_string(),
        opt(m.refund_rate.map(|r| r.to_string())),
        m.chargebacks.to_string(),
        opt(m.kyc_verified.map(|k| u8::from(k).to_string())),
    ]
}

fn write_csv(
    path: &Path,
    target: &str,
    rows: &[MerchantMonth],
    value: impl Fn(&MerchantMonth) -> String,
) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    let mut header: Vec<&str> = COLUMNS.to_vec();
    header.push(target);
    w.write_record(&header)?;
    for m in rows {
        let mut record = cells(m);
        record.push(value(m));
        w.write_record(&record)?;
    }
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Writes `cashflow.csv` and `compliance.csv` into `dir` (created if needed).
pub fn write(dir: &Path, rows: &[MerchantMonth]) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cashflow = dir.join("cashflow.csv");
    let compliance = dir.join("compliance.csv");
    write_csv(&cashflow, "next_month_net_cash_flow", rows, |m| {
        m.next_month_net_cash_flow.to_string()
    })?;
    write_csv(&compliance, "compliance_risk", rows, |m| {
        if m.compliance_risk {
            "flagged"
        } else {
            "clear"
        }
        .to_string()
    })?;
    Ok((cashflow, compliance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_by_seed_with_structure_and_gaps() {
        let a = generate(3000, 5);
        assert_eq!(a, generate(3000, 5));
        assert_ne!(a[..50], generate(50, 6)[..]);
        let mean = |f: &dyn Fn(&MerchantMonth) -> bool, v: &dyn Fn(&MerchantMonth) -> f64| {
            let s: Vec<f64> = a.iter().filter(|m| f(m)).map(v).collect();
            s.iter().sum::<f64>() / s.len() as f64
        };
        // Electronics sells more in December than in June.
        let tx = |m: &MerchantMonth| m.transactions as f64;
        assert!(
            mean(&|m| m.category == "electronics" && m.month == 12, &tx)
                > 1.3 * mean(&|m| m.category == "electronics" && m.month == 6, &tx)
        );
        // Unverified merchants are flagged more often.
        let risk = |m: &MerchantMonth| f64::from(u8::from(m.compliance_risk));
        assert!(
            mean(&|m| m.kyc_verified == Some(false), &risk)
                > 1.5 * mean(&|m| m.kyc_verified == Some(true), &risk)
        );
        let flagged = a.iter().filter(|m| m.compliance_risk).count();
        assert!((150..1500).contains(&flagged), "{flagged}");
        assert!(a.iter().any(|m| m.region.is_none()) && a.iter().any(|m| m.avg_ticket.is_none()));
    }

    #[test]
    fn csvs_quote_commas_and_mark_missing_cells() {
        let dir = tempfile::tempdir().unwrap();
        let rows = generate(400, 1);
        let (cash, comp) = write(dir.path(), &rows).unwrap();
        let text = std::fs::read_to_string(&cash).unwrap();
        assert!(text.starts_with("merchant_id,month,category,region,"));
        assert!(text.contains("\"home, garden\""));
        assert!(text.contains(",NA,"));
        assert_eq!(text.lines().count(), 401);
        let comp = std::fs::read_to_string(comp).unwrap();
        assert!(comp.lines().nth(1).unwrap().ends_with("flagged") || comp.contains(",clear\n"));
    }
}
