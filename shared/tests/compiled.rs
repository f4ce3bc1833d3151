//! A compiled model file (`models.wsc`) must score exactly like the text it was compiled from:
//! every fixture model, random rows full of NaN, ±inf, zeros, tiny values, thresholds ± 1 ulp
//! and unseen, negative or huge categories, compared with `f64::to_bits`.

use proptest::prelude::*;
use std::path::Path;
use warmstart_core::model::compiled::{self, Entry};
use warmstart_core::Model;

mod common;
use common::{fixtures, interesting_values, model_names, same};

struct Pair {
    text: String,
    parsed: Model,
    compiled: Model,
}

fn load(name: &str) -> Pair {
    let text = std::fs::read_to_string(fixtures().join(format!("{name}.txt"))).unwrap();
    let parsed = Model::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let file = compiled::write(&[Entry {
        path: name,
        source_sha256: [0; 32],
        model: &parsed,
    }]);
    let mut back = compiled::load(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
    let compiled = back.pop().unwrap().model;
    Pair {
        text,
        parsed,
        compiled,
    }
}

#[test]
fn every_fixture_compiles_to_the_same_model() {
    let names = model_names();
    assert!(names.len() >= 24, "fixtures missing: {names:?}");
    for name in &names {
        let p = load(name);
        assert!(p.parsed == p.compiled, "{name}: compiled model differs");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn compiled_and_text_models_score_bit_for_bit(
        index in 0usize..64,
        picks in proptest::collection::vec((any::<u16>(), proptest::num::f64::ANY, 0u8..4), 1..600),
    ) {
        let names = model_names();
        let p = load(&names[index % names.len()]);
        let values = interesting_values(&p.text);
        let nf = p.parsed.num_features();
        let k = p.parsed.num_outputs();
        let cells: Vec<f64> = picks
            .iter()
            .map(|&(i, any, how)| if how == 0 { any } else { values[i as usize % values.len()] })
            .collect();
        let rows: Vec<f64> = cells.iter().copied().cycle().take(nf * (cells.len() / nf + 1)).collect();
        let n = rows.len() / nf;
        let (mut a, mut b) = (vec![0.0; n * k], vec![0.0; n * k]);
        p.parsed.predict_batch_into(&rows, &mut a).unwrap();
        p.compiled.predict_batch_into(&rows, &mut b).unwrap();
        let (mut one, mut raw_a, mut raw_b) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
        for (r, row) in rows.chunks_exact(nf).enumerate() {
            p.compiled.predict_into(row, &mut one).unwrap();
            p.parsed.predict_raw_into(row, &mut raw_a).unwrap();
            p.compiled.predict_raw_into(row, &mut raw_b).unwrap();
            for c in 0..k {
                prop_assert!(same(a[r * k + c], b[r * k + c]), "row {r}: batch {} vs {}", a[r * k + c], b[r * k + c]);
                prop_assert!(same(a[r * k + c], one[c]), "row {r}: single {} vs {}", a[r * k + c], one[c]);
                prop_assert!(same(raw_a[c], raw_b[c]), "row {r}: raw {} vs {}", raw_a[c], raw_b[c]);
            }
        }
    }
}

/// Writes every fixture as a compiled file into `$WARMSTART_FUZZ_SEEDS`: the seed corpus of
/// the `compiled_model` fuzz target (`infra/scripts/fuzz.sh compiled_model`).
#[test]
#[ignore]
fn write_fuzz_seed_corpus() {
    let Ok(dir) = std::env::var("WARMSTART_FUZZ_SEEDS") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for name in model_names() {
        let p = load(&name);
        let file = compiled::write(&[Entry {
            path: &name,
            source_sha256: [0; 32],
            model: &p.parsed,
        }]);
        std::fs::write(Path::new(&dir).join(format!("{name}.wsc")), file).unwrap();
    }
}
