//! The whole valuation of one request: WACC → forecast → DCF → sensitivity → relative → ML fair
//! multiple → blended target. Pure: the endpoint and `warmstart value` (offline) both call
//! [`value`] with the data they gathered.

use super::company::Company;
use super::dcf::{dcf, DcfInput, TerminalSpec};
use super::discount::Discounting;
use super::error::ValuationError;
use super::forecast::{derive_drivers, historical_tax_rate, project, DriverOverrides};
use super::relative::relative;
use super::request::{
    ValuationRequest, DEFAULT_BETA, DEFAULT_COST_OF_DEBT, DEFAULT_MARKET_RISK_PREMIUM,
    DEFAULT_RISK_FREE_RATE, DEFAULT_TERMINAL_GROWTH,
};
use super::response::{
    AssumptionsUsed, BlendWeights, BlendedTarget, DcfForecastDetails, ForecastRow, MlFairMultiple,
    ModelRef, StockInfo, ValuationResponse, ValuationResults,
};
use super::sensitivity::{sensitivity, SensitivityBase};
use super::terminal::TerminalValueMethod;
use super::wacc::{
    after_tax_cost_of_debt, cost_of_equity, wacc_from_debt_ratio, WaccBreakdown, WaccWeights,
};

/// The warning when the company has no industry peers.
pub const NO_PEERS_WARNING: &str = "no industry peers in the store: no peer medians";

/// A terminal value above this share of EV earns a warning.
pub const TV_SHARE_WARNING: f64 = 0.85;

/// The fair P/E the `fair-multiple` model scored for the company, and which model did it.
#[derive(Debug, Clone, PartialEq)]
pub struct FairMultipleInput {
    pub fair_pe: f64,
    pub name: String,
    pub version: String,
}

impl<N: Into<String>, V: Into<String>> From<(f64, N, V)> for FairMultipleInput {
    fn from((fair_pe, name, version): (f64, N, V)) -> Self {
        FairMultipleInput {
            fair_pe,
            name: name.into(),
            version: version.into(),
        }
    }
}

/// Values the company (or the request's what-if cash flows).
///
/// * `company`: the `company#<ts_code>` item; when `None`, the request's embedded `company`
///   is used (offline). With neither, the request must carry its own cash flows
///   (`fcff_forecast`, or `base_revenue` + `ebit_margin_path`) plus `net_debt` and
///   `shares_outstanding`; otherwise the answer is [`ValuationError::NotFound`] for its
///   `ts_code`.
/// * `peers`: companies of the same industry (may include the company); when empty, the
///   request's embedded `peers` are used.
/// * `fair_multiple`: the ML model's fair P/E for this company, if a model is loaded.
pub fn value(
    request: &ValuationRequest,
    company: Option<&Company>,
    peers: &[Company],
    fair_multiple: Option<FairMultipleInput>,
) -> Result<ValuationResponse, ValuationError> {
    request.validate()?;
    let company = company.or(request.company.as_ref());
    let peers: &[Company] = if peers.is_empty() {
        request.peers.as_deref().unwrap_or(&[])
    } else {
        peers
    };
    let what_if = request.fcff_forecast.is_some()
        || (request.base_revenue.is_some() && request.ebit_margin_path.is_some());
    if company.is_none() && !what_if {
        return Err(match request.normalized_ts_code() {
            Some(ts_code) => ValuationError::NotFound { ts_code },
            None => ValuationError::invalid(
                "ts_code",
                "required (or supply company, or fcff_forecast / base_revenue + \
                 ebit_margin_path with net_debt and shares_outstanding)",
            ),
        });
    }

    let mut warnings: Vec<String> = Vec::new();
    for k in request.ignored_fields() {
        warnings.push(format!("unknown request field `{k}` ignored"));
    }
    if let Some(c) = company {
        warnings.extend(c.unit_warnings());
    }
    let history = company.map(Company::history).unwrap_or_default();
    // Forecast years are labelled base fiscal year + t (just t without history).
    let base_year = history.last().map(|y| y.year).unwrap_or(0);
    let n = request.forecast_years()?;
    let method = request.terminal_value_method.unwrap_or_default();
    let growth = request
        .terminal_growth_rate
        .unwrap_or(DEFAULT_TERMINAL_GROWTH);
    let discounting = Discounting::from_mid_year(request.mid_year_convention.unwrap_or(false));

    // --- tax, shares, net debt ---
    let tax_rate = match request.tax_rate {
        Some(t) => t,
        None => historical_tax_rate(&history, &mut warnings),
    };
    let shares = match request
        .shares_outstanding
        .or(company.and_then(Company::shares))
    {
        Some(s) => s,
        None => {
            return Err(ValuationError::invalid(
                "shares_outstanding",
                "unknown: the company data has no total_share; supply shares_outstanding",
            ))
        }
    };
    let net_debt = match (request.net_debt, company.and_then(Company::net_debt)) {
        (Some(d), _) => d,
        (None, Some(d)) => {
            if company.and_then(Company::borrowings).is_none() {
                warnings.push("no borrowings/bonds data: debt taken as 0 in net debt".into());
            }
            if company.and_then(Company::cash).is_none() {
                warnings.push("no money_cap (cash) data: cash taken as 0 in net debt".into());
            }
            d
        }
        (None, None) => {
            if company.is_some() {
                warnings.push("no borrowings, bonds or cash data: net debt taken as 0".to_string());
                0.0
            } else {
                return Err(ValuationError::invalid(
                    "net_debt",
                    "required for a valuation without company data",
                ));
            }
        }
    };
    let latest_price = company.and_then(Company::price);

    // --- discount rate ---
    let (wacc_details, beta_used) = discount_rate(request, company, tax_rate, &mut warnings)?;
    let wacc = wacc_details.wacc;

    // --- cash flows ---
    let (rows, drivers) = match &request.fcff_forecast {
        Some(f) => (
            f.iter()
                .enumerate()
                .map(|(i, &ufcf)| ForecastRow {
                    year: base_year + i as i32 + 1,
                    revenue: None,
                    revenue_growth: None,
                    ebit: None,
                    ebit_margin: None,
                    nopat: None,
                    d_and_a: None,
                    capex: None,
                    delta_nwc: None,
                    ufcf,
                    discount_factor: 0.0,
                    pv_ufcf: 0.0,
                })
                .collect::<Vec<_>>(),
            None,
        ),
        None => {
            let overrides = DriverOverrides {
                base_revenue: request.base_revenue,
                revenue_growth_path: request.revenue_growth_path.as_deref(),
                ebit_margin_path: request.ebit_margin_path.as_deref(),
                da_to_revenue: request.da_to_revenue,
                capex_to_revenue: request.capex_to_revenue,
                nwc_to_revenue: request.nwc_to_revenue,
            };
            let d = derive_drivers(&history, n, growth, tax_rate, &overrides, &mut warnings)?;
            let rows = project(&d)
                .into_iter()
                .map(|p| ForecastRow {
                    year: p.year,
                    revenue: Some(p.revenue),
                    revenue_growth: Some(p.revenue_growth),
                    ebit: Some(p.ebit),
                    ebit_margin: Some(p.ebit_margin),
                    nopat: Some(p.nopat),
                    d_and_a: Some(p.d_and_a),
                    capex: Some(p.capex),
                    delta_nwc: Some(p.delta_nwc),
                    ufcf: p.ufcf,
                    discount_factor: 0.0,
                    pv_ufcf: 0.0,
                })
                .collect();
            (rows, Some(d))
        }
    };
    let fcff: Vec<f64> = rows.iter().map(|r| r.ufcf).collect();
    let terminal_ebitda = request.terminal_ebitda.or_else(|| {
        let last = rows.last()?;
        Some(last.ebit? + last.d_and_a?)
    });

    // --- DCF ---
    let terminal = match method {
        TerminalValueMethod::PerpetualGrowth => TerminalSpec::PerpetualGrowth { growth },
        TerminalValueMethod::ExitMultiple => TerminalSpec::ExitMultiple {
            // validate() guarantees exit_multiple for this method.
            multiple: request.exit_multiple.unwrap_or_default(),
            ebitda: terminal_ebitda.ok_or_else(|| {
                ValuationError::invalid(
                    "terminal_ebitda",
                    "an exit-multiple valuation of a supplied fcff_forecast needs \
                     terminal_ebitda",
                )
            })?,
        },
    };
    let outcome = dcf(&DcfInput {
        fcff: &fcff,
        wacc,
        terminal,
        discounting,
        net_debt,
        shares,
    })?;
    let rows: Vec<ForecastRow> = rows
        .into_iter()
        .zip(outcome.discount_factors.iter().zip(&outcome.pv_fcff))
        .map(|(mut r, (&df, &pv))| {
            r.discount_factor = df;
            r.pv_ufcf = pv;
            r
        })
        .collect();

    // --- warnings on the result ---
    let negative: Vec<String> = rows
        .iter()
        .filter(|r| r.ufcf < 0.0)
        .map(|r| r.year.to_string())
        .collect();
    if !negative.is_empty() {
        warnings.push(format!(
            "negative FCFF in forecast year(s) {}",
            negative.join(", ")
        ));
    }
    match outcome.terminal_value_share {
        Some(s) if s > TV_SHARE_WARNING => warnings.push(format!(
            "terminal value is {:.1}% of enterprise value (> {:.0}%): the valuation rests \
             mostly on the terminal assumptions",
            s * 100.0,
            TV_SHARE_WARNING * 100.0
        )),
        None => warnings.push(format!(
            "enterprise value is not positive ({:.0})",
            outcome.enterprise_value
        )),
        _ => {}
    }
    if outcome.equity_value <= 0.0 {
        warnings.push(format!(
            "equity value is not positive ({:.0}): net debt exceeds enterprise value",
            outcome.equity_value
        ));
    }
    if let Some(g) = outcome.implied_perpetual_growth {
        if !(-0.05..=0.06).contains(&g) {
            warnings.push(format!(
                "the exit multiple implies perpetual growth of {:.2}%, outside a plausible \
                 long-run range",
                g * 100.0
            ));
        }
    }
    if method == TerminalValueMethod::ExitMultiple && terminal_ebitda.is_some_and(|e| e <= 0.0) {
        warnings.push("terminal EBITDA is not positive: the exit multiple is meaningless".into());
    }

    // --- sensitivity ---
    let sensitivity_analysis_result = match &request.sensitivity {
        None => None,
        Some(spec) => Some(sensitivity(
            spec,
            &SensitivityBase {
                fcff: &fcff,
                wacc,
                terminal_ebitda,
                discounting,
                net_debt,
                shares,
            },
        )?),
    };

    // --- relative and ML ---
    let relative = company.map(|c| relative(c, peers));
    if let Some(r) = &relative {
        if r.peer_count == 0 {
            warnings.push(NO_PEERS_WARNING.into());
        }
    }
    let eps = company.and_then(Company::eps);
    let (ml_fair_multiple, model) = match fair_multiple {
        Some(f) if f.fair_pe.is_finite() && f.fair_pe > 0.0 => {
            let model = ModelRef {
                name: f.name,
                version: f.version,
            };
            let implied_price = eps.filter(|e| *e > 0.0).map(|e| f.fair_pe * e);
            if implied_price.is_none() {
                warnings.push("no positive EPS: the ML fair P/E implies no price".into());
            }
            (
                Some(MlFairMultiple {
                    fair_pe: f.fair_pe,
                    eps,
                    implied_price,
                    model: model.clone(),
                }),
                Some(model),
            )
        }
        Some(f) => {
            warnings.push(format!(
                "the fair-multiple model returned an unusable P/E ({}); ML section omitted",
                f.fair_pe
            ));
            (None, None)
        }
        None => (None, None),
    };

    // --- blend ---
    let weights = request.blend_weights.unwrap_or_default();
    let components = [
        (weights.dcf, Some(outcome.value_per_share)),
        (
            weights.relative,
            relative.as_ref().and_then(|r| r.implied_price),
        ),
        (
            weights.ml,
            ml_fair_multiple.as_ref().and_then(|m| m.implied_price),
        ),
    ];
    // Only methods with a positive price take part; their weights are renormalised.
    let usable: Vec<(f64, f64)> = components
        .iter()
        .map(|&(w, p)| match p {
            Some(p) if p > 0.0 && p.is_finite() => (w, p),
            _ => (0.0, 0.0),
        })
        .collect();
    let total: f64 = usable.iter().map(|(w, _)| w).sum();
    let blended_target = (total > 0.0).then(|| {
        let price: f64 = usable.iter().map(|(w, p)| w / total * p).sum();
        BlendedTarget {
            price,
            weights: BlendWeights {
                dcf: usable[0].0 / total,
                relative: usable[1].0 / total,
                ml: usable[2].0 / total,
            },
            upside: price_ratio(price, latest_price),
        }
    });

    let latest = company.and_then(Company::latest);
    Ok(ValuationResponse {
        ts_code: request
            .normalized_ts_code()
            .or_else(|| company.map(|c| c.ts_code.clone())),
        stock_info: company.map(|c| StockInfo {
            ts_code: c.ts_code.clone(),
            name: c.name.clone(),
            industry: c.industry.clone(),
            as_of: c.as_of.clone(),
            latest_price: c.price(),
            total_shares: c.shares(),
            base_report_date: latest.map(|s| s.end_date.clone()),
        }),
        valuation_results: ValuationResults {
            latest_price,
            current_pe: company.and_then(Company::current_pe),
            current_pb: company.and_then(Company::current_pb),
            dcf_forecast_details: DcfForecastDetails {
                enterprise_value: outcome.enterprise_value,
                equity_value: outcome.equity_value,
                value_per_share: outcome.value_per_share,
                net_debt,
                pv_forecast_ufcf: outcome.pv_forecast_ufcf,
                pv_terminal_value: outcome.pv_terminal_value,
                terminal_value: outcome.terminal_value,
                terminal_discount_periods: outcome.terminal_discount_periods,
                wacc_used: wacc,
                cost_of_equity_used: wacc_details.cost_of_equity,
                terminal_value_share: outcome.terminal_value_share,
                terminal_value_method_used: method,
                perpetual_growth_rate_used: (method == TerminalValueMethod::PerpetualGrowth)
                    .then_some(growth),
                exit_multiple_used: match method {
                    TerminalValueMethod::ExitMultiple => request.exit_multiple,
                    TerminalValueMethod::PerpetualGrowth => None,
                },
                terminal_ebitda,
                implied_perpetual_growth: outcome.implied_perpetual_growth,
                forecast_period_years: n,
                discounting,
                shares_outstanding: shares,
                upside: price_ratio(outcome.value_per_share, latest_price),
            },
            wacc_details: wacc_details.clone(),
            detailed_forecast_table: rows,
            sensitivity_analysis_result,
            data_warnings: warnings,
        },
        relative,
        ml_fair_multiple,
        blended_target,
        assumptions: AssumptionsUsed {
            forecast_years: n,
            risk_free_rate: wacc_details
                .cost_of_equity
                .map(|_| request.risk_free_rate.unwrap_or(DEFAULT_RISK_FREE_RATE)),
            beta: beta_used,
            market_risk_premium: wacc_details.cost_of_equity.map(|_| {
                request
                    .market_risk_premium
                    .unwrap_or(DEFAULT_MARKET_RISK_PREMIUM)
            }),
            size_premium: request.size_premium,
            cost_of_debt: wacc_details.cost_of_debt,
            tax_rate,
            wacc_weights: match wacc_details.source.as_str() {
                "target" => Some(WaccWeights::Target),
                "market" => Some(WaccWeights::Market),
                _ => None,
            },
            target_debt_ratio: wacc_details.debt_weight,
            discount_rate: request.discount_rate,
            terminal_value_method: method,
            terminal_growth_rate: growth,
            exit_multiple: request.exit_multiple,
            mid_year_convention: discounting == Discounting::MidYear,
            fcff_source: if drivers.is_some() {
                "history".into()
            } else {
                "fcff_forecast".into()
            },
            drivers,
        },
        model,
        variant: None,
        cached: false,
        degraded: false,
        request_id: None,
    })
}

fn price_ratio(value: f64, price: Option<f64>) -> Option<f64> {
    let p = price?;
    let r = value / p - 1.0;
    r.is_finite().then_some(r)
}

/// WACC by override, target weights or market weights. Returns the breakdown and the beta used.
fn discount_rate(
    request: &ValuationRequest,
    company: Option<&Company>,
    tax_rate: f64,
    warnings: &mut Vec<String>,
) -> Result<(WaccBreakdown, Option<f64>), ValuationError> {
    if let Some(rate) = request.discount_rate {
        return Ok((
            WaccBreakdown {
                source: "override".into(),
                cost_of_equity: None,
                cost_of_debt: None,
                after_tax_cost_of_debt: None,
                debt_weight: None,
                equity_weight: None,
                tax_rate,
                wacc: rate,
            },
            None,
        ));
    }
    let beta = match request.beta.or(company.and_then(|c| c.beta)) {
        Some(b) if b.is_finite() => b,
        _ => {
            warnings.push(format!(
                "no beta given or stored: beta {DEFAULT_BETA} assumed"
            ));
            DEFAULT_BETA
        }
    };
    let rf = request.risk_free_rate.unwrap_or(DEFAULT_RISK_FREE_RATE);
    let mrp = request
        .market_risk_premium
        .unwrap_or(DEFAULT_MARKET_RISK_PREMIUM);
    let kd = request.cost_of_debt.unwrap_or(DEFAULT_COST_OF_DEBT);
    let ke = cost_of_equity(rf, beta, mrp) + request.size_premium.unwrap_or(0.0);

    let mode = request
        .wacc_weights
        .unwrap_or(match request.target_debt_ratio {
            Some(_) => WaccWeights::Target,
            None => WaccWeights::Market,
        });
    let (source, debt_weight) = match mode {
        // validate() guarantees target_debt_ratio for an explicit `target`.
        WaccWeights::Target => ("target", request.target_debt_ratio.unwrap_or(0.0)),
        WaccWeights::Market => {
            let equity = company.and_then(Company::market_cap);
            let debt = company.and_then(Company::borrowings).unwrap_or(0.0);
            match equity {
                Some(e) if e + debt > 0.0 && debt >= 0.0 => ("market", debt / (e + debt)),
                _ if request.wacc_weights == Some(WaccWeights::Market) => {
                    return Err(ValuationError::invalid(
                        "wacc_weights",
                        "market weights need the company's price and shares; give \
                         target_debt_ratio or discount_rate instead",
                    ))
                }
                _ => {
                    warnings.push(
                        "no market value to weight debt and equity: all-equity WACC (give \
                         target_debt_ratio to change it)"
                            .into(),
                    );
                    ("target", 0.0)
                }
            }
        }
    };
    let wacc = wacc_from_debt_ratio(debt_weight, ke, kd, tax_rate);
    if !(wacc.is_finite() && wacc > 0.0) {
        return Err(ValuationError::invalid(
            "wacc",
            format!(
                "the inputs give a non-positive WACC ({wacc}): Ke {ke} (risk_free_rate {rf} + \
                 beta {beta} × market_risk_premium {mrp}), Kd {kd}; adjust them or set \
                 discount_rate"
            ),
        ));
    }
    Ok((
        WaccBreakdown {
            source: source.into(),
            cost_of_equity: Some(ke),
            cost_of_debt: Some(kd),
            after_tax_cost_of_debt: Some(after_tax_cost_of_debt(kd, tax_rate)),
            debt_weight: Some(debt_weight),
            equity_weight: Some(1.0 - debt_weight),
            tax_rate,
            wacc,
        },
        Some(beta),
    ))
}
