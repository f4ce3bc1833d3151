//! The predict function's figures through the real Lambda runtime loop, with bundles in the
//! embedded S3 + DynamoDB emulators: first request of a model not yet warm (registry read,
//! S3 fetch, checks, load), warm latency for 1 and 100 rows, and memory with 10 models warm.
//! Prints a markdown table.
//!
//! ```sh
//! cargo build --release -p predict -p warmstart-tests --bin predict --bin bench_predict
//! $CARGO_TARGET_DIR/release/bench_predict [--warm 500] [--models 10] [--bin PATH]
//! ```
//!
//! Each model is one LightGBM model of trained size (100 trees x 31 leaves, 36 features),
//! served as a `generic` bundle.

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warmstart_core::bundle::write_bundle;
use warmstart_core::predict::testing::generic_parts;
use warmstart_tests::*;

struct Args {
    warm: usize,
    models: usize,
    bin: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        warm: 500,
        models: 10,
        bin: std::env::current_exe()
            .expect("current exe")
            .with_file_name("predict"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--warm" => a.warm = value().parse().expect("--warm N"),
            "--models" => a.models = value().parse().expect("--models N"),
            "--bin" => a.bin = value().into(),
            "-h" | "--help" => {
                println!("bench_predict [--warm N] [--models N] [--bin PATH]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn body(rows: usize, features: &[String]) -> String {
    let rows: Vec<Value> = (0..rows)
        .map(|r| {
            let row: serde_json::Map<String, Value> = (features.iter().enumerate())
                .filter(|(f, _)| (r + f) % 7 != 0)
                .map(|(f, name)| (name.clone(), json!(((r * 31 + f * 17) % 97) as f64 / 9.0)))
                .collect();
            Value::Object(row)
        })
        .collect();
    json!({ "rows": rows }).to_string()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    assert!(
        a.bin.is_file(),
        "{} not found: cargo build --release -p predict",
        a.bin.display()
    );
    let emu = Emulator::start("bench-predict").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut features = Vec::new();
    let mut model_bytes = 0;
    for m in 0..a.models {
        let text = recommender_model_text(m % 24, m as u64 + 1, TreeShape::REALISTIC);
        let name = format!("model-{m}");
        let (manifest, files) = generic_parts(&text, &name, "v1", &[]);
        features = manifest.features.iter().map(|f| f.name.clone()).collect();
        model_bytes = text.len();
        let dir = tmp.path().join(&name);
        write_bundle(&dir, manifest, &files).expect("write");
        warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", &dir)
            .await
            .expect("publish");
        emu.set_active(&name, "v1").await;
    }

    let spawned = Instant::now();
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(&a.bin, &api, &emu.function_env());
    api.wait_ready(Duration::from_secs(30))
        .await
        .expect("ready");
    let ready_ms = spawned.elapsed().as_secs_f64() * 1e3;

    let call = |model: String, body: String| {
        let api = &api;
        async move {
            let path = format!("/models/{model}/predict");
            let ev = apigw_event("POST", &path, Some(&body));
            let t = Instant::now();
            let o = api
                .invoke(&ev, Duration::from_secs(10))
                .await
                .expect("invoke");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let (status, v) = http_answer(&o);
            assert_eq!(status, 200, "{v}");
            ms
        }
    };
    let one = body(1, &features);
    let hundred = body(100, &features);
    let mut first = Vec::new();
    for m in 0..a.models {
        first.push(call(format!("model-{m}"), one.clone()).await);
    }
    let (mut warm1, mut warm100) = (Vec::new(), Vec::new());
    for i in 0..a.warm {
        let model = format!("model-{}", i % a.models);
        warm1.push(call(model.clone(), one.clone()).await);
        if i % 5 == 0 {
            warm100.push(call(model, hundred.clone()).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss = f.peak_rss_kib();
    let logs: Vec<Value> = (f.json_lines().into_iter())
        .filter(|l| l["message"] == "request" && l["route"] == "predict")
        .collect();
    // The first `models` requests loaded their model: they are the first-use rows above.
    let latency = |rows: u64| -> Vec<f64> {
        (logs.iter().skip(a.models))
            .filter(|l| l["rows"].as_u64() == Some(rows))
            .filter_map(|l| l["latency_ms"].as_f64())
            .collect()
    };
    let loads: Vec<f64> = (f.json_lines().iter())
        .filter(|l| l["message"] == "model loaded on first use")
        .filter_map(|l| l["load_ms"].as_f64())
        .collect();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "### predict: {} generic models of 100 trees x 31 leaves ({} features, {:.2} MB of text \
         each); {cpus} CPUs; embedded S3 + DynamoDB; spawn → ready {ready_ms:.1} ms\n",
        a.models,
        features.len(),
        model_bytes as f64 / 1e6
    );
    println!("| measure | n | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    let rows = [
        (
            first,
            "first request of a model not yet warm, round trip (ms)",
        ),
        (
            loads,
            "  of which the load: registry + S3 + checks + build (ms, logged)",
        ),
        (
            warm1,
            "warm predict, 1 row, round trip through runtime API (ms)",
        ),
        (latency(1), "warm predict, 1 row, in-function latency (ms)"),
        (warm100, "warm predict, 100 rows, round trip (ms)"),
        (
            latency(100),
            "warm predict, 100 rows, in-function latency (ms)",
        ),
    ];
    for (v, what) in rows {
        println!("{}", Dist::new(v).row(what));
    }
    println!(
        "\nPeak RSS (VmHWM) with {} models warm: {}",
        a.models,
        rss.map_or("n/a".to_string(), |k| format!(
            "{:.1} MB",
            k as f64 / 1024.0
        ))
    );
}
