//! Any registered model behind `POST /models/{name}/predict`: rows of named features in, the
//! model's own predictions out. The feature schema comes from the bundle's manifest
//! ([`Schema`]), so a model trained anywhere (`warmstart import`, `train generic`) is served
//! without code; [`predict`] encodes each row with the schema of the version that serves it
//! (active, or the canary candidate by the row's id), scores it with the native scorer, and
//! scores the shadow beside it for comparison only. [`catalog`] describes the registered models
//! (`GET /models`, `GET /models/{name}`); [`explain`] adds each row's TreeSHAP contributions
//! (`POST /models/{name}/explain`); [`fairness`] compares score distributions across groups of
//! rows (`POST /models/{name}/fairness`).

pub mod catalog;
mod explain;
mod fairness;
mod predictor;
mod request;
mod schema;
mod score;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use catalog::{ModelDetail, ModelSummary};
pub use explain::{explain, ExplainResponse, RowExplanation, TopFeature};
pub use fairness::{fairness, FairnessReport, FairnessRequest, Group};
pub use predictor::Predictor;
pub use request::{
    PredictRequest, DEFAULT_TOP_N, MAX_EXPLAIN_ROWS, MAX_PREDICT_BODY_BYTES, MAX_ROWS,
};
pub use schema::Schema;
pub use score::{predict, PredictResponse, PredictStats, ServedModel};

#[cfg(test)]
mod tests;
