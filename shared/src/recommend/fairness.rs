//! `POST /recommend/fairness`: how the active recommender's product probabilities differ
//! between groups of stored customers (the seed API's fairness report). Customers are read
//! from the feature store, grouped by one model feature — the profile's string for the string
//! fields (`sexo`, `segmento`, …), else a bin of the feature's value — and each group gets,
//! per product, the count, mean and standard deviation of the probability.

use super::request::parse_customer_ids;
use super::response::ModelRef;
use super::{Customer, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS};
use crate::bundle::Bundle;
use crate::fairness::{report, Grouping, Member};
use crate::http::fields::{parse_object, reject_unknown};
use crate::http::{clip, ApiError};
use serde::Serialize;
use serde_json::{Map, Value};

/// Most customers one report takes (read in BatchGetItem pages of 100).
pub const MAX_FAIRNESS_CUSTOMERS: usize = 1000;

/// Body limit of the route: room for 1,000 of the longest ids (64 characters, quoted).
pub const MAX_FAIRNESS_BODY_BYTES: usize = 128 * 1024;

const FIELDS: &str = "customer_ids, group_by, bins";

/// A validated `POST /recommend/fairness` body.
#[derive(Debug, Clone, PartialEq)]
pub struct FairnessRequest {
    pub customer_ids: Vec<String>,
    pub grouping: Grouping,
}

impl FairnessRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let obj = parse_object(body)?;
        reject_unknown(&obj, &["customer_ids", "group_by", "bins"], FIELDS)?;
        let mut customer_ids = parse_customer_ids(&obj, MAX_FAIRNESS_CUSTOMERS)?;
        // A customer counts once however often it is named.
        let mut seen = std::collections::HashSet::new();
        customer_ids.retain(|id| seen.insert(id.clone()));
        Ok(FairnessRequest {
            customer_ids,
            grouping: Grouping::parse(&obj)?,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub model: ModelRef,
    pub group_by: String,
    /// Customers scored (found and readable).
    pub customers: usize,
    /// Ids the store does not hold, or holds as an unreadable profile: not in any group.
    pub skipped: Vec<Skipped>,
    pub groups: Vec<ProductGroup>,
    /// Per product code: smallest group mean / largest group mean (`null` when undefined).
    pub min_max_ratio: Map<String, Value>,
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub customer_id: String,
    /// `unknown` or `unreadable`.
    pub reason: &'static str,
}

/// One group; `mean` and `std` are keyed by product code.
pub type ProductGroup = crate::fairness::Group<Map<String, Value>>;

/// The report over `customers` (already read) scored by `bundle`, the active version.
pub fn fairness(
    bundle: &Bundle,
    customers: &[Customer],
    skipped: Vec<Skipped>,
    grouping: &Grouping,
    request_id: &str,
) -> Result<FairnessReport, ApiError> {
    let features = &bundle.manifest().features;
    let group_by = &grouping.group_by;
    let Some(feature) = features.iter().position(|f| f.name == *group_by) else {
        return Err(ApiError::UnknownFeature(format!(
            "`group_by` is `{}`, which is not a feature of `{}`; features are: {}",
            clip(group_by, 64),
            bundle.name(),
            super::feature_names().join(", ")
        )));
    };
    let categorical = features[feature].categorical;
    let mut row = [0.0f64; NUM_FEATURES];
    let mut members = Vec::with_capacity(customers.len());
    for c in customers {
        c.write_row(&mut row);
        let mut outputs = vec![0.0; NUM_PRODUCTS];
        bundle
            .score_into(&row, &mut outputs)
            .map_err(|e| ApiError::Internal(format!("scoring {}: {e}", c.customer_id)))?;
        let value = row[feature];
        let category = match c.text_field(group_by) {
            Some(text) => Some(text.unwrap_or("missing").to_string()),
            None if categorical => Some(value.to_string()),
            None => None,
        };
        members.push(Member {
            category,
            value,
            outputs,
        });
    }
    let (groups, ratio) = report(&members, grouping.bins.as_deref(), NUM_PRODUCTS);
    Ok(FairnessReport {
        model: ModelRef {
            name: bundle.name().to_string(),
            version: bundle.version().to_string(),
        },
        group_by: group_by.clone(),
        customers: members.len(),
        skipped,
        groups: (groups.into_iter()).map(|g| g.shaped(by_product)).collect(),
        min_max_ratio: by_product(&ratio),
        request_id: request_id.to_string(),
    })
}

fn by_product(values: &[f64]) -> Map<String, Value> {
    (PRODUCTS.iter().zip(values))
        .map(|((code, _), &x)| {
            let v = serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
            (code.to_string(), v)
        })
        .collect()
}
