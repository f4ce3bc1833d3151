//! A listed company as stored in the Features table (`pk = company#<ts_code>`): market data from
//! TuShare `daily_basic` plus multi-year annual statements (income, balance sheet, cash flow).
//!
//! Field names are TuShare's, so a TuShare export deserializes straight into these structs.
//! Where the valuation needs one figure that TuShare spreads over several fields, an accessor
//! does the mapping (documented on each):
//!
//! | figure | accessor | TuShare fields |
//! |---|---|---|
//! | revenue | [`AnnualStatement::revenue`] | `revenue` (营业收入), else `total_revenue` |
//! | EBIT | [`AnnualStatement::ebit`] | `ebit`, else `operate_profit` |
//! | D&A | [`AnnualStatement::d_and_a`] | `d_and_a`, else `depr_fa_coga_dpba + amort_intang_assets + lt_amort_deferred_exp` |
//! | CapEx | `capex` field | `c_pay_acq_const_fiolta` (accepted as an alias) |
//! | NWC | [`AnnualStatement::nwc`] | `accounts_receiv + notes_receiv + inventories + prepayment − acct_payable − notes_payable − adv_receipts − contract_liab` (`acct_payable` is stored as `accounts_pay`) |
//! | borrowings | [`AnnualStatement::borrowings`] | `st_borr + lt_borr + bond_payable` |
//! | cash | `money_cap` | `money_cap` |
//!
//! **Units.** Statement amounts are in CNY (yuan), as TuShare's statement APIs return them.
//! `close` is CNY per share. `total_share` keeps TuShare `daily_basic`'s unit, **10⁴ shares**
//! (万股); [`Company::shares`] converts it to shares. `total_mv` is also 10⁴ CNY (万元).
//! [`Company::unit_warnings`] flags values that look like they were stored in the wrong unit.

use super::fair_multiple::Fundamentals;
use serde::{Deserialize, Serialize};

/// TuShare `daily_basic` reports `total_share` in units of 10⁴ shares.
pub const TUSHARE_SHARE_UNIT: f64 = 10_000.0;
/// TuShare `daily_basic` reports `total_mv` in units of 10⁴ CNY.
pub const TUSHARE_MV_UNIT: f64 = 10_000.0;

/// The `company#<ts_code>` item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Company {
    /// e.g. `600519.SH`.
    pub ts_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// TuShare `stock_basic.industry` (e.g. `白酒`); peers share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Date of the market data (`trade_date`, `YYYYMMDD`); part of the cache key.
    #[serde(default)]
    pub as_of: String,
    /// Latest close, CNY per share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<f64>,
    /// Total shares in **10⁴ shares** (TuShare `daily_basic.total_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_share: Option<f64>,
    /// Total market value in **10⁴ CNY** (TuShare `daily_basic.total_mv`); optional, used only
    /// to cross-check the share unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_mv: Option<f64>,
    /// P/E (TuShare `daily_basic.pe`, static, on the last annual net profit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pe: Option<f64>,
    /// P/B (TuShare `daily_basic.pb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pb: Option<f64>,
    /// Levered beta against the market index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// Dividend yield in **percent** (TuShare `daily_basic.dv_ratio`, e.g. `1.8` = 1.8 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dv_ratio: Option<f64>,
    /// Annual statements, any order (sorted by `end_date` when used).
    #[serde(default)]
    pub statements: Vec<AnnualStatement>,
}

/// One fiscal year's figures, TuShare field names, CNY.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnnualStatement {
    /// Period end, `YYYYMMDD` (or `YYYY-MM-DD`).
    pub end_date: String,
    // --- income statement ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_revenue: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operate_profit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_profit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub income_tax: Option<f64>,
    /// Net profit attributable to the parent's shareholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_income_attr_p: Option<f64>,
    // --- cash flow statement ---
    /// Depreciation of fixed assets, oil & gas and productive biological assets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depr_fa_coga_dpba: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amort_intang_assets: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt_amort_deferred_exp: Option<f64>,
    /// Pre-computed D&A; wins over the three components when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_and_a: Option<f64>,
    /// Cash paid for fixed, intangible and other long-term assets (TuShare
    /// `c_pay_acq_const_fiolta`), a positive outflow.
    #[serde(
        default,
        alias = "c_pay_acq_const_fiolta",
        skip_serializing_if = "Option::is_none"
    )]
    pub capex: Option<f64>,
    // --- balance sheet: working capital ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_receiv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_receiv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventories: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepayment: Option<f64>,
    /// Accounts payable (TuShare balancesheet `acct_payable`, accepted as an alias).
    #[serde(
        default,
        alias = "acct_payable",
        skip_serializing_if = "Option::is_none"
    )]
    pub accounts_pay: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_payable: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_receipts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_liab: Option<f64>,
    // --- balance sheet: capital ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub st_borr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt_borr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_payable: Option<f64>,
    /// Cash and equivalents (货币资金).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub money_cap: Option<f64>,
    /// Equity attributable to the parent's shareholders (book value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_hldr_eqy_exc_min_int: Option<f64>,
}

/// Sum of the present values; `None` when all are missing.
fn sum_present(xs: &[Option<f64>]) -> Option<f64> {
    xs.iter()
        .flatten()
        .copied()
        .fold(None, |acc, x| Some(acc.unwrap_or(0.0) + x))
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite())
}

impl AnnualStatement {
    /// Fiscal year from `end_date`'s first four digits.
    pub fn year(&self) -> Option<i32> {
        self.end_date.get(..4)?.parse().ok()
    }

    /// `revenue`, else `total_revenue`.
    pub fn revenue(&self) -> Option<f64> {
        finite(self.revenue.or(self.total_revenue))
    }

    /// `ebit`, else `operate_profit`.
    pub fn ebit(&self) -> Option<f64> {
        finite(self.ebit.or(self.operate_profit))
    }

    /// `d_and_a`, else `depr_fa_coga_dpba + amort_intang_assets + lt_amort_deferred_exp`
    /// (missing components count as 0; `None` when all three are missing).
    pub fn d_and_a(&self) -> Option<f64> {
        finite(self.d_and_a.or_else(|| {
            sum_present(&[
                self.depr_fa_coga_dpba,
                self.amort_intang_assets,
                self.lt_amort_deferred_exp,
            ])
        }))
    }

    /// Operating net working capital: receivables + notes receivable + inventories +
    /// prepayments − payables − notes payable − advances received − contract liabilities.
    /// Missing items count as 0; `None` when every item is missing.
    pub fn nwc(&self) -> Option<f64> {
        let assets = sum_present(&[
            self.accounts_receiv,
            self.notes_receiv,
            self.inventories,
            self.prepayment,
        ]);
        let liabilities = sum_present(&[
            self.accounts_pay,
            self.notes_payable,
            self.adv_receipts,
            self.contract_liab,
        ]);
        match (assets, liabilities) {
            (None, None) => None,
            (a, l) => finite(Some(a.unwrap_or(0.0) - l.unwrap_or(0.0))),
        }
    }

    /// Interest-bearing debt: `st_borr + lt_borr + bond_payable` (missing count as 0; `None`
    /// when all three are missing).
    pub fn borrowings(&self) -> Option<f64> {
        finite(sum_present(&[
            self.st_borr,
            self.lt_borr,
            self.bond_payable,
        ]))
    }

    /// Effective tax rate `income_tax / total_profit` when the profit is positive.
    pub fn effective_tax_rate(&self) -> Option<f64> {
        match (self.income_tax, self.total_profit) {
            (Some(t), Some(p)) if p > 0.0 && t.is_finite() && p.is_finite() => Some(t / p),
            _ => None,
        }
    }
}

/// The mapped figures of one year, as the forecast uses them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct YearFigures {
    pub year: i32,
    pub revenue: Option<f64>,
    pub ebit: Option<f64>,
    pub d_and_a: Option<f64>,
    pub capex: Option<f64>,
    pub nwc: Option<f64>,
    pub effective_tax_rate: Option<f64>,
}

impl Company {
    /// Statements sorted by `end_date` (oldest first); a repeated `end_date` keeps the last.
    pub fn sorted_statements(&self) -> Vec<&AnnualStatement> {
        let mut v: Vec<&AnnualStatement> = self.statements.iter().collect();
        v.sort_by(|a, b| a.end_date.cmp(&b.end_date));
        let mut out: Vec<&AnnualStatement> = Vec::with_capacity(v.len());
        for s in v {
            match out.last_mut() {
                Some(last) if last.end_date == s.end_date => *last = s,
                _ => out.push(s),
            }
        }
        out
    }

    /// The most recent statement.
    pub fn latest(&self) -> Option<&AnnualStatement> {
        self.sorted_statements().last().copied()
    }

    /// Mapped history, oldest first (statements without a parseable year are skipped).
    pub fn history(&self) -> Vec<YearFigures> {
        self.sorted_statements()
            .into_iter()
            .filter_map(|s| {
                Some(YearFigures {
                    year: s.year()?,
                    revenue: s.revenue(),
                    ebit: s.ebit(),
                    d_and_a: s.d_and_a(),
                    capex: finite(s.capex),
                    nwc: s.nwc(),
                    effective_tax_rate: s.effective_tax_rate(),
                })
            })
            .collect()
    }

    /// Shares outstanding, in shares: `total_share × 10⁴` (TuShare's unit is 10⁴ shares).
    pub fn shares(&self) -> Option<f64> {
        finite(self.total_share)
            .filter(|s| *s > 0.0)
            .map(|s| s * TUSHARE_SHARE_UNIT)
    }

    /// Latest close, when positive.
    pub fn price(&self) -> Option<f64> {
        finite(self.close).filter(|p| *p > 0.0)
    }

    /// Market capitalisation in CNY: `close × shares`.
    pub fn market_cap(&self) -> Option<f64> {
        Some(self.price()? * self.shares()?)
    }

    /// Latest borrowings + bonds (CNY).
    pub fn borrowings(&self) -> Option<f64> {
        self.latest()?.borrowings()
    }

    /// Latest cash (`money_cap`, CNY).
    pub fn cash(&self) -> Option<f64> {
        finite(self.latest()?.money_cap)
    }

    /// Net debt = borrowings + bonds − cash (latest statement); `None` when neither debt nor
    /// cash is known.
    pub fn net_debt(&self) -> Option<f64> {
        match (self.borrowings(), self.cash()) {
            (None, None) => None,
            (d, c) => Some(d.unwrap_or(0.0) - c.unwrap_or(0.0)),
        }
    }

    /// Latest EBITDA = EBIT + D&A.
    pub fn ebitda(&self) -> Option<f64> {
        let s = self.latest()?;
        Some(s.ebit()? + s.d_and_a().unwrap_or(0.0))
    }

    /// Earnings per share: `close / pe` when the stored P/E is positive, else latest
    /// `n_income_attr_p / shares`.
    pub fn eps(&self) -> Option<f64> {
        if let (Some(p), Some(pe)) = (self.price(), finite(self.pe).filter(|x| *x > 0.0)) {
            return Some(p / pe);
        }
        Some(finite(self.latest()?.n_income_attr_p)? / self.shares()?)
    }

    /// Book value per share: `close / pb` when the stored P/B is positive, else latest
    /// `total_hldr_eqy_exc_min_int / shares`.
    pub fn bvps(&self) -> Option<f64> {
        if let (Some(p), Some(pb)) = (self.price(), finite(self.pb).filter(|x| *x > 0.0)) {
            return Some(p / pb);
        }
        Some(finite(self.latest()?.total_hldr_eqy_exc_min_int)? / self.shares()?)
    }

    /// Current P/E: the stored `pe`, else price / EPS (only when EPS > 0).
    pub fn current_pe(&self) -> Option<f64> {
        if let Some(pe) = finite(self.pe) {
            return Some(pe);
        }
        let eps = self.eps().filter(|e| *e > 0.0)?;
        Some(self.price()? / eps)
    }

    /// Current P/B: the stored `pb`, else price / BVPS (only when BVPS > 0).
    pub fn current_pb(&self) -> Option<f64> {
        if let Some(pb) = finite(self.pb) {
            return Some(pb);
        }
        let bvps = self.bvps().filter(|b| *b > 0.0)?;
        Some(self.price()? / bvps)
    }

    /// EV/EBITDA with EV = market cap + net debt (missing net debt counts as 0); `None` when
    /// EBITDA ≤ 0.
    pub fn ev_ebitda(&self) -> Option<f64> {
        let ebitda = self.ebitda().filter(|e| *e > 0.0)?;
        let ev = self.market_cap()? + self.net_debt().unwrap_or(0.0);
        Some(ev / ebitda)
    }

    /// The fair-multiple model's input from the latest two statements and the market data:
    /// revenue growth (latest vs previous year), EBIT and net margins, ROE (net profit / book
    /// equity), debt/equity (borrowings + bonds over book equity), beta, payout ratio
    /// (`dv_ratio`/100 × P/E = dividends / earnings), market cap (CNY) and industry.
    pub fn fundamentals(&self) -> Fundamentals {
        let s = self.sorted_statements();
        let latest = s.last().copied();
        let prev = s.len().checked_sub(2).map(|i| s[i]);
        let revenue = latest.and_then(|l| l.revenue()).filter(|r| *r > 0.0);
        let net = latest.and_then(|l| finite(l.n_income_attr_p));
        let equity = latest
            .and_then(|l| finite(l.total_hldr_eqy_exc_min_int))
            .filter(|e| *e > 0.0);
        let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?).filter(|x| x.is_finite());
        Fundamentals {
            revenue_growth: ratio(revenue, prev.and_then(|p| p.revenue()).filter(|r| *r > 0.0))
                .map(|x| x - 1.0),
            ebit_margin: ratio(latest.and_then(|l| l.ebit()), revenue),
            net_margin: ratio(net, revenue),
            roe: ratio(net, equity),
            debt_to_equity: ratio(latest.and_then(|l| l.borrowings()), equity),
            beta: finite(self.beta),
            payout_ratio: match (
                finite(self.dv_ratio),
                self.current_pe().filter(|p| *p > 0.0),
            ) {
                (Some(dv), Some(pe)) => Some(dv / 100.0 * pe),
                _ => None,
            },
            market_cap: self.market_cap(),
            industry: self.industry.clone(),
        }
    }

    /// Warnings about values that look like they were stored in the wrong unit.
    pub fn unit_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(ts) = finite(self.total_share).filter(|s| *s > 0.0) {
            // The largest A-share (ICBC) has ~3.6e7 × 10⁴ shares; the smallest listings have
            // a few thousand × 10⁴ shares.
            if ts > 1e9 {
                w.push(format!(
                    "total_share {ts} looks like it is already in shares, not TuShare's 10^4 \
                     shares; value per share may be 10^4 times too small"
                ));
            } else if ts < 100.0 {
                w.push(format!(
                    "total_share {ts} (in 10^4 shares) means fewer than 1 million shares; it may \
                     be in 10^8 shares (亿股); check the unit"
                ));
            }
            if let (Some(mv), Some(cap)) = (
                finite(self.total_mv).filter(|m| *m > 0.0),
                self.market_cap(),
            ) {
                let ratio = cap / (mv * TUSHARE_MV_UNIT);
                if !(0.5..=2.0).contains(&ratio) {
                    w.push(format!(
                        "close × total_share × 10^4 = {cap:.0} CNY disagrees with total_mv × 10^4 \
                         = {:.0} CNY (ratio {ratio:.3e}); check the share and market-value units",
                        mv * TUSHARE_MV_UNIT
                    ));
                }
            }
        }
        if let (Some(s), Some(rev)) = (self.latest(), self.latest().and_then(|s| s.revenue())) {
            if let Some(cap) = self.market_cap() {
                // Statements in 10⁴ CNY or 10⁸ CNY instead of CNY make revenue absurdly small
                // next to the market value.
                if rev > 0.0 && cap / rev > 1e4 {
                    w.push(format!(
                        "revenue {rev} for {} is {:.1e} times smaller than the market value; \
                         statement amounts must be in CNY (yuan), not 10^4 or 10^8 CNY",
                        s.end_date,
                        cap / rev
                    ));
                }
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn statement(year: i32, revenue: f64) -> AnnualStatement {
        AnnualStatement {
            end_date: format!("{year}1231"),
            revenue: Some(revenue),
            ..Default::default()
        }
    }

    #[test]
    fn tushare_field_mapping() {
        let json = r#"{
            "ts_code": "600519.SH", "industry": "白酒", "as_of": "20241231",
            "close": 1500.0, "total_share": 125619.78, "pe": 25.0, "pb": 8.0, "beta": 0.9,
            "statements": [
              {"end_date": "20231231", "total_revenue": 150.0, "operate_profit": 90.0,
               "depr_fa_coga_dpba": 5.0, "amort_intang_assets": 1.0,
               "c_pay_acq_const_fiolta": 4.0, "accounts_receiv": 2.0, "inventories": 40.0,
               "accounts_pay": 3.0, "contract_liab": 10.0, "st_borr": 1.0, "bond_payable": 2.0,
               "money_cap": 60.0, "income_tax": 22.5, "total_profit": 90.0},
              {"end_date": "20221231", "revenue": 120.0, "ebit": 70.0, "d_and_a": 4.0}
            ]
        }"#;
        let c: Company = serde_json::from_str(json).unwrap();
        let h = c.history();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].year, 2022);
        assert_eq!(h[0].revenue, Some(120.0));
        assert_eq!(h[0].ebit, Some(70.0));
        assert_eq!(h[0].d_and_a, Some(4.0));
        assert_eq!(h[1].revenue, Some(150.0)); // total_revenue fallback
        assert_eq!(h[1].ebit, Some(90.0)); // operate_profit fallback
        assert_eq!(h[1].d_and_a, Some(6.0)); // 5 + 1 + missing 0
        assert_eq!(h[1].capex, Some(4.0)); // c_pay_acq_const_fiolta alias
        assert_eq!(h[1].nwc, Some(2.0 + 40.0 - 3.0 - 10.0));
        assert_eq!(h[1].effective_tax_rate, Some(0.25));
        assert_eq!(c.borrowings(), Some(3.0));
        assert_eq!(c.cash(), Some(60.0));
        assert_eq!(c.net_debt(), Some(-57.0));
        // 10⁴-share unit converted.
        assert_eq!(c.shares(), Some(1_256_197_800.0));
        assert_eq!(c.eps(), Some(60.0));
        assert_eq!(c.current_pe(), Some(25.0));
        let f = c.fundamentals();
        assert!((f.revenue_growth.unwrap() - 0.25).abs() < 1e-15);
        assert!((f.ebit_margin.unwrap() - 0.6).abs() < 1e-15);
        assert_eq!(f.market_cap, Some(1500.0 * 1_256_197_800.0));
        assert_eq!(f.industry.as_deref(), Some("白酒"));
        assert_eq!(f.beta, Some(0.9));
        assert_eq!(f.roe, None); // no book equity stored
                                 // Serializes with the canonical `capex` name and round-trips.
        let back: Company = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn missing_fields_are_none() {
        let s = AnnualStatement {
            end_date: "20231231".into(),
            ..Default::default()
        };
        assert_eq!(s.d_and_a(), None);
        assert_eq!(s.nwc(), None);
        assert_eq!(s.borrowings(), None);
        assert_eq!(s.revenue(), None);
        let c = Company::default();
        assert_eq!(c.net_debt(), None);
        assert_eq!(c.shares(), None);
        assert_eq!(c.eps(), None);
        assert!(c.unit_warnings().is_empty());
    }

    #[test]
    fn duplicate_end_dates_keep_the_last() {
        let c = Company {
            statements: vec![
                statement(2023, 1.0),
                statement(2022, 5.0),
                statement(2023, 2.0),
            ],
            ..Default::default()
        };
        let h = c.history();
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].revenue, Some(2.0));
    }

    #[test]
    fn unit_doubts_are_flagged() {
        let mut c = Company {
            close: Some(10.0),
            total_share: Some(5e9 * 10_000.0),
            statements: vec![statement(2023, 1e9)],
            ..Default::default()
        };
        assert!(c.unit_warnings()[0].contains("already in shares"));
        c.total_share = Some(50.0);
        assert!(c.unit_warnings()[0].contains("10^8"));
        // Consistent market value: no warning.
        c.total_share = Some(100_000.0); // 1e9 shares → cap 1e10 CNY
        c.total_mv = Some(1e6); // 1e10 CNY
        assert!(c.unit_warnings().is_empty(), "{:?}", c.unit_warnings());
        c.total_mv = Some(1e10); // 1e14 CNY: off by 10⁴
        assert!(c.unit_warnings()[0].contains("total_mv"));
        // Revenue in 10⁸ CNY.
        c.total_mv = None;
        c.statements = vec![statement(2023, 12.0)];
        assert!(c.unit_warnings()[0].contains("yuan"));
    }
}
