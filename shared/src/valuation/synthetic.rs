//! A synthetic but realistic A-share company universe for `warmstart seed valuation
//! --synthetic <n>`: industries with their own growth, margin, reinvestment, leverage, beta and
//! P/E profiles, five annual statements per company in TuShare field names and units (CNY;
//! `total_share` in 10⁴ shares, `total_mv` in 10⁴ CNY).
//!
//! Deterministic for a seed (its own SplitMix64 generator, no dependency). The first company
//! is always `600519.SH` (a liquor maker shaped like Kweichow Moutai) so sample requests and
//! events have data to value. Some companies have gaps on purpose (no CapEx, only
//! `operate_profit`, no `pe` because of a loss), as real exports do.

use super::company::{AnnualStatement, Company, TUSHARE_MV_UNIT, TUSHARE_SHARE_UNIT};
use super::fair_multiple::FAIR_MULTIPLE_FEATURES;
use crate::bundle::{
    Bundle, Feature, FileEntry, GoldenRow, Manifest, Metrics, ModelKind, Output, MANIFEST_FORMAT,
    MIN_GOLDEN_ROWS,
};
use crate::model::Model;

/// An industry's typical figures (means; companies scatter around them).
#[derive(Debug, Clone, Copy)]
pub struct IndustryProfile {
    /// TuShare `stock_basic.industry` name.
    pub industry: &'static str,
    pub growth: f64,
    pub ebit_margin: f64,
    pub da_to_revenue: f64,
    pub capex_to_revenue: f64,
    pub receivables_to_revenue: f64,
    pub inventories_to_revenue: f64,
    pub payables_to_revenue: f64,
    /// Borrowings / revenue.
    pub debt_to_revenue: f64,
    pub cash_to_revenue: f64,
    pub beta: f64,
    pub pe: f64,
    /// Revenue of a typical company, CNY.
    pub revenue: f64,
    pub tax_rate: f64,
}

/// Industries valued by FCFF (banks and insurers are left out: their debt is their raw
/// material, so an enterprise DCF does not apply). Names resolve with
/// [`super::fair_multiple::industry_code`].
pub const INDUSTRY_PROFILES: [IndustryProfile; 8] = [
    IndustryProfile {
        industry: "白酒",
        growth: 0.12,
        ebit_margin: 0.45,
        da_to_revenue: 0.02,
        capex_to_revenue: 0.04,
        receivables_to_revenue: 0.02,
        inventories_to_revenue: 0.9,
        payables_to_revenue: 0.05,
        debt_to_revenue: 0.02,
        cash_to_revenue: 0.6,
        beta: 0.9,
        pe: 28.0,
        revenue: 2.0e10,
        tax_rate: 0.25,
    },
    IndustryProfile {
        industry: "化学制药",
        growth: 0.08,
        ebit_margin: 0.15,
        da_to_revenue: 0.05,
        capex_to_revenue: 0.07,
        receivables_to_revenue: 0.25,
        inventories_to_revenue: 0.15,
        payables_to_revenue: 0.12,
        debt_to_revenue: 0.2,
        cash_to_revenue: 0.25,
        beta: 0.95,
        pe: 30.0,
        revenue: 6.0e9,
        tax_rate: 0.15,
    },
    IndustryProfile {
        industry: "半导体",
        growth: 0.18,
        ebit_margin: 0.12,
        da_to_revenue: 0.10,
        capex_to_revenue: 0.20,
        receivables_to_revenue: 0.2,
        inventories_to_revenue: 0.3,
        payables_to_revenue: 0.15,
        debt_to_revenue: 0.3,
        cash_to_revenue: 0.35,
        beta: 1.4,
        pe: 45.0,
        revenue: 4.0e9,
        tax_rate: 0.15,
    },
    IndustryProfile {
        industry: "电力",
        growth: 0.05,
        ebit_margin: 0.18,
        da_to_revenue: 0.12,
        capex_to_revenue: 0.18,
        receivables_to_revenue: 0.15,
        inventories_to_revenue: 0.03,
        payables_to_revenue: 0.1,
        debt_to_revenue: 1.8,
        cash_to_revenue: 0.08,
        beta: 0.6,
        pe: 16.0,
        revenue: 3.0e10,
        tax_rate: 0.25,
    },
    IndustryProfile {
        industry: "汽车整车",
        growth: 0.07,
        ebit_margin: 0.06,
        da_to_revenue: 0.04,
        capex_to_revenue: 0.06,
        receivables_to_revenue: 0.12,
        inventories_to_revenue: 0.1,
        payables_to_revenue: 0.25,
        debt_to_revenue: 0.15,
        cash_to_revenue: 0.2,
        beta: 1.2,
        pe: 18.0,
        revenue: 8.0e10,
        tax_rate: 0.25,
    },
    IndustryProfile {
        industry: "食品",
        growth: 0.07,
        ebit_margin: 0.14,
        da_to_revenue: 0.03,
        capex_to_revenue: 0.05,
        receivables_to_revenue: 0.05,
        inventories_to_revenue: 0.12,
        payables_to_revenue: 0.08,
        debt_to_revenue: 0.1,
        cash_to_revenue: 0.25,
        beta: 0.8,
        pe: 25.0,
        revenue: 8.0e9,
        tax_rate: 0.25,
    },
    IndustryProfile {
        industry: "软件服务",
        growth: 0.14,
        ebit_margin: 0.10,
        da_to_revenue: 0.04,
        capex_to_revenue: 0.04,
        receivables_to_revenue: 0.35,
        inventories_to_revenue: 0.05,
        payables_to_revenue: 0.1,
        debt_to_revenue: 0.1,
        cash_to_revenue: 0.4,
        beta: 1.3,
        pe: 50.0,
        revenue: 3.0e9,
        tax_rate: 0.15,
    },
    IndustryProfile {
        industry: "全国地产",
        growth: 0.02,
        ebit_margin: 0.10,
        da_to_revenue: 0.01,
        capex_to_revenue: 0.01,
        receivables_to_revenue: 0.05,
        inventories_to_revenue: 2.5,
        payables_to_revenue: 0.4,
        debt_to_revenue: 1.2,
        cash_to_revenue: 0.3,
        beta: 1.1,
        pe: 10.0,
        revenue: 5.0e10,
        tax_rate: 0.25,
    },
];

/// SplitMix64: small, fast, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-300);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Log-normal multiplier with median 1.
    fn scatter(&mut self, sigma: f64) -> f64 {
        (sigma * self.normal()).exp()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// `n` companies, `as_of` the market-data date (`YYYYMMDD`); statements cover the five fiscal
/// years before `as_of`'s year.
pub fn synthetic_companies(n: usize, seed: u64, as_of: &str) -> Vec<Company> {
    let mut rng = Rng(seed ^ 0x5741_524D_5354_4152);
    let last_fy: i32 = as_of.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2025) - 1;
    let mut out = Vec::with_capacity(n);
    let mut sh = 600000u32;
    let mut sz = 1u32;
    for i in 0..n {
        let (ts_code, profile, name) = if i == 0 {
            (
                "600519.SH".to_string(),
                &INDUSTRY_PROFILES[0],
                "贵州茅台".to_string(),
            )
        } else {
            let p = &INDUSTRY_PROFILES[(i - 1) % INDUSTRY_PROFILES.len()];
            let code = if i % 2 == 0 {
                sh += 1 + (rng.next_u64() % 7) as u32;
                if sh == 600519 {
                    sh += 1;
                }
                format!("{sh:06}.SH")
            } else {
                sz += 1 + (rng.next_u64() % 5) as u32;
                format!("{sz:06}.SZ")
            };
            (code, p, format!("合成{}{:03}", p.industry, i))
        };
        out.push(company(
            &mut rng,
            i == 0,
            ts_code,
            name,
            profile,
            last_fy,
            as_of,
        ));
    }
    out
}

fn company(
    rng: &mut Rng,
    flagship: bool,
    ts_code: String,
    name: String,
    p: &IndustryProfile,
    last_fy: i32,
    as_of: &str,
) -> Company {
    // Company-level traits around the industry's.
    let (mut revenue, margin, growth) = if flagship {
        // Moutai-like: ~CNY 100bn revenue five years ago, ~15 % growth, ~65 % EBIT margin.
        (9.5e10, 0.66, 0.15)
    } else {
        (
            p.revenue * rng.scatter(0.9),
            (p.ebit_margin * rng.scatter(0.35)).min(0.7)
                - if rng.chance(0.08) { 0.15 } else { 0.0 },
            p.growth + 0.06 * rng.normal(),
        )
    };
    let da = p.da_to_revenue * rng.scatter(0.3);
    let capex = p.capex_to_revenue * rng.scatter(0.3);
    let recv = p.receivables_to_revenue * rng.scatter(0.3);
    let inv = p.inventories_to_revenue * rng.scatter(0.3);
    let pay = p.payables_to_revenue * rng.scatter(0.3);
    let debt = if flagship {
        0.0
    } else {
        p.debt_to_revenue * rng.scatter(0.5)
    };
    let cash = p.cash_to_revenue * rng.scatter(0.4);
    let gaps_capex = !flagship && rng.chance(0.05);
    let only_operate_profit = rng.chance(0.5);
    let mut equity = revenue * rng.uniform(0.6, 1.4);

    let mut statements = Vec::with_capacity(5);
    let mut last_net = 0.0;
    for fy in last_fy - 4..=last_fy {
        revenue *= 1.0 + growth + 0.04 * rng.normal();
        let ebit = revenue * (margin + 0.02 * rng.normal());
        let borrowings = revenue * debt;
        let interest = borrowings * 0.045;
        let total_profit = ebit - interest;
        let income_tax = if total_profit > 0.0 {
            total_profit * p.tax_rate
        } else {
            0.0
        };
        let net = total_profit - income_tax;
        equity += net * 0.6; // 40 % paid out
        last_net = net;
        let d_and_a = revenue * da;
        let r = |x: f64| x.round();
        statements.push(AnnualStatement {
            end_date: format!("{fy}1231"),
            revenue: Some(r(revenue)),
            total_revenue: Some(r(revenue * 1.01)),
            operate_profit: Some(r(ebit)),
            ebit: (!only_operate_profit).then(|| r(ebit)),
            total_profit: Some(r(total_profit)),
            income_tax: Some(r(income_tax)),
            n_income_attr_p: Some(r(net)),
            depr_fa_coga_dpba: Some(r(d_and_a * 0.8)),
            amort_intang_assets: Some(r(d_and_a * 0.15)),
            lt_amort_deferred_exp: Some(r(d_and_a * 0.05)),
            d_and_a: None,
            capex: (!gaps_capex).then(|| r(revenue * capex * rng.scatter(0.1))),
            accounts_receiv: Some(r(revenue * recv)),
            notes_receiv: Some(r(revenue * recv * 0.2)),
            inventories: Some(r(revenue * inv)),
            prepayment: Some(r(revenue * 0.01)),
            accounts_pay: Some(r(revenue * pay)),
            notes_payable: Some(r(revenue * pay * 0.1)),
            adv_receipts: Some(r(revenue * 0.01)),
            contract_liab: Some(r(revenue * if flagship { 0.1 } else { 0.03 })),
            st_borr: Some(r(borrowings * 0.4)),
            lt_borr: Some(r(borrowings * 0.45)),
            bond_payable: Some(r(borrowings * 0.15)),
            money_cap: Some(r(revenue * cash)),
            total_hldr_eqy_exc_min_int: Some(r(equity)),
        });
    }

    // Market: price from a P/E around the industry's (loss makers trade on sales).
    let pe = if flagship {
        24.0
    } else {
        p.pe * rng.scatter(0.3)
    };
    let market_cap = if last_net > 0.0 {
        last_net * pe
    } else {
        revenue * 0.8 * rng.scatter(0.3)
    };
    let close: f64 = if flagship {
        1500.0
    } else {
        rng.uniform(4.0, 120.0)
    };
    let close = (close * 100.0).round() / 100.0;
    let shares = market_cap / close;
    let total_share = (shares / TUSHARE_SHARE_UNIT * 100.0).round() / 100.0;
    let market_cap = close * total_share * TUSHARE_SHARE_UNIT;
    let round4 = |x: f64| (x * 1e4).round() / 1e4;
    Company {
        ts_code,
        name: Some(name),
        industry: Some(p.industry.to_string()),
        as_of: as_of.to_string(),
        close: Some(close),
        total_share: Some(total_share),
        total_mv: Some(round4(market_cap / TUSHARE_MV_UNIT)),
        pe: (last_net > 0.0).then(|| round4(market_cap / last_net)),
        pb: Some(round4(market_cap / equity)),
        beta: Some(round4(if flagship {
            0.9
        } else {
            (p.beta + 0.2 * rng.normal()).clamp(0.2, 2.5)
        })),
        dv_ratio: (last_net > 0.0).then(|| round4(0.4 * last_net / market_cap * 100.0)),
        statements,
    }
}

/// Bundle name and output of the `fair-multiple` model (as the CLI trains it).
pub const FAIR_MULTIPLE_NAME: &str = "fair-multiple";
pub const FAIR_PE_OUTPUT: &str = "fair_pe";
pub const FAIR_PE_MODEL_PATH: &str = "models/fair_pe.txt";

/// LightGBM text of a small hand-made fair-P/E regression model over
/// [`FAIR_MULTIPLE_FEATURES`]: a base P/E by industry (liquor and software richer), more for
/// growth and ROE, less for leverage. Missing values go left. `variant` shifts the base so two
/// versions score differently.
pub fn fair_multiple_model_text(variant: u64) -> String {
    let names = FAIR_MULTIPLE_FEATURES.join(" ");
    let infos = vec!["[0:1]"; FAIR_MULTIPLE_FEATURES.len()].join(" ");
    let base = 14.0 + (variant % 7) as f64;
    // (feature, threshold, left leaf, right leaf, decision type); feature indices per
    // FAIR_MULTIPLE_FEATURES. Decision type 10: NaN is missing and goes left; 8: goes right.
    let stumps: [(usize, f64, f64, f64, u8); 5] = [
        (8, 0.5, base + 12.0, base, 8), // industry_code 0 (liquor) vs the rest
        (0, 0.08, -3.0, 4.0, 10),       // revenue_growth
        (3, 0.12, -2.0, 5.0, 10),       // roe
        (4, 1.0, 1.5, -2.5, 10),        // debt_to_equity
        (8, 7.5, 0.0, 6.0, 10),         // software and above
    ];
    let mut text = format!(
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
         max_feature_idx={}\nobjective=regression\nfeature_names={names}\nfeature_infos={infos}\n\n",
        FAIR_MULTIPLE_FEATURES.len() - 1
    );
    for (t, (f, thr, l, r, dt)) in stumps.iter().enumerate() {
        text.push_str(&format!(
            "Tree={t}\nnum_leaves=2\nnum_cat=0\nsplit_feature={f}\nthreshold={thr:?}\n\
             decision_type={dt}\nleft_child=-1\nright_child=-2\nleaf_value={l:?} {r:?}\n\
             shrinkage=1\n\n"
        ));
    }
    text.push_str("end of trees\n");
    text
}

/// Manifest and files of a valid `fair-multiple` bundle built from
/// [`fair_multiple_model_text`] (golden rows from `companies`' fundamentals, some with
/// missing values, scored by the native scorer). For tests and demos without lightgbm.
pub fn synthetic_fair_multiple_parts(
    version: &str,
    variant: u64,
) -> (Manifest, Vec<(String, Vec<u8>)>) {
    let text = fair_multiple_model_text(variant);
    let model = Model::parse(&text).expect("hand-made fair-multiple model parses");
    let companies = synthetic_companies(MIN_GOLDEN_ROWS + 4, variant, "20250331");
    let golden: Vec<GoldenRow> = companies
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = c.fundamentals().row();
            if i % 3 == 0 {
                let n = row.len();
                row[i % n] = f64::NAN;
            }
            GoldenRow {
                features: row.iter().map(|v| (!v.is_nan()).then_some(*v)).collect(),
                expected: model.predict(&row).expect("score"),
            }
        })
        .collect();
    let files = vec![(FAIR_PE_MODEL_PATH.to_string(), text.into_bytes())];
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: FAIR_MULTIPLE_NAME.into(),
        version: version.into(),
        kind: ModelKind::FairMultiple,
        created_at: "2026-11-22T10:00:00Z".into(),
        features: FAIR_MULTIPLE_FEATURES
            .iter()
            .map(|n| Feature {
                name: n.to_string(),
                categorical: false,
                categories: Vec::new(),
            })
            .collect(),
        outputs: vec![Output {
            code: FAIR_PE_OUTPUT.into(),
            name: "Fair P/E".into(),
            model: FAIR_PE_MODEL_PATH.into(),
            class: 0,
        }],
        files: files
            .iter()
            .map(|(p, b)| FileEntry::describe(p, b))
            .collect(),
        metrics: Metrics::default(),
        base_rates: vec![],
        golden,
        rollout: None,
        training: [(
            "generator".to_string(),
            serde_json::json!(format!(
                "warmstart synthetic fair-multiple, variant {variant}"
            )),
        )]
        .into_iter()
        .collect(),
    };
    (manifest, files)
}

/// [`synthetic_fair_multiple_parts`] as a loaded bundle.
pub fn synthetic_fair_multiple_bundle(version: &str, variant: u64) -> Bundle {
    let (manifest, files) = synthetic_fair_multiple_parts(version, variant);
    Bundle::from_parts(manifest, files).expect("synthetic fair-multiple bundle is valid")
}

#[cfg(test)]
mod tests {
    use super::super::fair_multiple::industry_code;
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn deterministic_unique_and_plausible() {
        let a = synthetic_companies(200, 7, "20250331");
        assert_eq!(a, synthetic_companies(200, 7, "20250331"));
        assert_ne!(a, synthetic_companies(200, 8, "20250331"));
        assert_eq!(a[0].ts_code, "600519.SH");
        let codes: HashSet<&str> = a.iter().map(|c| c.ts_code.as_str()).collect();
        assert_eq!(codes.len(), 200);
        for c in &a {
            assert!(industry_code(c.industry.as_deref().unwrap()).is_some());
            assert_eq!(c.statements.len(), 5);
            assert_eq!(c.statements[4].end_date, "20241231");
            assert!(
                c.unit_warnings().is_empty(),
                "{}: {:?}",
                c.ts_code,
                c.unit_warnings()
            );
            let shares = c.shares().unwrap();
            assert!((1e6..1e12).contains(&shares), "{} {shares}", c.ts_code);
            assert!(c.price().unwrap() > 0.0);
            assert!(c.net_debt().is_some());
            assert!(c.history().iter().all(|y| y.revenue.unwrap() > 0.0));
        }
        // The flagship looks like Moutai: ~CNY 190bn revenue, ~1.26bn shares.
        let m = &a[0];
        let rev = m.latest().unwrap().revenue().unwrap();
        assert!((1.2e11..3.5e11).contains(&rev), "{rev}");
        assert!((0.5e9..3e9).contains(&m.shares().unwrap()));
        // Every industry is represented.
        let industries: HashSet<&str> = a.iter().filter_map(|c| c.industry.as_deref()).collect();
        assert_eq!(industries.len(), INDUSTRY_PROFILES.len());
    }

    #[test]
    fn fair_multiple_bundle_is_valid_and_plausible() {
        let b = synthetic_fair_multiple_bundle("2026-11-22T10-00-00Z-test001", 1);
        assert!(b.verify_golden().unwrap() >= MIN_GOLDEN_ROWS);
        assert_eq!(b.manifest().kind, ModelKind::FairMultiple);
        let all = synthetic_companies(50, 2, "20250331");
        let mut out = [0.0];
        for c in &all {
            b.score_into(&c.fundamentals().row(), &mut out).unwrap();
            assert!((3.0..80.0).contains(&out[0]), "{}: {}", c.ts_code, out[0]);
        }
        // Liquor is valued richer than utilities, all else missing.
        let mut pe = |industry: &str| {
            let f = super::super::fair_multiple::Fundamentals {
                industry: Some(industry.into()),
                ..Default::default()
            };
            b.score_into(&f.row(), &mut out).unwrap();
            out[0]
        };
        assert!(pe("白酒") > pe("电力"));
        // Variants differ.
        let b2 = synthetic_fair_multiple_bundle("v2", 2);
        let row = all[0].fundamentals().row();
        let mut out2 = [0.0];
        b2.score_into(&row, &mut out2).unwrap();
        b.score_into(&row, &mut out).unwrap();
        assert_ne!(out, out2);
    }
}
