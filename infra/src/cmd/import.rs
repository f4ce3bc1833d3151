//! `warmstart import <model.txt> --name <name> --out <dir>`: a LightGBM model trained anywhere
//! as a `generic` bundle (see `train::import`).

use crate::train::bundle_out::{parse_version, OutArgs};
use crate::train::import;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The LightGBM text model (save_model output of Python, the CLI or lightgbm3; v3 or v4).
    pub model: PathBuf,
    /// Bundle (model) name, also the S3 key segment: letters, digits, `.`, `_`, `-`.
    #[arg(long, value_parser = parse_version)]
    pub name: String,
    /// Golden rows from this headed CSV (columns named like the model's features; categorical
    /// strings allowed when the model lists its categories; empty or NA = missing) [default:
    /// rows drawn from the model's feature_infos ranges]. Edge rows are always added.
    #[arg(long)]
    pub rows: Option<PathBuf>,
    /// Holdout metrics to record: a JSON object of finite numbers, plus an optional `auc`
    /// object per output code, e.g. {"rmse": 1.2, "holdout_rows": 500}.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    #[command(flatten)]
    pub bundle: OutArgs,
}

pub fn run(a: Args) -> Result<()> {
    import::run(&import::Options {
        model: a.model,
        name: a.name,
        rows: a.rows,
        metrics: a.metrics,
        bundle: a.bundle,
    })?;
    Ok(())
}
