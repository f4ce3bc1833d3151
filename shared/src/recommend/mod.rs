//! Bank-product recommendation: the 24 Santander products, customer feature encoding, and
//! top-k ranking of products a customer does not own yet.

mod answer;
mod config;
mod customer;
mod fairness;
mod products;
mod rank;
mod request;
mod response;
mod servable;
mod service;

pub use config::ServiceConfig;
pub use customer::{
    feature_names, target_month, Customer, OverrideError, CATEGORICAL, NUMERIC, NUM_FEATURES,
};
pub use fairness::{
    FairnessReport, FairnessRequest, ProductGroup, Skipped, MAX_FAIRNESS_BODY_BYTES,
    MAX_FAIRNESS_CUSTOMERS,
};
pub use products::{product_index, NUM_PRODUCTS, PRODUCTS};
pub use rank::{popular, top_k, FeatureContribution, Recommendation, DEFAULT_POPULARITY};
pub use request::{BatchRequest, RecommendRequest, DEFAULT_K, MAX_BATCH, MAX_ID_LEN, MAX_K};
pub use response::{
    models, BatchItem, BatchResponse, ModelRef, RecommendResponse, RequestStats, ShadowStats,
    Source,
};
pub use servable::{check_recommender_bundle, servable_recommender};
pub use service::{Recommender, VARIANT_ACTIVE, VARIANT_CANDIDATE, VARIANT_MIXED};
