//! Any bytes given to the model parser load or fail cleanly; a model that loads predicts
//! and explains without panicking on edge-case rows. Run: `cargo fuzz run parse_model` from the repo root
//! (seed corpus: `shared/tests/fixtures/models/*.txt`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warmstart_core::model::ShapScratch;
use warmstart_core::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::parse_bytes(data) {
        let nf = model.num_features();
        if nf > 10_000 {
            return;
        }
        let mut out = vec![0.0; model.num_outputs()];
        for v in [f64::NAN, 0.0, -1.0, 1.0, 1e300, f64::INFINITY, 3e9] {
            let row = vec![v; nf];
            model.predict_into(&row, &mut out).expect("widths match");
            if model.can_explain() {
                let mut contrib = vec![0.0; model.contrib_len()];
                model
                    .contrib_into(&row, &mut contrib, &mut ShapScratch::new())
                    .expect("widths match");
            }
        }
    }
});
