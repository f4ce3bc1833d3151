//! Stock valuation. [`fair_multiple`] is the contract of the fair-P/E model: its features, the
//! industry codes and the encoding of a company's fundamentals into a model row, shared by the
//! CLI that trains the model and the valuation function that serves it.

pub mod fair_multiple;

pub use fair_multiple::{
    industry_code, Fundamentals, FAIR_MULTIPLE_FEATURES, FAIR_MULTIPLE_NUM_FEATURES, INDUSTRIES,
};
