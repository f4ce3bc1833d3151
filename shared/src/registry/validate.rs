//! Validation of an uploaded bundle before anything changes: everything [`Bundle::load`]
//! checks (manifest, every file's size and sha256, every model parses and matches the
//! manifest's features), the contract of the bundle's kind, its metrics, and its golden rows
//! reproduced bit for bit.
//!
//! Rejection codes: [`BundleError::code`] (`file_missing`, `size_mismatch`,
//! `checksum_mismatch`, `model_unparseable`, `model_incompatible`, `manifest_unreadable`,
//! `manifest_invalid`, `golden_mismatch`, `source_error`) plus the contract's own:
//!
//! | code | meaning |
//! |---|---|
//! | `key_mismatch` | the manifest's name/version differ from its S3 key `<name>/<version>/` |
//! | `feature_mismatch` | features are not the kind's features, in order |
//! | `output_mismatch` | outputs are not the kind's outputs, in order |
//! | `metrics_missing` | a kind's required holdout metrics are absent |
//! | `metrics_invalid` | a metric is not finite, or an AUC is outside 0..=1 or names no output |
//! | `kind_changed` | the registry's model already serves another kind |
//! | `stale_version` | older than the version it would replace (see [`super::ops`]) |
//! | `manifest_changed` | (serving) the manifest's sha256 is not the one the registry recorded |
//!
//! Contracts: `product-recommender` — exactly the [`crate::recommend::feature_names`] in
//! order, the 24 [`PRODUCTS`] codes in order, `metrics.map_at_7` and a non-empty
//! `metrics.auc`; `fair-multiple` — exactly [`FAIR_MULTIPLE_FEATURES`] in order, one output,
//! at least one metric; `generic` — no feature/output contract.

use crate::bundle::{sha256_hex, Bundle, BundleError, BundleSource, ModelKind, SourceError};
use crate::bundle::{Manifest, MANIFEST_FILE};
use crate::recommend::{feature_names, PRODUCTS};
use crate::valuation::fair_multiple::FAIR_MULTIPLE_FEATURES;
use std::sync::Mutex;

/// Why a bundle was refused: a machine-readable code and a human reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Rejected {
    pub code: String,
    pub reason: String,
    /// The failure may go away on retry (S3 unreachable), so it is not a verdict on the
    /// bundle: it is not recorded in `rejected`, and the event is retried.
    pub transient: bool,
}

impl Rejected {
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejected {
            code: code.into(),
            reason: reason.into(),
            transient: false,
        }
    }
}

impl From<BundleError> for Rejected {
    fn from(e: BundleError) -> Self {
        Rejected {
            code: e.code().to_string(),
            reason: e.to_string(),
            transient: matches!(e, BundleError::Source(SourceError::Io { .. })),
        }
    }
}

/// A bundle that passed validation, with the sha256 of its `manifest.json`.
#[derive(Debug, Clone)]
pub struct Validated {
    pub bundle: Bundle,
    pub manifest_sha256: String,
    pub golden_rows: usize,
}

/// A [`BundleSource`] that remembers the sha256 of the `manifest.json` it served, so the
/// registry pins exactly the bytes that were validated (no second read that could race an
/// overwrite).
pub struct HashingSource<'a, S> {
    inner: &'a S,
    manifest_sha256: Mutex<Option<String>>,
}

impl<'a, S: BundleSource> HashingSource<'a, S> {
    pub fn new(inner: &'a S) -> Self {
        HashingSource {
            inner,
            manifest_sha256: Mutex::new(None),
        }
    }

    /// The sha256 of `manifest.json`, once it was read.
    pub fn manifest_sha256(&self) -> Option<String> {
        self.manifest_sha256.lock().expect("hash lock").clone()
    }
}

impl<S: BundleSource> BundleSource for HashingSource<'_, S> {
    async fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let bytes = self.inner.read(path).await?;
        if path == MANIFEST_FILE {
            *self.manifest_sha256.lock().expect("hash lock") = Some(sha256_hex(&bytes));
        }
        Ok(bytes)
    }

    async fn read_large(&self, path: &str, bytes: Option<u64>) -> Result<Vec<u8>, SourceError> {
        if path == MANIFEST_FILE {
            return self.read(path).await;
        }
        self.inner.read_large(path, bytes).await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

/// Loads and validates the bundle at `source`, which S3 says is `<name>/<version>/`.
pub async fn validate_source<S: BundleSource>(
    source: &S,
    name: &str,
    version: &str,
) -> Result<Validated, Rejected> {
    let hashing = HashingSource::new(source);
    let bundle = Bundle::load(&hashing).await?;
    let manifest_sha256 = hashing
        .manifest_sha256()
        .ok_or_else(|| Rejected::new("manifest_unreadable", "manifest.json was not read"))?;
    let golden_rows = validate_bundle(&bundle, name, version)?;
    Ok(Validated {
        bundle,
        manifest_sha256,
        golden_rows,
    })
}

/// Loads the bundle a serving container was told to serve by the registry: the compiled file
/// alone when it is sound, else every file ([`Bundle::load_for_serving`]), the manifest's sha256 equal to the registry's (when it records
/// one: the bytes validated by reload), name and version as expected, golden rows exact. The
/// kind-specific serving check is the caller's.
pub async fn load_for_serving<S: BundleSource>(
    source: &S,
    name: &str,
    reference: &super::item::VersionRef,
) -> Result<Bundle, Rejected> {
    Ok(load_for_serving_timed(source, name, reference).await?.0)
}

/// [`load_for_serving`], with how long fetching and loading took and how long the golden rows.
pub async fn load_for_serving_timed<S: BundleSource>(
    source: &S,
    name: &str,
    reference: &super::item::VersionRef,
) -> Result<(Bundle, LoadTimes), Rejected> {
    let started = std::time::Instant::now();
    let hashing = HashingSource::new(source);
    let bundle = Bundle::load_for_serving(&hashing).await?;
    if let (Some(want), Some(got)) = (&reference.sha256, hashing.manifest_sha256()) {
        if !want.eq_ignore_ascii_case(&got) {
            return Err(Rejected::new(
                "manifest_changed",
                format!(
                    "{}manifest.json has sha256 {got}, the registry recorded {want}",
                    source.location()
                ),
            ));
        }
    }
    let m = bundle.manifest();
    if m.name != name || m.version != reference.version {
        return Err(Rejected::new(
            "key_mismatch",
            format!(
                "bundle at {} is {}/{}, expected {name}/{}",
                source.location(),
                m.name,
                m.version,
                reference.version
            ),
        ));
    }
    let load = started.elapsed();
    bundle.verify_golden()?;
    let times = LoadTimes {
        load_ms: load.as_secs_f64() * 1e3,
        golden_ms: (started.elapsed() - load).as_secs_f64() * 1e3,
    };
    Ok((bundle, times))
}

/// Where a serving load's time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadTimes {
    /// Fetching the manifest and the compiled file (or the text models), verifying their
    /// sha256 and building the models.
    pub load_ms: f64,
    /// Reproducing the golden rows.
    pub golden_ms: f64,
}

/// Validates a loaded bundle: key, kind contract, metrics, golden rows. Returns the number of
/// golden rows reproduced.
pub fn validate_bundle(bundle: &Bundle, name: &str, version: &str) -> Result<usize, Rejected> {
    let m = bundle.manifest();
    if m.name != name || m.version != version {
        return Err(Rejected::new(
            "key_mismatch",
            format!(
                "manifest says {}/{} but was uploaded under {name}/{version}/",
                m.name, m.version
            ),
        ));
    }
    check_contract(m)?;
    Ok(bundle.verify_golden()?)
}

/// The kind's feature/output contract and the metrics rules (see the module docs).
pub fn check_contract(m: &Manifest) -> Result<(), Rejected> {
    let names: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
    let codes: Vec<&str> = m.outputs.iter().map(|o| o.code.as_str()).collect();
    match m.kind {
        ModelKind::ProductRecommender => {
            let want = feature_names();
            if names != want.iter().map(String::as_str).collect::<Vec<_>>() {
                return Err(Rejected::new(
                    "feature_mismatch",
                    format!(
                        "a product-recommender takes the {} recommender features in order; \
                         the manifest lists {}",
                        want.len(),
                        names.len()
                    ),
                ));
            }
            let products: Vec<&str> = PRODUCTS.iter().map(|(c, _)| *c).collect();
            if codes != products {
                return Err(Rejected::new(
                    "output_mismatch",
                    format!(
                        "a product-recommender outputs the {} products in order; the manifest \
                         lists {} outputs",
                        products.len(),
                        codes.len()
                    ),
                ));
            }
            if m.metrics.map_at_7.is_none() || m.metrics.auc.is_empty() {
                return Err(Rejected::new(
                    "metrics_missing",
                    "a product-recommender reports metrics.map_at_7 and metrics.auc per product",
                ));
            }
        }
        ModelKind::FairMultiple => {
            if names != FAIR_MULTIPLE_FEATURES {
                return Err(Rejected::new(
                    "feature_mismatch",
                    format!(
                        "a fair-multiple model takes {} in order; the manifest lists {}",
                        FAIR_MULTIPLE_FEATURES.join(", "),
                        names.join(", ")
                    ),
                ));
            }
            if codes.len() != 1 {
                return Err(Rejected::new(
                    "output_mismatch",
                    format!(
                        "a fair-multiple model has one output (the fair P/E), not {}",
                        codes.len()
                    ),
                ));
            }
            let any = m.metrics.map_at_7.is_some()
                || m.metrics.holdout_rows.is_some()
                || !m.metrics.auc.is_empty()
                || !m.metrics.other.is_empty();
            if !any {
                return Err(Rejected::new(
                    "metrics_missing",
                    "a fair-multiple bundle reports its holdout metrics (e.g. rmse, \
                     baseline_rmse)",
                ));
            }
        }
        ModelKind::Generic => {}
    }
    let mut all = m
        .metrics
        .auc
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .chain(m.metrics.other.iter().map(|(k, v)| (k.as_str(), *v)));
    if let Some((k, _)) = all.find(|(_, v)| !v.is_finite()) {
        return Err(Rejected::new(
            "metrics_invalid",
            format!("metric `{k}` is not a finite number"),
        ));
    }
    for (k, v) in [
        ("map_at_7", m.metrics.map_at_7),
        ("baseline_map_at_7", m.metrics.baseline_map_at_7),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(Rejected::new(
                "metrics_invalid",
                format!("metric `{k}` is not a finite number"),
            ));
        }
    }
    for (code, auc) in &m.metrics.auc {
        if !codes.contains(&code.as_str()) {
            return Err(Rejected::new(
                "metrics_invalid",
                format!("metrics.auc names `{code}`, which is not an output"),
            ));
        }
        if !(0.0..=1.0).contains(auc) {
            return Err(Rejected::new(
                "metrics_invalid",
                format!("metrics.auc of `{code}` is {auc}, outside 0..=1"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Feature;
    use crate::valuation::synthetic::synthetic_fair_multiple_parts;
    use crate::valuation::FairMultipleModel;

    fn fair_bundle() -> (Manifest, Vec<(String, Vec<u8>)>) {
        let (mut m, files) = synthetic_fair_multiple_parts("v1", 1);
        m.metrics.other.insert("rmse".into(), 2.5);
        (m, files)
    }

    fn load(m: Manifest, files: Vec<(String, Vec<u8>)>) -> Result<Bundle, BundleError> {
        Bundle::from_parts(m, files)
    }

    #[test]
    fn a_valid_fair_multiple_bundle_passes_and_is_servable() {
        let (m, files) = fair_bundle();
        let b = load(m, files).unwrap();
        assert_eq!(validate_bundle(&b, "fair-multiple", "v1").unwrap(), 24);
        FairMultipleModel::new(b).unwrap();
    }

    #[test]
    fn key_must_match_the_manifest() {
        let (m, files) = fair_bundle();
        let b = load(m, files).unwrap();
        let e = validate_bundle(&b, "fair-multiple", "v2").unwrap_err();
        assert_eq!(e.code, "key_mismatch");
    }

    #[test]
    fn contract_violations_have_their_codes() {
        let (m, _) = fair_bundle();
        check_contract(&m).unwrap();

        let mut bad = m.clone();
        bad.features.swap(0, 1);
        assert_eq!(check_contract(&bad).unwrap_err().code, "feature_mismatch");

        let mut bad = m.clone();
        bad.features.push(Feature {
            name: "extra".into(),
            categorical: false,
            categories: Vec::new(),
        });
        assert_eq!(check_contract(&bad).unwrap_err().code, "feature_mismatch");

        let mut bad = m.clone();
        let mut o = bad.outputs[0].clone();
        o.code = "second".into();
        bad.outputs.push(o);
        assert_eq!(check_contract(&bad).unwrap_err().code, "output_mismatch");

        let mut bad = m.clone();
        bad.metrics = Default::default();
        assert_eq!(check_contract(&bad).unwrap_err().code, "metrics_missing");

        let mut bad = m.clone();
        bad.metrics.other.insert("r2".into(), f64::NAN);
        assert_eq!(check_contract(&bad).unwrap_err().code, "metrics_invalid");

        let mut bad = m.clone();
        bad.metrics.auc.insert("fair_pe".into(), 1.5);
        assert_eq!(check_contract(&bad).unwrap_err().code, "metrics_invalid");

        let mut bad = m.clone();
        bad.metrics.auc.insert("nope".into(), 0.5);
        assert_eq!(check_contract(&bad).unwrap_err().code, "metrics_invalid");

        // A generic bundle has no feature contract.
        let mut generic = m.clone();
        generic.kind = ModelKind::Generic;
        generic.features.swap(0, 1);
        generic.metrics = Default::default();
        check_contract(&generic).unwrap();

        // A recommender must carry the recommender's features.
        let mut reco = m;
        reco.kind = ModelKind::ProductRecommender;
        assert_eq!(check_contract(&reco).unwrap_err().code, "feature_mismatch");
    }

    #[test]
    fn golden_mismatch_is_detected() {
        let (mut m, files) = fair_bundle();
        m.golden[3].expected[0] += 1e-12;
        let b = load(m, files).unwrap();
        assert_eq!(
            validate_bundle(&b, "fair-multiple", "v1").unwrap_err().code,
            "golden_mismatch"
        );
    }

    #[tokio::test]
    async fn the_manifest_hash_is_of_the_bytes_read() {
        let dir = tempfile::tempdir().unwrap();
        let (m, files) = fair_bundle();
        crate::bundle::write_bundle(dir.path(), m, &files).unwrap();
        let source = crate::bundle::DirSource::new(dir.path());
        let v = validate_source(&source, "fair-multiple", "v1")
            .await
            .unwrap();
        let bytes = std::fs::read(dir.path().join(MANIFEST_FILE)).unwrap();
        assert_eq!(v.manifest_sha256, sha256_hex(&bytes));

        // A corrupted file is a checksum mismatch, not transient.
        let path = dir.path().join(&files[0].0);
        let mut content = std::fs::read(&path).unwrap();
        content[10] ^= 1;
        std::fs::write(&path, content).unwrap();
        let e = validate_source(&source, "fair-multiple", "v1")
            .await
            .unwrap_err();
        assert_eq!(e.code, "checksum_mismatch");
        assert!(!e.transient);
    }
}
