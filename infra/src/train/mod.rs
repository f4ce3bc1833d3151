//! Training: LightGBM through `lightgbm3` ([`lgbm`]), the recommender and fair-multiple
//! models, their holdout [`metrics`], and writing a verified bundle ([`bundle_out`]).

pub mod bundle_out;
pub mod contrib_oracle;
pub mod fair_multiple;
pub mod fair_multiple_csv;
pub mod generic;
pub mod generic_bundle;
pub mod import;
pub mod lgbm;
pub mod lgbm_capi;
pub mod metrics;
pub mod recommender;
