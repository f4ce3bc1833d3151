//! One customer's answer: the stored profile with the request's overrides, scored by the
//! routed bundle (and the shadow, compared), top-k of the products not owned, explanations;
//! popularity when there is no profile or the store failed.

use super::response::Source;
use super::{
    feature_names, popular, product_index, top_k, Customer, FeatureContribution, RecommendRequest,
    Recommendation, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS,
};
use crate::bundle::Bundle;
use crate::model::ShapScratch;
use crate::registry::serving::{mean_abs_diff, top_k_overlap};
use crate::store::customer_key;
use crate::telemetry::capture::{named, CaptureRow};

/// The outcome of asking the store for one customer. Lives on the stack for one request;
/// boxing the profile would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(super) enum Lookup {
    Found(Customer),
    Missing,
    Failed(&'static str),
}

/// What [`answer`] returns: recommendations, where they came from, degraded, the shadow
/// comparison `(mean abs score difference, top-k overlap)` when a shadow scored the row, and
/// the scored row when it is captured.
pub(super) type Answer = (
    Vec<Recommendation>,
    Source,
    bool,
    Option<(f64, f64)>,
    Option<Captured>,
);

/// A scored row kept for the data capture: the features, the served scores and the shadow's.
pub(super) struct Captured {
    row: [f64; NUM_FEATURES],
    scores: [f64; NUM_PRODUCTS],
    shadow: Option<(String, [f64; NUM_PRODUCTS])>,
}

impl Captured {
    pub(super) fn row(
        self,
        bundle: &Bundle,
        variant: &'static str,
        customer_id: &str,
    ) -> CaptureRow {
        let codes = || PRODUCTS.iter().map(|(c, _)| *c);
        CaptureRow {
            version: bundle.version().to_string(),
            variant,
            entity: Some(customer_id.to_string()),
            input: named(feature_names(), &self.row),
            output: named(codes(), &self.scores),
            shadow: self.shadow.map(|(v, s)| (v, named(codes(), &s))),
        }
    }
}

/// The scoring path: stored profile (or, for a what-if call about an unknown customer, an empty
/// one) → overrides → row → scores → top-k of the products not owned. Unknown customers without
/// overrides get popularity; store failures get popularity, degraded. A `shadow` bundle scores
/// the same row; only the comparison comes back.
pub(super) fn answer(
    bundle: &Bundle,
    shadow: Option<&Bundle>,
    req: &RecommendRequest,
    lookup: Lookup,
    capture: bool,
) -> Answer {
    let profile = match lookup {
        Lookup::Found(c) => Some(c),
        Lookup::Missing if req.has_overrides() => Some(Customer {
            customer_id: req.customer_id.clone(),
            ..Customer::default()
        }),
        Lookup::Missing => None,
        Lookup::Failed(_) => {
            return (popular_for(bundle, req), Source::Popular, true, None, None);
        }
    };
    let Some(profile) = profile else {
        return (popular_for(bundle, req), Source::Popular, false, None, None);
    };
    let customer = if req.has_overrides() {
        req.overlay(profile)
    } else {
        profile
    };
    let mut row = [0.0f64; NUM_FEATURES];
    customer.write_row(&mut row);
    let mut scores = [0.0f64; NUM_PRODUCTS];
    match bundle.score_into(&row, &mut scores) {
        Ok(()) => {
            let mut shadow_captured = None;
            let compared = shadow.and_then(|sb| {
                let mut shadow_scores = [0.0f64; NUM_PRODUCTS];
                match sb.score_into(&row, &mut shadow_scores) {
                    Ok(()) => {
                        let mut owned = [false; NUM_PRODUCTS];
                        for i in customer.owned_indices() {
                            owned[i] = true;
                        }
                        if capture {
                            shadow_captured = Some((sb.version().to_string(), shadow_scores));
                        }
                        Some((
                            mean_abs_diff(&scores, &shadow_scores),
                            top_k_overlap(&scores, &shadow_scores, |i| !owned[i], req.k),
                        ))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, shadow = %sb.version(), "shadow scoring failed");
                        None
                    }
                }
            });
            let mut recommendations =
                top_k(&scores, customer.owned_indices(), req.k, req.return_scores);
            if req.explain {
                explain(bundle, &row, &mut recommendations);
            }
            let captured = capture.then_some(Captured {
                row,
                scores,
                shadow: shadow_captured,
            });
            (recommendations, Source::Model, false, compared, captured)
        }
        Err(e) => {
            // Unreachable for a bundle that passed `check_recommender_bundle`.
            tracing::error!(error = %e, key = %customer_key(&req.customer_id), "scoring failed; answering from popularity");
            (popular_for(bundle, req), Source::Popular, true, None, None)
        }
    }
}

/// Features listed per recommended product with `"explain": true`.
const EXPLAIN_TOP: usize = 5;

/// Adds each recommendation's top features by |TreeSHAP contribution|, from the very model
/// that scored it (the canary's when the customer is in it). A bundle whose texts lack the
/// node counts answers without explanations (logged).
fn explain(bundle: &Bundle, row: &[f64; NUM_FEATURES], recommendations: &mut [Recommendation]) {
    let names = &bundle.manifest().features;
    let mut scratch = ShapScratch::new();
    let mut phi = vec![0.0; NUM_FEATURES + 1];
    for rec in recommendations {
        let Some(p) = product_index(rec.product) else {
            continue;
        };
        if let Err(e) = bundle.contrib_output_into(row, p, &mut phi, &mut scratch) {
            tracing::warn!(error = %e, version = %bundle.version(), "recommendation not explained");
            continue;
        }
        let mut order: Vec<usize> = (0..NUM_FEATURES).collect();
        order.sort_by(|&a, &b| phi[b].abs().total_cmp(&phi[a].abs()));
        rec.explanation = Some(
            (order.into_iter().take(EXPLAIN_TOP))
                .map(|f| FeatureContribution {
                    feature: names[f].name.clone(),
                    value: Some(row[f]).filter(|v| !v.is_nan()),
                    contribution: phi[f],
                })
                .collect(),
        );
    }
}

fn popular_for(bundle: &Bundle, req: &RecommendRequest) -> Vec<Recommendation> {
    let owned = req
        .owned_products
        .iter()
        .flatten()
        .filter_map(|c| product_index(c));
    popular(
        &bundle.manifest().base_rates,
        owned,
        req.k,
        req.return_scores,
    )
}
