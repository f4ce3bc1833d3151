//! `warmstart train fair-multiple`: a LightGBM regression predicting a fair P/E from a
//! company's fundamentals (contract: `warmstart_core::valuation::fair_multiple`).
//!
//! Synthetic companies: each industry has a base P/E and typical fundamentals; a company's
//! log P/E moves with its growth (saturating), ROE and margin premia over its industry, and
//! discounts for leverage, beta and a high payout, plus a size premium and noise. Every
//! fundamental is missing for a few companies. Deterministic by seed.

use crate::train::bundle_out;
use crate::train::lgbm::{self, Params};
use crate::train::metrics;
use crate::util::progress;
use anyhow::{bail, Context, Result};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use warmstart_core::bundle::{
    Feature, GoldenRow, Manifest, Metrics, ModelKind, Output, Rollout, MANIFEST_FORMAT,
};
use warmstart_core::valuation::relative::median;
use warmstart_core::valuation::{Fundamentals, FAIR_MULTIPLE_FEATURES, INDUSTRIES};
use warmstart_core::Model;

pub const BUNDLE_NAME: &str = "fair-multiple";
pub const OUTPUT_CODE: &str = "fair_pe";
pub const MODEL_PATH: &str = "models/fair_pe.txt";
const GOLDEN_ROWS: usize = 32;
const HOLDOUT_PERCENT: u64 = 20;

/// Typical fundamentals of an industry (same order as `INDUSTRIES`).
struct IndustryProfile {
    base_pe: f64,
    growth: f64,
    ebit_margin: f64,
    roe: f64,
    debt_to_equity: f64,
    beta: f64,
    payout: f64,
}

const PROFILES: [IndustryProfile; 10] = [
    // Liquor
    IndustryProfile {
        base_pe: 30.0,
        growth: 0.15,
        ebit_margin: 0.45,
        roe: 0.25,
        debt_to_equity: 0.1,
        beta: 0.9,
        payout: 0.5,
    },
    // Banking
    IndustryProfile {
        base_pe: 6.0,
        growth: 0.05,
        ebit_margin: 0.35,
        roe: 0.11,
        debt_to_equity: 8.0,
        beta: 0.7,
        payout: 0.3,
    },
    // Pharmaceuticals
    IndustryProfile {
        base_pe: 32.0,
        growth: 0.12,
        ebit_margin: 0.18,
        roe: 0.12,
        debt_to_equity: 0.3,
        beta: 1.0,
        payout: 0.3,
    },
    // Semiconductors
    IndustryProfile {
        base_pe: 55.0,
        growth: 0.25,
        ebit_margin: 0.15,
        roe: 0.09,
        debt_to_equity: 0.3,
        beta: 1.4,
        payout: 0.15,
    },
    // Real Estate
    IndustryProfile {
        base_pe: 9.0,
        growth: 0.0,
        ebit_margin: 0.12,
        roe: 0.06,
        debt_to_equity: 2.5,
        beta: 1.1,
        payout: 0.25,
    },
    // Utilities
    IndustryProfile {
        base_pe: 16.0,
        growth: 0.05,
        ebit_margin: 0.2,
        roe: 0.09,
        debt_to_equity: 1.5,
        beta: 0.6,
        payout: 0.5,
    },
    // Autos
    IndustryProfile {
        base_pe: 20.0,
        growth: 0.1,
        ebit_margin: 0.07,
        roe: 0.1,
        debt_to_equity: 0.8,
        beta: 1.2,
        payout: 0.3,
    },
    // Food & Beverage
    IndustryProfile {
        base_pe: 28.0,
        growth: 0.08,
        ebit_margin: 0.12,
        roe: 0.15,
        debt_to_equity: 0.3,
        beta: 0.8,
        payout: 0.45,
    },
    // Software
    IndustryProfile {
        base_pe: 50.0,
        growth: 0.2,
        ebit_margin: 0.12,
        roe: 0.08,
        debt_to_equity: 0.2,
        beta: 1.3,
        payout: 0.15,
    },
    // Insurance
    IndustryProfile {
        base_pe: 11.0,
        growth: 0.06,
        ebit_margin: 0.1,
        roe: 0.12,
        debt_to_equity: 6.0,
        beta: 0.9,
        payout: 0.35,
    },
];

/// One synthetic company: its fundamentals and observed P/E.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub fundamentals: Fundamentals,
    pub industry: usize,
    pub pe: f64,
}

/// Generates `n` companies; company `i` draws from ChaCha8 stream `i` of `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<Company> {
    let normal = |rng: &mut ChaCha8Rng, mean: f64, sd: f64| {
        Normal::new(mean, sd).expect("valid normal").sample(rng)
    };
    (0..n)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let industry = rng.gen_range(0..INDUSTRIES.len());
            let ip = &PROFILES[industry];
            let growth = normal(&mut rng, ip.growth, 0.15);
            let ebit = (normal(&mut rng, ip.ebit_margin, 0.06)).clamp(-0.3, 0.8);
            let net = ebit * normal(&mut rng, 0.75, 0.08);
            let roe = normal(&mut rng, ip.roe, 0.05).clamp(-0.3, 0.6);
            let de = (ip.debt_to_equity * normal(&mut rng, 0.0, 0.4).exp()).max(0.0);
            let beta = normal(&mut rng, ip.beta, 0.25).clamp(0.1, 2.5);
            let payout = normal(&mut rng, ip.payout, 0.15).clamp(0.0, 1.2);
            let log_cap = normal(&mut rng, 23.5, 1.2);
            let log_pe = ip.base_pe.ln()
                + 0.6 * ((growth - ip.growth) / 0.25).tanh()
                + 2.5 * (roe - ip.roe)
                + 0.8 * (ebit - ip.ebit_margin)
                - 0.25 * ((1.0 + de) / (1.0 + ip.debt_to_equity)).ln()
                - 0.35 * (beta - ip.beta)
                - 0.2 * (payout - ip.payout)
                + 0.06 * (log_cap - 23.5)
                + normal(&mut rng, 0.0, 0.15);
            let pe = log_pe.exp().clamp(3.0, 150.0);
            let mut maybe = |v: f64, p: f64| (!rng.gen_bool(p)).then_some(v);
            let fundamentals = Fundamentals {
                revenue_growth: maybe(growth, 0.04),
                ebit_margin: maybe(ebit, 0.04),
                net_margin: maybe(net, 0.04),
                roe: maybe(roe, 0.04),
                debt_to_equity: maybe(de, 0.04),
                beta: maybe(beta, 0.04),
                payout_ratio: maybe(payout, 0.04),
                market_cap: maybe(log_cap.exp(), 0.02),
                industry: maybe(0.0, 0.02).map(|_| INDUSTRIES[industry].1.to_string()),
            };
            Company {
                fundamentals,
                industry,
                pe,
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Options {
    pub companies: usize,
    pub out: PathBuf,
    pub seed: u64,
    pub trees: u32,
    pub leaves: u32,
    pub learning_rate: f64,
    pub version: Option<String>,
    pub rollout: Option<Rollout>,
    pub force: bool,
}

fn held_out(i: usize) -> bool {
    // Same splitmix-style hash as the recommender's customer split.
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100 < HOLDOUT_PERCENT
}

/// Where the training companies came from, for the terminal and the manifest.
pub struct DataInfo {
    /// `training.source` of the manifest.
    pub source: String,
    /// What was read or generated, printed before training.
    pub summary: String,
    /// More `training` entries of the manifest.
    pub training: Vec<(String, serde_json::Value)>,
}

/// Trains on `opts.companies` synthetic companies, evaluates, writes and verifies the bundle.
pub fn run(opts: &Options) -> Result<Manifest> {
    let companies = generate(opts.companies, opts.seed);
    let info = DataInfo {
        source: "synthetic".into(),
        summary: format!(
            "generated {} synthetic companies (seed {})",
            companies.len(),
            opts.seed
        ),
        training: vec![],
    };
    fit(&companies, info, opts)
}

/// Trains on `companies`, evaluates against the industry-median baseline, writes and
/// verifies the fair-multiple bundle. `companies[i].industry` may be `INDUSTRIES.len()`
/// (an industry outside the list).
pub fn fit(companies: &[Company], info: DataInfo, opts: &Options) -> Result<Manifest> {
    let started = Instant::now();
    bundle_out::prepare_out_dir(&opts.out, opts.force)?;
    let (train, test): (Vec<usize>, Vec<usize>) = (0..companies.len()).partition(|&i| !held_out(i));
    if train.is_empty() || test.len() < 2 {
        bail!(
            "{} companies are too few to hold out {HOLDOUT_PERCENT}% (at least 2 held out)",
            companies.len()
        );
    }
    println!(
        "{}: {} for training, {} held out",
        info.summary,
        train.len(),
        test.len()
    );
    let nf = FAIR_MULTIPLE_FEATURES.len();
    let names: Vec<String> = FAIR_MULTIPLE_FEATURES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows = |idx: &[usize]| -> Vec<f64> {
        idx.iter()
            .flat_map(|&i| companies[i].fundamentals.row())
            .collect()
    };
    let (train_rows, test_rows) = (rows(&train), rows(&test));
    let train_y: Vec<f32> = train.iter().map(|&i| companies[i].pe as f32).collect();
    let test_y: Vec<f64> = test.iter().map(|&i| companies[i].pe).collect();

    let params = Params {
        objective: "regression",
        trees: opts.trees,
        leaves: opts.leaves,
        learning_rate: opts.learning_rate,
        min_data_in_leaf: lgbm::min_data_in_leaf(train.len()),
        seed: opts.seed,
    };
    let params_json = params.to_json();
    let t = Instant::now();
    let pb = progress::bar(1, "training", "models");
    let booster = lgbm::train(&train_rows, &train_y, &names, &params_json)
        .context("training the fair-P/E model")?;
    pb.finish_and_clear();
    let text = lgbm::model_text(&booster)?;
    let model = Model::parse(&text).context("the native scorer cannot read the model")?;
    println!(
        "trained in {:.1}s ({} trees, {} leaves, learning rate {})",
        t.elapsed().as_secs_f64(),
        opts.trees,
        opts.leaves,
        opts.learning_rate
    );

    // Evaluation with the native scorer against the industry-median baseline.
    let mut pred = vec![0.0; test.len()];
    model.predict_batch_into(&test_rows, &mut pred)?;
    // One more slot than INDUSTRIES: real data has industries outside the list ("other").
    let mut by_industry: Vec<Vec<f64>> = vec![Vec::new(); INDUSTRIES.len() + 1];
    let mut all: Vec<f64> = Vec::new();
    for &i in &train {
        if companies[i].fundamentals.industry.is_some() {
            by_industry[companies[i].industry].push(companies[i].pe);
        }
        all.push(companies[i].pe);
    }
    let global = median(&all).expect("training set is not empty");
    let medians: Vec<f64> = by_industry
        .iter()
        .map(|v| median(v).unwrap_or(global))
        .collect();
    let baseline: Vec<f64> = test
        .iter()
        .map(|&i| match companies[i].fundamentals.industry {
            Some(_) => medians[companies[i].industry],
            None => global,
        })
        .collect();
    let (rmse, mae, r2) = metrics::regression(&pred, &test_y);
    let (b_rmse, b_mae, b_r2) = metrics::regression(&baseline, &test_y);

    // Golden rows with missing values.
    let mut golden_rows: Vec<Vec<f64>> = (0..GOLDEN_ROWS)
        .map(|g| {
            let n = test.len();
            let i = if n >= GOLDEN_ROWS {
                g * n / GOLDEN_ROWS
            } else {
                g % n
            };
            test_rows[i * nf..(i + 1) * nf].to_vec()
        })
        .collect();
    for (g, row) in golden_rows.iter_mut().enumerate() {
        match g {
            0..=8 => row[g] = f64::NAN,
            9 => row.iter_mut().for_each(|x| *x = f64::NAN),
            10 => row[8] = INDUSTRIES.len() as f64, // an industry the model never saw
            _ if g >= test.len() => row[g % nf] = f64::NAN,
            _ => {}
        }
    }
    let golden_flat: Vec<f64> = golden_rows.concat();
    lgbm::check_parity(&booster, &model, &golden_flat, MODEL_PATH)?;
    let golden: Vec<GoldenRow> = golden_rows
        .iter()
        .map(|row| {
            Ok(GoldenRow {
                features: row.iter().map(|&x| (!x.is_nan()).then_some(x)).collect(),
                expected: model.predict(row)?,
            })
        })
        .collect::<Result<_>>()?;

    let files = vec![(MODEL_PATH.to_string(), text.into_bytes())];
    let (created_at, stamp) = bundle_out::now();
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| bundle_out::default_version(&stamp, &files));
    let mut other = BTreeMap::new();
    for (k, v) in [
        ("rmse", rmse),
        ("mae", mae),
        ("r2", r2),
        ("baseline_rmse", b_rmse),
        ("baseline_mae", b_mae),
        ("baseline_r2", b_r2),
    ] {
        other.insert(k.to_string(), v);
    }
    let mut training = BTreeMap::new();
    training.insert("source".into(), info.source.into());
    training.extend(info.training);
    training.insert("companies".into(), companies.len().into());
    training.insert("rows".into(), companies.len().into());
    training.insert("train_rows".into(), train.len().into());
    training.insert(
        "holdout".into(),
        format!("{HOLDOUT_PERCENT}% of companies").into(),
    );
    training.insert("seed".into(), opts.seed.into());
    training.insert("params".into(), params_json);
    training.insert(
        "baseline".into(),
        "median P/E of the company's industry in the training set".into(),
    );
    training.insert(
        "industries".into(),
        INDUSTRIES
            .iter()
            .map(|(_, n, _)| *n)
            .collect::<Vec<_>>()
            .into(),
    );
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        name: BUNDLE_NAME.into(),
        version,
        kind: ModelKind::FairMultiple,
        created_at,
        features: names
            .iter()
            .map(|n| Feature {
                name: n.clone(),
                categorical: false,
                categories: Vec::new(),
            })
            .collect(),
        outputs: vec![Output {
            code: OUTPUT_CODE.into(),
            name: "Fair P/E".into(),
            model: MODEL_PATH.into(),
            class: 0,
        }],
        files: vec![],
        metrics: Metrics {
            holdout_rows: Some(test.len() as u64),
            other,
            ..Metrics::default()
        },
        base_rates: vec![],
        golden,
        rollout: opts.rollout,
        training,
    };

    println!();
    println!(
        "{:<18} {:>5} {:>11} {:>14} {:>11}",
        "industry", "n", "median P/E", "baseline RMSE", "model RMSE"
    );
    let names = INDUSTRIES.iter().map(|(_, n, _)| *n).chain(["other"]);
    for (k, name) in names.enumerate() {
        let idx: Vec<usize> = (0..test.len())
            .filter(|&j| {
                companies[test[j]].industry == k
                    && companies[test[j]].fundamentals.industry.is_some()
            })
            .collect();
        if idx.is_empty() {
            continue;
        }
        let pick = |v: &[f64]| idx.iter().map(|&j| v[j]).collect::<Vec<_>>();
        let (m_rmse, _, _) = metrics::regression(&pick(&pred), &pick(&test_y));
        let (bl_rmse, _, _) = metrics::regression(&pick(&baseline), &pick(&test_y));
        println!(
            "{name:<18} {:>5} {:>11.1} {bl_rmse:>14.2} {m_rmse:>11.2}",
            idx.len(),
            medians[k]
        );
    }
    println!();
    println!("{:<10} {:>9} {:>9}", "holdout", "model", "baseline");
    println!("{:<10} {rmse:>9.3} {b_rmse:>9.3}", "RMSE");
    println!("{:<10} {mae:>9.3} {b_mae:>9.3}", "MAE");
    println!("{:<10} {r2:>9.3} {b_r2:>9.3}", "R²");
    if rmse >= b_rmse {
        println!("warning: the model does not beat the industry-median baseline");
    }

    let bundle = bundle_out::write_and_verify(&opts.out, manifest, &files)?;
    println!(
        "wrote {} (version {}); reloaded: checksums ok, golden rows {}/{} bit-identical \
         (native scorer = LightGBM); total {:.1}s",
        opts.out.display(),
        bundle.version(),
        bundle.manifest().golden.len(),
        bundle.manifest().golden.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(bundle.manifest().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn companies_are_deterministic_and_industry_shaped() {
        let a = generate(500, 3);
        assert_eq!(format!("{a:?}"), format!("{:?}", generate(500, 3)));
        assert_ne!(format!("{a:?}"), format!("{:?}", generate(500, 4)));
        let mean_pe = |k: usize| {
            let v: Vec<f64> = a.iter().filter(|c| c.industry == k).map(|c| c.pe).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        // Semiconductors trade far above banks.
        assert!(mean_pe(3) > 3.0 * mean_pe(1));
        assert!(a.iter().any(|c| c.fundamentals.roe.is_none()));
        assert!(a.iter().all(|c| (3.0..=150.0).contains(&c.pe)));
    }
}
