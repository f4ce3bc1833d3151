//! `warmstart bench`: the native scorer against LightGBM (lightgbm3, its C API, one thread) on
//! the same models and rows: one customer × every model (native, `SingleRowFast`, `predict`),
//! a 10,000-row batch (both also walk-only when models scan), model load (text parse,
//! compiled load, scan build, LightGBM), and TreeSHAP
//! explanations against LightGBM's `predict_contrib` (one model, a recommendation's 7). The models are a
//! bundle (`--bundle`), a directory of LightGBM text models (`--models-dir`), or, by default,
//! 24 binary models of 100 trees × 31 leaves trained here deterministically. Figures are the
//! median of `--rounds` rounds; nothing is asserted on them.

use anyhow::{bail, Context, Result};
use lightgbm3::Booster;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use warmstart_cli::train::contrib_oracle::ContribOracle;
use warmstart_cli::train::{bundle_out, lgbm};
use warmstart_core::bundle::sha256_hex;
use warmstart_core::model::compiled::{self, Entry};
use warmstart_core::model::ShapScratch;
use warmstart_core::Model;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Measure this bundle's models instead of generated ones.
    #[arg(long, conflicts_with = "models_dir")]
    pub bundle: Option<PathBuf>,
    /// Measure every LightGBM text model (`*.txt`) in this directory, e.g. the Python anchor's
    /// models/.
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Score these rows instead of rows drawn from `feature_infos`: raw little-endian f64,
    /// row-major, as many values per row as the models have features (NaN = missing), e.g. the
    /// Python anchor's data/batch.npy without its header (`infra/scripts/bench-anchor.sh`). The
    /// batch is its first `--rows` rows, single rows rotate through its first 1,024.
    #[arg(long)]
    pub rows_file: Option<PathBuf>,
    /// Generated models.
    #[arg(long, default_value_t = 24)]
    pub models: usize,
    /// Trees per generated model.
    #[arg(long, default_value_t = 100)]
    pub trees: u32,
    /// Leaves per tree of the generated models.
    #[arg(long, default_value_t = 31)]
    pub leaves: u32,
    /// Features of the generated models.
    #[arg(long, default_value_t = 40)]
    pub features: usize,
    /// Training rows of each generated model.
    #[arg(long, default_value_t = 5_000)]
    pub train_rows: usize,
    /// Rows of the batch measurement.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Customers (distinct rows) scored per single-row round.
    #[arg(long, default_value_t = 2_000)]
    pub customers: usize,
    /// Rounds of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Seed of the generated data and rows.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The models under test, as text.
struct Models {
    what: String,
    names: Vec<String>,
    texts: Vec<String>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.rounds == 0 || args.customers == 0 || args.rows == 0 {
        bail!("--rounds, --customers and --rows must be positive");
    }
    let started = Instant::now();
    let models = match (&args.bundle, &args.models_dir) {
        (Some(dir), _) => from_bundle(dir)?,
        (None, Some(dir)) => from_dir(dir)?,
        (None, None) => generate(args)?,
    };
    if models.texts.is_empty() {
        bail!("no models to measure");
    }
    let natives: Vec<Model> = models
        .texts
        .iter()
        .zip(&models.names)
        .map(|(t, n)| Model::parse(t).with_context(|| format!("parsing {n}")))
        .collect::<Result<_>>()?;
    let nf = natives[0].num_features();
    if natives.iter().any(|m| m.num_features() != nf) {
        bail!("the models do not all take the same features");
    }
    let mut boosters: Vec<Booster> = models
        .texts
        .iter()
        .map(|t| Booster::from_string(t).context("LightGBM loading a model"))
        .collect::<Result<_>>()?;
    let outputs: usize = natives.iter().map(Model::num_outputs).sum();
    let trees: usize = natives.iter().map(Model::num_trees).sum();
    println!(
        "warmstart bench: {} ({} models, {trees} trees, {nf} features); rows {}",
        models.what,
        natives.len(),
        match &args.rows_file {
            Some(p) => format!("from {}", p.display()),
            None => "drawn from the first model's feature_infos".into(),
        }
    );

    let (pool, batch) = match &args.rows_file {
        Some(path) => {
            let all = rows_from_file(path, nf)?;
            let n = all.len() / nf;
            let pool = all[..1024.min(args.customers).min(n) * nf].to_vec();
            let mut batch = all;
            batch.truncate(args.rows.min(n) * nf);
            (pool, batch)
        }
        None => (
            rows(
                &models.texts[0],
                nf,
                1024.min(args.customers).max(1),
                args.seed,
            ),
            rows(&models.texts[0], nf, args.rows, args.seed ^ 1),
        ),
    };
    // Serving builds the scans off the load path; here they are built before timing, and the
    // walk alone is measured on copies without them.
    let walked = natives.clone();
    let walk_bytes: usize = natives.iter().map(Model::heap_bytes).sum();
    let scanned = natives.iter().filter(|m| m.prepare_scan()).count();
    let scan_bytes = natives.iter().map(Model::heap_bytes).sum::<usize>() - walk_bytes;
    let identical = check_identical(&natives, &boosters, &batch, nf)?
        && check_identical(&walked, &boosters, &batch, nf)?;

    // Single row: each customer is another row, as in serving.
    let single = |score: &mut dyn FnMut(&[f64]) -> f64| {
        median(args.rounds, || {
            let mut sink = 0.0;
            let t = Instant::now();
            for c in 0..args.customers {
                let at = (c % (pool.len() / nf)) * nf;
                sink += score(&pool[at..at + nf]);
            }
            std::hint::black_box(sink);
            t.elapsed().as_secs_f64() * 1e6 / args.customers as f64
        })
    };
    let mut out = vec![0.0; natives.iter().map(Model::num_outputs).max().unwrap_or(1)];
    let mut native_single = |models: &[Model]| {
        single(&mut |row: &[f64]| {
            let mut s = 0.0;
            for m in models {
                let o = &mut out[..m.num_outputs()];
                m.predict_into(row, o).expect("widths match");
                s += o[0];
            }
            s
        })
    };
    let native_one = native_single(&natives);
    let walk_one = native_single(&walked);
    let predict_one = single(&mut |row: &[f64]| {
        boosters
            .iter()
            .map(|b| {
                b.predict_with_params(row, nf as i32, true, "num_threads=1")
                    .expect("LightGBM")[0]
            })
            .sum()
    });
    for b in boosters.iter_mut() {
        b.single_row_fast_init::<f64>(Some(&json!({"num_threads": 1})))
            .context("LightGBM SingleRowFast init")?;
    }
    let fast_one = single(&mut |row: &[f64]| {
        boosters
            .iter()
            .map(|b| b.predict_single_row_fast(row).expect("LightGBM")[0])
            .sum()
    });

    let explain = explain_figures(&natives, &models.texts, &pool, nf, args)?;

    let n = batch.len() / nf;
    let native_batch_of = |models: &[Model]| {
        median(args.rounds, || {
            let t = Instant::now();
            for m in models {
                let mut out = vec![0.0; n * m.num_outputs()];
                m.predict_batch_into(&batch, &mut out)
                    .expect("widths match");
                std::hint::black_box(&out);
            }
            t.elapsed().as_secs_f64() * 1e3
        })
    };
    let native_batch = native_batch_of(&natives);
    let walk_batch = native_batch_of(&walked);
    let lgbm_batch = median(args.rounds, || {
        let t = Instant::now();
        for b in &boosters {
            let out = b
                .predict_with_params(&batch, nf as i32, true, "num_threads=1")
                .expect("LightGBM");
            std::hint::black_box(&out);
        }
        t.elapsed().as_secs_f64() * 1e3
    });

    let entries: Vec<Entry> = natives
        .iter()
        .zip(&models.names)
        .zip(&models.texts)
        .map(|((m, name), text)| Entry {
            path: name,
            source_sha256: sha256_raw(text.as_bytes()),
            model: m,
        })
        .collect();
    let compiled_bytes = compiled::write(&entries);
    let text_bytes: usize = models.texts.iter().map(String::len).sum();
    let parse_ms = median(args.rounds, || {
        let t = Instant::now();
        for text in &models.texts {
            std::hint::black_box(Model::parse(text).expect("parsed once already"));
        }
        t.elapsed().as_secs_f64() * 1e3
    });
    let load_ms = median(args.rounds, || {
        let t = Instant::now();
        std::hint::black_box(compiled::load(&compiled_bytes).expect("just written"));
        t.elapsed().as_secs_f64() * 1e3
    });
    let scan_ms = median(args.rounds, || {
        let fresh = walked.clone();
        let t = Instant::now();
        for m in &fresh {
            m.prepare_scan();
        }
        t.elapsed().as_secs_f64() * 1e3
    });
    let lgbm_load_ms = median(args.rounds.min(3), || {
        let t = Instant::now();
        for text in &models.texts {
            std::hint::black_box(Booster::from_string(text).expect("loaded once already"));
        }
        t.elapsed().as_secs_f64() * 1e3
    });
    let models_n = natives.len();
    println!(
        "median of {} rounds, {} distinct single rows, LightGBM one thread; outputs bit-identical \
         to LightGBM on the batch: {}",
        args.rounds,
        pool.len() / nf,
        if identical { "yes" } else { "NO" }
    );
    println!("| measure | native | LightGBM SingleRowFast | LightGBM predict | native / SingleRowFast | native / predict |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| one row x {models_n} models (us) | {native_one:.1} | {fast_one:.1} | {predict_one:.1} | {:.2} | {:.2} |",
        native_one / fast_one,
        native_one / predict_one
    );
    println!(
        "| {n} rows x {models_n} models (ms) | {native_batch:.1} | - | {lgbm_batch:.1} | - | {:.2} |",
        native_batch / lgbm_batch
    );
    println!(
        "| load {models_n} models (ms) | text parse {parse_ms:.2}, compiled load {load_ms:.2}, scans {scan_ms:.2} | - | {lgbm_load_ms:.2} | - | {:.2} (compiled) |",
        load_ms / lgbm_load_ms
    );
    if scanned > 0 {
        println!(
            "| walk only: one row x {models_n} models (us) | {walk_one:.1} | {fast_one:.1} | {predict_one:.1} | {:.2} | {:.2} |",
            walk_one / fast_one,
            walk_one / predict_one
        );
        println!(
            "| walk only: {n} rows x {models_n} models (ms) | {walk_batch:.1} | - | {lgbm_batch:.1} | - | {:.2} |",
            walk_batch / lgbm_batch
        );
    }
    if let Some(e) = &explain {
        println!(
            "| explain one row x 1 model (us) | {:.1} | - | {:.1} (predict_contrib) | - | {:.2} |",
            e.one_native,
            e.one_lgbm,
            e.one_native / e.one_lgbm
        );
        println!(
            "| explain one row x {} models (us) | {:.1} | - | {:.1} (predict_contrib) | - | {:.2} |",
            e.k,
            e.k_native,
            e.k_lgbm,
            e.k_native / e.k_lgbm
        );
        println!(
            "contributions vs LightGBM over {} values: {} bit-identical, largest difference {:e} \
             (relative to the row's largest |contribution|)",
            e.compared, e.identical, e.max_rel_diff
        );
    }
    println!(
        "bytes: text {text_bytes}, compiled {} ({:.2} of the text); {outputs} outputs; \
         {scanned} of {models_n} models scanned (built off the load path in serving), the rest \
         walked; heap: models {walk_bytes}, scans {scan_bytes}; {:.1} s",
        compiled_bytes.len(),
        compiled_bytes.len() as f64 / text_bytes as f64,
        started.elapsed().as_secs_f64()
    );
    println!(
        "single-row ratio vs SingleRowFast: {:.2}",
        native_one / fast_one
    );
    Ok(())
}

/// TreeSHAP timings and agreement (`None` when a model cannot be explained).
struct Explain {
    /// Models explained per row in the second figure: a recommendation's 7 products.
    k: usize,
    one_native: f64,
    one_lgbm: f64,
    k_native: f64,
    k_lgbm: f64,
    compared: usize,
    identical: usize,
    max_rel_diff: f64,
}

/// Explains each pool row with the first model, and with the first 7, natively and with
/// LightGBM's `predict_contrib` (one row per call, one thread, as a Python service calls it);
/// then compares every contribution of every model on 256 pool rows.
fn explain_figures(
    natives: &[Model],
    texts: &[String],
    pool: &[f64],
    nf: usize,
    args: &BenchArgs,
) -> Result<Option<Explain>> {
    if !natives.iter().all(Model::can_explain) {
        println!("explain: skipped (a model lacks the node counts TreeSHAP needs)");
        return Ok(None);
    }
    let k = natives.len().min(7);
    let oracles: Vec<ContribOracle> = (texts.iter().take(k))
        .map(|t| ContribOracle::load(t).context("LightGBM loading a model"))
        .collect::<Result<_>>()?;
    let widest = natives.iter().map(Model::contrib_len).max().unwrap_or(0);
    let mut phi = vec![0.0; widest];
    let mut scratch = ShapScratch::new();
    let rows_n = pool.len() / nf;
    // TreeSHAP costs ~100× a prediction: fewer rows keep the whole command under a minute.
    let customers = args.customers.min(200);
    let mut time = |models: usize, native: bool| {
        median(args.rounds, || {
            let t = Instant::now();
            for c in 0..customers {
                let row = &pool[(c % rows_n) * nf..][..nf];
                for (m, o) in natives.iter().zip(&oracles).take(models) {
                    if native {
                        let out = &mut phi[..m.contrib_len()];
                        m.contrib_into(row, out, &mut scratch).expect("explainable");
                        std::hint::black_box(&out);
                    } else {
                        std::hint::black_box(o.contrib(row, nf, m.num_outputs()));
                    }
                }
            }
            t.elapsed().as_secs_f64() * 1e6 / customers as f64
        })
    };
    let (one_native, one_lgbm) = (time(1, true), time(1, false));
    let (k_native, k_lgbm) = (time(k, true), time(k, false));
    let (mut compared, mut identical, mut max_rel_diff) = (0, 0, 0.0f64);
    for (m, text) in natives.iter().zip(texts) {
        let oracle = ContribOracle::load(text).context("LightGBM loading a model")?;
        let sample = &pool[..pool.len().min(256 * nf)];
        let want = oracle.contrib(sample, nf, m.num_outputs());
        let w = m.contrib_len();
        for (r, row) in sample.chunks_exact(nf).enumerate() {
            let got = &mut phi[..w];
            m.contrib_into(row, got, &mut scratch).expect("explainable");
            let want = &want[r * w..][..w];
            let scale = want
                .iter()
                .fold(0.0f64, |a, x| a.max(x.abs()))
                .max(f64::MIN_POSITIVE);
            for (g, x) in got.iter().zip(want) {
                compared += 1;
                if g.to_bits() == x.to_bits() {
                    identical += 1;
                } else {
                    max_rel_diff = max_rel_diff.max((g - x).abs() / scale);
                }
            }
        }
    }
    Ok(Some(Explain {
        k,
        one_native,
        one_lgbm,
        k_native,
        k_lgbm,
        compared,
        identical,
        max_rel_diff,
    }))
}

/// Runs `f` `rounds` times and returns the median of what it measured.
fn median(rounds: usize, mut f: impl FnMut() -> f64) -> f64 {
    f(); // warm-up: caches, page faults, LightGBM's lazy setup
    let mut v: Vec<f64> = (0..rounds).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn sha256_raw(bytes: &[u8]) -> [u8; 32] {
    let hex = sha256_hex(bytes);
    let mut raw = [0u8; 32];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("sha256_hex is hex");
    }
    raw
}

/// Native and LightGBM agree bit for bit on every output of the batch.
fn check_identical(
    natives: &[Model],
    boosters: &[Booster],
    rows: &[f64],
    nf: usize,
) -> Result<bool> {
    for (m, b) in natives.iter().zip(boosters) {
        let want = b.predict_with_params(rows, nf as i32, true, "num_threads=1")?;
        let mut got = vec![0.0; want.len()];
        m.predict_batch_into(rows, &mut got)?;
        if want
            .iter()
            .zip(&got)
            .any(|(w, g)| w.to_bits() != g.to_bits() && !(w.is_nan() && g.is_nan()))
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Rows stored as raw little-endian f64 values, `nf` per row.
fn rows_from_file(path: &Path, nf: usize) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() || !bytes.len().is_multiple_of(8 * nf) {
        bail!(
            "{}: {} bytes are not whole rows of {nf} f64 values",
            path.display(),
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}

/// Rows drawn from the ranges and categories the first model records in `feature_infos`
/// (`[min:max]`, `a:b:c` or `none`), about 5% missing, as the Python anchor does.
fn rows(text: &str, nf: usize, n: usize, seed: u64) -> Vec<f64> {
    enum Info {
        Range(f64, f64),
        Cats(Vec<f64>),
        None,
    }
    let infos: Vec<Info> = text
        .lines()
        .find_map(|l| l.strip_prefix("feature_infos="))
        .unwrap_or("")
        .split(' ')
        .map(|i| {
            if let Some(r) = i.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let (a, b) = r.split_once(':').unwrap_or(("0", "1"));
                Info::Range(a.parse().unwrap_or(0.0), b.parse().unwrap_or(1.0))
            } else if i == "none" || i.is_empty() {
                Info::None
            } else {
                Info::Cats(i.split(':').filter_map(|c| c.parse().ok()).collect())
            }
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * nf)
        .map(|i| {
            if rng.gen_bool(0.05) {
                return f64::NAN;
            }
            match infos.get(i % nf) {
                Some(Info::Range(a, b)) if b > a => rng.gen_range(*a..=*b),
                Some(Info::Range(a, _)) => *a,
                Some(Info::Cats(c)) if !c.is_empty() => c[rng.gen_range(0..c.len())],
                _ => 0.0,
            }
        })
        .collect()
}

fn from_bundle(dir: &Path) -> Result<Models> {
    let manifest = bundle_out::read_manifest(dir)?;
    let mut names: Vec<String> = manifest.outputs.iter().map(|o| o.model.clone()).collect();
    names.dedup();
    let texts = names
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).with_context(|| format!("reading {n}")))
        .collect::<Result<_>>()?;
    Ok(Models {
        what: format!("bundle {} {}", manifest.name, manifest.version),
        names,
        texts,
    })
}

fn from_dir(dir: &Path) -> Result<Models> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no *.txt models in {}", dir.display());
    }
    let texts = names
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).with_context(|| format!("reading {n}")))
        .collect::<Result<_>>()?;
    Ok(Models {
        what: format!("models in {}", dir.display()),
        names,
        texts,
    })
}

/// Trains `--models` binary models on synthetic customers: a few continuous fields (some
/// missing), integer codes and 0/1 ownership flags; each model's label depends on different
/// fields, so the models differ as product models do.
fn generate(args: &BenchArgs) -> Result<Models> {
    let (n, nf) = (args.train_rows.max(50), args.features.max(4));
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let data: Vec<f64> = (0..n * nf)
        .map(|i| match i % nf {
            0 | 1 if rng.gen_bool(0.05) => f64::NAN,
            0 => rng.gen_range(18.0..90.0),
            1 => (rng.gen_range(8.0f64..14.0)).exp(),
            f if f < nf / 4 => rng.gen_range(0..50) as f64,
            f if f < nf / 2 => rng.gen_range(-3.0..3.0),
            _ => rng.gen_bool(0.3) as u8 as f64,
        })
        .collect();
    let names: Vec<String> = (0..nf).map(|f| format!("f{f}")).collect();
    let mut texts = Vec::with_capacity(args.models);
    for m in 0..args.models {
        let mut weights: Vec<f64> = (0..nf).map(|_| rng.gen_range(-1.0..1.0)).collect();
        weights[m % nf] *= 3.0;
        let labels: Vec<f32> = data
            .chunks_exact(nf)
            .map(|row| {
                let z: f64 = row
                    .iter()
                    .zip(&weights)
                    .map(|(x, w)| {
                        if x.is_nan() {
                            0.0
                        } else {
                            w * (x.abs() + 1.0).ln()
                        }
                    })
                    .sum();
                (z + rng.gen_range(-1.5..1.5) > 0.0) as u8 as f32
            })
            .collect();
        let params = lgbm::Params {
            objective: "binary",
            trees: args.trees,
            leaves: args.leaves,
            learning_rate: 0.1,
            min_data_in_leaf: lgbm::min_data_in_leaf(n),
            seed: args.seed + m as u64,
        };
        let booster = lgbm::train(&data, &labels, &names, &params.to_json())
            .with_context(|| format!("training model {m}"))?;
        texts.push(lgbm::model_text(&booster)?);
    }
    Ok(Models {
        what: format!(
            "generated: {} binary models, {} trees x {} leaves, {} training rows, seed {}",
            args.models, args.trees, args.leaves, n, args.seed
        ),
        names: (0..args.models)
            .map(|m| format!("models/m{m:02}.txt"))
            .collect(),
        texts,
    })
}
