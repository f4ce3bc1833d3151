//! Any bytes given to the compiled-model loader load or are refused cleanly; a model that
//! loads predicts and explains edge-case rows, single and batched, without panicking, and
//! its scan (when it has one) scores them as the walk does. A
//! checksum guards every real file, so most inputs are also tried as a payload inside a valid
//! header and through `load_verified` (no payload checksum): that is what reaches the index
//! checks. Run: `infra/scripts/fuzz.sh compiled_model` (seed corpus: the fixture models
//! compiled, written by the ignored `write_fuzz_seed_corpus` test).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warmstart_core::model::{compiled, ShapScratch};

fuzz_target!(|data: &[u8]| {
    // The input as a file, as a file whose checksum was verified elsewhere (a bundle's
    // manifest: `load_verified`), and as a payload in a valid header.
    let framed = compiled::frame(data.get(56..).unwrap_or(&[]));
    for loaded in [
        compiled::load(data),
        compiled::load_verified(data),
        compiled::load(&framed),
    ] {
        let Ok(models) = loaded else {
            continue;
        };
        for m in models {
            let model = m.model;
            let nf = model.num_features();
            if nf > 10_000 {
                continue;
            }
            let mut out = vec![0.0; model.num_outputs()];
            let mut rows = Vec::new();
            for v in [f64::NAN, 0.0, -1.0, 1.0, 1e300, f64::INFINITY, 3e9, 1e-40, 33.0] {
                let row = vec![v; nf];
                model.predict_into(&row, &mut out).expect("widths match");
                rows.extend(row);
            }
            let mut batch = vec![0.0; 9 * model.num_outputs()];
            model.predict_batch_into(&rows, &mut batch).expect("widths match");
            // The scan is built from the same nodes and must score as the walk.
            if model.prepare_scan() {
                let mut scanned = vec![0.0; batch.len()];
                model.predict_batch_into(&rows, &mut scanned).expect("widths match");
                let same = |a: &f64, b: &f64| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan();
                assert!(batch.iter().zip(&scanned).all(|(a, b)| same(a, b)));
            }
            // Explanation walks the same nodes with its own recursion and counts.
            if model.can_explain() {
                let mut contrib = vec![0.0; model.contrib_len()];
                let mut scratch = ShapScratch::new();
                for row in rows.chunks_exact(nf) {
                    model
                        .contrib_into(row, &mut contrib, &mut scratch)
                        .expect("widths match");
                }
            }
        }
    }
});
