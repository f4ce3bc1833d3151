//! Scoring a request against what a container serves for one model: each row goes to the
//! version its id (else the request id) routes to, and the shadow, when there is one, scores
//! the same rows for comparison only.

use super::{PredictRequest, Predictor};
use crate::http::ApiError;
use crate::registry::{mean_abs_diff, ServingSet, Variant};
use crate::telemetry::capture::{named, CaptureRow};
use serde::Serialize;
use serde_json::Value;

/// `POST /models/{name}/predict` answer.
#[derive(Debug, Clone, Serialize)]
pub struct PredictResponse {
    pub model: ServedModel,
    /// Per row: a number for single-output models, one number per output (class) otherwise;
    /// `null` where the model's output is not a finite number.
    pub predictions: Vec<Value>,
    /// Per row: which version answered it, `active` or `candidate`.
    pub variants: Vec<&'static str>,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServedModel {
    pub name: String,
    /// The active version.
    pub version: String,
    /// The canary candidate and its weight, when one is being tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CandidateModel>,
    /// The output codes, in the order of each prediction's array.
    pub outputs: Vec<String>,
}

impl ServedModel {
    /// The model a set serves: its active version, the canary and the output codes.
    pub fn of(set: &ServingSet<Predictor>) -> Self {
        let manifest = set.active.model.bundle().manifest();
        ServedModel {
            name: set.model_name.clone(),
            version: set.active.version().to_string(),
            candidate: set.candidate.as_ref().map(|(c, w)| CandidateModel {
                version: c.version().to_string(),
                weight: *w,
            }),
            outputs: manifest.outputs.iter().map(|o| o.code.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateModel {
    pub version: String,
    pub weight: u8,
}

/// What a predict request did, for the request log and metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictStats {
    pub rows: usize,
    pub candidate_rows: usize,
    /// Mean absolute difference between the shadow's and the served outputs.
    pub shadow_delta: Option<f64>,
    /// Rows the shadow could not score (its schema refuses them).
    pub shadow_failed: usize,
    /// Each row's input and outputs (and the shadow's) when the request is captured.
    pub capture: Vec<CaptureRow>,
}

/// Scores `req` (see the module docs). A row the serving version cannot read is the request's
/// error; nothing is scored partially.
pub fn predict(
    set: &ServingSet<Predictor>,
    req: &PredictRequest,
    request_id: &str,
) -> Result<(PredictResponse, PredictStats), ApiError> {
    let n = req.rows.len();
    let outputs = set.active.model.num_outputs();
    let mut stats = PredictStats {
        rows: n,
        ..PredictStats::default()
    };
    let mut served = vec![0.0; n * outputs];
    let mut variants = Vec::with_capacity(n);
    let mut input = Vec::new();
    for (i, row) in req.rows.iter().enumerate() {
        let entity = req.ids.as_ref().map_or(request_id, |ids| ids[i].as_str());
        let (variant, slot) = set.route(entity);
        let model = &slot.model;
        if model.num_outputs() != outputs {
            // A candidate with another output count cannot share the answer's shape.
            return Err(ApiError::Internal(format!(
                "candidate {} has {} outputs, active {} has {outputs}",
                slot.version(),
                model.num_outputs(),
                set.active.version()
            )));
        }
        input.resize(model.schema().len(), 0.0);
        model.schema().encode(i, row, &mut input)?;
        model
            .score_into(&input, req.raw_score, &mut served[i * outputs..][..outputs])
            .map_err(|e| ApiError::Internal(format!("scoring row {i}: {e}")))?;
        if variant == Variant::Candidate {
            stats.candidate_rows += 1;
        }
        variants.push(variant.as_str());
        if req.capture {
            let codes = model
                .bundle()
                .manifest()
                .outputs
                .iter()
                .map(|o| o.code.clone());
            stats.capture.push(CaptureRow {
                version: slot.version().to_string(),
                variant: variant.as_str(),
                entity: req.ids.as_ref().map(|ids| ids[i].clone()),
                input: row.clone(),
                output: named(codes, &served[i * outputs..][..outputs]),
                shadow: None,
            });
        }
    }
    if let Some(shadow) = set.shadow().filter(|s| s.model.num_outputs() == outputs) {
        let mut out = vec![0.0; outputs];
        let (mut sum, mut scored) = (0.0, 0usize);
        for (i, row) in req.rows.iter().enumerate() {
            input.resize(shadow.model.schema().len(), 0.0);
            let ok = shadow.model.schema().encode(i, row, &mut input).is_ok()
                && (shadow.model)
                    .score_into(&input, req.raw_score, &mut out)
                    .is_ok();
            if ok {
                sum += mean_abs_diff(&out, &served[i * outputs..][..outputs]);
                scored += 1;
                if let Some(c) = stats.capture.get_mut(i) {
                    let codes = shadow.model.bundle().manifest().outputs.iter();
                    c.shadow = Some((
                        shadow.version().to_string(),
                        named(codes.map(|o| o.code.clone()), &out),
                    ));
                }
            } else {
                stats.shadow_failed += 1;
            }
        }
        stats.shadow_delta = (scored > 0).then(|| sum / scored as f64);
    }
    let predictions = served.chunks_exact(outputs).map(numbers).collect();
    let response = PredictResponse {
        model: ServedModel::of(set),
        predictions,
        variants,
        request_id: request_id.to_string(),
    };
    Ok((response, stats))
}

/// A JSON number; LightGBM can overflow to ±inf (e.g. an exp link), which JSON cannot spell.
/// One value per output as the API spells it: the value itself for single-output models,
/// an array otherwise.
pub(super) fn per_output(mut values: Vec<Value>) -> Value {
    if values.len() == 1 {
        values.remove(0)
    } else {
        Value::Array(values)
    }
}

/// [`per_output`] of numbers.
pub(super) fn numbers(values: &[f64]) -> Value {
    per_output(values.iter().map(|&x| number(x)).collect())
}

pub(super) fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}
