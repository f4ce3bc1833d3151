//! `warmstart import <model.txt> --name <name> --out <dir>`: a LightGBM model trained anywhere
//! as a `generic` bundle (see `train::import`).

use crate::cmd::train::{parse_rollout, parse_version};
use crate::train::import;
use anyhow::Result;
use std::path::PathBuf;
use warmstart_core::bundle::Rollout;

#[derive(clap::Args)]
pub struct Args {
    /// The LightGBM text model (save_model output of Python, the CLI or lightgbm3; v3 or v4).
    pub model: PathBuf,
    /// Bundle (model) name, also the S3 key segment: letters, digits, `.`, `_`, `-`.
    #[arg(long, value_parser = parse_version)]
    pub name: String,
    /// Output directory for the bundle (models/ and manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Golden rows from this headed CSV (columns named like the model's features; categorical
    /// strings allowed when the model lists its categories; empty or NA = missing) [default:
    /// rows drawn from the model's feature_infos ranges]. Edge rows are always added.
    #[arg(long)]
    pub rows: Option<PathBuf>,
    /// Holdout metrics to record: a JSON object of finite numbers, plus an optional `auc`
    /// object per output code, e.g. {"rmse": 1.2, "holdout_rows": 500}.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Bundle version [default: <UTC time>-<8 hex digits of the model's sha256>].
    #[arg(long, value_parser = parse_version)]
    pub version: Option<String>,
    /// How the reload function promotes this version: immediate, canary:<percent> or shadow.
    #[arg(long, value_parser = parse_rollout)]
    pub rollout: Option<Rollout>,
    /// Overwrite a bundle already in --out.
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: Args) -> Result<()> {
    import::run(&import::Options {
        model: a.model,
        name: a.name,
        out: a.out,
        rows: a.rows,
        metrics: a.metrics,
        version: a.version,
        rollout: a.rollout,
        force: a.force,
    })?;
    Ok(())
}
