//! Kaggle's `test_ver2.csv`: every customer's profile in the month to predict (2016-06-28),
//! without products. `seed recommender` turns its rows into Features-table profiles and
//! `predict recommender` scores them; both build the profile here, so the submission ranks
//! exactly what the recommend function would serve after seeding.
//!
//! The products of a test customer are not in the file: they are the customer's latest known
//! month, from a `train_ver2.csv` history ([`history`]) or the item already in the table. A
//! customer known to neither is new and owns nothing.

use crate::data::panel::{MonthlyRecord, Panel};
use crate::data::santander::{self, ParseReport};
use crate::util::progress;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::Path;
use warmstart_core::recommend::Customer;

/// How many unreadable rows an error lists.
const MAX_LISTED: usize = 5;

/// Parses a Santander CSV with a byte progress bar.
pub fn parse(path: &Path, what: &'static str) -> Result<ParseReport> {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let pb = progress::bytes(len, what);
    let report = santander::parse_file(path, |b| pb.set_position(b));
    pb.finish_and_clear();
    report
}

/// The rows of a parsed `test_ver2.csv`, one per customer. Unlike training data, an unreadable
/// row is an error: a submission or a seed that silently leaves customers out is worse than
/// stopping.
pub fn rows(path: &Path, report: ParseReport) -> Result<Panel> {
    if report.has_products {
        bail!(
            "{} has product columns: it is a train_ver2.csv, not the test_ver2.csv of the \
             month to predict",
            path.display()
        );
    }
    if report.rejected > 0 {
        let mut listed: Vec<String> = report.reasons.iter().map(|r| located(path, r)).collect();
        if report.rejected as usize > listed.len() {
            listed.push(format!(
                "… {} more",
                report.rejected as usize - listed.len()
            ));
        }
        listed.truncate(MAX_LISTED + 1);
        bail!(
            "{} row{} of {} cannot be read:\n  {}",
            report.rejected,
            if report.rejected == 1 { "" } else { "s" },
            path.display(),
            listed.join("\n  ")
        );
    }
    let months = report.panel.months();
    if months.len() > 1 {
        bail!(
            "{} holds {} months ({} .. {}); test_ver2.csv is the one month to predict",
            path.display(),
            months.len(),
            months[0],
            months[months.len() - 1]
        );
    }
    Ok(report.panel)
}

/// `file:line: reason` from the parser's `line N: reason`.
fn located(path: &Path, reason: &str) -> String {
    match reason
        .strip_prefix("line ")
        .and_then(|r| r.split_once(": "))
    {
        Some((line, msg)) => format!("{}:{line}: {msg}", path.display()),
        None => format!("{}: {reason}", path.display()),
    }
}

/// Each customer's latest month in a `train_ver2.csv`, by customer id, with the parse report.
pub fn history(path: &Path) -> Result<(HashMap<String, Customer>, ParseReport)> {
    let report =
        parse(path, "history").with_context(|| format!("reading --history {}", path.display()))?;
    if !report.has_products {
        bail!(
            "--history {} has no product columns; it must be the train_ver2.csv",
            path.display()
        );
    }
    let latest = report
        .panel
        .latest_profiles()
        .into_iter()
        .map(|c| (c.customer_id.clone(), c))
        .collect();
    Ok((latest, report))
}

/// The profile of test row `rec`: its demographics, and the products of `known` (the
/// customer's latest known month, from the history or the table), or none for a new customer.
///
/// `as_of` is the month before the test month: the recommend function predicts the month
/// after `as_of` (the model's `month` feature and its lag-1 products), and the month to
/// predict is the test month itself.
pub fn profile(test: &Panel, rec: &MonthlyRecord, known: Option<&Customer>) -> Customer {
    let mut c = test.customer(rec, 0);
    c.as_of = rec.date.add_months(-1).to_string();
    match known {
        Some(k) => {
            c.owned = k.owned.clone();
            c.owned_prev = k.owned_prev.clone();
        }
        None => {
            c.owned.clear();
            c.owned_prev.clear();
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "fecha_dato,ncodpers,ind_empleado,pais_residencia,sexo,age,fecha_alta,\
ind_nuevo,antiguedad,indrel,ult_fec_cli_1t,indrel_1mes,tiprel_1mes,indresi,indext,conyuemp,\
canal_entrada,indfall,tipodom,cod_prov,nomprov,ind_actividad_cliente,renta,segmento";
    const ROW: &str = "2016-06-28,15889,F,ES,V,56,1995-01-16,0,256,1,,1,A,S,N,N,KAT,N,1,28,\
MADRID,1,326124.9,01 - TOP";

    fn parsed(text: &str) -> ParseReport {
        santander::parse_reader(text.as_bytes(), |_| {}).unwrap()
    }

    #[test]
    fn test_rows_become_profiles_of_the_month_before() {
        let path = Path::new("test_ver2.csv");
        let panel = rows(path, parsed(&format!("{HEADER}\n{ROW}\n"))).unwrap();
        let rec = &panel.records[0];
        let known = Customer {
            owned: vec!["ind_cco_fin_ult1".into()],
            owned_prev: vec!["ind_recibo_ult1".into()],
            ..Customer::default()
        };
        let c = profile(&panel, rec, Some(&known));
        assert_eq!(c.as_of, "2016-05-28");
        assert_eq!(c.age, Some(56.0));
        assert_eq!(c.segmento.as_deref(), Some("01 - TOP"));
        assert_eq!((c.owned, c.owned_prev), (known.owned, known.owned_prev));
        let new = profile(&panel, rec, None);
        assert!(new.owned.is_empty() && new.owned_prev.is_empty());
    }

    #[test]
    fn unreadable_rows_are_errors_naming_file_and_line() {
        let bad = ROW.replace(",56,", ",old,");
        let text = format!("{HEADER}\n{ROW}\n{bad}\n");
        let err = rows(Path::new("t.csv"), parsed(&text)).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("t.csv:3: age `old` is not a number"), "{msg}");
        let two_months = format!(
            "{HEADER}\n{ROW}\n{}\n",
            ROW.replace("06-28,15889", "07-28,1")
        );
        let err = rows(Path::new("t.csv"), parsed(&two_months)).unwrap_err();
        assert!(err.to_string().contains("2 months"), "{err}");
    }
}
