use super::table::is_ts_code;
use super::*;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tushare")
}

fn company<'a>(companies: &'a [Company], code: &str) -> &'a Company {
    companies
        .iter()
        .find(|c| c.ts_code == code)
        .unwrap_or_else(|| panic!("{code} missing"))
}

/// A directory with the four required files, each header + rows.
fn export(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let defaults = [
        (
            "income.csv",
            "ts_code,end_date,report_type,revenue,operate_profit\n\
             600000.SH,20231231,1,1000000000,200000000\n",
        ),
        ("balancesheet.csv", "ts_code,end_date,money_cap\n"),
        ("cashflow.csv", "ts_code,end_date,c_pay_acq_const_fiolta\n"),
        (
            "daily_basic.csv",
            "ts_code,trade_date,close,total_share\n600000.SH,20240628,10.0,100000\n",
        ),
    ];
    for (name, text) in defaults {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn fixture_export_maps_tushare_fields_onto_companies() {
    let (companies, report) = import_dir(&fixture(), None).unwrap();
    let codes: Vec<&str> = companies.iter().map(|c| c.ts_code.as_str()).collect();
    assert_eq!(
        codes,
        [
            "000333.SZ",
            "000568.SZ",
            "000651.SZ",
            "000858.SZ",
            "600519.SH"
        ]
    );

    let m = company(&companies, "600519.SH");
    assert_eq!(m.name.as_deref(), Some("贵州茅台"));
    assert_eq!(m.industry.as_deref(), Some("白酒"));
    assert_eq!(m.as_of, "20240628");
    assert_eq!(m.close, Some(1469.0));
    // daily_basic's 10⁴ shares kept as stored; Company::shares converts.
    assert_eq!(m.total_share, Some(125619.78));
    assert_eq!(m.shares(), Some(1_256_197_800.0));
    assert_eq!(m.beta, Some(0.92));
    assert_eq!(m.dv_ratio, Some(2.1));
    let years: Vec<&str> = m.statements.iter().map(|s| s.end_date.as_str()).collect();
    assert_eq!(years, ["20211231", "20221231", "20231231"]);
    let latest = m.latest().unwrap();
    // The consolidated statement, not the parent-only one (revenue 88e9).
    assert_eq!(latest.revenue, Some(147_690_000_000.0));
    assert_eq!(latest.total_revenue, Some(150_560_000_000.0));
    assert_eq!(latest.ebit(), Some(103_300_000_000.0));
    assert_eq!(latest.effective_tax_rate(), Some(26.0 / 103.49));
    assert_eq!(latest.accounts_pay, Some(2_910_000_000.0)); // acct_payable
    assert_eq!(latest.capex, Some(2_600_000_000.0)); // c_pay_acq_const_fiolta
    assert_eq!(
        latest.d_and_a(),
        Some(1_600_000_000.0 + 200_000_000.0 + 10_000_000.0)
    );
    assert_eq!(
        latest.nwc(),
        Some(30_000_000.0 + 46_430_000_000.0 - 2_910_000_000.0 - 14_130_000_000.0)
    );
    assert_eq!(m.net_debt(), Some(-69_450_000_000.0));
    assert_eq!(latest.total_hldr_eqy_exc_min_int, Some(215_690_000_000.0));

    // The corrected 2022 filing of 000858.SZ, not the original.
    let w = company(&companies, "000858.SZ");
    let w2022 = w
        .statements
        .iter()
        .find(|s| s.end_date == "20221231")
        .unwrap();
    assert_eq!(w2022.revenue, Some(73_970_000_000.0));
    // Debt from three balance-sheet fields.
    assert_eq!(
        company(&companies, "000568.SZ").borrowings(),
        Some(8_000_000_000.0 + 3_000_000_000.0)
    );

    assert_eq!(report.statements, 15);
    assert_eq!(report.not_annual, 1);
    assert_eq!(report.not_consolidated, 1);
    assert_eq!(report.superseded, 1);
    assert_eq!(report.rejected, 1);
    assert!(
        report.rejected_reasons[0].starts_with("income.csv line 21: revenue \"one hundred\""),
        "{:?}",
        report.rejected_reasons
    );
    assert_eq!(
        report.skipped_companies,
        ["300999.SZ: no daily_basic.csv row"]
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(report.missing_optional.is_empty());
    assert_eq!(report.rows["income.csv"], 20);
    assert_eq!(report.rows["daily_basic.csv"], 10);
    let summary = report.summary();
    assert!(
        summary.contains("kept 15 annual consolidated statements"),
        "{summary}"
    );
    assert!(
        summary.contains("skipped 1 company: 300999.SZ"),
        "{summary}"
    );
}

#[test]
fn as_of_takes_the_last_market_data_on_or_before_it() {
    let (companies, _) = import_dir(&fixture(), Some("2024-06-27")).unwrap();
    let m = company(&companies, "600519.SH");
    assert_eq!(m.as_of, "20240627");
    assert_eq!(m.close, Some(1439.62));
    let err = import_dir(&fixture(), Some("June")).unwrap_err();
    assert!(format!("{err:#}").contains("--as-of"), "{err:#}");
}

#[test]
fn a_missing_required_file_is_an_error_that_names_it() {
    let dir = export(&[]);
    std::fs::remove_file(dir.path().join("cashflow.csv")).unwrap();
    let err = format!("{:#}", import_dir(dir.path(), None).unwrap_err());
    assert!(err.contains("cashflow.csv is missing"), "{err}");
    let err = format!(
        "{:#}",
        import_dir(&dir.path().join("income.csv"), None).unwrap_err()
    );
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn optional_files_missing_are_noted_not_fatal() {
    let dir = export(&[]);
    let (companies, report) = import_dir(dir.path(), None).unwrap();
    assert_eq!(companies.len(), 1);
    assert_eq!(companies[0].industry, None);
    assert_eq!(companies[0].beta, None);
    assert_eq!(report.missing_optional.len(), 2);
    assert!(report.summary().contains("no stock_basic.csv"));
}

#[test]
fn pandas_renderings_of_dates_and_flags_are_read() {
    let dir = export(&[(
        "income.csv",
        "ts_code,end_date,report_type,update_flag,f_ann_date,revenue\n\
         600000.SH,2023-12-31,1.0,0.0,2024-04-01,1.0\n\
         600000.SH,2023/12/31,1.0,1.0,2024-04-20,2.0e9\n\
         600000.sh,20221231.0,,,,  nan  \n",
    )]);
    let (companies, report) = import_dir(dir.path(), None).unwrap();
    assert_eq!(report.rejected, 0, "{:?}", report.rejected_reasons);
    let c = &companies[0];
    assert_eq!(c.ts_code, "600000.SH");
    assert_eq!(c.statements.len(), 2);
    assert_eq!(c.statements[0].end_date, "20221231");
    assert_eq!(c.statements[0].revenue, None);
    assert_eq!(c.statements[1].revenue, Some(2.0e9));
    assert_eq!(report.superseded, 1);
}

#[test]
fn an_original_filing_never_replaces_its_correction() {
    // Correction first in the file, original after: the correction still wins.
    let dir = export(&[(
        "income.csv",
        "ts_code,end_date,update_flag,f_ann_date,revenue\n\
         600000.SH,20231231,1,20240420,2.0\n\
         600000.SH,20231231,0,20240425,1.0\n",
    )]);
    let (companies, _) = import_dir(dir.path(), None).unwrap();
    assert_eq!(companies[0].statements[0].revenue, Some(2.0));
}

#[test]
fn balance_sheet_shares_fill_a_missing_daily_basic_total_share() {
    let dir = export(&[
        (
            "balancesheet.csv",
            "ts_code,end_date,total_share\n600000.SH,20231231,29352000000\n",
        ),
        (
            "daily_basic.csv",
            "ts_code,trade_date,close,total_share\n600000.SH,20240628,10.0,\n",
        ),
    ]);
    let (companies, report) = import_dir(dir.path(), None).unwrap();
    assert_eq!(companies[0].total_share, Some(2_935_200.0));
    assert_eq!(companies[0].shares(), Some(29_352_000_000.0));
    assert!(report.warnings[0].contains("balancesheet.total_share"));
}

#[test]
fn companies_without_a_price_or_income_statement_are_skipped_with_the_reason() {
    let dir = export(&[
        (
            "income.csv",
            "ts_code,end_date,revenue\n600000.SH,20231231,1e9\n600001.SH,20230630,1e9\n",
        ),
        (
            "balancesheet.csv",
            "ts_code,end_date,money_cap\n600001.SH,20231231,5e8\n",
        ),
        (
            "daily_basic.csv",
            "ts_code,trade_date,close,total_share\n600000.SH,20240628,,100\n\
             600001.SH,20240628,5.0,100\n",
        ),
    ]);
    let (companies, report) = import_dir(dir.path(), None).unwrap();
    assert!(companies.is_empty());
    assert_eq!(report.skipped_companies.len(), 2, "{report:?}");
    assert!(report.skipped_companies[0].contains("600000.SH: daily_basic row of 20240628"));
    assert!(report.skipped_companies[1].contains("600001.SH: no annual income statement"));
}

#[test]
fn unreadable_rows_are_rejected_by_file_and_line_and_the_rest_kept() {
    let dir = export(&[(
        "income.csv",
        "ts_code,end_date,revenue\n\
         600000.SH,20231231,1e9\n\
         600519,20231231,1e9\n\
         600000.SH,2023-13-31,1e9\n\
         600000.SH,20221231,1,000\n\
         600000.SH,20211231,inf\n",
    )]);
    let (companies, report) = import_dir(dir.path(), None).unwrap();
    assert_eq!(companies[0].statements.len(), 1);
    assert_eq!(report.rejected, 4, "{:?}", report.rejected_reasons);
    let r = &report.rejected_reasons;
    assert!(
        r[0].starts_with("income.csv line 3: ts_code \"600519\""),
        "{r:?}"
    );
    assert!(
        r[1].contains("line 4: end_date \"2023-13-31\" is not a date"),
        "{r:?}"
    );
    // An unquoted thousands separator adds a field: refused, never read as revenue 1.
    assert!(
        r[2].contains("line 5: 4 fields where the header has 3"),
        "{r:?}"
    );
    assert!(r[3].contains("line 6: revenue \"inf\""), "{r:?}");
}

#[test]
fn statements_in_ten_thousand_yuan_are_warned_about() {
    // Revenue written in 10⁴ CNY (a common re-export mistake): 1e5 instead of 1e9.
    let dir = export(&[(
        "income.csv",
        "ts_code,end_date,revenue\n600000.SH,20231231,100000\n",
    )]);
    let (_, report) = import_dir(dir.path(), None).unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("yuan")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_gbk_file_gets_a_re_export_hint() {
    let dir = export(&[]);
    // "白酒" in GBK.
    let mut bytes = b"ts_code,name,industry\n600000.SH,x,".to_vec();
    bytes.extend_from_slice(&[0xB0, 0xD7, 0xBE, 0xC6, b'\n']);
    std::fs::write(dir.path().join("stock_basic.csv"), bytes).unwrap();
    let err = format!("{:#}", import_dir(dir.path(), None).unwrap_err());
    assert!(
        err.contains("stock_basic.csv") && err.contains("utf-8-sig"),
        "{err}"
    );
}

#[test]
fn a_file_without_ts_code_is_refused() {
    let dir = export(&[("cashflow.csv", "code,end_date\n")]);
    let err = format!("{:#}", import_dir(dir.path(), None).unwrap_err());
    assert!(err.contains("no ts_code column"), "{err}");
}

#[test]
fn dates_and_codes() {
    assert_eq!(normalize_date("20231231").as_deref(), Some("20231231"));
    assert_eq!(normalize_date(" 2023-12-31 ").as_deref(), Some("20231231"));
    assert_eq!(normalize_date("20231231.0").as_deref(), Some("20231231"));
    assert_eq!(normalize_date("2023123"), None);
    assert_eq!(normalize_date("20230001"), None);
    assert!(is_ts_code("600519.SH") && is_ts_code("830799.bj"));
    assert!(!is_ts_code("600519") && !is_ts_code("60051.SH") && !is_ts_code("600519.HK"));
}
