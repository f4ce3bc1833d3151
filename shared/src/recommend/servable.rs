//! Which bundles the recommend service can serve: the recommender's features and the 24
//! products, in order.

use super::{feature_names, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS};
use crate::bundle::{Bundle, BundleError, ModelKind};
use crate::registry::serving::ServingSet;

/// Checks that a bundle is a product recommender this code can serve: the recommender's
/// features in order and the 24 products in order.
pub fn check_recommender_bundle(bundle: &Bundle) -> Result<(), BundleError> {
    let m = bundle.manifest();
    let invalid = |msg: String| Err(BundleError::Invalid(msg));
    if m.kind != ModelKind::ProductRecommender {
        return invalid(format!(
            "kind is `{}`, not product-recommender",
            m.kind.as_str()
        ));
    }
    let names = feature_names();
    if m.features.len() != NUM_FEATURES || m.features.iter().zip(&names).any(|(f, n)| f.name != *n)
    {
        return invalid(format!(
            "features must be the {NUM_FEATURES} recommender features in order"
        ));
    }
    if m.outputs.len() != NUM_PRODUCTS
        || m.outputs
            .iter()
            .zip(PRODUCTS)
            .any(|(o, (code, _))| o.code != code)
    {
        return invalid(format!(
            "outputs must be the {NUM_PRODUCTS} products in order"
        ));
    }
    Ok(())
}

/// `bundle` itself when it is a servable recommender (what the registry loader builds).
pub fn servable_recommender(bundle: Bundle) -> Result<Bundle, String> {
    check_recommender_bundle(&bundle).map_err(|e| e.to_string())?;
    Ok(bundle)
}

pub(super) fn check_set(set: &ServingSet<Bundle>) -> Result<(), BundleError> {
    check_recommender_bundle(&set.active.model)?;
    if let Some((c, _)) = &set.candidate {
        check_recommender_bundle(&c.model)?;
    }
    if let Some(s) = &set.shadow {
        check_recommender_bundle(&s.model)?;
    }
    Ok(())
}
