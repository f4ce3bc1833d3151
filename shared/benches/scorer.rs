//! Native scorer vs LightGBM (lightgbm3, the C API) on a 24-model recommender-sized bundle:
//! (a) one customer × 24 models, (b) 10,000 rows × 24 models, (c) parse/load of the bundle
//! (text parse, compiled `models.wsc` load, LightGBM).
//!
//! `cargo bench -p warmstart-core --bench scorer`. By default the bundle is 24 copies of the
//! `many_features` fixture (48 features, 100 trees × 31 leaves, like a trained product model);
//! set `WARMSTART_BENCH_BUNDLE=<bundle dir>` to use a real trained bundle instead.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lightgbm3::Booster;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use warmstart_core::bundle::{Bundle, DirSource, Manifest};
use warmstart_core::model::compiled;
use warmstart_core::Model;

fn model_texts() -> (Vec<String>, Option<PathBuf>) {
    if let Ok(dir) = std::env::var("WARMSTART_BENCH_BUNDLE") {
        let dir = PathBuf::from(dir);
        let manifest =
            Manifest::from_json(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        let texts = manifest
            .outputs
            .iter()
            .map(|o| std::fs::read_to_string(dir.join(&o.model)).unwrap())
            .collect();
        return (texts, Some(dir));
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/many_features.txt");
    let text = std::fs::read_to_string(path).unwrap();
    (vec![text; 24], None)
}

fn rows(n: usize, nf: usize) -> Vec<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    (0..n * nf)
        .map(|i| match i % 11 {
            0 => f64::NAN,
            1 => 0.0,
            _ => rng.gen_range(-3.0f64..3.0) * 10f64.powi(rng.gen_range(0..4)),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (texts, bundle_dir) = model_texts();
    let natives: Vec<Model> = texts.iter().map(|t| Model::parse(t).unwrap()).collect();
    let mut boosters: Vec<Booster> = texts
        .iter()
        .map(|t| Booster::from_string(t).unwrap())
        .collect();
    let nf = natives[0].num_features();
    // Distinct rows in rotation: one repeated row would let the branch predictor learn every
    // path and flatter both scorers.
    let pool = rows(1024, nf);
    let mut cursor = 0usize;
    let mut next_row = move || {
        cursor = (cursor + 1) % 1024;
        cursor * nf
    };

    let mut g = c.benchmark_group("one_row_x24");
    g.bench_function("native", |b| {
        let mut out = [0.0];
        b.iter(|| {
            let at = next_row();
            let one = &pool[at..at + nf];
            let mut s = 0.0;
            for m in &natives {
                m.predict_into(black_box(one), &mut out).unwrap();
                s += out[0];
            }
            s
        })
    });
    g.bench_function("lightgbm3_predict", |b| {
        b.iter(|| {
            let at = next_row();
            let one = &pool[at..at + nf];
            let mut s = 0.0;
            for m in &boosters {
                s += m
                    .predict_with_params(black_box(one), nf as i32, true, "num_threads=1")
                    .unwrap()[0];
            }
            s
        })
    });
    for m in boosters.iter_mut() {
        m.single_row_fast_init::<f64>(Some(&serde_json::json!({"num_threads": 1})))
            .unwrap();
    }
    g.bench_function("lightgbm3_single_row_fast", |b| {
        b.iter(|| {
            let at = next_row();
            let one = &pool[at..at + nf];
            let mut s = 0.0;
            for m in &boosters {
                s += m.predict_single_row_fast(black_box(one)).unwrap()[0];
            }
            s
        })
    });
    g.finish();

    let n = 10_000;
    let many = rows(n, nf);
    let mut g = c.benchmark_group("10k_rows_x24");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("native_batch", |b| {
        let mut out = vec![0.0; n];
        b.iter(|| {
            for m in &natives {
                m.predict_batch_into(black_box(&many), &mut out).unwrap();
            }
        })
    });
    g.bench_function("lightgbm3_batch_1_thread", |b| {
        b.iter(|| {
            for m in &boosters {
                black_box(
                    m.predict_with_params(&many, nf as i32, true, "num_threads=1")
                        .unwrap(),
                );
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("load_24_models");
    g.sample_size(10);
    g.bench_function("native_parse", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| Model::parse(t).unwrap())
                .collect::<Vec<_>>()
        })
    });
    let entries: Vec<compiled::Entry> = natives
        .iter()
        .map(|m| compiled::Entry {
            path: "m.txt",
            source_sha256: [0; 32],
            model: m,
        })
        .collect();
    let wsc = compiled::write(&entries);
    g.bench_function("native_compiled_load", |b| {
        b.iter(|| compiled::load(black_box(&wsc)).unwrap())
    });
    g.bench_function("lightgbm3_from_string", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| Booster::from_string(t).unwrap())
                .collect::<Vec<_>>()
        })
    });
    if let Some(dir) = bundle_dir {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        g.bench_function("native_bundle_load_verified", |b| {
            b.iter_batched(
                || DirSource::new(&dir),
                |src| rt.block_on(Bundle::load(&src)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
