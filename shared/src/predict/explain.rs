//! `POST /models/{name}/explain`: each row's prediction with its TreeSHAP feature
//! contributions (LightGBM's `pred_contrib`, bit for bit), from the version that serves the
//! row (the canary by `id`, as for predictions).

use super::score::{number, numbers, per_output, ServedModel};
use super::{PredictRequest, Predictor};
use crate::http::ApiError;
use crate::model::ShapScratch;
use crate::registry::ServingSet;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize)]
pub struct ExplainResponse {
    pub model: ServedModel,
    /// The order of each output's block in `contributions` (then the expected value).
    pub feature_names: Vec<String>,
    pub explanations: Vec<RowExplanation>,
    pub variants: Vec<&'static str>,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowExplanation {
    /// As `POST /predict` answers it (number, or one per output).
    pub prediction: Value,
    /// LightGBM's layout, in raw-score space: per output, one value per feature, then the
    /// expected value.
    pub contributions: Vec<f64>,
    /// Per output (a number for single-output models): the bias, the raw score of a row
    /// nothing is known about.
    pub expected_value: Value,
    /// The features that moved the score most, by absolute contribution (per output for
    /// multi-output models).
    pub top: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopFeature {
    pub feature: String,
    /// The row's value as sent (`null` when missing).
    pub value: Value,
    pub contribution: f64,
}

/// Explains every row of `req` (see the module docs).
pub fn explain(
    set: &ServingSet<Predictor>,
    req: &PredictRequest,
    request_id: &str,
) -> Result<ExplainResponse, ApiError> {
    let mut scratch = ShapScratch::new();
    let mut input = Vec::new();
    let mut explanations = Vec::with_capacity(req.rows.len());
    let mut variants = Vec::with_capacity(req.rows.len());
    for (i, row) in req.rows.iter().enumerate() {
        let entity = req.ids.as_ref().map_or(request_id, |ids| ids[i].as_str());
        let (variant, slot) = set.route(entity);
        let model = &slot.model;
        let bundle = model.bundle();
        if !bundle.can_explain() {
            return Err(ApiError::NotExplainable(format!(
                "version {} of `{}` predicts but cannot be explained: its model text has no \
                 node counts (leaf_count / internal_count); re-save it with LightGBM ≥ 2.0",
                slot.version(),
                set.model_name
            )));
        }
        input.resize(model.schema().len(), 0.0);
        model.schema().encode(i, row, &mut input)?;
        let k = model.num_outputs();
        let mut prediction = vec![0.0; k];
        model
            .score_into(&input, req.raw_score, &mut prediction)
            .map_err(|e| ApiError::Internal(format!("scoring row {i}: {e}")))?;
        let mut contributions = vec![0.0; bundle.contrib_len()];
        bundle
            .contrib_into(&input, &mut contributions, &mut scratch)
            .map_err(|e| ApiError::Internal(format!("explaining row {i}: {e}")))?;
        explanations.push(row_explanation(
            model,
            row,
            prediction,
            contributions,
            req.top_n,
        ));
        variants.push(variant.as_str());
    }
    let active = &set.active.model;
    Ok(ExplainResponse {
        model: ServedModel::of(set),
        feature_names: active.schema().names().to_vec(),
        explanations,
        variants,
        request_id: request_id.to_string(),
    })
}

fn row_explanation(
    model: &Predictor,
    row: &Map<String, Value>,
    prediction: Vec<f64>,
    contributions: Vec<f64>,
    top_n: usize,
) -> RowExplanation {
    let names = model.schema().names();
    let width = names.len() + 1;
    let blocks: Vec<(f64, Value)> = contributions
        .chunks_exact(width)
        .map(|block| {
            let mut order: Vec<usize> = (0..names.len()).collect();
            // Largest magnitude first; ties keep the model's feature order (stable sort).
            order.sort_by(|&a, &b| block[b].abs().total_cmp(&block[a].abs()));
            let top: Vec<TopFeature> = (order.into_iter().take(top_n))
                .map(|f| TopFeature {
                    feature: names[f].clone(),
                    value: row.get(&names[f]).cloned().unwrap_or(Value::Null),
                    contribution: block[f],
                })
                .collect();
            let top = serde_json::to_value(top).unwrap_or(Value::Null);
            (block[names.len()], top)
        })
        .collect();
    let (expected, top): (Vec<Value>, Vec<Value>) =
        (blocks.into_iter()).map(|(e, t)| (number(e), t)).unzip();
    RowExplanation {
        prediction: numbers(&prediction),
        contributions,
        expected_value: per_output(expected),
        top: per_output(top),
    }
}
