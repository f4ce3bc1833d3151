//! Request latency while a warm `recommend` container swaps models: the release binary through
//! the real Lambda runtime loop on the embedded S3 + DynamoDB emulators, a steady stream of
//! `POST /recommend` (one request at a time, as a Lambda container takes them, optionally
//! paced), then a new bundle version made active in the registry (`REGISTRY_TTL_SECS=1`), on
//! until the new version has answered `--after` requests. Prints round-trip and in-function
//! latency for the steady phase, the swap window (registry change → `--after` requests after
//! the first answer of the new version) and the requests around the background load, with the
//! requests each version served and the failures (none allowed).
//!
//! ```sh
//! cargo build --release -p recommend -p warmstart-tests --bin recommend --bin bench_swap
//! $CARGO_TARGET_DIR/release/bench_swap [--steady-secs 5] [--after 500] [--interval-ms 0] [--swaps 3]
//! ```

#[path = "bench_common.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};
use warmstart_tests::*;

const CUSTOMERS: usize = 500;

/// The bundle version published `i`-th (0 is active at spawn).
fn version(i: usize) -> String {
    format!("2026-12-02T10-00-00Z-swap{i:02}")
}

/// One request as the driver saw it.
struct Sample {
    round_trip_ms: f64,
    version: String,
}

/// Requests `[from, to)` of a run: round trip, and in-function latency from the request log.
fn rows(what: &str, samples: &[Sample], logged: &[f64], from: usize, to: usize) {
    let to = to.min(samples.len());
    let rt = samples[from..to].iter().map(|s| s.round_trip_ms).collect();
    println!("{}", Dist::new(rt).row(&format!("{what}: round trip (ms)")));
    let inner = logged[from.min(logged.len())..to.min(logged.len())].to_vec();
    println!(
        "{}",
        Dist::new(inner).row(&format!("{what}: in-function latency (ms, logged)"))
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let steady_secs: f64 = flag("--steady-secs", 5.0);
    let after: usize = flag("--after", 500);
    let interval = Duration::from_millis(flag("--interval-ms", 0));
    let swaps: usize = flag("--swaps", 3);
    let bin = beside_me("recommend");
    let emu = Emulator::start("swap").await;
    let tmp = tempfile::tempdir().expect("tempdir");
    eprintln!("publishing {} bundles, seeding…", swaps + 1);
    recommend_stack(&emu, &tmp.path().join("v0"), &version(0), CUSTOMERS).await;
    for i in 1..=swaps {
        let dir = tmp.path().join(format!("v{i}"));
        publish_recommender(&emu, &dir, &version(i), i as u64 + 1).await;
    }
    let mut env = emu.function_env();
    env.push(("REGISTRY_TTL_SECS".into(), "1".into()));
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(&bin, &api, &env);
    api.wait_ready(Duration::from_secs(30))
        .await
        .expect("ready");
    println!(
        "recommend swaps under steady load, embedded emulators; {} CPUs; interval {} ms; load \
         average at start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        interval.as_millis(),
        load_average()
    );

    let mut samples: Vec<Sample> = Vec::new();
    let (mut failures, mut degraded) = (0usize, 0usize);
    // Per swap: index of the first request sent after the registry change, and of the first
    // answer of the new version.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    let warmup = 50;
    for swap in 0..=swaps {
        let phase_start = Instant::now();
        let mut changed_at: Option<usize> = None;
        let mut first_new: Option<usize> = None;
        loop {
            let i = samples.len();
            if swap > 0 && changed_at.is_none() {
                changed_at = Some(i);
            }
            let id = 1_000_000 + i % CUSTOMERS;
            let ev = event_with_body(
                "apigw-recommend-valid.json",
                &format!(r#"{{"customer_id":"{id}","k":7}}"#),
            );
            let t = Instant::now();
            let outcome = api.invoke(&ev, Duration::from_secs(10)).await;
            let round_trip_ms = t.elapsed().as_secs_f64() * 1e3;
            let served = match outcome.as_ref().map(http_answer) {
                Ok((200, body)) => {
                    // A store read over its deadline answers popularity: not a swap failure,
                    // but counted.
                    degraded += usize::from(body["degraded"] != false);
                    body["model"]["version"].as_str().unwrap_or("").to_string()
                }
                other => {
                    failures += 1;
                    eprintln!("request {i} failed: {other:?}");
                    String::new()
                }
            };
            if swap > 0 && first_new.is_none() && served == version(swap) {
                first_new = Some(i);
            }
            samples.push(Sample {
                round_trip_ms,
                version: served,
            });
            let done = match first_new {
                Some(n) => i + 1 >= n + after,
                None => swap == 0 && phase_start.elapsed().as_secs_f64() >= steady_secs,
            };
            if done {
                break;
            }
            if phase_start.elapsed() >= Duration::from_secs(30) {
                // The function's own account of the registry checks and loads says why.
                let lines = f.lines();
                let logs = lines
                    .iter()
                    .filter(|l| l.contains("\"level\"") && !l.contains("\"message\":\"request\""));
                for line in logs.rev().take(20) {
                    eprintln!("{line}");
                }
                panic!("version {} was not served within 30 s", version(swap));
            }
            if !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
        if swap < swaps {
            // The next version becomes active; the container notices at its next TTL crossing.
            emu.set_active(MODEL_NAME, &version(swap + 1)).await;
        }
        if let (Some(c), Some(n)) = (changed_at, first_new) {
            marks.push((c, n));
        }
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged: Vec<f64> = (f.json_lines().iter())
        .filter(|l| l["message"] == "request" && l["route"] == "recommend")
        .filter_map(|l| l["latency_ms"].as_f64())
        .collect();
    assert_eq!(
        logged.len(),
        samples.len(),
        "one request log line per request"
    );
    let steady_end = marks.first().map_or(samples.len(), |m| m.0);
    println!("\n| measure | n | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    rows("steady", &samples, &logged, warmup, steady_end);
    for (k, &(changed, first_new)) in marks.iter().enumerate() {
        let what = format!("swap {}", k + 1);
        rows(
            &format!("{what} window"),
            &samples,
            &logged,
            changed,
            first_new + after,
        );
        rows(
            &format!("{what}, 50 before + 50 after the first new answer"),
            &samples,
            &logged,
            first_new.saturating_sub(50),
            first_new + 50,
        );
    }
    println!();
    for i in 0..=swaps {
        let n = samples.iter().filter(|s| s.version == version(i)).count();
        println!("- requests served by `{}`: {n}", version(i));
    }
    for (k, &(changed, first_new)) in marks.iter().enumerate() {
        println!(
            "- swap {}: {} requests from the registry change to the first answer of the new version",
            k + 1,
            first_new - changed
        );
    }
    let over_50 = samples.iter().filter(|s| s.round_trip_ms > 50.0).count();
    println!(
        "- failures: {failures}; degraded answers: {degraded}; requests over 50 ms (round trip): \
         {over_50}; load average at end {}",
        load_average()
    );
    assert_eq!(failures, 0, "every request must be answered by a model");
}
