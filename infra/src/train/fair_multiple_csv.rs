//! `warmstart train fair-multiple --csv DIR`: the fair-P/E model trained on real companies.
//!
//! Companies are imported from TuShare exports exactly as `seed valuation --csv` reads them
//! ([`tushare::import_dir`]); the features are [`Company::fundamentals`], the very call the
//! valuation function scores with, and the target is the company's current P/E
//! ([`Company::current_pe`]: TuShare's `pe`, else price over earnings per share).

use crate::data::tushare;
use crate::train::fair_multiple::{self, DataInfo, Options};
use anyhow::{bail, Context, Result};
use std::path::Path;
use warmstart_core::bundle::Manifest;
use warmstart_core::valuation::{industry_code, Company, INDUSTRIES};

/// The highest P/E trained on, the synthetic targets' ceiling too: above it earnings are near
/// zero and the multiple says little about what the business is worth.
pub const MAX_PE: f64 = 150.0;

/// How many skipped companies are named on the terminal.
const MAX_NAMED: usize = 10;

/// Training companies from imported ones, and the companies skipped with the reason.
pub fn training_companies(companies: &[Company]) -> (Vec<fair_multiple::Company>, Vec<String>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for c in companies {
        let code = &c.ts_code;
        let pe = match c.current_pe() {
            None => {
                skipped.push(format!("{code}: no P/E and no positive earnings per share"));
                continue;
            }
            Some(pe) if pe <= 0.0 => {
                skipped.push(format!("{code}: P/E {pe} (loss-making)"));
                continue;
            }
            Some(pe) if pe > MAX_PE => {
                skipped.push(format!("{code}: P/E {pe:.1} above {MAX_PE}"));
                continue;
            }
            Some(pe) => pe,
        };
        let fundamentals = c.fundamentals();
        if fundamentals.ebit_margin.is_none()
            && fundamentals.net_margin.is_none()
            && fundamentals.roe.is_none()
        {
            skipped.push(format!(
                "{code}: the latest statement has no revenue or equity to build margins and ROE"
            ));
            continue;
        }
        let industry = fundamentals
            .industry
            .as_deref()
            .and_then(industry_code)
            .unwrap_or(INDUSTRIES.len());
        kept.push(fair_multiple::Company {
            fundamentals,
            industry,
            pe,
        });
    }
    (kept, skipped)
}

/// Imports `dir`, trains, writes and verifies the bundle (`opts.companies` is unused).
pub fn run(dir: &Path, as_of: Option<&str>, opts: &Options) -> Result<Manifest> {
    let (imported, report) =
        tushare::import_dir(dir, as_of).with_context(|| format!("importing {}", dir.display()))?;
    eprintln!("{}", report.summary());
    let (companies, skipped) = training_companies(&imported);
    if !skipped.is_empty() {
        let named: Vec<&str> = skipped.iter().take(MAX_NAMED).map(String::as_str).collect();
        let more = if skipped.len() > MAX_NAMED {
            "; …"
        } else {
            ""
        };
        eprintln!(
            "skipped {} of {} imported companies for training: {}{more}",
            skipped.len(),
            imported.len(),
            named.join("; ")
        );
    }
    if companies.is_empty() {
        bail!(
            "no company in {} has a P/E in (0, {MAX_PE}] and statements to train on",
            dir.display()
        );
    }
    let info = DataInfo {
        source: format!("tushare:{}", dir.display()),
        summary: format!(
            "{} companies with a P/E from {} ({} imported, {} skipped here, {} skipped by the \
             import)",
            companies.len(),
            dir.display(),
            imported.len(),
            skipped.len(),
            report.skipped_companies.len()
        ),
        training: vec![
            ("imported_companies".into(), imported.len().into()),
            ("skipped_companies".into(), skipped.len().into()),
            (
                "skipped_by_import".into(),
                report.skipped_companies.len().into(),
            ),
            ("rejected_rows".into(), report.rejected.into()),
            (
                "target".into(),
                format!("current P/E (TuShare pe, else price / EPS), 0 < P/E <= {MAX_PE}").into(),
            ),
        ],
    };
    fair_multiple::fit(&companies, info, opts)
}
