//! Cold start, warm latency and memory of the release `recommend` binary, through the real
//! Lambda runtime loop (the harness's Runtime API emulator), with models and features from a
//! local moto_server (as the figures in docs/BENCHMARKS.md were measured: the store round trips
//! they include are moto's). Prints a markdown table.
//!
//! ```sh
//! cargo build --release -p recommend -p warmstart-tests --bin recommend --bin bench_recommend
//! $CARGO_TARGET_DIR/release/bench_recommend [--bundle DIR] [--customers 1000] [--warm 500] [--cold 5] [--bin PATH]
//! ```
//!
//! Without `--bundle`, a synthetic 24-model bundle of trained size (100 trees x 31 leaves per
//! model) is generated. `--bin` defaults to the `recommend` next to this executable.

use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::Manifest;
use warmstart_tests::*;

struct Args {
    bundle: Option<PathBuf>,
    customers: usize,
    warm: usize,
    cold: usize,
    bin: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        bundle: None,
        customers: 1000,
        warm: 500,
        cold: 5,
        bin: std::env::current_exe()
            .expect("current exe")
            .with_file_name("recommend"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--bundle" => a.bundle = Some(value().into()),
            "--customers" => a.customers = value().parse().expect("--customers N"),
            "--warm" => a.warm = value().parse().expect("--warm N"),
            "--cold" => a.cold = value().parse().expect("--cold N"),
            "--bin" => a.bin = value().into(),
            "-h" | "--help" => {
                println!("bench_recommend [--bundle DIR] [--customers N] [--warm N] [--cold N] [--bin PATH]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn request_logs(f: &FunctionProcess, route: &str) -> Vec<Value> {
    f.json_lines()
        .into_iter()
        .filter(|l| l["message"] == "request" && l["route"] == route)
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    assert!(
        a.bin.is_file(),
        "{} not found: cargo build --release -p recommend",
        a.bin.display()
    );
    eprintln!("starting moto_server…");
    let emu = Emulator::start_moto("bench").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, manifest): (PathBuf, Manifest) = match &a.bundle {
        Some(d) => {
            let m = Manifest::from_json(&std::fs::read(d.join("manifest.json")).expect("manifest"))
                .expect("manifest");
            (d.clone(), m)
        }
        None => {
            eprintln!("generating a 24 x 100-tree x 31-leaf bundle…");
            let m = synthetic_recommender_bundle_shaped(
                tmp.path(),
                "2026-11-22T10-00-00Z-bench01",
                1,
                TreeShape::REALISTIC,
            );
            (tmp.path().to_path_buf(), m)
        }
    };
    let bundle_bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", &dir)
        .await
        .expect("publish");
    emu.set_active(&manifest.name, &manifest.version).await;
    eprintln!("seeding {} customers…", a.customers);
    DynamoFeatureStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_customers(&seed_customers(a.customers.saturating_sub(3)))
        .await
        .expect("seed");

    let env = emu.function_env();
    let valid = sample_event("apigw-recommend-valid.json");

    // Cold starts: spawn → first invocation answered (the event is queued before spawn).
    let mut cold = Vec::new();
    let mut init = Vec::new();
    let mut first_handler = Vec::new();
    for i in 0..a.cold {
        let api = RuntimeApi::start().await;
        let f = FunctionProcess::spawn(&a.bin, &api, &env);
        let outcome = api
            .invoke(&valid, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", f.lines().join("\n")));
        cold.push(f.started.elapsed().as_secs_f64() * 1e3);
        let (status, body) = http_answer(&outcome);
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let lines = f.json_lines();
        if let Some(l) = lines.iter().find(|l| l["message"] == "init complete") {
            init.push(l["init_ms"].as_f64().unwrap_or(f64::NAN));
        }
        if let Some(l) = lines.iter().find(|l| l["message"] == "request") {
            first_handler.push(l["handler_ms"].as_f64().unwrap_or(f64::NAN));
        }
        eprintln!("cold start {}: {:.1} ms", i + 1, cold.last().unwrap());
    }

    // Warm: one container, many invocations.
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(&a.bin, &api, &env);
    api.wait_ready(Duration::from_secs(30))
        .await
        .expect("ready");
    let ids: Vec<String> = (0..a.customers.saturating_sub(3))
        .map(|i| (1_000_000 + i).to_string())
        .collect();
    let mut rt_single = Vec::new();
    let mut rt_health = Vec::new();
    let mut rt_batch = Vec::new();
    let health = sample_event("apigw-get-health.json");
    let batch = sample_event("apigw-recommend-batch-valid.json");
    for i in 0..a.warm {
        let id = &ids[i % ids.len().max(1)];
        let ev = event_with_body(
            "apigw-recommend-valid.json",
            &format!(r#"{{"customer_id":"{id}","k":7}}"#),
        );
        let t = Instant::now();
        let o = api
            .invoke(&ev, Duration::from_secs(10))
            .await
            .expect("invoke");
        rt_single.push(t.elapsed().as_secs_f64() * 1e3);
        let (status, body) = http_answer(&o);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["degraded"], false, "{body}");
        if i % 5 == 0 {
            let t = Instant::now();
            api.invoke(&health, Duration::from_secs(10))
                .await
                .expect("health");
            rt_health.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            api.invoke(&batch, Duration::from_secs(10))
                .await
                .expect("batch");
            rt_batch.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    // The same customers with `"explain": true`, after the plain ones (their log lines follow).
    let plain = a.warm;
    for i in 0..a.warm.div_ceil(2) {
        let id = &ids[i % ids.len().max(1)];
        let ev = event_with_body(
            "apigw-recommend-valid.json",
            &format!(r#"{{"customer_id":"{id}","k":7,"explain":true}}"#),
        );
        let o = api
            .invoke(&ev, Duration::from_secs(10))
            .await
            .expect("invoke");
        let (status, body) = http_answer(&o);
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss = f.peak_rss_kib();
    let all = request_logs(&f, "recommend");
    let (logs, explained) = all.split_at(plain.min(all.len()));
    let field = |logs: &[Value], k: &str| -> Vec<f64> {
        logs.iter().filter_map(|l| l[k].as_f64()).collect()
    };
    let handler = Dist::new(field(logs, "handler_ms"));
    let store = Dist::new(field(logs, "store_ms"));
    let latency = Dist::new(field(logs, "latency_ms"));
    let batch_logs = request_logs(&f, "recommend_batch");

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let binary_mb = std::fs::metadata(&a.bin).map_or(0.0, |m| m.len() as f64 / 1e6);
    let first_model = std::fs::read(dir.join(&manifest.files[0].path)).expect("model file");
    let trees = warmstart_core::model::Model::parse_bytes(&first_model)
        .expect("model")
        .num_trees();
    println!(
        "### recommend: {} models x {trees} trees, {:.1} MB of model text; {} customers; \
         {cpus} CPUs; features from moto_server; binary {binary_mb:.1} MB\n",
        manifest.files.len(),
        bundle_bytes as f64 / 1e6,
        a.customers,
    );
    println!("| measure | n | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    println!(
        "{}",
        Dist::new(cold).row("cold start: spawn → first answer (ms)")
    );
    println!(
        "{}",
        Dist::new(init).row("init: process start → ready (ms, logged)")
    );
    println!(
        "{}",
        Dist::new(first_handler).row("first request handler, excl. store (ms)")
    );
    println!(
        "{}",
        Dist::new(rt_single).row("warm POST /recommend, round trip through runtime API (ms)")
    );
    println!(
        "{}",
        latency.row("warm POST /recommend, in-function latency (ms)")
    );
    println!(
        "{}",
        handler.row("warm POST /recommend, handler excl. store (ms)")
    );
    println!(
        "{}",
        store.row("warm POST /recommend, store GetItem on moto (ms)")
    );
    println!(
        "{}",
        Dist::new(field(explained, "handler_ms"))
            .row("warm POST /recommend with explain: true (7 products), handler excl. store (ms)")
    );
    println!(
        "{}",
        Dist::new(rt_batch).row("warm POST /recommend/batch (3 ids), round trip (ms)")
    );
    println!(
        "{}",
        Dist::new(field(&batch_logs, "handler_ms"))
            .row("warm POST /recommend/batch, handler excl. store (ms)")
    );
    println!(
        "{}",
        Dist::new(rt_health).row("warm GET /health, round trip (ms)")
    );
    println!(
        "\nPeak RSS (VmHWM) after {} warm invocations: {}",
        a.warm + 2 * a.warm.div_ceil(5) + a.warm.div_ceil(2),
        rss.map_or("n/a".to_string(), |k| format!(
            "{:.1} MB",
            k as f64 / 1024.0
        ))
    );
}
