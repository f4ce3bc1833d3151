//! `warmstart train generic`: a LightGBM model on any headed CSV (binary, regression or
//! multiclass), evaluated on a 20% holdout against a constant baseline and packaged as a
//! `generic` bundle. String columns become categorical features whose categories the
//! manifest lists, so requests can send the strings.

use crate::data::csv_table::{EncodedColumn, Table, Task};
use crate::train::bundle_out::{self, OutArgs};
use crate::train::generic_bundle::{self, GenericBundle};
use crate::train::lgbm::{self, Params};
use crate::train::{lgbm_capi, metrics};
use crate::util::progress;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use warmstart_core::bundle::{sha256_hex, Manifest, Metrics};
use warmstart_core::Model;

/// Fewer rows than this leave too little to both train and measure a holdout.
pub const MIN_ROWS: usize = 50;
const HOLDOUT_PERCENT: u64 = 20;
const GOLDEN_ROWS: usize = 32;

#[derive(Debug, Clone)]
pub struct Options {
    pub csv: PathBuf,
    pub target: String,
    pub task: Task,
    pub categorical: Vec<String>,
    pub drop: Vec<String>,
    /// Bundle name [default: the CSV's file stem].
    pub name: Option<String>,
    pub trees: u32,
    pub leaves: u32,
    pub learning_rate: f64,
    pub seed: u64,
    pub bundle: OutArgs,
}

/// Whether row `i` is held out: a seeded splitmix hash, so the split is fixed per seed.
pub fn held_out(seed: u64, i: usize) -> bool {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100 < HOLDOUT_PERCENT
}

/// The feature columns: every column but the target and `--drop`, in file order.
fn features(table: &Table, opts: &Options, target: usize) -> Result<Vec<EncodedColumn>> {
    let mut skip = vec![target];
    for d in &opts.drop {
        skip.push(table.column(d, "--drop")?);
    }
    let mut forced = Vec::new();
    for c in &opts.categorical {
        let i = table.column(c, "--categorical")?;
        if skip.contains(&i) {
            bail!("--categorical `{c}` is the target or dropped");
        }
        forced.push(i);
    }
    let cols: Vec<EncodedColumn> = (0..table.headers.len())
        .filter(|i| !skip.contains(i))
        .map(|i| table.encode(i, forced.contains(&i)))
        .collect();
    if cols.is_empty() {
        bail!("{}: no feature columns left", table.source);
    }
    for c in cols
        .iter()
        .filter(|c| c.categories.len() > table.rows.len() / 2)
    {
        println!(
            "note: `{}` has {} distinct strings in {} rows; if it is an id, --drop it",
            c.name,
            c.categories.len(),
            table.rows.len()
        );
    }
    Ok(cols)
}

/// Holdout metrics of the model (`pred`, row-major, `k` per row) and of the constant
/// baseline from the training labels, printed as a table.
fn evaluate(
    task: Task,
    pred: &[f64],
    k: usize,
    test_y: &[f32],
    train_y: &[f32],
) -> Result<Metrics> {
    let mut m = Metrics {
        holdout_rows: Some(test_y.len() as u64),
        ..Metrics::default()
    };
    let mut rows: Vec<(&str, f64, f64)> = Vec::new();
    match task {
        Task::Binary => {
            let y: Vec<bool> = test_y.iter().map(|&l| l == 1.0).collect();
            let prior = train_y.iter().map(|&l| l as f64).sum::<f64>() / train_y.len() as f64;
            let auc = metrics::auc(pred, &y)
                .context("the holdout has a single class; AUC is undefined (more rows?)")?;
            m.auc.insert(generic_bundle::PREDICTION.into(), auc);
            rows.push(("auc", auc, 0.5));
            let base = vec![prior; y.len()];
            rows.push((
                "logloss",
                metrics::logloss(pred, &y),
                metrics::logloss(&base, &y),
            ));
        }
        Task::Regression => {
            let truth: Vec<f64> = test_y.iter().map(|&l| l as f64).collect();
            let mean = train_y.iter().map(|&l| l as f64).sum::<f64>() / train_y.len() as f64;
            let (rmse, mae, r2) = metrics::regression(pred, &truth);
            let (b_rmse, b_mae, b_r2) = metrics::regression(&vec![mean; truth.len()], &truth);
            rows.extend([
                ("rmse", rmse, b_rmse),
                ("mae", mae, b_mae),
                ("r2", r2, b_r2),
            ]);
        }
        Task::Multiclass => {
            let y: Vec<usize> = test_y.iter().map(|&l| l as usize).collect();
            let mut prior = vec![0.0; k];
            for &l in train_y {
                prior[l as usize] += 1.0 / train_y.len() as f64;
            }
            let base: Vec<f64> = y.iter().flat_map(|_| prior.iter().copied()).collect();
            rows.push((
                "multi_logloss",
                metrics::multi_logloss(pred, k, &y),
                metrics::multi_logloss(&base, k, &y),
            ));
            rows.push((
                "accuracy",
                metrics::accuracy(pred, k, &y),
                metrics::accuracy(&base, k, &y),
            ));
        }
    }
    println!();
    println!(
        "{:<16} {:>10} {:>10}",
        format!("holdout ({})", test_y.len()),
        "model",
        "baseline"
    );
    let (_, first, first_base) = rows[0];
    let better = if task == Task::Binary {
        first > first_base
    } else {
        first < first_base
    };
    for (name, model, base) in rows {
        println!("{name:<16} {model:>10.4} {base:>10.4}");
        if name != "auc" {
            m.other.insert(name.into(), model);
        }
        m.other.insert(format!("baseline_{name}"), base);
    }
    if !better {
        println!("warning: the model does not beat the constant baseline");
    }
    Ok(m)
}

/// Golden rows: held-out rows, each feature missing in turn, one row all missing and one
/// with every categorical feature at a category the model never saw.
fn golden_rows(cols: &[EncodedColumn], test: &[usize]) -> Vec<Vec<f64>> {
    let nf = cols.len();
    let mut rows: Vec<Vec<f64>> = generic_bundle::spread(test.len(), GOLDEN_ROWS)
        .map(|i| cols.iter().map(|c| c.values[test[i]]).collect())
        .collect();
    for (g, row) in rows.iter_mut().enumerate() {
        if g < nf.min(GOLDEN_ROWS - 2) {
            row[g] = f64::NAN;
        } else if g == GOLDEN_ROWS - 2 {
            row.iter_mut().for_each(|x| *x = f64::NAN);
        } else if g == GOLDEN_ROWS - 1 {
            for (x, c) in row.iter_mut().zip(cols).filter(|(_, c)| c.categorical) {
                let max = c
                    .values
                    .iter()
                    .filter(|v| !v.is_nan())
                    .fold(0.0f64, |a, &b| a.max(b));
                *x = max.max(c.categories.len() as f64) + 1.0;
            }
        }
    }
    rows
}

/// Trains, evaluates, writes and verifies the bundle.
pub fn run(opts: &Options) -> Result<Manifest> {
    let started = Instant::now();
    let table = Table::read(&opts.csv)?;
    if table.rows.len() < MIN_ROWS {
        bail!(
            "{}: {} data rows; at least {MIN_ROWS} are needed to train and hold out \
             {HOLDOUT_PERCENT}%",
            table.source,
            table.rows.len()
        );
    }
    let target_col = table.column(&opts.target, "--target")?;
    let cols = features(&table, opts, target_col)?;
    let target = table.target(target_col, opts.task)?;
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => opts
            .csv
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into()),
    };
    bundle_out::prepare_out_dir(&opts.bundle.out, opts.bundle.force)?;
    let n = table.rows.len();
    let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| !held_out(opts.seed, i));
    if train.is_empty() || test.is_empty() {
        bail!("{n} rows are too few to hold out {HOLDOUT_PERCENT}%");
    }
    let nf = cols.len();
    let names: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let categorical: Vec<usize> = (0..nf).filter(|&f| cols[f].categorical).collect();
    println!(
        "{}: {n} rows, {nf} features ({} categorical: {}), target `{}` ({}): {} for training, \
         {} held out",
        table.source,
        categorical.len(),
        categorical
            .iter()
            .map(|&f| names[f].as_str())
            .collect::<Vec<_>>()
            .join(", "),
        opts.target,
        opts.task.objective(),
        train.len(),
        test.len()
    );
    let matrix = |idx: &[usize]| -> Vec<f64> {
        idx.iter()
            .flat_map(|&i| cols.iter().map(move |c| c.values[i]))
            .collect()
    };
    let labels = |idx: &[usize]| -> Vec<f32> { idx.iter().map(|&i| target.labels[i]).collect() };
    let (train_x, train_y, test_x, test_y) =
        (matrix(&train), labels(&train), matrix(&test), labels(&test));

    let min_leaf = lgbm::min_data_in_leaf(train.len());
    let mut params = Params {
        objective: opts.task.objective(),
        trees: opts.trees,
        leaves: opts.leaves,
        learning_rate: opts.learning_rate,
        min_data_in_leaf: min_leaf,
        seed: opts.seed,
    }
    .to_json();
    // LightGBM's default (100 rows per category group) forbids categorical splits on small data.
    params["min_data_per_group"] = min_leaf.into();
    if opts.task == Task::Multiclass {
        params["num_class"] = target.classes.len().into();
    }
    let t = Instant::now();
    let pb = progress::bar(u64::from(opts.trees), "training", "trees");
    let text = lgbm_capi::train_text(&train_x, &train_y, &names, &categorical, &params, || {
        pb.inc(1)
    })
    .context("training")?;
    pb.finish_and_clear();
    let model = Model::parse(&text).context("the native scorer cannot read the trained model")?;
    println!(
        "trained {} trees in {:.1}s ({} leaves, learning rate {})",
        model.num_trees(),
        t.elapsed().as_secs_f64(),
        opts.leaves,
        opts.learning_rate
    );
    let k = model.num_outputs();
    let mut pred = vec![0.0; test.len() * k];
    model.predict_batch_into(&test_x, &mut pred)?;
    let metrics = evaluate(opts.task, &pred, k, &test_y, &train_y)?;

    let csv_bytes = std::fs::read(&opts.csv)?;
    let mut training: BTreeMap<String, Value> = BTreeMap::new();
    let file_name = opts
        .csv
        .file_name()
        .map(|f| f.to_string_lossy().into_owned());
    training.insert(
        "source".into(),
        format!("csv:{}", file_name.unwrap_or_default()).into(),
    );
    training.insert("source_sha256".into(), sha256_hex(&csv_bytes).into());
    training.insert("objective".into(), opts.task.objective().into());
    training.insert("target".into(), opts.target.clone().into());
    if !target.classes.is_empty() {
        training.insert("classes".into(), target.classes.clone().into());
    }
    if !opts.drop.is_empty() {
        training.insert("dropped".into(), opts.drop.clone().into());
    }
    training.insert("rows".into(), n.into());
    training.insert("train_rows".into(), train.len().into());
    training.insert(
        "holdout".into(),
        format!("{HOLDOUT_PERCENT}% of rows (seeded hash)").into(),
    );
    training.insert(
        "baseline".into(),
        "constant prediction from the training split".into(),
    );
    training.insert("seed".into(), opts.seed.into());
    training.insert("params".into(), params);
    training.insert(
        "lightgbm_version".into(),
        generic_bundle::header(&text, "version")
            .unwrap_or("")
            .into(),
    );
    let class_names = if target.named && opts.task == Task::Multiclass {
        target.classes.clone()
    } else {
        Vec::new()
    };
    let bundle = generic_bundle::write(
        &opts.bundle,
        GenericBundle {
            name: &name,
            text: &text,
            categories: cols.iter().map(|c| c.categories.clone()).collect(),
            class_names,
            golden_rows: golden_rows(&cols, &test),
            metrics,
            training,
        },
    )?;
    let m = bundle.manifest();
    println!(
        "\nwrote {} ({}, version {}); reloaded: checksums ok, golden rows {}/{} bit-identical \
         (native scorer = LightGBM); total {:.1}s",
        opts.bundle.out.display(),
        m.name,
        m.version,
        m.golden.len(),
        m.golden.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(m.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_is_about_a_fifth_and_depends_on_the_seed() {
        let a: Vec<bool> = (0..1000).map(|i| held_out(1, i)).collect();
        let share = a.iter().filter(|&&h| h).count();
        assert!((150..250).contains(&share), "{share}");
        let b: Vec<bool> = (0..1000).map(|i| held_out(2, i)).collect();
        assert_ne!(a, b);
        assert_eq!(a, (0..1000).map(|i| held_out(1, i)).collect::<Vec<_>>());
    }

    #[test]
    fn golden_rows_hold_missing_and_unseen_values() {
        let cols = vec![
            EncodedColumn {
                name: "x".into(),
                categorical: false,
                categories: vec![],
                values: (0..40).map(f64::from).collect(),
            },
            EncodedColumn {
                name: "shop".into(),
                categorical: true,
                categories: vec!["a".into(), "b".into()],
                values: (0..40).map(|i| f64::from(i % 2)).collect(),
            },
        ];
        let test: Vec<usize> = (0..40).step_by(4).collect();
        let g = golden_rows(&cols, &test);
        assert_eq!(g.len(), GOLDEN_ROWS);
        assert!(g[0][0].is_nan() && !g[0][1].is_nan());
        assert!(g[1][1].is_nan());
        assert!(g[GOLDEN_ROWS - 2].iter().all(|x| x.is_nan()));
        assert_eq!(g[GOLDEN_ROWS - 1][1], 3.0);
        assert!(!g[GOLDEN_ROWS - 1][0].is_nan());
    }
}
