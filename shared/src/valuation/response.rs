//! The `POST /valuation` answer: stock_vale's `valuation_results` shape plus the `relative`,
//! `ml_fair_multiple` and `blended_target` sections. Every number is a finite f64 or `null`.

use super::discount::Discounting;
use super::forecast::Drivers;
use super::terminal::TerminalValueMethod;
use super::wacc::{WaccBreakdown, WaccWeights};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValuationResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_code: Option<String>,
    /// Who the company is, as stored (absent for a pure what-if valuation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_info: Option<StockInfo>,
    pub valuation_results: ValuationResults,
    /// Peer multiples (absent without company data).
    #[serde(default)]
    pub relative: Option<RelativeValuation>,
    /// The ML fair P/E (absent when no `fair-multiple` model is loaded).
    #[serde(default)]
    pub ml_fair_multiple: Option<MlFairMultiple>,
    /// Weighted target price over the methods that produced a positive price.
    #[serde(default)]
    pub blended_target: Option<BlendedTarget>,
    /// Every assumption the valuation used, after defaults.
    pub assumptions: AssumptionsUsed,
    /// The `fair-multiple` model that scored the ML section.
    #[serde(default)]
    pub model: Option<ModelRef>,
    /// Set by the endpoint: `active`, or `candidate` when this company is in the
    /// fair-multiple model's canary (then `model` is the candidate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Set by the endpoint: true when served from `ValuationCache`.
    #[serde(default)]
    pub cached: bool,
    /// Set by the endpoint: true when a section is missing because a dependency failed (peers
    /// unreadable, fair-multiple model unavailable). Degraded answers are not cached.
    #[serde(default)]
    pub degraded: bool,
    /// Set by the endpoint: `requestContext.requestId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockInfo {
    pub ts_code: String,
    pub name: Option<String>,
    pub industry: Option<String>,
    /// Date of the company data (part of the cache key).
    pub as_of: String,
    pub latest_price: Option<f64>,
    /// In shares (converted from TuShare's 10⁴ shares).
    pub total_shares: Option<f64>,
    /// Latest annual statement used as the forecast base (`end_date`).
    pub base_report_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValuationResults {
    pub latest_price: Option<f64>,
    pub current_pe: Option<f64>,
    pub current_pb: Option<f64>,
    pub dcf_forecast_details: DcfForecastDetails,
    pub wacc_details: WaccBreakdown,
    pub detailed_forecast_table: Vec<ForecastRow>,
    /// `null` when the request asked for no sensitivity table.
    pub sensitivity_analysis_result: Option<SensitivityResult>,
    pub data_warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DcfForecastDetails {
    pub enterprise_value: f64,
    pub equity_value: f64,
    pub value_per_share: f64,
    pub net_debt: f64,
    pub pv_forecast_ufcf: f64,
    pub pv_terminal_value: f64,
    /// Undiscounted, as its formula gives it.
    pub terminal_value: f64,
    /// Periods the terminal value was discounted over (`n`, or `n − 0.5` for a mid-year
    /// perpetual-growth value).
    pub terminal_discount_periods: f64,
    pub wacc_used: f64,
    pub cost_of_equity_used: Option<f64>,
    /// `pv_terminal_value / enterprise_value` (null when EV ≤ 0).
    pub terminal_value_share: Option<f64>,
    pub terminal_value_method_used: TerminalValueMethod,
    pub perpetual_growth_rate_used: Option<f64>,
    pub exit_multiple_used: Option<f64>,
    /// EBITDA the exit multiple applied to.
    pub terminal_ebitda: Option<f64>,
    /// Perpetual growth implied by the exit-multiple terminal value.
    pub implied_perpetual_growth: Option<f64>,
    pub forecast_period_years: usize,
    pub discounting: Discounting,
    pub shares_outstanding: f64,
    /// `value_per_share / latest_price − 1`.
    pub upside: Option<f64>,
}

/// One forecast year. Operating lines are `null` for a request-supplied `fcff_forecast`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    /// Fiscal year (base year + t), or t when there is no history.
    pub year: i32,
    pub revenue: Option<f64>,
    pub revenue_growth: Option<f64>,
    pub ebit: Option<f64>,
    pub ebit_margin: Option<f64>,
    pub nopat: Option<f64>,
    pub d_and_a: Option<f64>,
    pub capex: Option<f64>,
    pub delta_nwc: Option<f64>,
    pub ufcf: f64,
    pub discount_factor: f64,
    pub pv_ufcf: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityResult {
    pub row_axis: super::sensitivity::SensitivityAxis,
    pub column_axis: super::sensitivity::SensitivityAxis,
    pub row_values: Vec<f64>,
    pub column_values: Vec<f64>,
    pub result_tables: SensitivityTables,
}

/// `[row][column]`; a cell is `null` when that combination has no value (growth ≥ WACC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityTables {
    pub value_per_share: Vec<Vec<Option<f64>>>,
    pub enterprise_value: Vec<Vec<Option<f64>>>,
    pub equity_value: Vec<Vec<Option<f64>>>,
    /// `PV(TV)/EV`.
    pub tv_ev_ratio: Vec<Vec<Option<f64>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelativeValuation {
    pub pe: Option<f64>,
    pub pb: Option<f64>,
    pub ev_ebitda: Option<f64>,
    /// Peers of the same industry considered (the company itself excluded).
    pub peer_count: usize,
    pub peer_median_pe: Option<f64>,
    pub peer_median_pb: Option<f64>,
    pub peer_median_ev_ebitda: Option<f64>,
    /// Peers with a usable (positive, finite) multiple, per multiple.
    pub peers_used_pe: usize,
    pub peers_used_pb: usize,
    pub peers_used_ev_ebitda: usize,
    /// `peer median P/E × EPS`.
    pub implied_price_pe: Option<f64>,
    /// `peer median P/B × BVPS`.
    pub implied_price_pb: Option<f64>,
    /// `(peer median EV/EBITDA × EBITDA − net debt) / shares`.
    pub implied_price_ev_ebitda: Option<f64>,
    /// Mean of the positive implied prices.
    pub implied_price: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlFairMultiple {
    pub fair_pe: f64,
    pub eps: Option<f64>,
    /// `fair_pe × EPS` (null when EPS ≤ 0 or unknown).
    pub implied_price: Option<f64>,
    pub model: ModelRef,
}

/// Blend weights; the reported ones are renormalised over the methods that produced a price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendWeights {
    pub dcf: f64,
    pub relative: f64,
    pub ml: f64,
}

impl Default for BlendWeights {
    fn default() -> Self {
        BlendWeights {
            dcf: 0.5,
            relative: 0.25,
            ml: 0.25,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlendedTarget {
    pub price: f64,
    pub weights: BlendWeights,
    /// `price / latest_price − 1`.
    pub upside: Option<f64>,
}

/// The assumptions after defaults and company data were applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssumptionsUsed {
    pub forecast_years: usize,
    pub risk_free_rate: Option<f64>,
    pub beta: Option<f64>,
    pub market_risk_premium: Option<f64>,
    pub size_premium: Option<f64>,
    pub cost_of_debt: Option<f64>,
    pub tax_rate: f64,
    pub wacc_weights: Option<WaccWeights>,
    pub target_debt_ratio: Option<f64>,
    pub discount_rate: Option<f64>,
    pub terminal_value_method: TerminalValueMethod,
    pub terminal_growth_rate: f64,
    pub exit_multiple: Option<f64>,
    pub mid_year_convention: bool,
    /// Where the cash flows came from: `"history"` (derived) or `"fcff_forecast"` (supplied).
    pub fcff_source: String,
    /// The operating drivers (absent for a supplied `fcff_forecast`).
    pub drivers: Option<Drivers>,
}
