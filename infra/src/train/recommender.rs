//! `warmstart train recommender`: 24 per-product LightGBM models ("will this customer add
//! product p next month?"), evaluated on a holdout, packaged as a verified bundle.

use crate::data::examples::{self, Examples};
use crate::data::panel::{owns, product_indices, MonthDate, Panel};
use crate::data::santander;
use crate::data::synthetic::{self, SyntheticConfig};
use crate::train::bundle_out;
use crate::train::lgbm::{self, Params};
use crate::train::metrics::{self, MeanAp};
use crate::util::progress;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use warmstart_core::bundle::{GoldenRow, Manifest, Metrics, Rollout};
use warmstart_core::recommend::{
    feature_names, popular, product_index, top_k, NUM_FEATURES, NUM_PRODUCTS, PRODUCTS,
};
use warmstart_core::Model;
use warmstart_devkit::bundles::{recommender_manifest, recommender_model_path};

pub const BUNDLE_NAME: &str = warmstart_devkit::bundles::RECOMMENDER_NAME;
/// Golden rows written into the manifest.
pub const GOLDEN_ROWS: usize = 32;
/// Share of synthetic customers held out.
const HOLDOUT_PERCENT: u64 = 20;
/// Recommendations per customer scored by MAP@k.
const K: usize = 7;

#[derive(Debug, Clone)]
pub enum DataSource {
    Synthetic(SyntheticConfig),
    /// A Santander `train_ver2.csv`; `months` keeps only the last months of it.
    Csv {
        path: PathBuf,
        months: Option<usize>,
    },
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source: DataSource,
    pub out: PathBuf,
    pub trees: u32,
    pub leaves: u32,
    pub learning_rate: f64,
    pub seed: u64,
    pub version: Option<String>,
    pub rollout: Option<Rollout>,
    pub force: bool,
}

/// How the holdout was chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Holdout {
    /// Train on earlier target months, evaluate on the last: what production does.
    LastMonth(MonthDate),
    /// Evaluate on a fixed share of customers (all their months), train on the others.
    Customers,
}

impl Holdout {
    fn describe(self) -> String {
        match self {
            Holdout::LastMonth(m) => format!("last target month ({}-{:02})", m.year, m.month),
            Holdout::Customers => format!("{HOLDOUT_PERCENT}% of customers (all their months)"),
        }
    }
}

/// splitmix64: a fixed, well-mixed hash so the customer split does not depend on the seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn split(ex: &Examples, holdout: Holdout) -> (Vec<usize>, Vec<usize>) {
    (0..ex.len()).partition(|&i| {
        let m = &ex.meta[i];
        match holdout {
            Holdout::LastMonth(last) => m.target != last,
            Holdout::Customers => mix(m.customer) % 100 >= HOLDOUT_PERCENT,
        }
    })
}

/// Loads the panel from the chosen source and describes it for the manifest.
fn load(source: &DataSource, training: &mut BTreeMap<String, serde_json::Value>) -> Result<Panel> {
    let t = Instant::now();
    let panel = match source {
        DataSource::Synthetic(cfg) => {
            let pb = progress::bar(cfg.customers as u64, "generating", "customers");
            let panel = synthetic::generate_with_progress(cfg, |n| pb.set_position(n));
            pb.finish_and_clear();
            println!(
                "generated {} synthetic customers over {} months (seed {}) in {:.1}s",
                cfg.customers,
                cfg.months,
                cfg.seed,
                t.elapsed().as_secs_f64()
            );
            training.insert("source".into(), "synthetic".into());
            training.insert("rejected_rows".into(), 0.into());
            panel
        }
        DataSource::Csv { path, months } => {
            let len = std::fs::metadata(path)
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            let pb = progress::bytes(len, "parsing");
            let report = santander::parse_file(path, |b| pb.set_position(b))?;
            pb.finish_and_clear();
            println!(
                "parsed {} rows of {} in {:.1}s; {}",
                report.rows,
                path.display(),
                t.elapsed().as_secs_f64(),
                report.rejected_summary()
            );
            training.insert("source".into(), format!("csv:{}", path.display()).into());
            training.insert("csv_rows".into(), report.rows.into());
            training.insert("rejected_rows".into(), report.rejected.into());
            let mut panel = report.panel;
            if let Some(m) = months {
                panel.keep_last_months(*m);
            }
            panel
        }
    };
    Ok(panel)
}

/// Trains, evaluates, writes and verifies the recommender bundle.
pub fn run(opts: &Options) -> Result<Manifest> {
    let started = Instant::now();
    bundle_out::prepare_out_dir(&opts.out, opts.force)?;
    let mut training: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let panel = load(&opts.source, &mut training)?;
    let months = panel.months();
    let customers = panel.num_customers();
    if months.len() < 3 {
        bail!(
            "the data holds {} month{} ({}); building training examples needs at least 3 \
             consecutive months (the predicted month t, t-1 for the profile, t-2 for the \
             lag-2 ownership)",
            months.len(),
            if months.len() == 1 { "" } else { "s" },
            months
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "{} records, {customers} customers, {} months ({} to {})",
        panel.records.len(),
        months.len(),
        months[0],
        months[months.len() - 1]
    );

    // Examples.
    let t = Instant::now();
    let pb = progress::bar(customers as u64, "examples", "customers");
    let ex = examples::build(&panel, |n| pb.set_position(n));
    pb.finish_and_clear();
    drop(panel);
    if ex.is_empty() {
        bail!(
            "no training examples: no customer has records in three consecutive months \
             (t-2, t-1, t)"
        );
    }
    let last_target = ex.meta.iter().map(|m| m.target).max().expect("not empty");
    let first_target = ex.meta.iter().map(|m| m.target).min().expect("not empty");
    let holdout = match opts.source {
        DataSource::Csv { .. } if first_target != last_target => Holdout::LastMonth(last_target),
        _ => Holdout::Customers,
    };
    let (train_idx, test_idx) = split(&ex, holdout);
    if train_idx.is_empty() || test_idx.is_empty() {
        bail!(
            "{} examples are too few to hold out {}",
            ex.len(),
            holdout.describe()
        );
    }
    let test = ex.select(&test_idx);
    println!(
        "{} examples in {:.1}s: {} for training, {} held out ({})",
        ex.len(),
        t.elapsed().as_secs_f64(),
        train_idx.len(),
        test.len(),
        holdout.describe()
    );

    // Popularity: share of training customer-months adding each product.
    let mut train_pos = [0u64; NUM_PRODUCTS];
    for &i in &train_idx {
        for p in product_indices(ex.meta[i].added) {
            train_pos[p] += 1;
        }
    }
    let base_rates: Vec<f64> = train_pos
        .iter()
        .map(|&n| n as f64 / train_idx.len() as f64)
        .collect();

    // Golden rows (held-out rows, some with values deliberately missing), chosen before
    // training so each model is checked against LightGBM as soon as it is trained and the
    // booster (which holds training buffers) can be dropped.
    let golden = golden_rows(&test)?;
    let mut golden_flat = Vec::with_capacity(golden.len() * NUM_FEATURES);
    for g in &golden {
        golden_flat.extend(g.row());
    }
    let mut expected = vec![vec![0.0; NUM_PRODUCTS]; golden.len()];

    // Training: one binary model per product, on the customers who did not own it at t-1
    // (only they can add it; owners are excluded from ranking anyway).
    let names = feature_names();
    let params = Params {
        objective: "binary",
        trees: opts.trees,
        leaves: opts.leaves,
        learning_rate: opts.learning_rate,
        min_data_in_leaf: lgbm::min_data_in_leaf(train_idx.len()),
        seed: opts.seed,
    };
    let params_json = params.to_json();
    let t = Instant::now();
    let pb = progress::bar(NUM_PRODUCTS as u64, "training", "models");
    let mut files: Vec<(String, Vec<u8>)> = Vec::with_capacity(NUM_PRODUCTS);
    let mut natives: Vec<Model> = Vec::with_capacity(NUM_PRODUCTS);
    for (p, (code, _)) in PRODUCTS.iter().enumerate() {
        pb.set_message(*code);
        let mut idx: Vec<usize> = train_idx
            .iter()
            .copied()
            .filter(|&i| !owns(ex.meta[i].owned, p))
            .collect();
        if idx.is_empty() {
            // Everyone owns it: a constant model on all rows keeps the bundle complete.
            idx = train_idx.clone();
        }
        let mut rows = Vec::with_capacity(idx.len() * NUM_FEATURES);
        let mut labels = Vec::with_capacity(idx.len());
        for &i in &idx {
            rows.extend_from_slice(ex.row(i));
            labels.push(if owns(ex.meta[i].added, p) { 1.0 } else { 0.0 });
        }
        let booster = lgbm::train(&rows, &labels, &names, &params_json)
            .with_context(|| format!("training {code}"))?;
        drop(rows);
        let text = lgbm::model_text(&booster)?;
        let native = Model::parse(&text)
            .with_context(|| format!("the native scorer cannot read the {code} model"))?;
        lgbm::check_parity(&booster, &native, &golden_flat, code)?;
        drop(booster);
        for (row, out) in golden_flat.chunks_exact(NUM_FEATURES).zip(&mut expected) {
            out[p] = native.predict(row)?[0];
        }
        files.push((recommender_model_path(code), text.into_bytes()));
        natives.push(native);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let train_secs = t.elapsed().as_secs_f64();
    println!(
        "trained {NUM_PRODUCTS} models in {train_secs:.1}s ({} trees, {} leaves, learning rate {})",
        opts.trees, opts.leaves, opts.learning_rate
    );
    drop(ex);

    // Evaluation with the native scorer (what serves).
    let t = Instant::now();
    let pb = progress::bar(NUM_PRODUCTS as u64, "evaluating", "models");
    let n = test.len();
    let mut scores = vec![0.0; n * NUM_PRODUCTS];
    let mut column = vec![0.0; n];
    for (p, model) in natives.iter().enumerate() {
        model.predict_batch_into(&test.rows, &mut column)?;
        for (i, s) in column.iter().enumerate() {
            scores[i * NUM_PRODUCTS + p] = *s;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut auc = BTreeMap::new();
    let mut test_pos = [0u64; NUM_PRODUCTS];
    for (p, (code, _)) in PRODUCTS.iter().enumerate() {
        let (mut s, mut l) = (Vec::new(), Vec::new());
        for (i, m) in test.meta.iter().enumerate() {
            if !owns(m.owned, p) {
                s.push(scores[i * NUM_PRODUCTS + p]);
                l.push(owns(m.added, p));
            }
        }
        test_pos[p] = l.iter().filter(|&&x| x).count() as u64;
        if let Some(a) = metrics::auc(&s, &l) {
            auc.insert(code.to_string(), a);
        }
    }
    let (mut model_map, mut base_map) = (MeanAp::default(), MeanAp::default());
    let ranked = |recs: Vec<warmstart_core::recommend::Recommendation>| -> Vec<usize> {
        recs.iter()
            .map(|r| product_index(r.product).expect("known product"))
            .collect()
    };
    for (i, m) in test.meta.iter().enumerate() {
        if m.added == 0 {
            continue;
        }
        let actual: Vec<usize> = product_indices(m.added).collect();
        let row_scores = &scores[i * NUM_PRODUCTS..(i + 1) * NUM_PRODUCTS];
        let by_model = ranked(top_k(row_scores, product_indices(m.owned), K, false));
        let by_popularity = ranked(popular(&base_rates, product_indices(m.owned), K, false));
        model_map.add(metrics::apk(&by_model, &actual, K));
        base_map.add(metrics::apk(&by_popularity, &actual, K));
    }
    let eval_secs = t.elapsed().as_secs_f64();

    let golden: Vec<GoldenRow> = golden
        .into_iter()
        .zip(expected)
        .map(|(g, e)| GoldenRow {
            features: g.features,
            expected: e,
        })
        .collect();

    // Manifest.
    let (created_at, stamp) = bundle_out::now();
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| bundle_out::default_version(&stamp, &files));
    training.insert("customers".into(), customers.into());
    training.insert("rows".into(), (train_idx.len() + n).into());
    training.insert("train_rows".into(), train_idx.len().into());
    training.insert("holdout".into(), holdout.describe().into());
    training.insert(
        "months".into(),
        months
            .iter()
            .map(|m| format!("{}-{:02}", m.year, m.month))
            .collect::<Vec<_>>()
            .into(),
    );
    training.insert("seed".into(), opts.seed.into());
    training.insert("params".into(), params_json.clone());
    training.insert(
        "per_product_rows".into(),
        "rows where the product was not owned at t-1".into(),
    );
    training.insert(
        "train_seconds".into(),
        ((train_secs * 10.0).round() / 10.0).into(),
    );
    let mut other = BTreeMap::new();
    other.insert("map_at_7_customers".into(), model_map.count() as f64);
    let manifest = Manifest {
        metrics: Metrics {
            auc: auc.clone(),
            map_at_7: model_map.mean(),
            baseline_map_at_7: base_map.mean(),
            holdout_rows: Some(n as u64),
            other,
        },
        base_rates,
        golden,
        rollout: opts.rollout,
        training,
        ..recommender_manifest(&version, &created_at)
    };

    // Report.
    println!();
    println!(
        "{:<20} {:<24} {:>9} {:>9} {:>7}",
        "product", "name", "train+", "holdout+", "AUC"
    );
    for (p, (code, name)) in PRODUCTS.iter().enumerate() {
        let a = auc
            .get(*code)
            .map_or("-".to_string(), |a| format!("{a:.4}"));
        println!(
            "{code:<20} {name:<24} {:>9} {:>9} {a:>7}",
            train_pos[p], test_pos[p]
        );
    }
    println!();
    let show = |m: Option<f64>| m.map_or("n/a".into(), |v| format!("{v:.4}"));
    println!(
        "MAP@7 on {} held-out customer-months with at least one added product: model {}, \
         popularity baseline {}",
        model_map.count(),
        show(model_map.mean()),
        show(base_map.mean())
    );
    if let (Some(m), Some(b)) = (model_map.mean(), base_map.mean()) {
        if m <= b {
            println!("warning: the model does not beat the popularity baseline");
        }
    }
    println!("evaluated in {eval_secs:.1}s");

    let bundle = bundle_out::write_and_verify(&opts.out, manifest, &files)?;
    // The reloaded bundle must score held-out rows exactly as evaluated.
    let mut out = vec![0.0; NUM_PRODUCTS];
    for i in (0..n).step_by((n / 50).max(1)) {
        bundle.score_into(test.row(i), &mut out)?;
        let want = &scores[i * NUM_PRODUCTS..(i + 1) * NUM_PRODUCTS];
        if out
            .iter()
            .zip(want)
            .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            bail!("the reloaded bundle scores held-out row {i} differently from the evaluation");
        }
    }
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    println!(
        "wrote {} (version {}): {} models, {:.1} MB; reloaded: checksums ok, golden rows \
         {}/{} bit-identical (native scorer = LightGBM); total {:.1}s",
        opts.out.display(),
        bundle.version(),
        files.len(),
        bytes as f64 / 1e6,
        bundle.manifest().golden.len(),
        bundle.manifest().golden.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(bundle.manifest().clone())
}

/// [`GOLDEN_ROWS`] rows spread over the holdout (repeated with other missing values if it is
/// smaller), several with values deliberately missing: income, age, seniority, segment, a
/// whole profile, and one row that is missing everything.
fn golden_rows(test: &Examples) -> Result<Vec<GoldenRow>> {
    let n = test.len();
    if n == 0 {
        bail!("no held-out rows for golden rows");
    }
    let names = feature_names();
    let col = |name: &str| names.iter().position(|x| x == name).expect("known feature");
    let (age, antiguedad, renta, segmento) =
        (col("age"), col("antiguedad"), col("renta"), col("segmento"));
    let profile = col("month");
    let mut rows = Vec::with_capacity(GOLDEN_ROWS);
    for g in 0..GOLDEN_ROWS {
        let i = if n >= GOLDEN_ROWS {
            g * n / GOLDEN_ROWS
        } else {
            g % n
        };
        let mut row = test.row(i).to_vec();
        let missing: Vec<usize> = match g {
            0..=3 => vec![renta],
            4..=6 => vec![age],
            7 | 8 => vec![age, antiguedad, renta, segmento],
            9 => (0..=profile).collect(),
            10 => (0..NUM_FEATURES).collect(),
            // Small holdouts repeat rows: a different ownership flag missing in each repeat
            // keeps every golden row distinct.
            _ if g >= n => vec![profile + 1 + g % (NUM_FEATURES - profile - 1)],
            _ => vec![],
        };
        for c in missing {
            row[c] = f64::NAN;
        }
        rows.push(GoldenRow {
            features: row.iter().map(|&x| (!x.is_nan()).then_some(x)).collect(),
            expected: vec![],
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::examples::ExampleMeta;

    fn examples(n: usize) -> Examples {
        let mut ex = Examples::default();
        for i in 0..n {
            ex.rows
                .extend((0..NUM_FEATURES).map(|c| (i * 100 + c) as f64));
            ex.meta.push(ExampleMeta {
                customer: i as u64,
                target: MonthDate::new(2016, 1 + (i % 3) as u8, 28),
                owned: 0,
                added: 0,
            });
        }
        ex
    }

    #[test]
    fn golden_rows_include_missing_values_and_are_distinct() {
        for n in [5, 100] {
            let g = golden_rows(&examples(n)).unwrap();
            assert_eq!(g.len(), GOLDEN_ROWS);
            assert!(g[0].features[2].is_none(), "renta missing");
            assert!(g[10].features.iter().all(Option::is_none));
            let complete = g
                .iter()
                .filter(|r| r.features.iter().all(Option::is_some))
                .count();
            assert_eq!(
                complete,
                if n >= GOLDEN_ROWS {
                    GOLDEN_ROWS - 11
                } else {
                    0
                }
            );
            for a in 0..g.len() {
                for b in a + 1..g.len() {
                    let same = g[a]
                        .features
                        .iter()
                        .zip(&g[b].features)
                        .all(|(x, y)| x.map(f64::to_bits) == y.map(f64::to_bits));
                    assert!(!same, "rows {a} and {b} (n={n})");
                }
            }
        }
    }

    #[test]
    fn time_split_holds_out_the_last_month_and_customer_split_whole_customers() {
        let ex = examples(300);
        let last = MonthDate::new(2016, 3, 28);
        let (train, test) = split(&ex, Holdout::LastMonth(last));
        assert!(test.iter().all(|&i| ex.meta[i].target == last));
        assert!(train.iter().all(|&i| ex.meta[i].target < last));
        let (train, test) = split(&ex, Holdout::Customers);
        assert_eq!(train.len() + test.len(), 300);
        assert!((30..90).contains(&test.len()), "{}", test.len());
        let held: std::collections::HashSet<u64> =
            test.iter().map(|&i| ex.meta[i].customer).collect();
        assert!(train.iter().all(|&i| !held.contains(&ex.meta[i].customer)));
    }
}
