use super::*;
use crate::bundle::{Bundle, ModelKind};
use crate::http::testing::{body_json as json, event, handle, text, with_body};
use crate::valuation::store::{Faults, MemoryCache, MemoryCompanyStore};
use crate::valuation::synthetic::{synthetic_companies, synthetic_fair_multiple_bundle};
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde_json::Value;

const VERSION: &str = "2026-11-22T10-00-00Z-fm00001";

fn with_rid(mut ev: ApiGatewayV2httpRequest, rid: &str) -> ApiGatewayV2httpRequest {
    ev.request_context.request_id = Some(rid.to_string());
    ev
}

type Service = ValuationService<MemoryCompanyStore, MemoryCache>;

fn service_with(model: bool, config: ValuationConfig) -> Service {
    let model =
        model.then(|| FairMultipleModel::new(synthetic_fair_multiple_bundle(VERSION, 1)).unwrap());
    ValuationService::new(
        MemoryCompanyStore::new(synthetic_companies(60, 1, "20250331")),
        MemoryCache::default(),
        model,
        config,
        Instant::now(),
    )
}

fn service() -> Service {
    service_with(true, ValuationConfig::default())
}

/// Makes `v-shadow` (another fair-multiple model) the shadow of what `s` serves.
fn add_shadow(s: &Service) {
    let mut set = ServingSet::clone(&s.serving().unwrap());
    set.shadow = Some(Slot::new(
        VersionRef::new("v-shadow"),
        FairMultipleModel::new(synthetic_fair_multiple_bundle("v-shadow", 2)).unwrap(),
    ));
    s.swap_serving(set);
}

/// A new container (nothing in memory) over the same store and cache table as `s`.
fn another_container(s: &Service) -> Service {
    let model = FairMultipleModel::new(synthetic_fair_multiple_bundle(VERSION, 1)).unwrap();
    ValuationService::new(
        s.store().clone(),
        s.cache().clone(),
        Some(model),
        ValuationConfig::default(),
        Instant::now(),
    )
}

async fn call(s: &Service, ev: &ApiGatewayV2httpRequest) -> (u16, Value, ValuationStats) {
    let (resp, stats) = handle(s, ev, "lambda-rid").await;
    let status = resp.status_code as u16;
    (status, json(&resp), stats)
}

/// The raw JSON text of `valuation_results` in a response body.
fn results_text(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap();
    serde_json::to_string(&v["valuation_results"]).unwrap()
}

#[tokio::test]
async fn sample_events_get_the_documented_answers() {
    let s = service();
    let (status, v, stats) = call(&s, &event("apigw-valuation-valid.json")).await;
    assert_eq!(status, 200, "{v}");
    assert!(stats.counted && !stats.degraded && !stats.cache_hit);
    assert_eq!(v["ts_code"], "600519.SH");
    assert_eq!(v["cached"], false);
    assert_eq!(v["degraded"], false);
    assert_eq!(v["request_id"], "YW9UqC_oaEIRf6=");
    assert_eq!(v["model"]["name"], "fair-multiple");
    assert_eq!(v["model"]["version"], VERSION);
    let r = &v["valuation_results"];
    let table = &r["sensitivity_analysis_result"]["result_tables"]["value_per_share"];
    assert_eq!(table.as_array().unwrap().len(), 3);
    assert!(table
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row.as_array().unwrap().len() == 3));
    assert!(
        r["dcf_forecast_details"]["value_per_share"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(v["relative"]["peer_median_pe"].as_f64().is_some());
    assert!(v["ml_fair_multiple"]["fair_pe"].as_f64().unwrap() > 0.0);
    assert!(v["ml_fair_multiple"]["implied_price"].as_f64().unwrap() > 0.0);
    let w = &v["blended_target"]["weights"];
    assert_eq!(
        (w["dcf"].as_f64(), w["ml"].as_f64()),
        (Some(0.5), Some(0.25))
    );

    let (status, a, _) = call(&s, &event("apigw-valuation-valid-aliases.json")).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(
        a["valuation_results"]["dcf_forecast_details"],
        r["dcf_forecast_details"]
    );
    assert!(a["valuation_results"]["sensitivity_analysis_result"].is_null());

    let (status, e, _) = call(&s, &event("apigw-valuation-valid-exit-multiple.json")).await;
    assert_eq!(status, 200, "{e}");
    let d = &e["valuation_results"]["dcf_forecast_details"];
    assert_eq!(d["terminal_value_method_used"], "exit_multiple");
    assert!(d["implied_perpetual_growth"].as_f64().is_some());

    for (name, want, code, field) in [
        (
            "apigw-valuation-invalid-growth-above-wacc.json",
            400,
            "growth_not_below_wacc",
            "terminal_growth_rate",
        ),
        (
            "apigw-valuation-invalid-forecast-years-zero.json",
            400,
            "invalid_field",
            "forecast_years",
        ),
        (
            "apigw-valuation-unknown-ts-code.json",
            404,
            "not_found",
            "000000.XX",
        ),
    ] {
        let ev = event(name);
        let (status, p, stats) = call(&s, &ev).await;
        assert_eq!(status, want, "{name}: {p}");
        assert_eq!(p["status"], want);
        assert_eq!(p["code"], code, "{name}: {p}");
        assert!(
            p["message"].as_str().unwrap().contains(field),
            "{name}: {p}"
        );
        assert_eq!(
            p["request_id"],
            ev.request_context.request_id.clone().unwrap()
        );
        assert_eq!(stats.error_code, Some(code));
    }
}

#[tokio::test]
async fn a_second_identical_request_is_served_from_the_cache() {
    let s = service();
    let ev = event("apigw-valuation-valid.json");
    let (first, _) = handle(&s, &ev, "l1").await;
    assert_eq!(first.status_code, 200);
    assert_eq!(s.cache().len(), 1);
    let (second, stats) = handle(&s, &with_rid(ev.clone(), "second-rid"), "l2").await;
    assert_eq!(second.status_code, 200);
    assert!(stats.cache_hit);
    let v = json(&second);
    assert_eq!(v["cached"], true);
    assert_eq!(v["request_id"], "second-rid");
    // The valuation numbers are byte-identical.
    assert_eq!(results_text(text(&first)), results_text(text(&second)));
    let raw = |t: &str| {
        let start = t.find("\"valuation_results\"").unwrap();
        let end = t.find("\"relative\"").unwrap();
        t[start..end].to_string()
    };
    assert_eq!(raw(text(&first)), raw(text(&second)));
    // Aliases normalize to the same key as their canonical spelling.
    let canonical = r#"{"ts_code":"600519.sh","forecast_years":5,"risk_free_rate":0.03,"beta":1.1,"market_risk_premium":0.06,"cost_of_debt":0.045,"target_debt_ratio":0.2,"terminal_value_method":"perpetual_growth","terminal_growth_rate":0.025}"#;
    let (_, a, _) = call(&s, &event("apigw-valuation-valid-aliases.json")).await;
    assert_eq!(a["cached"], false);
    let (_, c, stats) = call(&s, &with_body(ev.clone(), canonical)).await;
    assert!(stats.cache_hit);
    assert_eq!(c["cached"], true);
    // Other assumptions miss.
    let (_, o, stats) = call(
        &s,
        &with_body(ev.clone(), r#"{"ts_code":"600519.SH","beta":1.3}"#),
    )
    .await;
    assert!(!stats.cache_hit && o["cached"] == false);
    // An expired entry is a miss even while the item lingers.
    let key = ValuationRequest::from_json(canonical.as_bytes())
        .unwrap()
        .cache_key(Some(VERSION), "20250331")
        .unwrap();
    assert!(s.cache().entry(&key).is_some());
    s.cache().set_expiry(&key, now_epoch() - 1);
    let (_, c, stats) = call(&s, &with_body(ev.clone(), canonical)).await;
    assert!(!stats.cache_hit && c["cached"] == false);
    let e = s.cache().entry(&key).unwrap();
    assert!(e.expires_at >= now_epoch() + 3599 && e.expires_at <= now_epoch() + 3600);
    assert_eq!(e.model_version.as_deref(), Some(VERSION));
    // A new model version is a new key.
    s.swap_model(FairMultipleModel::new(synthetic_fair_multiple_bundle("v-next", 2)).unwrap());
    let (_, n, stats) = call(&s, &with_body(ev, canonical)).await;
    assert!(!stats.cache_hit);
    assert_eq!(n["model"]["version"], "v-next");
}

#[tokio::test]
async fn degraded_answers_are_marked_and_not_cached() {
    // Peers unreadable.
    let s = service();
    s.store()
        .set_peer_faults(Faults::failing("BatchGetItem", "throttled"));
    let (status, v, stats) = call(&s, &event("apigw-valuation-valid-aliases.json")).await;
    assert_eq!(status, 200, "{v}");
    assert!(stats.degraded);
    assert_eq!(stats.peers_failure, Some("backend"));
    assert_eq!(v["degraded"], true);
    assert_eq!(v["relative"]["peer_count"], 0);
    let w: Vec<&str> = v["valuation_results"]["data_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        w.iter().any(|m| m.contains("peers could not be read")),
        "{w:?}"
    );
    assert!(!w.contains(&NO_PEERS_WARNING));
    assert!(s.cache().is_empty());
    // Peers too slow.
    s.store()
        .set_peer_faults(Faults::slow(Duration::from_millis(800)));
    let (_, _, stats) = call(&s, &event("apigw-valuation-valid-aliases.json")).await;
    assert_eq!(stats.peers_failure, Some("timeout"));

    // No model.
    let s = service_with(false, ValuationConfig::default());
    let (status, v, stats) = call(&s, &event("apigw-valuation-valid.json")).await;
    assert_eq!(status, 200, "{v}");
    assert!(stats.degraded);
    assert!(v["ml_fair_multiple"].is_null() && v["model"].is_null());
    assert_eq!(v["blended_target"]["weights"]["ml"], 0.0);
    assert!(s.cache().is_empty());
    let (_, h, _) = call(&s, &event("apigw-get-health.json")).await;
    assert_eq!(h["degraded"], true);
    assert!(h["model"].is_null());
}

#[tokio::test]
async fn store_and_cache_failures() {
    let s = service();
    s.store()
        .set_company_faults(Faults::slow(Duration::from_millis(400)));
    let (status, p, stats) = call(&s, &event("apigw-valuation-valid.json")).await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["code"], "store_unavailable");
    assert_eq!(stats.store_failure, Some("timeout"));
    s.store().set_company_faults(Faults::default());

    // A failing cache does not fail or degrade the answer.
    s.cache().set_faults(Faults::failing("GetItem", "no table"));
    let (status, v, stats) = call(&s, &event("apigw-valuation-valid.json")).await;
    assert_eq!(status, 200, "{v}");
    assert!(!stats.degraded && !stats.cache_hit);
    assert_eq!(stats.cache_failure, Some("backend"));
    assert_eq!(v["degraded"], false);

    // TTL 0 turns the cache off.
    let s = service_with(
        true,
        ValuationConfig {
            cache_ttl_secs: 0,
            ..ValuationConfig::default()
        },
    );
    call(&s, &event("apigw-valuation-valid.json")).await;
    let (_, v, _) = call(&s, &event("apigw-valuation-valid.json")).await;
    assert_eq!(v["cached"], false);
    assert!(s.cache().is_empty());
}

#[tokio::test]
async fn a_store_outage_answers_the_latest_cached_valuation_degraded() {
    let s = service();
    let ev = event("apigw-valuation-valid.json");
    let (status, fresh, _) = call(&s, &ev).await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(s.cache().latest_len(), 1);
    let backend = Faults::failing("GetItem", "connection refused");
    let degraded_answer = |v: &Value, failure: &str| {
        assert_eq!(v["cached"], true, "{v}");
        assert_eq!(v["degraded"], true, "{v}");
        assert_eq!(
            v["valuation_results"]["dcf_forecast_details"],
            fresh["valuation_results"]["dcf_forecast_details"]
        );
        assert_eq!(v["model"], fresh["model"]);
        assert_eq!(v["variant"], "active");
        let warnings = v["valuation_results"]["data_warnings"].as_array().unwrap();
        let want = format!("company data could not be read ({failure})");
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().starts_with(&want)),
            "{warnings:?}"
        );
    };

    // The company read fails: this container's memory answers.
    s.store().set_company_faults(backend.clone());
    let (status, v, stats) = call(&s, &with_rid(ev.clone(), "outage-rid")).await;
    assert_eq!(status, 200, "{v}");
    degraded_answer(&v, "backend");
    assert_eq!(v["request_id"], "outage-rid");
    assert_eq!(stats.store_failure, Some("backend"));
    assert!(stats.cache_hit && stats.degraded);

    // ... and when it times out.
    s.store()
        .set_company_faults(Faults::slow(Duration::from_millis(400)));
    let (status, v, stats) = call(&s, &ev).await;
    assert_eq!(status, 200, "{v}");
    degraded_answer(&v, "timeout");
    assert_eq!(stats.store_failure, Some("timeout"));

    // A new container (nothing in memory) finds it in the cache table.
    let fresh_container = another_container(&s);
    s.store().set_company_faults(backend.clone());
    let (status, v, _) = call(&fresh_container, &ev).await;
    assert_eq!(status, 200, "{v}");
    degraded_answer(&v, "backend");

    // Other inputs were never answered: 503 as before.
    let (status, p, _) = call(
        &fresh_container,
        &with_body(ev.clone(), r#"{"ts_code":"600519.SH","beta":1.3}"#),
    )
    .await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["code"], "store_unavailable");

    // The whole store down, cache table included: only a container that answered it before.
    s.cache().set_faults(backend.clone());
    let (status, v, _) = call(&s, &ev).await;
    assert_eq!(status, 200, "{v}");
    degraded_answer(&v, "backend");
    let cold = another_container(&s);
    let (status, p, stats) = call(&cold, &ev).await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(stats.cache_failure, Some("backend"));

    // Expired answers are not served, even degraded.
    s.cache().set_faults(Faults::default());
    let expired = service_with(
        true,
        ValuationConfig {
            cache_ttl_secs: 1,
            ..ValuationConfig::default()
        },
    );
    assert_eq!(call(&expired, &ev).await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expired.store().set_company_faults(backend);
    assert_eq!(call(&expired, &ev).await.0, 503);
}

#[tokio::test]
async fn after_a_failed_company_read_the_breaker_skips_the_store_for_a_cool_down() {
    let s = service_with(
        true,
        ValuationConfig {
            store_cool_down: Duration::from_millis(300),
            ..ValuationConfig::default()
        },
    );
    let ev = event("apigw-valuation-valid.json");
    assert_eq!(call(&s, &ev).await.0, 200);
    let reads = s.store().calls();
    s.store()
        .set_company_faults(Faults::slow(Duration::from_millis(400)));
    let (status, v, stats) = call(&s, &ev).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(stats.store_failure, Some("timeout"));
    assert_eq!(s.store().calls(), reads + 1);
    // Open: the latest answer at once, the store not asked.
    let (status, v, stats) = call(&s, &ev).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["degraded"], true);
    assert_eq!(stats.store_failure, Some(crate::store::BREAKER_OPEN));
    assert_eq!(s.store().calls(), reads + 1);
    // Without an answer to fall back on: 503, still without asking the store.
    let (status, _, _) = call(
        &s,
        &with_body(ev.clone(), r#"{"ts_code":"600519.SH","beta":1.3}"#),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(s.store().calls(), reads + 1);
    // Back after the cool-down (one probe closes it).
    s.store().set_company_faults(Faults::default());
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, v, stats) = call(&s, &ev).await;
    assert_eq!(status, 200);
    assert_eq!(v["degraded"], false);
    assert_eq!(stats.store_failure, None);
}

#[tokio::test]
async fn request_problems_name_the_field() {
    let s = service();
    let ev = event("apigw-valuation-valid.json");
    let cases = [
        ("", "malformed_json", "empty"),
        (r#"{"ts_code":"#, "malformed_json", "JSON"),
        (r#"[1,2]"#, "invalid_field", "body"),
        (
            r#"{"ts_code":"600519.SH","beta":1e999}"#,
            "non_finite_number",
            "body",
        ),
        (
            r#"{"ts_code":"600519.SH","beta":"high"}"#,
            "invalid_field",
            "beta",
        ),
        (
            r#"{"ts_code":"600519.SH","beta":9}"#,
            "invalid_field",
            "beta",
        ),
        (r#"{"forecast_years":5}"#, "missing_field", "ts_code"),
        (
            r#"{"ts_code":"600519.SH","shares_outstanding":-3}"#,
            "invalid_field",
            "shares_outstanding",
        ),
        (
            r#"{"ts_code":"600519.SH","risk_free_rate":0.9}"#,
            "invalid_field",
            "risk_free_rate",
        ),
        (
            r#"{"ts_code":"600519.SH","company":{"ts_code":"600519.SH"}}"#,
            "invalid_field",
            "company",
        ),
        (
            r#"{"ts_code":"600519.SH","sensitivity":{"rows":{"axis":"wacc","values":[0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]},"columns":{"axis":"terminal_growth","values":[0.02]}}}"#,
            "invalid_field",
            "sensitivity.rows.values",
        ),
    ];
    for (body, code, field) in cases {
        let (status, p, _) = call(&s, &with_body(ev.clone(), body)).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert_eq!(p["code"], code, "{body}: {p}");
        assert!(
            p["message"].as_str().unwrap().contains(field),
            "{body}: {p}"
        );
    }
    // Base64 bodies are decoded.
    let mut b64 = ev.clone();
    b64.body = Some(base64_encode(b"{\"stock_code\":\"600519.SH\"}"));
    b64.is_base64_encoded = true;
    let (status, v, _) = call(&s, &b64).await;
    assert_eq!(status, 200, "{v}");
    // Routing.
    let mut get = ev.clone();
    get.request_context.http.method = aws_lambda_events::http::Method::GET;
    let (status, p, _) = call(&s, &get).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let mut other = ev;
    other.raw_path = Some("/nowhere".into());
    let (status, _, stats) = call(&s, &other).await;
    assert_eq!((status, stats.route), (404, "unrouted"));
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn health_reports_the_model() {
    let s = service();
    let (status, h, stats) = call(&s, &event("apigw-get-health.json")).await;
    assert_eq!(status, 200, "{h}");
    assert!(!stats.counted);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["function"], "valuation");
    assert_eq!(h["model"]["version"], VERSION);
    assert_eq!(h["degraded"], false);
    assert_eq!(h["cache_ttl_secs"], 3600);
    // The API's route to it (recommend owns GET /health).
    let (status, h, _) = call(&s, &event("apigw-valuation-health.json")).await;
    assert_eq!(status, 200, "{h}");
    assert_eq!(h["function"], "valuation");
    assert_eq!(h["request_id"], "Vh7kPq2LmN4rT8=");
}

#[test]
fn fair_multiple_model_rejects_other_bundles() {
    use crate::valuation::synthetic::synthetic_fair_multiple_parts;
    let (mut m, files) = synthetic_fair_multiple_parts("v", 1);
    m.kind = ModelKind::Generic;
    let b = Bundle::from_parts(m, files.clone()).unwrap();
    assert!(FairMultipleModel::new(b).is_err());
    // Features out of order: the bundle itself or the fair-multiple check refuses it.
    let (mut m, _) = synthetic_fair_multiple_parts("v", 1);
    m.features.swap(0, 1);
    assert!(!matches!(
        Bundle::from_parts(m, files).map(FairMultipleModel::new),
        Ok(Ok(_))
    ));
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Service>();
}

// ---------------------------------------------------------------- canary and shadow

#[tokio::test]
async fn the_fair_multiple_canary_follows_the_ts_code_bucket() {
    let s = service();
    let mut set = ServingSet::clone(&s.serving().unwrap());
    set.candidate = Some((
        Slot::new(
            VersionRef::new("v-cand"),
            FairMultipleModel::new(synthetic_fair_multiple_bundle("v-cand", 2)).unwrap(),
        ),
        50,
    ));
    s.swap_serving(set);
    let companies = synthetic_companies(60, 1, "20250331");
    let (mut cand, mut act) = (0, 0);
    for c in companies.iter().take(20) {
        let body = format!(r#"{{"ts_code":"{}"}}"#, c.ts_code);
        let ev = with_body(event("apigw-valuation-valid.json"), &body);
        for round in 0..2 {
            let (status, v, stats) = call(&s, &ev).await;
            assert_eq!(status, 200, "{v}");
            let expect = crate::registry::in_canary("fair-multiple", &c.ts_code, 50);
            let (variant, version) = if expect {
                ("candidate", "v-cand")
            } else {
                ("active", VERSION)
            };
            assert_eq!(v["variant"], variant, "{} round {round}", c.ts_code);
            assert_eq!(v["model"]["version"], version);
            assert_eq!(stats.variant, Some(variant));
            // The second round is a cache hit of the same variant's answer.
            assert_eq!(stats.cache_hit, round == 1);
            if round == 0 {
                if expect {
                    cand += 1
                } else {
                    act += 1
                }
            }
        }
    }
    assert!(cand > 0 && act > 0, "{cand} candidate, {act} active");
}

#[tokio::test]
async fn the_fair_multiple_shadow_is_measured_never_returned() {
    let s = service_with(
        true,
        ValuationConfig {
            cache_ttl_secs: 0,
            ..ValuationConfig::default()
        },
    );
    add_shadow(&s);
    let (resp, stats) = handle(&s, &event("apigw-valuation-valid.json"), "lambda-rid").await;
    assert!(!text(&resp).contains("v-shadow"));
    let (version, delta) = stats.shadow.unwrap();
    assert_eq!(version, "v-shadow");
    assert!(delta.is_finite() && delta >= 0.0);
    assert_eq!(json(&resp)["variant"], "active");
}

#[tokio::test]
async fn a_sampled_valuation_captures_the_scored_company_with_the_shadow_pe() {
    use crate::telemetry::capture::CaptureConfig;
    let config = |rate: f64| ValuationConfig {
        cache_ttl_secs: 0,
        capture: CaptureConfig { rate },
        ..ValuationConfig::default()
    };
    let s = service_with(true, config(0.0));
    let (_, stats) = handle(&s, &event("apigw-valuation-valid.json"), "lambda-rid").await;
    assert!(stats.capture.is_empty());

    let s = service_with(true, config(1.0));
    add_shadow(&s);
    let (resp, stats) = handle(&s, &event("apigw-valuation-valid.json"), "lambda-rid").await;
    assert_eq!(stats.capture.len(), 1);
    let c = &stats.capture[0];
    assert_eq!((c.version.as_str(), c.variant), (VERSION, "active"));
    assert_eq!(c.entity.as_deref(), Some("600519.SH"));
    let mut names: Vec<&str> = c.input.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut want = FAIR_MULTIPLE_FEATURES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let fair = json(&resp)["ml_fair_multiple"]["fair_pe"].as_f64().unwrap();
    let captured = c.output["fair_pe"].as_f64().unwrap();
    assert!(
        (captured - fair).abs() <= 1e-6 * fair.abs().max(1.0),
        "{captured} vs {fair}"
    );
    let (shadow_version, shadow_out) = c.shadow.as_ref().unwrap();
    assert_eq!(shadow_version, "v-shadow");
    let delta = (shadow_out["fair_pe"].as_f64().unwrap() - captured).abs();
    assert!((delta - stats.shadow.as_ref().unwrap().1).abs() < 1e-9);
}

/// The valuation fixtures as `lambda_http::request::from_str` reads them, answered by the
/// adapter with their documented statuses.
#[tokio::test]
async fn sample_events_read_by_lambda_http_are_answered() {
    let s = service();
    let mut seen = 0;
    for (name, req) in crate::api::tests::sample_events() {
        let expected = match name.as_str() {
            "apigw-valuation-unknown-ts-code.json" => 404,
            n if n.starts_with("apigw-valuation-invalid") => 400,
            n if n.starts_with("apigw-valuation") || n == "apigw-get-health.json" => 200,
            _ => continue,
        };
        let (resp, stats) = crate::api::valuation::handle(&s, &req).await;
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "{name}: {}",
            crate::http::body_text(&resp)
        );
        assert_eq!(stats.status, expected, "{name}");
        seen += 1;
    }
    assert!(seen >= 7, "{seen}");
}
