//! End to end: the `valuation` binary cargo built for this test, run through its real Lambda
//! runtime loop (the Runtime API emulator of `warmstart-devkit`), with a fair-multiple bundle
//! published to and a synthetic company universe seeded into the embedded S3 + DynamoDB
//! emulators, fed the API Gateway v2 sample events of `events/`.

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use warmstart_core::aws::sdk::dynamodb::types::AttributeValue;
use warmstart_core::aws::valuation_store::DynamoCompanyStore;
use warmstart_core::bundle::write_bundle;
use warmstart_core::valuation::synthetic::{
    synthetic_companies, synthetic_fair_multiple_parts, FAIR_MULTIPLE_NAME,
};
use warmstart_core::valuation::ValuationRequest;
use warmstart_tests::*;

const VERSION: &str = "2026-11-22T10-00-00Z-fm0e2e1";
const AS_OF: &str = "20250331";
const TTL: i64 = 3600;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_valuation"))
}

struct Stack {
    emu: Emulator,
    cache_table: String,
}

/// Publishes the synthetic fair-multiple bundle `VERSION` to the emulator's bucket.
async fn publish_fair_multiple(emu: &Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, files) = synthetic_fair_multiple_parts(VERSION, 1);
    write_bundle(dir.path(), manifest, &files).unwrap();
    warmstart_core::aws::publish_bundle(&emu.s3, &emu.bucket, "models/", dir.path())
        .await
        .unwrap();
}

/// The embedded emulators with a published fair-multiple bundle, seeded companies (with
/// industry indexes) and a ValuationCache table; the registry is left empty.
async fn stack(tag: &str) -> Stack {
    stack_on(Emulator::start(tag).await, tag).await
}

async fn stack_on(emu: Emulator, tag: &str) -> Stack {
    publish_fair_multiple(&emu).await;
    let report = DynamoCompanyStore::new(emu.dynamo.clone(), &emu.features_table)
        .put_companies(&synthetic_companies(60, 1, AS_OF))
        .await
        .unwrap();
    assert_eq!(report.companies, 60);
    let cache_table = unique_name(&format!("ValuationCache-{tag}"));
    create_table(&emu.dynamo, &cache_table, "pk").await;
    Stack { emu, cache_table }
}

impl Stack {
    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.emu.function_env();
        env.retain(|(k, _)| k != "MODEL_NAME");
        env.extend(
            [
                ("MODEL_NAME", FAIR_MULTIPLE_NAME),
                ("VALUATION_CACHE_TABLE", self.cache_table.as_str()),
                ("CACHE_TTL_SECS", "3600"),
                // Generous: a busy 2-core machine.
                ("STORE_DEADLINE_MS", "3000"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env
    }
}

async fn run(env: Vec<(String, String)>) -> Running {
    Running::start(binary(), &env).await
}

/// The sample events `apigw-valuation-<event>.json` that are refused: (event, status, problem
/// code, what the message names).
#[rustfmt::skip]
const INVALID_EVENTS: [(&str, i64, &str, &str); 3] = [
    ("invalid-growth-above-wacc", 400, "growth_not_below_wacc", "terminal_growth_rate"),
    ("invalid-forecast-years-zero", 400, "invalid_field", "forecast_years"),
    ("unknown-ts-code", 404, "not_found", "000000.XX"),
];

/// The raw `valuation_results` text of a response body.
fn results_text(body: &str) -> &str {
    let start = body
        .find("\"valuation_results\"")
        .expect("valuation_results");
    let end = body.find("\"relative\"").expect("relative");
    &body[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_events_through_the_runtime_loop_with_the_cache() {
    let s = stack("vale2e").await;
    s.emu.set_active(FAIR_MULTIPLE_NAME, VERSION).await;
    let f = run(s.env()).await;

    // A seeded company: consistent DCF, relative and ML sections.
    let valid_event = sample_event("apigw-valuation-valid.json");
    let (status, v, first_text) = f.http_raw(&valid_event).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["cached"], false);
    assert_eq!(v["degraded"], false, "{v}");
    assert_eq!(v["ts_code"], "600519.SH");
    let ev: Value = serde_json::from_slice(&valid_event).unwrap();
    assert_eq!(v["request_id"], ev["requestContext"]["requestId"]);
    assert_eq!(v["model"]["name"], FAIR_MULTIPLE_NAME);
    assert_eq!(v["model"]["version"], VERSION);
    let d = &v["valuation_results"]["dcf_forecast_details"];
    let f64_of = |x: &Value| x.as_f64().unwrap();
    assert_eq!(
        f64_of(&d["enterprise_value"]),
        f64_of(&d["pv_forecast_ufcf"]) + f64_of(&d["pv_terminal_value"])
    );
    assert_eq!(
        f64_of(&d["equity_value"]),
        f64_of(&d["enterprise_value"]) - f64_of(&d["net_debt"])
    );
    assert!(f64_of(&d["value_per_share"]) > 0.0);
    let table =
        &v["valuation_results"]["sensitivity_analysis_result"]["result_tables"]["value_per_share"];
    assert_eq!(table.as_array().unwrap().len(), 3);
    assert_eq!(
        v["valuation_results"]["detailed_forecast_table"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let rel = &v["relative"];
    assert!(rel["peer_count"].as_u64().unwrap() >= 3, "{rel}");
    assert!(rel["implied_price_pe"].as_f64().unwrap() > 0.0);
    let ml = &v["ml_fair_multiple"];
    assert!(ml["fair_pe"].as_f64().unwrap() > 0.0);
    assert!(ml["implied_price"].as_f64().unwrap() > 0.0);
    let b = &v["blended_target"];
    let w = &b["weights"];
    assert_eq!(
        (w["dcf"].as_f64(), w["relative"].as_f64(), w["ml"].as_f64()),
        (Some(0.5), Some(0.25), Some(0.25))
    );
    let blended = 0.5 * f64_of(&d["value_per_share"])
        + 0.25 * f64_of(&rel["implied_price"])
        + 0.25 * f64_of(&ml["implied_price"]);
    assert!((f64_of(&b["price"]) - blended).abs() <= 1e-9 * blended);

    // The same request again: from the cache, byte-identical numbers, this request's id.
    let mut again: Value = ev.clone();
    again["requestContext"]["requestId"] = "second-request".into();
    let (status, v2, second_text) = f.http_raw(&serde_json::to_vec(&again).unwrap()).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["cached"], true);
    assert_eq!(v2["request_id"], "second-request");
    assert_eq!(results_text(&first_text), results_text(&second_text));
    assert_eq!(v2["ml_fair_multiple"], v["ml_fair_multiple"]);
    assert_eq!(v2["relative"], v["relative"]);

    // The cache item: keyed by the normalized request, with its TTL.
    let body = ev["body"].as_str().unwrap();
    let key = ValuationRequest::from_json(body.as_bytes())
        .unwrap()
        .cache_key(Some(VERSION), AS_OF)
        .unwrap();
    let item = s
        .emu
        .dynamo
        .get_item()
        .table_name(&s.cache_table)
        .key("pk", AttributeValue::S(key.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no cache item {key}"));
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(
        (unix_now() + TTL - 120..=unix_now() + TTL).contains(&expires),
        "{expires}"
    );
    assert_eq!(item["ts_code"].as_s().unwrap(), "600519.SH");
    assert_eq!(item["model_version"].as_s().unwrap(), VERSION);

    // Aliases: same DCF, no table; served from its own cache entry the second time.
    let (status, a) = f.event("apigw-valuation-valid-aliases.json").await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        a["valuation_results"]["dcf_forecast_details"],
        v["valuation_results"]["dcf_forecast_details"]
    );
    assert!(a["valuation_results"]["sensitivity_analysis_result"].is_null());
    let (_, a2) = f.event("apigw-valuation-valid-aliases.json").await;
    assert_eq!(a2["cached"], true);

    let (status, e) = f.event("apigw-valuation-valid-exit-multiple.json").await;
    assert_eq!(status, 200, "{e}");
    let ed = &e["valuation_results"]["dcf_forecast_details"];
    assert_eq!(ed["exit_multiple_used"], 12.0);
    assert!(ed["implied_perpetual_growth"].is_f64());

    for (event, want, code, needle) in INVALID_EVENTS {
        let name = format!("apigw-valuation-{event}.json");
        let ev: Value = serde_json::from_slice(&sample_event(&name)).unwrap();
        let (status, p) = f.event(&name).await;
        assert_eq!(
            (status, &p["status"], &p["code"], &p["request_id"]),
            (
                want,
                &json!(want),
                &json!(code),
                &ev["requestContext"]["requestId"]
            ),
            "{name}: {p}"
        );
        let message = p["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {p}");
    }

    let (status, h) = f.event("apigw-get-health.json").await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["function"], "valuation");
    assert_eq!(h["model"]["version"], VERSION);
    assert_eq!(h["degraded"], false);

    // Telemetry: request log lines and EMF documents with Function = valuation.
    let lines = f.settled_json_lines().await;
    let init = init_log(&lines);
    assert_eq!(init["model_version"], VERSION);
    assert!(lines
        .iter()
        .any(|l| l["message"] == "fair-multiple model loaded" && l["version_from"] == "registry"));
    let requests: Vec<&Value> = lines.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 9);
    assert_eq!(requests[0]["cold_start"], true);
    assert_eq!(requests[1]["cache_hit"], true);
    let emf: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(!emf.is_empty());
    assert!(emf.iter().all(|d| d["Function"] == "valuation"));
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Function"]])
    );
    let total = |name: &str| -> u64 { emf.iter().filter_map(|d| d[name].as_u64()).sum() };
    assert_eq!(total("Requests"), 8);
    assert_eq!(total("CacheHit"), 2);
    assert_eq!(total("Degraded"), 0);
    assert_eq!(total("ColdStart"), 1);
    assert!(emf.iter().any(|d| d["Latency"].is_array()));
}

/// `warmstart seed valuation --csv` (the CLI binary) imports the TuShare-style fixture export
/// into the emulated Features table; the function then values an imported company from those
/// figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tushare_csv_import_is_valued_through_the_runtime_loop() {
    let emu = Emulator::start("valcsv").await;
    publish_fair_multiple(&emu).await;
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/testdata/tushare");
    let out = std::process::Command::new(cli_binary(binary()))
        .args(["seed", "valuation", "--csv"])
        .arg(&export)
        .args(["--table", &emu.features_table])
        .args(["--endpoint-url", &emu.dynamodb_endpoint])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("wrote 5 company items and 2 industry index items")
            && stdout.contains("market data as of 20240628"),
        "{stdout}"
    );
    assert!(
        stderr.contains("300999.SZ: no daily_basic.csv row"),
        "{stderr}"
    );
    let cache_table = unique_name("ValuationCache-valcsv");
    create_table(&emu.dynamo, &cache_table, "pk").await;
    emu.set_active(FAIR_MULTIPLE_NAME, VERSION).await;
    let s = Stack { emu, cache_table };
    let f = run(s.env()).await;

    let body = r#"{"ts_code":"600519.SH","risk_free_rate":0.025,"market_risk_premium":0.06,"terminal_growth_rate":0.02}"#;
    let event = event_with_body("apigw-valuation-valid.json", body);
    let (status, v, _) = f.http_raw(&event).await;
    assert_eq!(status, 200, "{v}");
    let info = &v["stock_info"];
    assert_eq!(info["name"], "贵州茅台");
    assert_eq!(info["industry"], "白酒");
    assert_eq!(info["as_of"], "20240628");
    assert_eq!(info["latest_price"], 1469.0);
    assert_eq!(info["total_shares"], 1_256_197_800.0);
    assert_eq!(info["base_report_date"], "20231231");
    let d = &v["valuation_results"]["dcf_forecast_details"];
    // No borrowings, 69.45 bn cash: net debt is minus the cash of the 2023 balance sheet.
    assert_eq!(d["net_debt"], -69_450_000_000.0);
    assert_eq!(d["shares_outstanding"], 1_256_197_800.0);
    let vps = d["value_per_share"].as_f64().unwrap();
    assert!(vps.is_finite() && vps > 0.0, "{d}");
    let rows = v["valuation_results"]["detailed_forecast_table"]
        .as_array()
        .unwrap();
    assert_eq!(rows[0]["year"], 2024);
    // The history the forecast starts from is the imported one: 2023 revenue 147.69 bn grows.
    assert!(
        rows[0]["revenue"].as_f64().unwrap() > 147.69e9,
        "{}",
        rows[0]
    );
    let warnings = v["valuation_results"]["data_warnings"].to_string();
    assert!(!warnings.contains("unit"), "{warnings}");
    // The beta of beta.csv was used (the request gave none).
    assert_eq!(v["assumptions"]["beta"], 0.92, "{}", v["assumptions"]);
    // Peers: the other two 白酒 companies of the import.
    assert_eq!(v["relative"]["peer_count"], 2, "{}", v["relative"]);
    assert!(v["ml_fair_multiple"]["fair_pe"].as_f64().unwrap() > 0.0);

    let (status, again, _) = f.http_raw(&event).await;
    assert_eq!(status, 200);
    assert_eq!(again["cached"], true);
    assert_eq!(
        again["valuation_results"]["dcf_forecast_details"],
        v["valuation_results"]["dcf_forecast_details"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_answers_are_degraded_not_failed() {
    let s = stack("vale2enm").await;
    // Registry empty and no MODEL_VERSION: nothing to serve.
    let f = run(s.env()).await;
    let (status, v) = f.event("apigw-valuation-valid.json").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["degraded"], true);
    assert!(v["ml_fair_multiple"].is_null() && v["model"].is_null());
    assert!(v["relative"]["peer_count"].as_u64().unwrap() > 0);
    // Degraded answers are not cached.
    let (_, v) = f.event("apigw-valuation-valid.json").await;
    assert_eq!(v["cached"], false);
    let (_, h) = f.event("apigw-get-health.json").await;
    assert_eq!(h["degraded"], true);
    let degraded: u64 = f
        .settled_json_lines()
        .await
        .iter()
        .filter_map(|d| d["Degraded"].as_u64())
        .sum();
    assert_eq!(degraded, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_is_a_503_within_the_deadline() {
    let mut s = stack("vale2eout").await;
    let mut env = s.env();
    env.push(("MODEL_VERSION".into(), VERSION.into()));
    env.push(("STORE_DEADLINE_MS".into(), "300".into()));
    let f = run(env).await;
    let (status, _) = f.event("apigw-valuation-valid-aliases.json").await;
    assert_eq!(status, 200);
    s.emu.stop().await;
    let t = std::time::Instant::now();
    let (status, p) = f.event("apigw-valuation-valid.json").await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["code"], "store_unavailable");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let (status, _) = f.event("apigw-get-health.json").await;
    assert_eq!(status, 200);
}

/// Cold and warm figures of a valuation binary (`VALUATION_BIN`, default the one cargo built
/// for this test: build with `--release` and point `VALUATION_BIN` at it for real figures).
/// `cargo test -p valuation --test e2e -- --ignored --nocapture figures`
/// On moto, as the figures in docs/BENCHMARKS.md were measured: the store round trips they
/// include are moto's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn figures() {
    let bin = std::env::var("VALUATION_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| binary().to_path_buf());
    let s = stack_on(Emulator::start_moto("valbench").await, "valbench").await;
    s.emu.set_active(FAIR_MULTIPLE_NAME, VERSION).await;
    let t = std::time::Instant::now();
    let f = Running::start(&bin, &s.env()).await;
    let ready = t.elapsed();
    let time = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let (status, _) = f.event("apigw-valuation-valid.json").await;
    assert_eq!(status, 200);
    let first = time(t);
    let pct = |mut v: Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let (mut misses, mut hits) = (Vec::new(), Vec::new());
    for i in 0..50 {
        let body = format!(
            r#"{{"ts_code":"600519.SH","beta":{},"sensitivity":{{"rows":{{"axis":"wacc","values":[0.07,0.08,0.09]}},"columns":{{"axis":"terminal_growth","values":[0.015,0.02,0.025]}}}}}}"#,
            0.8 + i as f64 * 0.01
        );
        let ev = event_with_body("apigw-valuation-valid.json", &body);
        let t = std::time::Instant::now();
        let (_, v, _) = f.http_raw(&ev).await;
        misses.push(time(t));
        assert_eq!(v["cached"], false);
        let t = std::time::Instant::now();
        let (_, v, _) = f.http_raw(&ev).await;
        hits.push(time(t));
        assert_eq!(v["cached"], true);
    }
    let lines = f.settled_json_lines().await;
    let init_ms = lines
        .iter()
        .find(|l| l["message"] == "init complete")
        .and_then(|l| l["init_ms"].as_f64());
    let compute: Vec<f64> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["cache_hit"] == false)
        .filter_map(|l| l["compute_ms"].as_f64())
        .collect();
    println!("binary: {}", bin.display());
    println!(
        "cold: process start to ready {:.0} ms (init_ms {:?}), first request {first:.1} ms",
        ready.as_secs_f64() * 1e3,
        init_ms
    );
    println!(
        "warm miss (company + cache get + peers + value + cache put): p50 {:.2} ms, p99 {:.2} ms",
        pct(misses.clone(), 0.5),
        pct(misses, 0.99)
    );
    println!(
        "warm hit (company + cache get): p50 {:.2} ms, p99 {:.2} ms",
        pct(hits.clone(), 0.5),
        pct(hits, 0.99)
    );
    println!(
        "valuation compute (in handler): p50 {:.3} ms, p99 {:.3} ms",
        pct(compute.clone(), 0.5),
        pct(compute, 0.99)
    );
    println!("peak RSS: {:?} KiB", f.process.peak_rss_kib());
}
