//! Any request body the functions can receive is answered, never a panic: recommend and batch
//! bodies parse or fail with an API error; a valuation body parses, validates and — carrying its
//! own `company`, `peers` and what-if inputs — runs the whole DCF / WACC / terminal value /
//! sensitivity / relative engine, ending in a response that serializes. Bundle manifests (what
//! reload reads from S3) parse and validate or fail cleanly. Run: `cargo fuzz run
//! request_bodies` (seed corpus: the bodies of `events/apigw-*.json`, see fuzz/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warmstart_core::bundle::Manifest;
use warmstart_core::recommend::{BatchRequest, RecommendRequest};
use warmstart_core::valuation::{value, ValuationRequest};

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
});
