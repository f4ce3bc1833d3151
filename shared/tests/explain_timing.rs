//! Timings for the explanation work (ignored: run in release to mean anything):
//! `cargo test --release -p warmstart-core --test explain_timing -- --ignored --nocapture`.
//!
//! Load cost of the explanation data: the same 24-model bundle (24 × `many_features`, the
//! benchmark's recommender stand-in) parsed from text and loaded from `models.wsc`, with node
//! counts and without (what every model cost before explanation existed: a text without
//! counts parses no count arrays, a compiled file without them carries no extra bytes).
//! Also one row explained, against scoring it.

use std::time::{Duration, Instant};
use warmstart_core::model::compiled::{self, Entry};
use warmstart_core::model::ShapScratch;
use warmstart_core::Model;

mod common;
use common::fixtures;

/// The fastest of `runs`: the machine is shared, and the minimum is the least disturbed.
fn fastest<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t[0]
}

fn file_of(models: &[Model]) -> Vec<u8> {
    let entries: Vec<Entry> = models
        .iter()
        .enumerate()
        .map(|(i, m)| Entry {
            path: Box::leak(format!("m{i}.txt").into_boxed_str()),
            source_sha256: [0; 32],
            model: m,
        })
        .collect();
    compiled::write(&entries)
}

#[test]
#[ignore]
fn load_and_explain_timings() {
    let text = std::fs::read_to_string(fixtures().join("many_features.txt")).unwrap();
    let bare: String = text
        .lines()
        .filter(|l| !l.starts_with("leaf_count=") && !l.starts_with("internal_count="))
        .map(|l| format!("{l}\n"))
        .collect();
    // Twice each, alternating, so a noisy neighbour shows up as disagreeing rounds.
    for (label, t) in [
        ("with counts", &text),
        ("without counts", &bare),
        ("with counts", &text),
        ("without counts", &bare),
    ] {
        let models: Vec<Model> = (0..24).map(|_| Model::parse(t).unwrap()).collect();
        let file = file_of(&models);
        let parse = fastest(31, || {
            for _ in 0..24 {
                std::hint::black_box(Model::parse(t).unwrap());
            }
        });
        let load = fastest(301, || {
            std::hint::black_box(compiled::load(&file).unwrap());
        });
        println!(
            "24 models {label:15}: text parse {parse:>10.2?}  compiled load {load:>10.2?}  \
             models.wsc {} bytes  heap {} bytes/model",
            file.len(),
            models[0].heap_bytes()
        );
    }

    let m = Model::parse(&text).unwrap();
    let nf = m.num_features();
    let rows: Vec<Vec<f64>> = (0..256)
        .map(|r| {
            (0..nf)
                .map(|f| ((r * 31 + f * 7) % 23) as f64 / 4.0 - 2.0)
                .collect()
        })
        .collect();
    let mut out = vec![0.0; m.contrib_len()];
    let mut scores = vec![0.0; m.num_outputs()];
    let mut scratch = ShapScratch::new();
    let explain = fastest(21, || {
        for row in &rows {
            m.contrib_into(row, &mut out, &mut scratch).unwrap();
        }
    }) / rows.len() as u32;
    let score = fastest(21, || {
        for row in &rows {
            m.predict_into(row, &mut scores).unwrap();
        }
    }) / rows.len() as u32;
    let booster = lightgbm3::Booster::from_string(&text).unwrap();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let lightgbm = fastest(5, || {
        let c = booster.predict_contrib(&flat, nf as i32, true).unwrap();
        std::hint::black_box(c);
    }) / rows.len() as u32;
    println!(
        "many_features ({} trees, {nf} features): explain {explain:.2?}/row \
         (LightGBM C API {lightgbm:.2?}/row), score {score:.2?}/row",
        m.num_trees()
    );
}
