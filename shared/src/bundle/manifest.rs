//! `manifest.json`: the contract between the CLI that writes a bundle, the reload function that
//! validates it and the functions that serve it (see docs/BUNDLE.md).

use super::BundleError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fmt;

pub const MANIFEST_FILE: &str = "manifest.json";
/// Bumped when a manifest change is not backwards compatible.
pub const MANIFEST_FORMAT: u32 = 1;
/// Fewer golden rows than this prove too little about a model to promote it.
pub const MIN_GOLDEN_ROWS: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    #[serde(default = "default_format")]
    pub format: u32,
    pub name: String,
    /// Sortable, e.g. `2026-11-22T10-00-00Z-1a2b3c4`; it is also the S3 key segment.
    pub version: String,
    pub kind: ModelKind,
    pub created_at: String,
    /// Model input, in the order every model of the bundle expects it.
    pub features: Vec<Feature>,
    pub outputs: Vec<Output>,
    pub files: Vec<FileEntry>,
    pub metrics: Metrics,
    /// Prior rate of each output (e.g. share of customers adding each product), the popularity
    /// ranking served when a model answer is unavailable. Empty when not applicable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub base_rates: Vec<f64>,
    pub golden: Vec<GoldenRow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// Free-form provenance: data source, rows, seed, LightGBM parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub training: BTreeMap<String, serde_json::Value>,
}

fn default_format() -> u32 {
    MANIFEST_FORMAT
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    ProductRecommender,
    FairMultiple,
    Generic,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::ProductRecommender => "product-recommender",
            ModelKind::FairMultiple => "fair-multiple",
            ModelKind::Generic => "generic",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Feature {
    pub name: String,
    #[serde(default)]
    pub categorical: bool,
    /// For a categorical feature trained from strings: the category of each code (position =
    /// the integer code the model was trained on), so requests may send the strings. Empty
    /// when the codes are the data (the client sends integers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// One prediction the bundle produces, e.g. one product's purchase probability.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Output {
    /// Machine code, e.g. `ind_cco_fin_ult1`.
    pub code: String,
    /// Human name, e.g. `Current Accounts`.
    pub name: String,
    /// Model file (a `files` path) that produces it.
    pub model: String,
    /// Class index within that model (multiclass); 0 otherwise.
    #[serde(default)]
    pub class: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Set on the bundle's compiled models file (`models.wsc`). Loaders that read its layout
    /// use it instead of parsing the text models; older loaders ignore the field and verify
    /// the file like any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<CompiledMarker>,
}

/// What a compiled models file is: the scorer layout it was written in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CompiledMarker {
    pub layout_version: u32,
}

impl FileEntry {
    pub fn describe(path: &str, content: &[u8]) -> Self {
        FileEntry {
            path: path.to_string(),
            bytes: content.len() as u64,
            sha256: sha256_hex(content),
            compiled: None,
        }
    }

    /// The entry of a compiled models file in the current layout.
    pub fn describe_compiled(path: &str, content: &[u8]) -> Self {
        FileEntry {
            compiled: Some(CompiledMarker {
                layout_version: crate::model::compiled::LAYOUT_VERSION,
            }),
            ..Self::describe(path, content)
        }
    }
}

pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Holdout AUC per output code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub auc: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_at_7: Option<f64>,
    /// MAP@7 of recommending the most popular products: what the model must beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_map_at_7: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_rows: Option<u64>,
    /// Anything else (rmse, mae, r2, baseline_rmse…), all finite numbers.
    #[serde(flatten)]
    pub other: BTreeMap<String, f64>,
}

impl Metrics {
    fn values(&self) -> impl Iterator<Item = (&str, f64)> {
        let named = [
            ("map_at_7", self.map_at_7),
            ("baseline_map_at_7", self.baseline_map_at_7),
        ];
        self.auc
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .chain(named.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))))
            .chain(self.other.iter().map(|(k, v)| (k.as_str(), *v)))
    }
}

/// An input row with the outputs the bundle must reproduce exactly. `null` features are
/// missing values (NaN), which JSON cannot spell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GoldenRow {
    pub features: Vec<Option<f64>>,
    pub expected: Vec<f64>,
}

impl GoldenRow {
    pub fn row(&self) -> Vec<f64> {
        self.features
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    }
}

/// How reload promotes a validated version: written as `immediate`, `canary:<weight %>`,
/// `shadow`, or a staged rollout that advances itself (`canary:<w>,bake:<minutes>`,
/// `linear:<step>%/<minutes>`; see `registry::rollout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rollout {
    Immediate,
    Canary(u8),
    Shadow,
    Staged(crate::registry::rollout::Staged),
}

impl fmt::Display for Rollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rollout::Immediate => f.write_str("immediate"),
            Rollout::Canary(w) => write!(f, "canary:{w}"),
            Rollout::Shadow => f.write_str("shadow"),
            Rollout::Staged(s) => s.fmt(f),
        }
    }
}

impl TryFrom<String> for Rollout {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for Rollout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "immediate" => Ok(Rollout::Immediate),
            "shadow" => Ok(Rollout::Shadow),
            _ if s.starts_with("linear:") || s.contains(",bake:") => s.parse().map(Rollout::Staged),
            _ => match s.strip_prefix("canary:").map(str::parse::<u8>) {
                Some(Ok(w)) if (1..=100).contains(&w) => Ok(Rollout::Canary(w)),
                _ => Err(format!(
                    "rollout `{s}` must be `immediate`, `shadow`, `canary:<1..100>`, \
                     `canary:<1..100>,bake:<minutes>` or `linear:<1..100>%/<minutes>`"
                )),
            },
        }
    }
}

impl From<Rollout> for String {
    fn from(r: Rollout) -> String {
        r.to_string()
    }
}

impl Manifest {
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        serde_json::from_slice(bytes).map_err(|e| BundleError::Manifest(e.to_string()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serializes")
    }

    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// The compiled models file this scorer can read, if the manifest lists one.
    pub fn compiled_file(&self) -> Option<&FileEntry> {
        self.files.iter().find(|f| {
            f.compiled
                .is_some_and(|c| c.layout_version == crate::model::compiled::LAYOUT_VERSION)
        })
    }

    /// Checks everything that can be checked without reading the model files.
    pub fn validate(&self) -> Result<(), BundleError> {
        let invalid = |m: String| Err(BundleError::Invalid(m));
        if self.format != MANIFEST_FORMAT {
            return invalid(format!(
                "manifest format {} is not supported (expected {MANIFEST_FORMAT})",
                self.format
            ));
        }
        if !is_key_segment(&self.name) {
            return invalid(format!(
                "name `{}` must match [A-Za-z0-9._-]{{1,128}}",
                self.name
            ));
        }
        if !is_key_segment(&self.version) {
            return invalid(format!(
                "version `{}` must match [A-Za-z0-9._-]{{1,128}}",
                self.version
            ));
        }
        if self.features.is_empty() {
            return invalid("no features".into());
        }
        unique(self.features.iter().map(|f| f.name.as_str()), "feature")?;
        for f in self.features.iter().filter(|f| !f.categories.is_empty()) {
            if !f.categorical {
                return invalid(format!(
                    "feature `{}` lists categories but is not categorical",
                    f.name
                ));
            }
            unique(f.categories.iter().map(String::as_str), "category")?;
        }
        if self.outputs.is_empty() {
            return invalid("no outputs".into());
        }
        unique(self.outputs.iter().map(|o| o.code.as_str()), "output")?;
        unique(self.files.iter().map(|f| f.path.as_str()), "file")?;
        for f in &self.files {
            if !is_relative_path(&f.path) {
                return invalid(format!(
                    "file path `{}` must be relative, without `..`",
                    f.path
                ));
            }
            if f.path == MANIFEST_FILE {
                return invalid("manifest.json cannot list itself".into());
            }
            if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return invalid(format!("file `{}` has a malformed sha256", f.path));
            }
        }
        for o in &self.outputs {
            match self.file(&o.model) {
                None => {
                    return invalid(format!(
                        "output `{}` names model `{}` which is not in files",
                        o.code, o.model
                    ))
                }
                Some(f) if f.compiled.is_some() => {
                    return invalid(format!(
                        "output `{}` names the compiled file `{}`; outputs name text models",
                        o.code, o.model
                    ))
                }
                Some(_) => {}
            }
        }
        for (k, v) in self.metrics.values() {
            if !v.is_finite() {
                return invalid(format!("metric `{k}` is not a finite number"));
            }
        }
        if !self.base_rates.is_empty()
            && (self.base_rates.len() != self.outputs.len()
                || self.base_rates.iter().any(|r| !r.is_finite()))
        {
            return invalid("base_rates must hold one finite number per output".into());
        }
        if self.golden.len() < MIN_GOLDEN_ROWS {
            return invalid(format!(
                "{} golden rows; at least {MIN_GOLDEN_ROWS} are required",
                self.golden.len()
            ));
        }
        for (i, g) in self.golden.iter().enumerate() {
            if g.features.len() != self.features.len() || g.expected.len() != self.outputs.len() {
                return invalid(format!(
                    "golden row {i} has {} features and {} outputs; expected {} and {}",
                    g.features.len(),
                    g.expected.len(),
                    self.features.len(),
                    self.outputs.len()
                ));
            }
        }
        Ok(())
    }
}

fn unique<'a>(items: impl Iterator<Item = &'a str>, what: &str) -> Result<(), BundleError> {
    let mut seen = HashSet::new();
    for item in items {
        if item.is_empty() || !seen.insert(item) {
            return Err(BundleError::Invalid(format!(
                "{what} name `{item}` is empty or repeated"
            )));
        }
    }
    Ok(())
}

/// A name or version usable as one S3 key segment: `[A-Za-z0-9._-]{1,128}`, not `.`/`..`.
pub fn is_key_segment(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s != "."
        && s != ".."
}

fn is_relative_path(p: &str) -> bool {
    !p.is_empty() && !p.starts_with('/') && p.split('/').all(is_key_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_round_trips_through_its_string_form() {
        for r in [
            Rollout::Immediate,
            Rollout::Shadow,
            Rollout::Canary(10),
            "canary:10,bake:30".parse().unwrap(),
            "linear:20%/5".parse().unwrap(),
        ] {
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Rollout>(&s).unwrap(), r);
        }
        assert_eq!(
            serde_json::to_string(&Rollout::Canary(5)).unwrap(),
            "\"canary:5\""
        );
    }

    #[test]
    fn rollout_rejects_out_of_range_weights() {
        for s in ["canary:0", "canary:101", "canary:x", "yolo"] {
            assert!(s.parse::<Rollout>().is_err(), "{s}");
        }
    }

    #[test]
    fn relative_paths_cannot_escape_the_bundle() {
        assert!(is_relative_path("models/ind_cco_fin_ult1.txt"));
        for p in ["../x", "/etc/passwd", "a//b", "a/../b", ""] {
            assert!(!is_relative_path(p), "{p}");
        }
    }

    #[test]
    fn golden_nulls_are_missing_values() {
        let g = GoldenRow {
            features: vec![Some(1.0), None],
            expected: vec![0.5],
        };
        let row = g.row();
        assert_eq!(row[0], 1.0);
        assert!(row[1].is_nan());
    }
}
