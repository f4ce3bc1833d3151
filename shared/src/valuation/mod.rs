//! Stock valuation. [`fair_multiple`] is the contract of the fair-P/E model: its features, the
//! industry codes and the encoding of a company's fundamentals into a model row, shared by the
//! CLI that trains the model and the valuation function that serves it.
//!
//! The finance core is pure and unit-tested without AWS; [`value`] runs a whole valuation for
//! the `POST /valuation` endpoint and for `warmstart value` (offline):
//! [`wacc`] (CAPM, after-tax Kd, WACC) → [`forecast`] (history → yearly FCFF via [`fcff`]) →
//! [`dcf`] (discounting per [`discount`], terminal value per [`terminal`]) → [`sensitivity`] →
//! [`relative`] (peer multiples) → ML fair multiple → blended target. Requests and responses
//! are [`request`] and [`response`]; company data is [`company`]. Errors are typed
//! ([`ValuationError`]) and name the request field they are about.

pub mod fair_multiple;

pub use fair_multiple::{
    industry_code, Fundamentals, FAIR_MULTIPLE_FEATURES, FAIR_MULTIPLE_NUM_FEATURES, INDUSTRIES,
};

pub mod company;
pub mod dcf;
pub mod discount;
pub mod error;
pub mod fcff;
pub mod forecast;
pub mod relative;
pub mod request;
pub mod response;
pub mod sensitivity;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod synthetic;
pub mod terminal;
pub mod value;
pub mod wacc;

pub use company::{AnnualStatement, Company};
pub use discount::Discounting;
pub use error::ValuationError;
pub use request::ValuationRequest;
pub use response::ValuationResponse;
pub use sensitivity::{SensitivityAxis, SensitivitySpec};
pub use service::{
    parse_request, FairMultipleModel, Health, ValuationConfig, ValuationService, ValuationStats,
};
pub use store::{CompanyStore, ResultCache};
#[cfg(any(test, feature = "test-util"))]
pub use store::{MemoryCache, MemoryCompanyStore};
#[cfg(any(test, feature = "test-util"))]
pub use synthetic::synthetic_companies;
pub use terminal::TerminalValueMethod;
pub use value::{value, FairMultipleInput};
pub use wacc::WaccWeights;

#[cfg(test)]
mod tests;
