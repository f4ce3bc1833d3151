//! Any request body the functions can receive is answered, never a panic: recommend and batch
//! bodies parse or fail with an API error; a valuation body parses, validates and — carrying its
//! own `company`, `peers` and what-if inputs — runs the whole DCF / WACC / terminal value /
//! sensitivity / relative engine, ending in a response that serializes; the bodies of
//! `POST /models/{name}/predict`, `/explain` and `/fairness` parse and, when they do, are
//! scored, explained (TreeSHAP) and grouped by a 3-class model with numerical and categorical
//! features, ending in a response that serializes or an API error. Bundle manifests (what
//! reload reads from S3) parse and validate or fail cleanly. Run: `cargo fuzz run
//! request_bodies` (seed corpus: the bodies of `events/apigw-*.json`, see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use warmstart_core::bundle::{Bundle, Manifest};
use warmstart_core::predict::testing::generic_parts;
use warmstart_core::predict::Predictor;
use warmstart_core::predict::{explain, fairness, predict, FairnessRequest, PredictRequest};
use warmstart_core::recommend::{BatchRequest, RecommendRequest};
use warmstart_core::registry::{ServingSet, VersionRef};
use warmstart_core::valuation::{value, ValuationRequest};

/// A multiclass model with categorical features (`cat_small` takes `a`, `b`, `c`), served as
/// the predict function serves a registered model.
fn served() -> &'static ServingSet<Predictor> {
    static SET: OnceLock<ServingSet<Predictor>> = OnceLock::new();
    SET.get_or_init(|| {
        let text = include_str!("../../shared/tests/fixtures/models/categorical_multiclass.txt");
        let (manifest, files) =
            generic_parts(text, "fuzz", "v1", &[("cat_small", &["a", "b", "c"])]);
        let bundle = Bundle::from_parts(manifest, files).expect("fixture bundle");
        let predictor = Predictor::servable(bundle).expect("servable");
        ServingSet::single("fuzz", VersionRef::new("v1"), predictor)
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = RecommendRequest::parse(data);
    let _ = BatchRequest::parse(data);
    if let Ok(m) = Manifest::from_json(data) {
        let _ = m.validate();
    }
    if let Ok(request) = ValuationRequest::from_json(data) {
        let _ = request.cache_key(Some("v1"), "20250331");
        if let Ok(response) = value(&request, None, &[], None) {
            serde_json::to_string(&response).expect("a response serializes");
        }
    }
    if let Ok(request) = PredictRequest::parse(data) {
        if let Ok((response, _)) = predict(served(), &request, "fuzz") {
            serde_json::to_string(&response).expect("a response serializes");
        }
    }
    if let Ok(request) = PredictRequest::parse_explain(data) {
        if let Ok(response) = explain(served(), &request, "fuzz") {
            serde_json::to_string(&response).expect("a response serializes");
        }
    }
    if let Ok(request) = FairnessRequest::parse(data) {
        if let Ok(report) = fairness(served(), &request, "fuzz") {
            serde_json::to_string(&report).expect("a response serializes");
        }
    }
});
