//! Cold starts of the release `recommend` and `valuation` binaries through the real Lambda
//! runtime loop, with their bundles (compiled `models.wsc` beside the text, as `warmstart
//! publish` writes them) and data in the embedded S3 + DynamoDB emulators of the local stack.
//! Prints, per function, spawn → first answer and the function's own init figures (the `model
//! loaded` and `init complete` log lines: config, registry, fetch, verify + load, golden, store
//! warm-up) as a markdown table.
//!
//! ```sh
//! cargo build --release -p recommend -p valuation -p warmstart-tests \
//!   --bin recommend --bin valuation --bin bench_coldstart
//! $CARGO_TARGET_DIR/release/bench_coldstart [--cold 30]
//! ```
//!
//! Each cold start: a new Runtime API emulator and process; the event is queued right after
//! spawn, and the clock runs from spawn until the answer is posted. Valuation asks for another
//! company each time, so every first answer is a cache miss.

#[path = "bench_common.rs"]
mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use warmstart_core::model::compiled;
use warmstart_core::valuation::synthetic::synthetic_companies;
use warmstart_tests::*;

/// The `_ms` fields of init's two log lines, in the order a reader follows init.
const BREAKDOWN: [(&str, &str); 9] = [
    ("init complete", "config_ms"),
    ("model loaded", "registry_ms"),
    ("model loaded", "fetch_ms"),
    ("model loaded", "load_ms"),
    ("model loaded", "golden_ms"),
    ("model loaded", "bundle_ms"),
    ("model loaded", "candidates_ms"),
    ("init complete", "store_warmup_ms"),
    ("init complete", "init_ms"),
];

/// What `n` cold starts measured.
#[derive(Default)]
struct Cold {
    first_answer: Vec<f64>,
    fields: BTreeMap<&'static str, Vec<f64>>,
    compiled: usize,
}

async fn cold_starts(
    bin: &Path,
    env: &[(String, String)],
    n: usize,
    event: impl Fn(usize) -> Vec<u8>,
) -> Cold {
    let mut cold = Cold::default();
    for i in 0..n {
        let api = RuntimeApi::start().await;
        let f = FunctionProcess::spawn(bin, &api, env);
        let outcome = api
            .invoke(&event(i), Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", f.lines().join("\n")));
        cold.first_answer
            .push(f.started.elapsed().as_secs_f64() * 1e3);
        let (status, body) = http_answer(&outcome);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["degraded"], false, "{body}");
        // The log lines come through a pipe: give them a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let lines = f.json_lines();
        for (message, field) in BREAKDOWN {
            if let Some(v) = log_line(&lines, message).and_then(|l| l[field].as_f64()) {
                cold.fields.entry(field).or_default().push(v);
            }
        }
        if log_line(&lines, "model loaded").is_some_and(|l| l["compiled"] == true) {
            cold.compiled += 1;
        }
    }
    cold
}

fn print(function: &str, cold: Cold, n: usize) {
    println!(
        "\n### {function}: {n} cold starts, {} from the compiled file; load average {}\n",
        cold.compiled,
        load_average()
    );
    println!("| measure | n | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        Dist::new(cold.first_answer).row("spawn → first answer (ms)")
    );
    for (_, field) in BREAKDOWN {
        if let Some(v) = cold.fields.get(field) {
            println!(
                "{}",
                Dist::new(v.clone()).row(&format!("`{field}` (logged)"))
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = flag("--cold", 30);
    let (recommend, valuation) = (beside_me("recommend"), beside_me("valuation"));
    let emu = Emulator::start("cold").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    eprintln!("publishing the bundles, seeding…");
    recommend_stack(
        &emu,
        &tmp.path().join("rec"),
        "2026-12-02T10-00-00Z-cold01",
        200,
    )
    .await;
    let val_env =
        valuation_stack(&emu, &tmp.path().join("val"), "2026-12-02T10-00-00Z-coldfm").await;
    println!(
        "cold starts on the embedded emulators; {} CPUs; load average at start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    let wsc = tmp.path().join("rec").join(compiled::FILE_NAME);
    let wsc = std::fs::read(&wsc).unwrap_or_else(|e| panic!("{}: {e}", wsc.display()));
    println!(
        "recommend's {}: {} bytes, layout {}",
        compiled::FILE_NAME,
        wsc.len(),
        compiled::layout_version(&wsc).unwrap_or(0)
    );

    let rec = cold_starts(&recommend, &emu.function_env(), n, |_| {
        sample_event("apigw-recommend-valid.json")
    })
    .await;
    print("recommend", rec, n);

    let companies = synthetic_companies(60, 1, "20250331");
    let template: Value =
        serde_json::from_slice(&sample_event("apigw-valuation-valid.json")).expect("sample event");
    let body: Value = serde_json::from_str(template["body"].as_str().expect("body")).expect("body");
    let val = cold_starts(&valuation, &val_env, n, |i| {
        let mut body = body.clone();
        body["ts_code"] = json!(companies[i % companies.len()].ts_code);
        event_with_body("apigw-valuation-valid.json", &body.to_string())
    })
    .await;
    print("valuation", val, n);
}
