//! Companies from TuShare Pro exports, for `warmstart seed valuation --csv <DIR>`.
//!
//! `DIR` holds one CSV per TuShare API, named after the API, as `pro.<api>(…).to_csv(path)`
//! writes them. A pandas index column, a UTF-8 BOM (`encoding="utf-8-sig"`), extra columns and
//! any column order are fine; cells TuShare leaves empty (`""`, `nan`, `None`) are missing
//! values.
//!
//! | file | TuShare API | fields used | |
//! |---|---|---|---|
//! | `income.csv` | `income` | revenue, total_revenue, operate_profit, ebit, total_profit, income_tax, n_income_attr_p | required |
//! | `balancesheet.csv` | `balancesheet` | accounts_receiv, notes_receiv, inventories, prepayment, acct_payable, notes_payable, adv_receipts, contract_liab, st_borr, lt_borr, bond_payable, money_cap, total_hldr_eqy_exc_min_int, total_share | required |
//! | `cashflow.csv` | `cashflow` | depr_fa_coga_dpba, amort_intang_assets, lt_amort_deferred_exp, c_pay_acq_const_fiolta | required |
//! | `daily_basic.csv` | `daily_basic` | trade_date, close, total_share, total_mv, pe, pb, dv_ratio | required |
//! | `stock_basic.csv` | `stock_basic` | name, industry | optional: without it there are no peers |
//! | `beta.csv` | none (`ts_code,beta`) | beta | optional: TuShare has no beta |
//!
//! Which rows count:
//! - statements: annual reports only (`end_date` on 12-31) of the consolidated statement
//!   (`report_type` 1, or no `report_type` column). Where TuShare returns a period twice, the
//!   corrected filing (`update_flag` 1) wins, then the later `f_ann_date`/`ann_date`, then
//!   the later line. A year enters a company's history when its income statement is there.
//! - market data: each company's latest `trade_date`, on or before `as_of` when given.
//!
//! Units are TuShare's and are kept: statements in CNY, `daily_basic.total_share` in 10⁴
//! shares, `total_mv` in 10⁴ CNY (see [`warmstart_core::valuation::Company`]). When
//! `daily_basic` has no `total_share`, the balance sheet's (in shares) is converted.
//!
//! A row that cannot be read (a bad number or date, a malformed code) is rejected and named
//! by file and line; it never stops the import. A company without an annual income
//! statement or without a price and share count is skipped, with the reason.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use warmstart_core::valuation::company::TUSHARE_SHARE_UNIT;
use warmstart_core::valuation::{AnnualStatement, Company};

mod table;
pub use table::normalize_date;
use table::{flag, Table};

/// Statement fields read from `income.csv`.
pub const INCOME_FIELDS: &[&str] = &[
    "revenue",
    "total_revenue",
    "operate_profit",
    "ebit",
    "total_profit",
    "income_tax",
    "n_income_attr_p",
];
/// Statement fields read from `balancesheet.csv` (`total_share` there is in shares).
pub const BALANCESHEET_FIELDS: &[&str] = &[
    "accounts_receiv",
    "notes_receiv",
    "inventories",
    "prepayment",
    "acct_payable",
    "notes_payable",
    "adv_receipts",
    "contract_liab",
    "st_borr",
    "lt_borr",
    "bond_payable",
    "money_cap",
    "total_hldr_eqy_exc_min_int",
    "total_share",
];
/// Statement fields read from `cashflow.csv`.
pub const CASHFLOW_FIELDS: &[&str] = &[
    "depr_fa_coga_dpba",
    "amort_intang_assets",
    "lt_amort_deferred_exp",
    "c_pay_acq_const_fiolta",
];
/// Market fields read from `daily_basic.csv`.
pub const DAILY_BASIC_FIELDS: &[&str] =
    &["close", "total_share", "total_mv", "pe", "pb", "dv_ratio"];

/// How many rejected rows and skipped companies are named in the summary.
const MAX_REASONS: usize = 10;

/// What the import read, kept and dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Data rows read per file.
    pub rows: BTreeMap<String, u64>,
    /// Company-years written: annual, consolidated, latest filing, with an income statement.
    pub statements: u64,
    /// Statement rows of quarters and half years.
    pub not_annual: u64,
    /// Statement rows of other report types (parent-only, single-quarter, pre-adjustment …).
    pub not_consolidated: u64,
    /// Statement rows replaced by a correction or a later filing of the same period.
    pub superseded: u64,
    /// Rows that could not be read.
    pub rejected: u64,
    /// The first few rejections, each naming its file and line.
    pub rejected_reasons: Vec<String>,
    /// Companies not written, each with the reason.
    pub skipped_companies: Vec<String>,
    /// Unit doubts and data fixes, per company.
    pub warnings: Vec<String>,
    /// Optional files that were not there, with what that means.
    pub missing_optional: Vec<String>,
}

impl ImportReport {
    fn record(&mut self, file: &str, rows: u64, rejected: Vec<String>) {
        self.rows.insert(file.to_string(), rows);
        self.rejected += rejected.len() as u64;
        let room = MAX_REASONS.saturating_sub(self.rejected_reasons.len());
        self.rejected_reasons
            .extend(rejected.into_iter().take(room));
    }

    /// A few lines for the terminal: what was read and kept, then what was dropped and why.
    pub fn summary(&self) -> String {
        let mut out = Vec::new();
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|(f, n)| format!("{f} {n} rows"))
            .collect();
        out.push(format!("read {}", rows.join(", ")));
        out.push(format!(
            "kept {} annual consolidated statements (skipped {} quarterly or half-year, {} \
             other report types, {} superseded filings)",
            self.statements, self.not_annual, self.not_consolidated, self.superseded
        ));
        if self.rejected > 0 {
            let more = if self.rejected as usize > self.rejected_reasons.len() {
                "; …"
            } else {
                ""
            };
            out.push(format!(
                "rejected {} row{}: {}{more}",
                self.rejected,
                if self.rejected == 1 { "" } else { "s" },
                self.rejected_reasons.join("; ")
            ));
        }
        if !self.skipped_companies.is_empty() {
            let shown: Vec<&str> = self
                .skipped_companies
                .iter()
                .take(MAX_REASONS)
                .map(String::as_str)
                .collect();
            let more = if self.skipped_companies.len() > MAX_REASONS {
                "; …"
            } else {
                ""
            };
            out.push(format!(
                "skipped {} compan{}: {}{more}",
                self.skipped_companies.len(),
                if self.skipped_companies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                shown.join("; ")
            ));
        }
        for w in self.warnings.iter().take(MAX_REASONS) {
            out.push(format!("warning: {w}"));
        }
        if self.warnings.len() > MAX_REASONS {
            out.push(format!(
                "warning: … and {} more",
                self.warnings.len() - MAX_REASONS
            ));
        }
        for m in &self.missing_optional {
            out.push(format!("note: {m}"));
        }
        out.join("\n")
    }
}

/// Companies read from a TuShare export directory, sorted by `ts_code`, and the report.
pub fn import_dir(dir: &Path, as_of: Option<&str>) -> Result<(Vec<Company>, ImportReport)> {
    if !dir.is_dir() {
        bail!(
            "{} is not a directory; --csv takes a directory holding income.csv, \
             balancesheet.csv, cashflow.csv and daily_basic.csv (TuShare exports)",
            dir.display()
        );
    }
    let as_of = match as_of {
        Some(d) => Some(
            normalize_date(d)
                .with_context(|| format!("--as-of {d:?} is not a date like 20240628"))?,
        ),
        None => None,
    };
    let required = |name: &str| -> Result<std::path::PathBuf> {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            bail!(
                "{} is missing: --csv needs income.csv, balancesheet.csv, cashflow.csv and \
                 daily_basic.csv in {} (stock_basic.csv and beta.csv are optional)",
                p.display(),
                dir.display()
            )
        }
    };
    let mut report = ImportReport::default();
    let mut statements = StatementRows::default();
    for (file, fields) in [
        ("income.csv", INCOME_FIELDS),
        ("balancesheet.csv", BALANCESHEET_FIELDS),
        ("cashflow.csv", CASHFLOW_FIELDS),
    ] {
        read_statements(&required(file)?, file, fields, &mut statements, &mut report)?;
    }
    let market = read_daily_basic(&required("daily_basic.csv")?, as_of.as_deref(), &mut report)?;
    let basics = match dir.join("stock_basic.csv") {
        p if p.is_file() => read_stock_basic(&p, &mut report)?,
        _ => {
            report.missing_optional.push(
                "no stock_basic.csv: companies have no name or industry, so relative \
                 valuation finds no peers"
                    .into(),
            );
            HashMap::new()
        }
    };
    let betas = match dir.join("beta.csv") {
        p if p.is_file() => read_betas(&p, &mut report)?,
        _ => {
            report
                .missing_optional
                .push("no beta.csv (ts_code,beta): the valuation uses its default beta".into());
            HashMap::new()
        }
    };
    let companies = assemble(statements, market, basics, betas, &mut report);
    Ok((companies, report))
}

// ------------------------------------------------------------------------------ reading

/// Kept statement rows: (ts_code, end_date) → per file, the winning filing.
type StatementRows = BTreeMap<(String, String), Filings>;

/// A period's filings, by file.
type Filings = HashMap<String, Filing>;

/// One statement row: its values and what decides between two filings of a period.
struct Filing {
    /// (corrected, announcement date, line): the larger wins.
    rank: (bool, String, u64),
    values: HashMap<&'static str, f64>,
}

fn read_statements(
    path: &Path,
    file: &str,
    fields: &[&'static str],
    out: &mut StatementRows,
    report: &mut ImportReport,
) -> Result<()> {
    let mut table = Table::open(path, file)?;
    if !table.columns.contains_key("end_date") {
        bail!("{} has no end_date column", path.display());
    }
    let (rows, rejected) = table.for_each(|row| {
        let ts_code = row.ts_code()?;
        let end_date = row.date("end_date")?.ok_or("end_date is empty")?;
        if !end_date.ends_with("1231") {
            report.not_annual += 1;
            return Ok(());
        }
        if flag(row, "report_type")?.is_some_and(|t| t != 1) {
            report.not_consolidated += 1;
            return Ok(());
        }
        let announced = row
            .date("f_ann_date")?
            .or(row.date("ann_date")?)
            .unwrap_or_default();
        let corrected = flag(row, "update_flag")? == Some(1);
        let mut values = HashMap::new();
        for &f in fields {
            if let Some(v) = row.number(f)? {
                values.insert(f, v);
            }
        }
        let filing = Filing {
            rank: (corrected, announced, row.line),
            values,
        };
        let slot = out.entry((ts_code, end_date)).or_default();
        let replaces = match slot.get(file) {
            Some(kept) => {
                report.superseded += 1;
                filing.rank > kept.rank
            }
            None => true,
        };
        if replaces {
            slot.insert(file.to_string(), filing);
        }
        Ok(())
    })?;
    report.record(file, rows, rejected);
    Ok(())
}

/// A company's market data row.
#[derive(Debug, Clone, Default)]
struct Market {
    trade_date: String,
    values: HashMap<&'static str, f64>,
}

fn read_daily_basic(
    path: &Path,
    as_of: Option<&str>,
    report: &mut ImportReport,
) -> Result<HashMap<String, Market>> {
    let file = "daily_basic.csv";
    let mut table = Table::open(path, file)?;
    if !table.columns.contains_key("trade_date") {
        bail!("{} has no trade_date column", path.display());
    }
    let mut latest: HashMap<String, Market> = HashMap::new();
    let (rows, rejected) = table.for_each(|row| {
        let ts_code = row.ts_code()?;
        let trade_date = row.date("trade_date")?.ok_or("trade_date is empty")?;
        if as_of.is_some_and(|a| trade_date.as_str() > a) {
            return Ok(());
        }
        let mut values = HashMap::new();
        for &f in DAILY_BASIC_FIELDS {
            if let Some(v) = row.number(f)? {
                values.insert(f, v);
            }
        }
        if latest
            .get(&ts_code)
            .is_none_or(|kept| kept.trade_date < trade_date)
        {
            latest.insert(ts_code, Market { trade_date, values });
        }
        Ok(())
    })?;
    report.record(file, rows, rejected);
    Ok(latest)
}

/// ts_code → (name, industry).
type Basics = HashMap<String, (Option<String>, Option<String>)>;

fn read_stock_basic(path: &Path, report: &mut ImportReport) -> Result<Basics> {
    let file = "stock_basic.csv";
    let mut table = Table::open(path, file)?;
    let mut out = HashMap::new();
    let (rows, rejected) = table.for_each(|row| {
        let name = row.text("name").map(str::to_string);
        let industry = row.text("industry").map(str::to_string);
        out.insert(row.ts_code()?, (name, industry));
        Ok(())
    })?;
    report.record(file, rows, rejected);
    Ok(out)
}

fn read_betas(path: &Path, report: &mut ImportReport) -> Result<HashMap<String, f64>> {
    let file = "beta.csv";
    let mut table = Table::open(path, file)?;
    if !table.columns.contains_key("beta") {
        bail!(
            "{} has no beta column (expected ts_code,beta)",
            path.display()
        );
    }
    let mut out = HashMap::new();
    let (rows, rejected) = table.for_each(|row| {
        if let Some(beta) = row.number("beta")? {
            out.insert(row.ts_code()?, beta);
        }
        Ok(())
    })?;
    report.record(file, rows, rejected);
    Ok(out)
}

// ------------------------------------------------------------------------------ assembling

fn statement(end_date: String, files: &HashMap<String, Filing>) -> AnnualStatement {
    let v = |file: &str, field: &str| files.get(file).and_then(|f| f.values.get(field).copied());
    let inc = |f| v("income.csv", f);
    let bs = |f| v("balancesheet.csv", f);
    let cf = |f| v("cashflow.csv", f);
    AnnualStatement {
        end_date,
        revenue: inc("revenue"),
        total_revenue: inc("total_revenue"),
        operate_profit: inc("operate_profit"),
        ebit: inc("ebit"),
        total_profit: inc("total_profit"),
        income_tax: inc("income_tax"),
        n_income_attr_p: inc("n_income_attr_p"),
        depr_fa_coga_dpba: cf("depr_fa_coga_dpba"),
        amort_intang_assets: cf("amort_intang_assets"),
        lt_amort_deferred_exp: cf("lt_amort_deferred_exp"),
        d_and_a: None,
        capex: cf("c_pay_acq_const_fiolta"),
        accounts_receiv: bs("accounts_receiv"),
        notes_receiv: bs("notes_receiv"),
        inventories: bs("inventories"),
        prepayment: bs("prepayment"),
        accounts_pay: bs("acct_payable"),
        notes_payable: bs("notes_payable"),
        adv_receipts: bs("adv_receipts"),
        contract_liab: bs("contract_liab"),
        st_borr: bs("st_borr"),
        lt_borr: bs("lt_borr"),
        bond_payable: bs("bond_payable"),
        money_cap: bs("money_cap"),
        total_hldr_eqy_exc_min_int: bs("total_hldr_eqy_exc_min_int"),
    }
}

fn assemble(
    statements: StatementRows,
    mut market: HashMap<String, Market>,
    basics: Basics,
    betas: HashMap<String, f64>,
    report: &mut ImportReport,
) -> Vec<Company> {
    // ts_code → [(end_date, files)], end dates ascending (BTreeMap order).
    let mut by_company: BTreeMap<String, Vec<(String, Filings)>> = BTreeMap::new();
    for ((code, end_date), files) in statements {
        by_company.entry(code).or_default().push((end_date, files));
    }
    let mut companies = Vec::new();
    for (code, years) in by_company {
        let balance_sheet_shares = years.iter().rev().find_map(|(_, f)| {
            f.get("balancesheet.csv")?
                .values
                .get("total_share")
                .copied()
        });
        let statements: Vec<AnnualStatement> = years
            .into_iter()
            .filter(|(_, f)| f.contains_key("income.csv"))
            .map(|(end, f)| statement(end, &f))
            .collect();
        if statements.is_empty() {
            report
                .skipped_companies
                .push(format!("{code}: no annual income statement in income.csv"));
            continue;
        }
        let Some(m) = market.remove(&code) else {
            report
                .skipped_companies
                .push(format!("{code}: no daily_basic.csv row"));
            continue;
        };
        let get = |f: &str| m.values.get(f).copied();
        let mut total_share = get("total_share");
        if total_share.is_none() {
            if let Some(shares) = balance_sheet_shares.filter(|s| *s > 0.0) {
                total_share = Some(shares / TUSHARE_SHARE_UNIT);
                report.warnings.push(format!(
                    "{code}: daily_basic has no total_share; used balancesheet.total_share \
                     {shares} shares = {} x 10^4",
                    shares / TUSHARE_SHARE_UNIT
                ));
            }
        }
        let (Some(close), Some(_)) = (get("close").filter(|c| *c > 0.0), total_share) else {
            report.skipped_companies.push(format!(
                "{code}: daily_basic row of {} has no positive close or no total_share",
                m.trade_date
            ));
            continue;
        };
        let (name, industry) = basics.get(&code).cloned().unwrap_or_default();
        let company = Company {
            ts_code: code.clone(),
            name,
            industry,
            as_of: m.trade_date.clone(),
            close: Some(close),
            total_share,
            total_mv: get("total_mv"),
            pe: get("pe"),
            pb: get("pb"),
            beta: betas.get(&code).copied(),
            dv_ratio: get("dv_ratio"),
            statements,
        };
        for w in company.unit_warnings() {
            report.warnings.push(format!("{code}: {w}"));
        }
        report.statements += company.statements.len() as u64;
        companies.push(company);
    }
    // Market data without statements (a full-market daily_basic next to statements of a few
    // companies) is common and not reported.
    companies
}

#[cfg(test)]
mod tests;
