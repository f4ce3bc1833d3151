//! The fair-multiple bundle the endpoint serves, checked against the model's contract.

use crate::bundle::{Bundle, BundleError, ModelKind};
use crate::model::ModelError;
use crate::valuation::fair_multiple::{Fundamentals, FAIR_MULTIPLE_FEATURES};

/// The `fair-multiple` bundle, checked to be servable: kind `fair-multiple`, the
/// [`FAIR_MULTIPLE_FEATURES`] in order, one output (the fair P/E).
pub struct FairMultipleModel {
    bundle: Bundle,
}

impl FairMultipleModel {
    /// The model of `bundle` when it is a servable fair-multiple (what the registry loader
    /// builds).
    pub fn servable(bundle: Bundle) -> Result<Self, String> {
        Self::new(bundle).map_err(|e| e.to_string())
    }

    pub fn new(bundle: Bundle) -> Result<Self, BundleError> {
        let m = bundle.manifest();
        let invalid = |msg: String| Err(BundleError::Invalid(msg));
        if m.kind != ModelKind::FairMultiple {
            return invalid(format!("kind is `{}`, not fair-multiple", m.kind.as_str()));
        }
        if m.features.len() != FAIR_MULTIPLE_FEATURES.len()
            || m.features
                .iter()
                .zip(FAIR_MULTIPLE_FEATURES)
                .any(|(f, n)| f.name != n)
        {
            return invalid(format!(
                "features must be the {} fair-multiple features in order ({})",
                FAIR_MULTIPLE_FEATURES.len(),
                FAIR_MULTIPLE_FEATURES.join(", ")
            ));
        }
        if bundle.num_outputs() != 1 {
            return invalid(format!(
                "a fair-multiple bundle has one output (the fair P/E), not {}",
                bundle.num_outputs()
            ));
        }
        Ok(FairMultipleModel { bundle })
    }

    pub fn name(&self) -> &str {
        self.bundle.name()
    }

    pub fn version(&self) -> &str {
        self.bundle.version()
    }

    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The model's fair P/E for these fundamentals.
    pub fn fair_pe(&self, f: &Fundamentals) -> Result<f64, ModelError> {
        let mut out = [0.0];
        self.bundle.score_into(&f.row(), &mut out)?;
        Ok(out[0])
    }
}
