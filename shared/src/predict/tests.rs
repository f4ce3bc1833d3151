use super::testing::{generic_parts, InMemoryModels};
use super::*;
use crate::api::predict::handle;
use crate::bundle::Bundle;
use crate::http;
use crate::registry::{ServingSet, Slot, VersionRef};
use serde_json::{json, Value};
use std::sync::Arc;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/models/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

fn bundle(fixture_name: &str, version: &str, categories: &[(&str, &[&str])]) -> Bundle {
    let (manifest, files) = generic_parts(&fixture(fixture_name), "churn", version, categories);
    Bundle::from_parts(manifest, files).unwrap()
}

fn slot(b: Bundle) -> Slot<Predictor> {
    let v = VersionRef::new(b.version().to_string());
    Slot::new(v, Predictor::servable(b).unwrap())
}

fn set(active: Bundle) -> ServingSet<Predictor> {
    let s = slot(active);
    ServingSet::single(
        "churn",
        s.reference.clone(),
        Arc::try_unwrap(s.model).ok().unwrap(),
    )
}

fn request(rows: Value) -> PredictRequest {
    PredictRequest::parse(json!({ "rows": rows }).to_string().as_bytes()).unwrap()
}

#[test]
fn rows_are_read_by_feature_name_with_absent_and_null_features_missing() {
    let b = bundle("binary_nan", "v1", &[]);
    let s = set(b.clone());
    let (answer, stats) = predict(
        &s,
        &request(json!([{"x_neg": -2.5, "x_flag": 1, "x_nan_hi": null}])),
        "rid",
    )
    .unwrap();
    let mut row = vec![f64::NAN; b.num_features()];
    row[2] = -2.5;
    row[7] = 1.0;
    let mut want = [0.0];
    b.score_into(&row, &mut want).unwrap();
    assert_eq!(answer.predictions, vec![json!(want[0])]);
    assert_eq!(answer.variants, vec!["active"]);
    assert_eq!(answer.model.outputs, vec!["prediction"]);
    assert_eq!(stats.rows, 1);
}

#[test]
fn raw_score_is_the_margin_before_the_link() {
    let b = bundle("binary_nan", "v1", &[]);
    let s = set(b.clone());
    let body = json!({"rows": [{"x_neg": 1.0}], "raw_score": true}).to_string();
    let (answer, _) = predict(&s, &PredictRequest::parse(body.as_bytes()).unwrap(), "r").unwrap();
    let mut row = vec![f64::NAN; b.num_features()];
    row[2] = 1.0;
    let mut raw = [0.0];
    b.score_raw_into(&row, &mut raw).unwrap();
    assert_eq!(answer.predictions[0], json!(raw[0]));
    let p = 1.0 / (1.0 + (-raw[0]).exp());
    let mut normal = [0.0];
    b.score_into(&row, &mut normal).unwrap();
    assert!((normal[0] - p).abs() < 1e-12);
}

#[test]
fn multiclass_predictions_are_one_array_per_row() {
    let b = bundle(
        "categorical_multiclass",
        "v1",
        &[("cat_small", &["a", "b", "c"])],
    );
    let s = set(b.clone());
    let (answer, _) = predict(
        &s,
        &request(json!([{"cat_small": "b", "cat_big": 7}, {}])),
        "r",
    )
    .unwrap();
    let mut row = vec![f64::NAN; b.num_features()];
    row[7] = 1.0;
    row[6] = 7.0;
    let mut want = vec![0.0; 3];
    b.score_into(&row, &mut want).unwrap();
    assert_eq!(answer.predictions[0], json!(want));
    assert_eq!(answer.predictions[1].as_array().unwrap().len(), 3);
    assert_eq!(answer.model.outputs, vec!["class_0", "class_1", "class_2"]);
}

#[test]
fn bad_rows_name_the_field_and_the_problem() {
    let b = bundle(
        "categorical_multiclass",
        "v1",
        &[("cat_small", &["a", "b", "c"])],
    );
    let s = set(b);
    let err = |rows: Value| predict(&s, &request(rows), "r").unwrap_err();
    let e = err(json!([{}, {"nope": 1}]));
    assert_eq!(e.code(), "unknown_feature");
    assert!(e.to_string().contains("rows[1]"), "{e}");
    let e = err(json!([{"cat_small": "zzz"}]));
    assert_eq!((e.status(), e.code()), (400, "unknown_category"));
    let e = err(json!([{"x_neg": "1.5"}]));
    assert_eq!(e.code(), "invalid_field");
    assert!(e.to_string().contains("rows[0].x_neg"), "{e}");
    // A categorical feature without known strings takes codes only.
    let e = err(json!([{"cat_big": "7"}]));
    assert_eq!(e.code(), "invalid_field");
    let e = err(json!([{"x_neg": [1]}]));
    assert_eq!(e.code(), "invalid_field");
}

#[test]
fn bodies_are_checked_before_any_model_is_needed() {
    let parse = |v: Value| PredictRequest::parse(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(parse(json!({"rows": []})).code(), "rows_empty");
    let many: Vec<Value> = (0..=MAX_ROWS).map(|_| json!({})).collect();
    let e = parse(json!({ "rows": many }));
    assert_eq!((e.status(), e.code()), (413, "too_many_rows"));
    assert_eq!(parse(json!({})).code(), "missing_field");
    assert_eq!(parse(json!({"rows": [{}], "x": 1})).code(), "unknown_field");
    assert_eq!(parse(json!({"rows": [1]})).code(), "invalid_field");
    assert_eq!(
        parse(json!({"rows": [{}], "id": ["a", "b"]})).code(),
        "invalid_field"
    );
    assert_eq!(
        parse(json!({"rows": [{}], "raw_score": 1})).code(),
        "invalid_field"
    );
    let e = PredictRequest::parse(br#"{"rows": [{"x": 1e999}]}"#).unwrap_err();
    assert_eq!(e.code(), "non_finite_number");
    assert_eq!(
        PredictRequest::parse(b"[").unwrap_err().code(),
        "malformed_json"
    );
}

#[test]
fn the_canary_routes_each_row_by_its_id_and_sticks() {
    let mut s = set(bundle("binary_nan", "v1", &[]));
    s.candidate = Some((slot(bundle("binary_no_missing", "v2", &[])), 50));
    // binary_no_missing has other feature names: give both the same rows via shared names.
    let ids: Vec<String> = (0..200).map(|i| format!("c{i}")).collect();
    let body = json!({"rows": vec![json!({}); 200], "id": ids});
    let req = PredictRequest::parse(body.to_string().as_bytes()).unwrap();
    let (a1, stats) = predict(&s, &req, "r1").unwrap();
    let (a2, _) = predict(&s, &req, "r2").unwrap();
    assert_eq!(a1.variants, a2.variants, "sticky by id, not by request");
    assert!(
        (60..140).contains(&stats.candidate_rows),
        "{}",
        stats.candidate_rows
    );
    assert_eq!(a1.model.candidate.as_ref().unwrap().weight, 50);
}

#[test]
fn the_shadow_is_scored_and_measured_but_never_answers() {
    let mut s = set(bundle("binary_nan", "v1", &[]));
    s.shadow = Some(slot(bundle("binary_nan", "v3", &[])));
    let (answer, stats) = predict(&s, &request(json!([{"x_neg": 0.5}, {}])), "r").unwrap();
    assert_eq!(answer.variants, vec!["active", "active"]);
    assert_eq!(stats.shadow_delta, Some(0.0));
    assert_eq!(stats.shadow_failed, 0);
}

#[test]
fn a_captured_request_keeps_each_rows_input_and_outputs_served_and_shadow() {
    let mut s = set(bundle("binary_nan", "v1", &[]));
    s.shadow = Some(slot(bundle("binary_nan", "v3", &[])));
    let mut req = request(json!([{"x_neg": 0.5}, {}]));
    let (_, stats) = predict(&s, &req, "r").unwrap();
    assert!(stats.capture.is_empty(), "not sampled: nothing kept");
    req.capture = true;
    req.ids = Some(vec!["a".into(), "b".into()]);
    let (answer, stats) = predict(&s, &req, "r").unwrap();
    assert_eq!(stats.capture.len(), 2);
    let c = &stats.capture[0];
    assert_eq!((c.version.as_str(), c.variant), ("v1", "active"));
    assert_eq!(c.entity.as_deref(), Some("a"));
    assert_eq!(c.input, *json!({"x_neg": 0.5}).as_object().unwrap());
    assert_eq!(
        Value::Object(c.output.clone()),
        json!({"prediction": answer.predictions[0]})
    );
    let (shadow_version, shadow_out) = c.shadow.as_ref().unwrap();
    assert_eq!(shadow_version, "v3");
    assert_eq!(shadow_out, &c.output, "the same model text scores the same");
    assert!(stats.capture[1].input.is_empty());
}

fn source() -> InMemoryModels {
    let b = bundle(
        "categorical_multiclass",
        "v1",
        &[("cat_small", &["a", "b", "c"])],
    );
    InMemoryModels::single(b)
}

fn event(method: &str, path: &str, body: Option<Value>) -> http::Request {
    let ev = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "requestContext": {"requestId": "rid-9", "http": {"method": method, "path": path}},
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&ev.to_string()).unwrap()
}

async fn call(method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (resp, _) = handle(&source(), &event(method, path, body)).await;
    let v: Value = serde_json::from_str(http::body_text(&resp)).unwrap();
    (resp.status().as_u16(), v)
}

#[tokio::test]
async fn the_routes_list_describe_and_predict() {
    let (status, v) = call("GET", "/models", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["models"][0]["name"], "churn");
    assert_eq!(v["models"][0]["active"]["version"], "v1");
    let (status, v) = call("GET", "/models/churn", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["features"][7],
        json!({"name": "cat_small", "type": "categorical", "categories": ["a", "b", "c"]})
    );
    assert_eq!(v["outputs"].as_array().unwrap().len(), 3);
    assert_eq!(v["versions"][0]["role"], "active");
    assert_eq!(v["versions"][0]["version"], "v1");
    assert_eq!(v["request_id"], "rid-9");
    let body = json!({"rows": [{"cat_small": "c"}]});
    let (status, v) = call("POST", "/models/churn/predict", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["model"],
        json!({"name": "churn", "version": "v1", "outputs": ["class_0", "class_1", "class_2"]})
    );
    assert_eq!(v["predictions"][0].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_console_page_is_served_at_the_root() {
    let (resp, stats) = handle(&source(), &event("GET", "/", None)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(http::body_text(&resp), crate::api::console::PAGE);
    assert_eq!((stats.route, stats.counted), ("console", false));
    let (resp, _) = handle(&source(), &event("POST", "/", Some(json!({})))).await;
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn unknown_models_and_routes_are_problems() {
    let body = json!({"rows": [{}]});
    let (status, v) = call("POST", "/models/nope/predict", Some(body)).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("unknown_model")));
    assert_eq!(v["request_id"], "rid-9");
    let (status, v) = call("GET", "/models/nope", None).await;
    assert_eq!((status, v["code"].as_str()), (404, Some("unknown_model")));
    let (status, v) = call("GET", "/models/churn/predict", None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // A bad body is refused before the model is looked up.
    let (status, v) = call("POST", "/models/nope/predict", Some(json!({"rows": []}))).await;
    assert_eq!((status, v["code"].as_str()), (400, Some("rows_empty")));
}

#[tokio::test]
async fn explanations_add_up_to_the_raw_score_and_rank_the_top_features() {
    let body = json!({"rows": [{"cat_small": "b", "x_neg": -3.0, "x_big": 1e6}, {}], "top_n": 3});
    let (status, v) = call("POST", "/models/churn/explain", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["feature_names"].as_array().unwrap().len(), 8);
    let b = bundle(
        "categorical_multiclass",
        "v1",
        &[("cat_small", &["a", "b", "c"])],
    );
    let mut row = vec![f64::NAN; 8];
    row[7] = 1.0;
    row[2] = -3.0;
    row[4] = 1e6;
    let mut raw = vec![0.0; 3];
    b.score_raw_into(&row, &mut raw).unwrap();
    let e = &v["explanations"][0];
    let contributions: Vec<f64> = (e["contributions"].as_array().unwrap().iter())
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(contributions.len(), 3 * 9);
    for (c, block) in contributions.chunks(9).enumerate() {
        let sum: f64 = block.iter().sum();
        assert!(
            (sum - raw[c]).abs() < 1e-12,
            "class {c}: {sum} vs {}",
            raw[c]
        );
        assert_eq!(e["expected_value"][c], json!(block[8]));
        let top = e["top"][c].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let mags: Vec<f64> = top
            .iter()
            .map(|t| t["contribution"].as_f64().unwrap().abs())
            .collect();
        assert!(mags.windows(2).all(|w| w[0] >= w[1]), "{mags:?}");
    }
    let cat = (e["top"][0].as_array().unwrap().iter()).find(|t| t["feature"] == "cat_small");
    if let Some(t) = cat {
        assert_eq!(t["value"], "b", "the value as sent");
    }
    assert_eq!(e["prediction"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn explain_limits_and_models_without_node_counts_are_problems() {
    let many: Vec<Value> = (0..=MAX_EXPLAIN_ROWS).map(|_| json!({})).collect();
    let (status, v) = call(
        "POST",
        "/models/churn/explain",
        Some(json!({ "rows": many })),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (413, Some("too_many_rows")));
    let (status, v) = call(
        "POST",
        "/models/churn/explain",
        Some(json!({"rows": [{}], "top_n": 0})),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_field")));
    // `top_n` belongs to explain only.
    let (status, v) = call(
        "POST",
        "/models/churn/predict",
        Some(json!({"rows": [{}], "top_n": 2})),
    )
    .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("unknown_field")));

    let text: String = (fixture("binary_nan").lines())
        .filter(|l| !l.starts_with("leaf_count=") && !l.starts_with("internal_count="))
        .map(|l| format!("{l}\n"))
        .collect();
    let (manifest, files) = generic_parts(&text, "old", "v1", &[]);
    let old = InMemoryModels::single(Bundle::from_parts(manifest, files).unwrap());
    let req = event("POST", "/models/old/explain", Some(json!({"rows": [{}]})));
    let (resp, _) = handle(&old, &req).await;
    let v: Value = serde_json::from_str(http::body_text(&resp)).unwrap();
    assert_eq!(
        (resp.status().as_u16(), v["code"].as_str()),
        (422, Some("not_explainable")),
        "{v}"
    );
    // It still predicts.
    let req = event("POST", "/models/old/predict", Some(json!({"rows": [{}]})));
    assert_eq!(handle(&old, &req).await.0.status().as_u16(), 200);
}

#[tokio::test]
async fn fairness_groups_rows_by_category_or_bin_and_compares_their_means() {
    let rows = json!([
        {"cat_small": "a", "x_neg": -5.0}, {"cat_small": "a", "x_neg": 1.0},
        {"cat_small": "b", "x_neg": -1.0}, {"x_neg": 0.5}
    ]);
    let body = json!({"rows": rows, "group_by": "cat_small"});
    let (status, v) = call("POST", "/models/churn/fairness", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let groups = v["groups"].as_array().unwrap();
    let labels: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["a", "b", "missing"]);
    assert_eq!(groups[0]["count"], 2);
    // Group `a`'s mean is the mean of its two rows' predictions.
    let b = bundle(
        "categorical_multiclass",
        "v1",
        &[("cat_small", &["a", "b", "c"])],
    );
    let score = |x: f64| {
        let mut row = vec![f64::NAN; 8];
        row[7] = 0.0;
        row[2] = x;
        let mut out = vec![0.0; 3];
        b.score_into(&row, &mut out).unwrap();
        out
    };
    let (p, q) = (score(-5.0), score(1.0));
    for c in 0..3 {
        let mean = groups[0]["mean"][c].as_f64().unwrap();
        assert!((mean - (p[c] + q[c]) / 2.0).abs() < 1e-15);
        let std = groups[0]["std"][c].as_f64().unwrap();
        assert!((std - (p[c] - q[c]).abs() / 2.0).abs() < 1e-15);
    }
    assert_eq!(v["min_max_ratio"].as_array().unwrap().len(), 3);

    let body = json!({"rows": rows, "group_by": "x_neg", "bins": [0.0]});
    let (status, v) = call("POST", "/models/churn/fairness", Some(body)).await;
    assert_eq!(status, 200, "{v}");
    let labels: Vec<&str> = (v["groups"].as_array().unwrap().iter())
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["< 0", ">= 0"]);

    let bad = [
        (json!({"rows": rows, "group_by": "nope"}), "unknown_feature"),
        (json!({"rows": rows}), "missing_field"),
        (
            json!({"rows": rows, "group_by": "x_neg", "bins": [2, 1]}),
            "invalid_field",
        ),
        (json!({"rows": [], "group_by": "x_neg"}), "rows_empty"),
    ];
    for (body, code) in bad {
        let (status, v) = call("POST", "/models/churn/fairness", Some(body)).await;
        assert_eq!((status, v["code"].as_str()), (400, Some(code)), "{v}");
    }
}

#[test]
fn a_model_detail_compares_the_metrics_of_every_served_version() {
    use crate::registry::{Active, Candidate, RegistryItem, Shadow};
    let manifest = |version: &str, rmse: f64| {
        let (mut m, _) = generic_parts(&fixture("binary_nan"), "churn", version, &[]);
        m.metrics.other.insert("rmse".into(), rmse);
        m
    };
    let mut item = RegistryItem::new("churn");
    item.active = Some(Active::new(VersionRef::new("v1")));
    item.candidate = Some(Candidate::new(VersionRef::new("v2"), 10));
    item.shadow = Some(Shadow::new(VersionRef::new("v3")));
    let (v1, v2) = (manifest("v1", 2.0), manifest("v2", 1.5));
    // The shadow's manifest could not be read: listed, without metrics.
    let d = ModelDetail::new(&item, Some(&v1), Some(&v2), None);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v["versions"],
        json!([
            {"role": "active", "version": "v1", "created_at": "2026-12-02T00:00:00Z", "metrics": {"rmse": 2.0}},
            {"role": "candidate", "version": "v2", "created_at": "2026-12-02T00:00:00Z", "metrics": {"rmse": 1.5}},
            {"role": "shadow", "version": "v3", "metrics": null},
        ])
    );
    assert_eq!(v["candidate"]["weight"], 10);
    // Only what is served is listed.
    item.candidate = None;
    item.shadow = None;
    let d = ModelDetail::new(&item, Some(&v1), None, None);
    assert_eq!(d.versions.len(), 1);
    assert_eq!(d.versions[0].role, "active");
}

/// The predict function's memory budget reads `heap_bytes` once, when a version becomes
/// servable: a scan built later by the load's thread would go uncounted.
#[test]
fn a_servable_version_counts_its_models_scans_in_its_memory() {
    let walked = bundle("categorical_binary", "v1", &[]).heap_bytes();
    let predictor = Predictor::servable(bundle("categorical_binary", "v1", &[])).unwrap();
    let (_, model) = predictor.bundle().models().next().unwrap();
    assert!(model.prepare_scan(), "categorical models scan");
    assert!(
        predictor.heap_bytes() > walked + predictor.schema().heap_bytes(),
        "{} bytes, {walked} without the scan",
        predictor.heap_bytes()
    );
}
