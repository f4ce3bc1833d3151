//! Bank-product recommendation: the 24 Santander products, customer feature encoding, and
//! top-k ranking of products a customer does not own yet.

mod customer;
mod products;
mod rank;

pub use customer::{feature_names, target_month, Customer, OverrideError, NUM_FEATURES};
pub use products::{product_index, NUM_PRODUCTS, PRODUCTS};
pub use rank::{popular, top_k, Recommendation, DEFAULT_POPULARITY};
