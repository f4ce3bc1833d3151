//! Whole-valuation tests: the sample events' bodies, hand-computed valuations, offline and
//! what-if requests, and a property test over random requests and companies.

use super::company::{AnnualStatement, Company};
use super::dcf::{dcf, DcfInput, TerminalSpec};
use super::request::ValuationRequest;
use super::synthetic::synthetic_companies;
use super::*;
use proptest::prelude::*;

/// Bodies of `events/apigw-valuation-*.json`.
const VALID: &str = r#"{"ts_code":"600519.SH","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.025,"sensitivity":{"rows":{"axis":"wacc","values":[0.07,0.08,0.09]},"columns":{"axis":"terminal_growth","values":[0.015,0.02,0.025]}}}"#;
const ALIASES: &str = r#"{"stock_code":"600519.SH","prediction_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","perpetual_growth_rate":0.025}"#;
const EXIT: &str = r#"{"ts_code":"600519.SH","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"exit_multiple","exit_multiple":12}"#;
const GROWTH_ABOVE_WACC: &str = r#"{"ts_code":"600519.SH","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.2}"#;
const YEARS_ZERO: &str = r#"{"ts_code":"600519.SH","forecast_years":0,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.025}"#;
const UNKNOWN: &str = r#"{"ts_code":"000000.XX","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.025}"#;

fn req(body: &str) -> ValuationRequest {
    ValuationRequest::from_json(body.as_bytes()).unwrap()
}

fn universe() -> Vec<Company> {
    synthetic_companies(40, 1, "20250331")
}

fn peers_of(all: &[Company], c: &Company) -> Vec<Company> {
    all.iter()
        .filter(|p| p.industry == c.industry)
        .cloned()
        .collect()
}

/// A flat company: revenue 1000, EBIT 200, D&A 50, CapEx 50, NWC 100, tax 25 % every year →
/// FCFF 150 forever. Borrowings 300, cash 100 → net debt 200. 100 × 10⁴ shares.
fn flat_company() -> Company {
    let year = |y: i32| AnnualStatement {
        end_date: format!("{y}1231"),
        revenue: Some(1000.0),
        ebit: Some(200.0),
        d_and_a: Some(50.0),
        capex: Some(50.0),
        accounts_receiv: Some(100.0),
        total_profit: Some(200.0),
        income_tax: Some(50.0),
        n_income_attr_p: Some(150.0),
        st_borr: Some(300.0),
        money_cap: Some(100.0),
        total_hldr_eqy_exc_min_int: Some(1000.0),
        ..Default::default()
    };
    Company {
        ts_code: "000001.SZ".into(),
        industry: Some("食品".into()),
        as_of: "20250331".into(),
        close: Some(0.001),
        total_share: Some(100.0),
        beta: Some(1.0),
        statements: (2020..=2024).map(year).collect(),
        ..Default::default()
    }
}

#[test]
fn flat_company_by_hand() {
    let c = flat_company();
    let r = ValuationRequest {
        ts_code: Some(c.ts_code.clone()),
        discount_rate: Some(0.10),
        terminal_growth_rate: Some(0.0),
        ..Default::default()
    };
    let out = value(&r, Some(&c), &[], None).unwrap();
    let d = &out.valuation_results.dcf_forecast_details;
    // A level perpetuity of 150 at 10 %: EV 1500, equity 1300, over 1e6 shares.
    assert!(
        (d.enterprise_value - 1500.0).abs() < 1e-9,
        "{}",
        d.enterprise_value
    );
    assert_eq!(d.net_debt, 200.0);
    assert!((d.equity_value - 1300.0).abs() < 1e-9);
    assert!((d.value_per_share - 0.0013).abs() < 1e-15);
    for row in &out.valuation_results.detailed_forecast_table {
        assert!((row.ufcf - 150.0).abs() < 1e-12, "{row:?}");
        assert!((row.revenue.unwrap() - 1000.0).abs() < 1e-9);
        assert_eq!(row.delta_nwc, Some(0.0));
    }
    assert_eq!(out.valuation_results.detailed_forecast_table[0].year, 2025);
    assert_eq!(out.assumptions.tax_rate, 0.25);
    assert_eq!(out.valuation_results.wacc_details.source, "override");
    // Mid-year shifts every flow, and the perpetual-growth TV, half a year earlier.
    let mid = ValuationRequest {
        mid_year_convention: Some(true),
        ..r.clone()
    };
    let m = value(&mid, Some(&c), &[], None).unwrap();
    let md = &m.valuation_results.dcf_forecast_details;
    assert!((md.enterprise_value - 1500.0 * 1.1f64.sqrt()).abs() < 1e-9);
    assert_eq!(md.discounting, Discounting::MidYear);
    assert_eq!(md.terminal_discount_periods, 4.5);
}

#[test]
fn the_valid_event_values_600519() {
    let all = universe();
    let c = &all[0];
    let out = value(&req(VALID), Some(c), &peers_of(&all, c), None).unwrap();
    let v = &out.valuation_results;
    let d = &v.dcf_forecast_details;
    // CAPM 0.03 + 1.1·0.06 = 0.096; WACC = 0.8·0.096 + 0.2·0.045·(1 − t).
    let t = out.assumptions.tax_rate;
    assert!((t - 0.25).abs() < 1e-3, "{t}");
    let want = 0.8 * 0.096 + 0.2 * 0.045 * (1.0 - t);
    assert!((d.wacc_used - want).abs() < 1e-15);
    // Consistency of the table and the totals.
    let pv: f64 = v.detailed_forecast_table.iter().map(|r| r.pv_ufcf).sum();
    assert!((pv - d.pv_forecast_ufcf).abs() <= 1e-9 * pv.abs());
    assert_eq!(d.enterprise_value, d.pv_forecast_ufcf + d.pv_terminal_value);
    assert_eq!(d.equity_value, d.enterprise_value - d.net_debt);
    assert_eq!(d.value_per_share, d.equity_value / d.shares_outstanding);
    assert_eq!(d.shares_outstanding, c.shares().unwrap());
    assert!(d.value_per_share > 0.0);
    assert_eq!(v.detailed_forecast_table.len(), 5);
    for r in &v.detailed_forecast_table {
        let f = r.nopat.unwrap() + r.d_and_a.unwrap() - r.capex.unwrap() - r.delta_nwc.unwrap();
        assert!((f - r.ufcf).abs() <= 1e-6, "{r:?}");
    }
    // Growth fades to the terminal rate in the last year.
    let last = v.detailed_forecast_table.last().unwrap();
    assert!((last.revenue_growth.unwrap() - 0.025).abs() < 1e-15);
    // 3 × 3 sensitivity; the (8 %, 2.5 %) cell equals a valuation at an 8 % discount rate.
    let s = v.sensitivity_analysis_result.as_ref().unwrap();
    assert_eq!(s.result_tables.value_per_share.len(), 3);
    assert!(s.result_tables.value_per_share.iter().all(|r| r.len() == 3));
    let at8 = ValuationRequest {
        discount_rate: Some(0.08),
        sensitivity: None,
        ..req(VALID)
    };
    let o8 = value(&at8, Some(c), &[], None).unwrap();
    assert_eq!(
        s.result_tables.value_per_share[1][2],
        Some(o8.valuation_results.dcf_forecast_details.value_per_share)
    );
    assert!(v.latest_price.is_some() && v.current_pe.is_some() && v.current_pb.is_some());
    let rel = out.relative.as_ref().unwrap();
    assert!(rel.peer_count >= 1);
    assert!(rel.peer_median_pe.is_some());
    // Without an ML model the blend uses DCF and relative only.
    let b = out.blended_target.as_ref().unwrap();
    assert_eq!(b.weights.ml, 0.0);
    assert!((b.weights.dcf - 2.0 / 3.0).abs() < 1e-15);
    assert!(out.model.is_none() && out.ml_fair_multiple.is_none());

    // The response JSON has stock_vale's shape.
    let j = serde_json::to_value(&out).unwrap();
    for k in [
        "enterprise_value",
        "equity_value",
        "value_per_share",
        "net_debt",
        "pv_forecast_ufcf",
        "pv_terminal_value",
        "terminal_value",
        "wacc_used",
        "terminal_value_share",
        "discounting",
    ] {
        assert!(
            !j["valuation_results"]["dcf_forecast_details"][k].is_null(),
            "{k}"
        );
    }
    assert_eq!(
        j["valuation_results"]["dcf_forecast_details"]["discounting"],
        "end_of_year"
    );
    let row = &j["valuation_results"]["detailed_forecast_table"][0];
    for k in [
        "year",
        "revenue",
        "ebit",
        "nopat",
        "d_and_a",
        "capex",
        "delta_nwc",
        "ufcf",
        "discount_factor",
        "pv_ufcf",
    ] {
        assert!(!row[k].is_null(), "{k}");
    }
    let s = &j["valuation_results"]["sensitivity_analysis_result"];
    assert_eq!(s["row_axis"], "wacc");
    assert_eq!(s["column_axis"], "terminal_growth");
    assert_eq!(s["row_values"].as_array().unwrap().len(), 3);
    assert!(j["valuation_results"]["data_warnings"].is_array());
    assert_eq!(j["cached"], false);
    // And parses back.
    let back: ValuationResponse = serde_json::from_value(j).unwrap();
    assert_eq!(back, out);
}

#[test]
fn aliases_give_the_same_dcf_without_a_table() {
    let all = universe();
    let c = &all[0];
    let a = value(&req(ALIASES), Some(c), &[], None).unwrap();
    let v = value(&req(VALID), Some(c), &[], None).unwrap();
    assert_eq!(
        a.valuation_results.dcf_forecast_details,
        v.valuation_results.dcf_forecast_details
    );
    assert_eq!(
        a.valuation_results.detailed_forecast_table,
        v.valuation_results.detailed_forecast_table
    );
    assert!(a.valuation_results.sensitivity_analysis_result.is_none());
    assert_eq!(a.ts_code.as_deref(), Some("600519.SH"));
}

#[test]
fn exit_multiple_event_and_implied_growth_round_trip() {
    let all = universe();
    let c = &all[0];
    for mid in [false, true] {
        let mut r = req(EXIT);
        r.mid_year_convention = Some(mid);
        let out = value(&r, Some(c), &[], None).unwrap();
        let d = &out.valuation_results.dcf_forecast_details;
        assert_eq!(
            d.terminal_value_method_used,
            TerminalValueMethod::ExitMultiple
        );
        assert_eq!(d.exit_multiple_used, Some(12.0));
        let last = out
            .valuation_results
            .detailed_forecast_table
            .last()
            .unwrap();
        let ebitda = last.ebit.unwrap() + last.d_and_a.unwrap();
        assert_eq!(d.terminal_ebitda, Some(ebitda));
        assert!((d.terminal_value - 12.0 * ebitda).abs() <= 1e-12 * d.terminal_value);
        assert_eq!(d.terminal_discount_periods, 5.0);
        // Valuing by perpetual growth at the implied rate gives the same EV.
        let g = d.implied_perpetual_growth.unwrap();
        let fcff: Vec<f64> = out
            .valuation_results
            .detailed_forecast_table
            .iter()
            .map(|r| r.ufcf)
            .collect();
        let o = dcf(&DcfInput {
            fcff: &fcff,
            wacc: d.wacc_used,
            terminal: TerminalSpec::PerpetualGrowth { growth: g },
            discounting: d.discounting,
            net_debt: d.net_debt,
            shares: d.shares_outstanding,
        })
        .unwrap();
        assert!(
            ((o.enterprise_value - d.enterprise_value) / d.enterprise_value).abs() < 1e-12,
            "mid {mid}: {} vs {}",
            o.enterprise_value,
            d.enterprise_value
        );
    }
}

/// The HTTP status the API answers `e` with.
fn status(e: &ValuationError) -> u16 {
    crate::http::ApiError::from(e.clone()).status()
}

#[test]
fn invalid_and_unknown_events() {
    let all = universe();
    let c = &all[0];
    let e = value(&req(GROWTH_ABOVE_WACC), Some(c), &[], None).unwrap_err();
    assert!(matches!(e, ValuationError::GrowthNotBelowWacc { .. }));
    assert_eq!((status(&e), e.field()), (400, "terminal_growth_rate"));
    let e = value(&req(YEARS_ZERO), Some(c), &[], None).unwrap_err();
    assert_eq!((status(&e), e.field()), (400, "forecast_years"));
    let e = value(&req(UNKNOWN), None, &[], None).unwrap_err();
    assert_eq!(
        e,
        ValuationError::NotFound {
            ts_code: "000000.XX".into()
        }
    );
    assert_eq!(status(&e), 404);
    let e = value(&ValuationRequest::default(), None, &[], None).unwrap_err();
    assert_eq!(e.field(), "ts_code");
}

#[test]
fn ml_fair_multiple_and_blend() {
    let all = universe();
    let c = &all[0];
    let eps = c.eps().unwrap();
    let out = value(
        &req(ALIASES),
        Some(c),
        &peers_of(&all, c),
        Some((30.0, "fair-multiple", "2026-11-22T10-00-00Z-abc1234").into()),
    )
    .unwrap();
    let ml = out.ml_fair_multiple.as_ref().unwrap();
    assert_eq!(ml.fair_pe, 30.0);
    assert_eq!(ml.implied_price, Some(30.0 * eps));
    assert_eq!(
        out.model.as_ref().unwrap().version,
        "2026-11-22T10-00-00Z-abc1234"
    );
    let b = out.blended_target.as_ref().unwrap();
    assert_eq!(
        (b.weights.dcf, b.weights.relative, b.weights.ml),
        (0.5, 0.25, 0.25)
    );
    let want = 0.5 * out.valuation_results.dcf_forecast_details.value_per_share
        + 0.25 * out.relative.as_ref().unwrap().implied_price.unwrap()
        + 0.25 * 30.0 * eps;
    assert!((b.price - want).abs() <= 1e-12 * want);
    // Custom weights are renormalised.
    let mut r = req(ALIASES);
    r.blend_weights = Some(response::BlendWeights {
        dcf: 2.0,
        relative: 0.0,
        ml: 2.0,
    });
    let out = value(&r, Some(c), &[], Some((30.0, "m", "v").into())).unwrap();
    let w = out.blended_target.unwrap().weights;
    assert_eq!((w.dcf, w.relative, w.ml), (0.5, 0.0, 0.5));
    // An unusable model output is left out with a warning.
    let out = value(&r, Some(c), &[], Some((f64::NAN, "m", "v").into())).unwrap();
    assert!(out.ml_fair_multiple.is_none());
    assert!(out
        .valuation_results
        .data_warnings
        .iter()
        .any(|w| w.contains("fair-multiple")));
}

#[test]
fn market_weights_and_defaults() {
    let all = universe();
    let c = &all[3];
    let r = ValuationRequest {
        ts_code: Some(c.ts_code.clone()),
        ..Default::default()
    };
    let out = value(&r, Some(c), &[], None).unwrap();
    let w = &out.valuation_results.wacc_details;
    assert_eq!(w.source, "market");
    let debt = c.borrowings().unwrap();
    let want = debt / (debt + c.market_cap().unwrap());
    assert!((w.debt_weight.unwrap() - want).abs() < 1e-15);
    assert_eq!(out.assumptions.beta, c.beta);
    assert_eq!(out.assumptions.forecast_years, 5);
    assert_eq!(out.assumptions.terminal_growth_rate, 0.025);
    // Explicit market weights without market data: a 400 naming wacc_weights.
    let bare = Company {
        close: None,
        ..c.clone()
    };
    let r = ValuationRequest {
        wacc_weights: Some(WaccWeights::Market),
        ..r
    };
    assert_eq!(
        value(&r, Some(&bare), &[], None).unwrap_err().field(),
        "wacc_weights"
    );
}

#[test]
fn what_if_cash_flows_without_company() {
    // The textbook 5-year case: FCFF 100…140, 10 %, g 3 %, net debt 200, 10 shares.
    let body = r#"{"fcff_forecast":[100,110,120,130,140],"discount_rate":0.10,
        "terminal_growth_rate":0.03,"net_debt":200,"shares_outstanding":10,
        "sensitivity":{"rows":{"axis":"wacc","values":[0.03,0.1]},
                       "columns":{"axis":"terminal_growth","values":[0.03]}}}"#;
    let out = value(&req(body), None, &[], None).unwrap();
    let d = &out.valuation_results.dcf_forecast_details;
    let ev = 100.0 / 1.1
        + 110.0 / 1.21
        + 120.0 / 1.331
        + 130.0 / 1.4641
        + 140.0 * 1.03 / 0.07 / 1.61051
        + 140.0 / 1.61051;
    assert!(
        (d.enterprise_value - ev).abs() < 1e-9,
        "{} {ev}",
        d.enterprise_value
    );
    assert!((d.value_per_share - (ev - 200.0) / 10.0).abs() < 1e-10);
    assert!(out.relative.is_none() && out.stock_info.is_none());
    assert_eq!(out.assumptions.fcff_source, "fcff_forecast");
    assert!(out.valuation_results.detailed_forecast_table[0]
        .revenue
        .is_none());
    let t = &out
        .valuation_results
        .sensitivity_analysis_result
        .as_ref()
        .unwrap()
        .result_tables
        .value_per_share;
    assert_eq!(t[0][0], None); // g 3 % = WACC 3 %
    assert_eq!(t[1][0], Some(d.value_per_share));
    // Exit multiple on supplied flows needs terminal_ebitda.
    let r = req(
        r#"{"fcff_forecast":[1,2],"discount_rate":0.1,"net_debt":0,"shares_outstanding":1,
        "terminal_value_method":"exit_multiple","exit_multiple":8}"#,
    );
    assert_eq!(
        value(&r, None, &[], None).unwrap_err().field(),
        "terminal_ebitda"
    );
    // Missing shares or net debt are named.
    let r = req(r#"{"fcff_forecast":[1,2],"discount_rate":0.1,"net_debt":0}"#);
    assert_eq!(
        value(&r, None, &[], None).unwrap_err().field(),
        "shares_outstanding"
    );
    let r = req(r#"{"fcff_forecast":[1,2],"discount_rate":0.1,"shares_outstanding":1}"#);
    assert_eq!(value(&r, None, &[], None).unwrap_err().field(), "net_debt");
    // Revenue/margin paths without company data.
    let r = req(
        r#"{"base_revenue":1000,"revenue_growth_path":[0.1,0.05],"ebit_margin_path":[0.2,0.2],
        "da_to_revenue":0.05,"capex_to_revenue":0.08,"nwc_to_revenue":0.1,"tax_rate":0.25,
        "discount_rate":0.1,"terminal_growth_rate":0.02,"net_debt":0,"shares_outstanding":1}"#,
    );
    let out = value(&r, None, &[], None).unwrap();
    let rows = &out.valuation_results.detailed_forecast_table;
    assert!((rows[0].ufcf - 122.0).abs() < 1e-12);
    assert!((rows[1].ufcf - 133.1).abs() < 1e-12);
    assert_eq!(rows[0].year, 1);
}

#[test]
fn offline_request_carries_company_and_peers() {
    let all = universe();
    let c = &all[0];
    let mut j: serde_json::Value = serde_json::from_str(VALID).unwrap();
    j["company"] = serde_json::to_value(c).unwrap();
    j["peers"] = serde_json::to_value(peers_of(&all, c)).unwrap();
    let r = ValuationRequest::from_value(j).unwrap();
    let offline = value(&r, None, &[], None).unwrap();
    let online = value(&req(VALID), Some(c), &peers_of(&all, c), None).unwrap();
    assert_eq!(offline, online);
    // The embedded data is not part of the cache key.
    assert_eq!(
        r.cache_key(None, "d").unwrap(),
        req(VALID).cache_key(None, "d").unwrap()
    );
}

#[test]
fn warnings_for_fragile_valuations() {
    let c = flat_company();
    // Growth just under WACC: the terminal value dominates.
    let r = ValuationRequest {
        discount_rate: Some(0.05),
        terminal_growth_rate: Some(0.045),
        ..Default::default()
    };
    let out = value(&r, Some(&c), &[], None).unwrap();
    let w = &out.valuation_results.data_warnings;
    assert!(w.iter().any(|m| m.contains("terminal value is")), "{w:?}");
    // Heavy CapEx: negative FCFF years are listed.
    let r = ValuationRequest {
        capex_to_revenue: Some(0.9),
        ..r
    };
    let out = value(&r, Some(&c), &[], None).unwrap();
    let w = &out.valuation_results.data_warnings;
    assert!(w.iter().any(|m| m.contains("negative FCFF")), "{w:?}");
    // Unknown fields are reported.
    let out = value(
        &req(r#"{"ts_code":"X","termnal_growth_rate":0.01,"discount_rate":0.1}"#),
        Some(&c),
        &[],
        None,
    )
    .unwrap();
    assert!(out
        .valuation_results
        .data_warnings
        .iter()
        .any(|m| m.contains("termnal_growth_rate")));
}

#[test]
fn synthetic_universe_values_cleanly() {
    let all = synthetic_companies(120, 3, "20250331");
    let mut ok = 0;
    for c in &all {
        let r = ValuationRequest {
            ts_code: Some(c.ts_code.clone()),
            ..Default::default()
        };
        match value(
            &r,
            Some(c),
            &peers_of(&all, c),
            Some((20.0, "m", "v").into()),
        ) {
            Ok(out) => {
                ok += 1;
                let d = &out.valuation_results.dcf_forecast_details;
                assert!(d.value_per_share.is_finite());
                assert!(out.relative.unwrap().peer_count > 0);
            }
            Err(e) => panic!("{}: {e}", c.ts_code),
        }
    }
    assert_eq!(ok, all.len());
}

fn axis_strategy() -> impl Strategy<Value = Option<SensitivitySpec>> {
    use super::sensitivity::AxisSpec;
    proptest::option::of((
        proptest::collection::vec(0.02f64..0.2, 1..=11),
        prop_oneof![
            proptest::collection::vec(-0.05f64..0.05, 1..=11)
                .prop_map(|v| (SensitivityAxis::TerminalGrowth, v)),
            proptest::collection::vec(2.0f64..30.0, 1..=11)
                .prop_map(|v| (SensitivityAxis::ExitMultiple, v)),
        ],
    ))
    .prop_map(|o| {
        o.map(|(w, (axis, values))| SensitivitySpec {
            rows: AxisSpec {
                axis: SensitivityAxis::Wacc,
                values: w,
                step: None,
                points: None,
            },
            columns: AxisSpec {
                axis,
                values,
                step: None,
                points: None,
            },
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn prop_value_is_finite_and_additive(
        seed in 0u64..1000,
        pick in 0usize..30,
        years in 1i64..=30,
        rf in -0.05f64..0.5,
        beta in -1.0f64..5.0,
        mrp in 0.0f64..0.3,
        kd in 0.0f64..0.5,
        debt_ratio in proptest::option::of(0.0f64..0.95),
        growth in -0.1f64..0.2,
        exit in proptest::option::of(0.5f64..50.0),
        mid in any::<bool>(),
        spec in axis_strategy(),
    ) {
        let all = synthetic_companies(30, seed, "20250331");
        let c = &all[pick];
        let r = ValuationRequest {
            ts_code: Some(c.ts_code.clone()),
            forecast_years: Some(years),
            risk_free_rate: Some(rf),
            beta: Some(beta),
            market_risk_premium: Some(mrp),
            cost_of_debt: Some(kd),
            target_debt_ratio: debt_ratio,
            terminal_value_method: Some(if exit.is_some() {
                TerminalValueMethod::ExitMultiple
            } else {
                TerminalValueMethod::PerpetualGrowth
            }),
            exit_multiple: exit,
            terminal_growth_rate: Some(growth),
            mid_year_convention: Some(mid),
            sensitivity: spec,
            ..Default::default()
        };
        match value(&r, Some(c), &peers_of(&all, c), Some((15.0, "m", "v").into())) {
            Ok(out) => {
                let d = &out.valuation_results.dcf_forecast_details;
                for x in [d.enterprise_value, d.equity_value, d.value_per_share,
                          d.pv_forecast_ufcf, d.pv_terminal_value, d.terminal_value, d.wacc_used] {
                    prop_assert!(x.is_finite());
                }
                let pv: f64 = out.valuation_results.detailed_forecast_table.iter()
                    .map(|r| r.pv_ufcf).sum();
                prop_assert!((pv - d.pv_forecast_ufcf).abs()
                    <= 1e-9 * (1.0 + out.valuation_results.detailed_forecast_table.iter()
                        .map(|r| r.pv_ufcf.abs()).sum::<f64>()));
                prop_assert_eq!(d.enterprise_value, d.pv_forecast_ufcf + d.pv_terminal_value);
                if let Some(s) = &out.valuation_results.sensitivity_analysis_result {
                    for row in &s.result_tables.value_per_share {
                        for cell in row.iter().flatten() {
                            prop_assert!(cell.is_finite());
                        }
                    }
                }
                if let Some(b) = &out.blended_target {
                    prop_assert!(b.price.is_finite() && b.price > 0.0);
                    let sum = b.weights.dcf + b.weights.relative + b.weights.ml;
                    prop_assert!((sum - 1.0).abs() < 1e-12);
                }
                // No non-finite number hides anywhere: serde_json would write it as null, and
                // the response would not read back equal.
                let j = serde_json::to_string(&out).unwrap();
                let back: ValuationResponse = serde_json::from_str(&j).unwrap();
                prop_assert_eq!(back, out);
            }
            Err(ValuationError::GrowthNotBelowWacc { growth: g, wacc }) => {
                prop_assert!(exit.is_none() && g >= wacc);
            }
            Err(e) => {
                // The only other possible failure: inputs giving a non-positive WACC.
                prop_assert_eq!(e.field(), "wacc", "{}", e);
            }
        }
    }
}
