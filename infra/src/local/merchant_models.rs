//! The local stack's two generic models, trained from `warmstart examples merchant` data:
//! `cashflow-forecast` (regression) and `compliance-risk` (binary). Small (2,000 rows, 40
//! trees) so a first `make run` spends a few seconds on them; cached like the others.

use super::{bundle, say, UpArgs};
use crate::data::csv_table::Task;
use crate::data::merchant;
use crate::train::bundle_out::OutArgs;
use crate::train::generic;
use anyhow::Result;
use std::path::{Path, PathBuf};

const ROWS: usize = 2000;

/// (bundle name, CSV, target, objective).
pub const MODELS: [(&str, &str, &str, Task); 2] = [
    (
        "cashflow-forecast",
        "cashflow.csv",
        "next_month_net_cash_flow",
        Task::Regression,
    ),
    (
        "compliance-risk",
        "compliance.csv",
        "compliance_risk",
        Task::Binary,
    ),
];

/// The cached or freshly trained bundles (the predict function serves them). With
/// `--no-train` and no cache they are skipped rather than an error: the other functions do
/// not need them.
pub fn bundles(args: &UpArgs, cache: &Path) -> Result<Vec<PathBuf>> {
    let data = cache.join("merchant-data");
    let mut out = Vec::new();
    for (name, file, target, task) in MODELS {
        let dir = cache.join(name);
        if args.no_train && !dir.join(warmstart_core::bundle::MANIFEST_FILE).is_file() {
            say(format!(
                "{name}: no cached bundle and --no-train; not published"
            ));
            continue;
        }
        out.push(bundle(None, &dir, name, args.no_train, |out| {
            let csv = data.join(file);
            if !csv.is_file() {
                merchant::write(&data, &merchant::generate(ROWS, args.seed))?;
            }
            generic::run(&generic::Options {
                csv,
                target: target.into(),
                task,
                categorical: vec![],
                drop: vec!["merchant_id".into()],
                name: Some(name.into()),
                trees: 40,
                leaves: 15,
                learning_rate: 0.1,
                seed: args.seed,
                bundle: OutArgs::overwrite(out),
            })
        })?);
    }
    Ok(out)
}
