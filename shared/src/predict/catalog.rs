//! What `GET /models` and `GET /models/{name}` say about a registered model: the registry's
//! view (active / candidate with its weight / shadow, history) joined with the active
//! version's manifest (features, outputs, metrics, created_at), and the headline metrics of
//! each served version (active, candidate, shadow) side by side.

use crate::bundle::{Manifest, Metrics, Rollout};
use crate::registry::{Active, Candidate, HistoryEntry, RegistryItem, Shadow};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many history entries `GET /models/{name}` shows, newest first.
pub const DETAIL_HISTORY: usize = 10;

/// One line of `GET /models`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelSummary {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub active: Option<Active>,
    pub candidate: Option<Candidate>,
    pub shadow: Option<Shadow>,
    /// When the active version was built (its manifest's `created_at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// The active version's headline holdout metrics (see [`headline`]).
    pub metrics: BTreeMap<String, f64>,
    pub revision: u64,
}

/// `GET /models/{name}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelDetail {
    #[serde(flatten)]
    pub summary: ModelSummary,
    /// What a predict row may hold, in the model's order.
    pub features: Vec<FeatureInfo>,
    pub outputs: Vec<OutputInfo>,
    /// Every holdout metric of the active version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_metrics: Option<Metrics>,
    /// The rollout the active version was published with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    pub history: Vec<HistoryEntry>,
    /// The served versions (active, then candidate and shadow when there are), each with its
    /// manifest's headline metrics: what a rollout decision compares.
    pub versions: Vec<VersionMetrics>,
}

/// One served version of a model and its holdout metrics.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VersionMetrics {
    /// `active`, `candidate` or `shadow`.
    pub role: &'static str,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Its headline metrics (see [`headline`]); `null` when its manifest could not be read.
    pub metrics: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeatureInfo {
    pub name: String,
    /// `numerical` or `categorical`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The strings a categorical feature accepts (else its integer codes are sent).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutputInfo {
    pub code: String,
    pub name: String,
}

impl ModelSummary {
    /// `manifest` is the active version's, when it could be read.
    pub fn new(item: &RegistryItem, manifest: Option<&Manifest>) -> Self {
        ModelSummary {
            name: item.model.clone(),
            kind: (item.kind.clone()).or_else(|| manifest.map(|m| m.kind.as_str().to_string())),
            active: item.active.clone(),
            candidate: item.candidate.clone(),
            shadow: item.shadow.clone(),
            created_at: manifest.map(|m| m.created_at.clone()),
            metrics: manifest.map(|m| headline(&m.metrics)).unwrap_or_default(),
            revision: item.revision,
        }
    }
}

impl ModelDetail {
    /// `manifest` is the active version's; `candidate` and `shadow` are those versions'
    /// manifests, when the item has them and they could be read.
    pub fn new(
        item: &RegistryItem,
        manifest: Option<&Manifest>,
        candidate: Option<&Manifest>,
        shadow: Option<&Manifest>,
    ) -> Self {
        let roles = [
            ("active", item.active_ref(), manifest),
            ("candidate", item.candidate_ref(), candidate),
            ("shadow", item.shadow_ref(), shadow),
        ];
        let versions = roles
            .into_iter()
            .filter_map(|(role, r, m)| {
                Some(VersionMetrics {
                    role,
                    version: r?.version,
                    created_at: m.map(|m| m.created_at.clone()),
                    metrics: m.map(|m| headline(&m.metrics)),
                })
            })
            .collect();
        let features = manifest.map_or_else(Vec::new, |m| {
            (m.features.iter())
                .map(|f| FeatureInfo {
                    name: f.name.clone(),
                    kind: if f.categorical {
                        "categorical"
                    } else {
                        "numerical"
                    },
                    categories: f.categories.clone(),
                })
                .collect()
        });
        let outputs = manifest.map_or_else(Vec::new, |m| {
            (m.outputs.iter())
                .map(|o| OutputInfo {
                    code: o.code.clone(),
                    name: o.name.clone(),
                })
                .collect()
        });
        ModelDetail {
            summary: ModelSummary::new(item, manifest),
            features,
            outputs,
            all_metrics: manifest.map(|m| m.metrics.clone()),
            rollout: manifest.and_then(|m| m.rollout),
            history: item
                .history
                .iter()
                .rev()
                .take(DETAIL_HISTORY)
                .cloned()
                .collect(),
            versions,
        }
    }
}

/// The metrics a listing shows: every named number, with a per-output AUC map folded into
/// `auc` (one output) or `mean_auc` (several, e.g. the recommender's 24 products).
pub fn headline(m: &Metrics) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = m.other.clone();
    match m.auc.len() {
        0 => {}
        1 => {
            out.insert("auc".into(), *m.auc.values().next().expect("one"));
        }
        n => {
            out.insert("mean_auc".into(), m.auc.values().sum::<f64>() / n as f64);
        }
    }
    let named = [
        ("map_at_7", m.map_at_7),
        ("baseline_map_at_7", m.baseline_map_at_7),
        ("holdout_rows", m.holdout_rows.map(|r| r as f64)),
    ];
    out.extend(
        named
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?))),
    );
    out
}
