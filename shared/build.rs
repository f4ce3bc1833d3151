//! Converts the API contract, `docs/openapi.yaml`, to the JSON that `GET /openapi.json`
//! serves (`crate::api::openapi`). Done here rather than at first request so the function
//! binaries link no YAML parser and parse nothing on a cold start, and so a spec that is not
//! valid YAML (or not expressible as JSON) fails the build instead of a request.

use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let src = manifest_dir.join("../docs/openapi.yaml");
    println!("cargo:rerun-if-changed={}", src.display());
    let text =
        std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("reading {}: {e}", src.display()));
    let spec: serde_json::Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML for JSON: {e}", src.display()));
    let json = serde_json::to_string(&spec).expect("a JSON value serializes");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("openapi.json");
    std::fs::write(&out, json).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
