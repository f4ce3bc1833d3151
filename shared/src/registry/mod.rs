//! The model registry, without AWS: the `ModelRegistry` item ([`item`]), its state transitions
//! ([`ops`]: publish per rollout, promote, canary weight, clear, rollback — idempotent, stale
//! versions refused), bundle validation against each kind's contract ([`validate`]), admin
//! payloads ([`admin`]), the quality gate a new version must pass against the active one
//! ([`gate`]), canary bucketing ([`bucket`]) and what warm containers serve and how
//! they follow the registry ([`serving`]), and staged rollouts with alarm rollback
//! ([`rollout`]). `aws::RegistryTable` reads and writes items with
//! conditional writes; the reload function, the `warmstart registry` CLI and the serving
//! functions share all of it.

pub mod admin;
pub mod bucket;
pub mod gate;
pub mod item;
pub mod ops;
pub mod rollout;
pub mod serving;
pub mod validate;

pub use admin::{parse_admin, AdminCommand, AdminError};
pub use bucket::{bucket, in_canary};
pub use item::{
    now_rfc3339, rfc3339, Action, Active, Candidate, GateSettings, HistoryEntry, RegistryItem,
    Rejection, ServingSpec, Shadow, VersionRef, HISTORY_LIMIT, REJECTED_LIMIT,
};
pub use ops::{apply, classify, record_rejection, Applied, Change, Context, Novelty, OpError};
pub use rollout::{
    on_alarm, tick, AlarmChange, AlarmEffect, AlarmRecord, AlarmScope, AlarmState, BakeWindow,
    Plan, RolloutState, Staged,
};
pub use serving::{
    mean_abs_diff, refresh, top_k_overlap, Loader, RefreshGate, RefreshReport, ServingSet, Slot,
    Variant,
};
pub use validate::{
    load_for_serving, load_for_serving_timed, validate_bundle, validate_source, LoadTimes,
    Rejected, Validated,
};

/// EMF metric names of the registry's life cycle (dimension `Function`).
pub mod metric {
    /// reload: a bundle failed validation or the quality gate (the `ModelRejected` alarm
    /// watches it).
    pub const MODEL_REJECTED: &str = "ModelRejected";
    /// reload: a version became active, candidate or shadow.
    pub const MODEL_PROMOTED: &str = "ModelPromoted";
    /// recommend/valuation: a warm container now serves another set of models.
    pub const MODEL_SWAP: &str = "ModelSwap";
    /// recommend/valuation: a bundle named by the registry could not be loaded; the container
    /// keeps what it serves.
    pub const MODEL_LOAD_FAILED: &str = "ModelLoadFailed";
    /// recommend/valuation: mean absolute difference between the served and shadow scores.
    pub const SHADOW_SCORE_DELTA: &str = "ShadowScoreDelta";
    /// recommend: |top-k ∩ shadow top-k| / k.
    pub const SHADOW_TOPK_OVERLAP: &str = "ShadowTopKOverlap";
    /// reload: an alarm cleared a candidate or rolled an active version back
    /// ([`super::rollout`]).
    pub const MODEL_ROLLED_BACK: &str = "ModelRolledBack";

    /// Describes the counters of a registry-following function (recommend, valuation) and
    /// publishes them at 0, so the `model-load-failed` alarm and the dashboard have data
    /// from the first flush rather than "insufficient data".
    pub fn describe_serving() {
        metrics::describe_counter!(MODEL_SWAP, metrics::Unit::Count, "model sets swapped in");
        metrics::describe_counter!(
            MODEL_LOAD_FAILED,
            metrics::Unit::Count,
            "registry models that failed to load"
        );
        metrics::counter!(MODEL_SWAP).increment(0);
        metrics::counter!(MODEL_LOAD_FAILED).increment(0);
    }
}
