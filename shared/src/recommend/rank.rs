//! Ranking: the k highest-scoring products the customer does not own yet.

use super::products::{NUM_PRODUCTS, PRODUCTS};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub product: &'static str,
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// With `"explain": true`: the features that moved this product's score most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Vec<FeatureContribution>>,
}

/// One feature's TreeSHAP contribution to a product's raw score (log-odds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureContribution {
    pub feature: String,
    /// The customer's encoded value (`null`: missing).
    pub value: Option<f64>,
    pub contribution: f64,
}

/// New-product rates per product (share of customer-months adding it) from the public
/// Santander data; the fallback ranking when a bundle carries no `base_rates` of its own.
pub const DEFAULT_POPULARITY: [f64; NUM_PRODUCTS] = [
    0.000004, 0.0, 0.0093, 0.000002, 0.0030, 0.00001, 0.00089, 0.00046, 0.00011, 0.000012,
    0.000008, 0.00065, 0.00081, 0.00035, 0.000001, 0.000051, 0.000019, 0.0016, 0.0040, 0.00021,
    0.000004, 0.0060, 0.0066, 0.0123,
];

/// Top `k` products by score, skipping `owned` (product indices). Ties keep dataset order;
/// NaN scores rank last. `with_scores` controls whether scores are returned.
pub fn top_k(
    scores: &[f64],
    owned: impl IntoIterator<Item = usize>,
    k: usize,
    with_scores: bool,
) -> Vec<Recommendation> {
    let mut excluded = [false; NUM_PRODUCTS];
    for i in owned {
        if i < NUM_PRODUCTS {
            excluded[i] = true;
        }
    }
    let mut order: Vec<usize> = (0..NUM_PRODUCTS.min(scores.len()))
        .filter(|&i| !excluded[i])
        .collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (scores[a], scores[b]);
        match (sa.is_nan(), sb.is_nan()) {
            (true, true) => a.cmp(&b),
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => sb.total_cmp(&sa).then(a.cmp(&b)),
        }
    });
    order
        .into_iter()
        .take(k)
        .map(|i| Recommendation {
            product: PRODUCTS[i].0,
            name: PRODUCTS[i].1,
            score: with_scores.then_some(scores[i]),
            explanation: None,
        })
        .collect()
}

/// Popularity answer: the same ranking over base rates.
pub fn popular(
    base_rates: &[f64],
    owned: impl IntoIterator<Item = usize>,
    k: usize,
    with_scores: bool,
) -> Vec<Recommendation> {
    let rates = if base_rates.len() == NUM_PRODUCTS {
        base_rates
    } else {
        &DEFAULT_POPULARITY[..]
    };
    top_k(rates, owned, k, with_scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_products_are_never_recommended() {
        let mut scores = [0.0; NUM_PRODUCTS];
        scores[2] = 0.9;
        scores[23] = 0.8;
        scores[5] = 0.1;
        let recs = top_k(&scores, [2], 2, true);
        assert_eq!(recs[0].product, "ind_recibo_ult1");
        assert_eq!(recs[1].product, "ind_ctju_fin_ult1");
        assert!(recs.iter().all(|r| r.product != "ind_cco_fin_ult1"));
    }

    #[test]
    fn k_larger_than_unowned_returns_all_unowned() {
        let scores = [0.5; NUM_PRODUCTS];
        assert_eq!(top_k(&scores, 0..20, 7, false).len(), 4);
    }

    #[test]
    fn nan_scores_rank_last_and_ties_keep_dataset_order() {
        let mut scores = [0.1; NUM_PRODUCTS];
        scores[0] = f64::NAN;
        let recs = top_k(&scores, [], 24, true);
        assert_eq!(recs[0].product, PRODUCTS[1].0);
        assert_eq!(recs[23].product, PRODUCTS[0].0);
    }

    #[test]
    fn popular_falls_back_to_public_rates() {
        let recs = popular(&[], [], 3, false);
        assert_eq!(recs[0].product, "ind_recibo_ult1");
        assert_eq!(recs[1].product, "ind_cco_fin_ult1");
        assert!(recs[0].score.is_none());
    }
}
