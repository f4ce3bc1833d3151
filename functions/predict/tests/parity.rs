//! Bit-identity through the predict routes: every fixture model the scorer serves (made by
//! Python LightGBM), wrapped in a generic bundle, answers `POST /models/{name}/predict` with
//! exactly LightGBM's own numbers (lightgbm3, the C API) on the same rows — transformed and
//! `raw_score` — and `POST /models/{name}/explain` with LightGBM's `pred_contrib`, for random rows of thresholds ± 1 ulp, zeros, tiny values, huge values,
//! negative / unseen / fractional categories, `null` and absent features.

use lightgbm3::Booster;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use warmstart_core::api::predict::handle;
use warmstart_core::bundle::Bundle;
use warmstart_core::http;
use warmstart_core::predict::testing::{generic_parts, InMemoryModels};
use warmstart_core::Model;

#[path = "../../../shared/tests/common/mod.rs"]
mod common;
use common::{fixtures, interesting_values, model_names, same};

fn event(path: &str, body: &Value) -> http::Request {
    let ev = json!({
        "version": "2.0", "routeKey": "POST /models/{name}/predict", "rawPath": path,
        "requestContext": {"requestId": "parity", "http": {"method": "POST", "path": path}},
        "body": body.to_string(), "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&ev.to_string()).unwrap()
}

/// One JSON value per feature: `None` leaves the feature out of the row.
fn value_strategy(values: Vec<f64>, categorical: bool) -> BoxedStrategy<Option<Value>> {
    // JSON has no NaN or ±inf: `null` and an absent feature are LightGBM's missing value.
    let finite: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    let number = prop::sample::select(finite).prop_map(|v| Some(json!(v)));
    let code = (-3i64..80).prop_map(|c| Some(json!(c)));
    let missing = prop_oneof![Just(None), Just(Some(Value::Null))];
    if categorical {
        prop_oneof![6 => code, 2 => number, 2 => missing].boxed()
    } else {
        prop_oneof![8 => number, 2 => missing].boxed()
    }
}

#[tokio::test]
async fn predictions_through_the_routes_equal_lightgbm_bit_for_bit() {
    let (mut checked, mut explained) = (0, 0);
    for name in model_names() {
        let text = std::fs::read_to_string(fixtures().join(format!("{name}.txt"))).unwrap();
        let model = Model::parse(&text).unwrap();
        let oracle = Booster::from_string(&text).unwrap();
        let model_name = name.replace('_', "-");
        let (manifest, files) = generic_parts(&text, &model_name, "v1", &[]);
        let source = InMemoryModels::single(Bundle::from_parts(manifest, files).unwrap());
        let features: Vec<(String, bool)> = (model.feature_names().iter().cloned())
            .zip(model.categorical_features().iter().copied())
            .collect();
        let values = interesting_values(&text);
        let row = features
            .iter()
            .map(|(_, cat)| value_strategy(values.clone(), *cat))
            .collect::<Vec<_>>();
        let rows = prop::collection::vec(row, 1..40);
        // Sampled rather than shrunk: a failure prints the row, which is what one needs here.
        let mut runner = TestRunner::new(Config::default());
        for case_no in 0..12 {
            let case = rows.new_tree(&mut runner).unwrap().current();
            let json_rows: Vec<Value> = (case.iter())
                .map(|r| {
                    let mut m = Map::new();
                    for ((f, _), v) in features.iter().zip(r) {
                        if let Some(v) = v {
                            m.insert(f.clone(), v.clone());
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            let dense: Vec<f64> = (case.iter().flatten())
                .map(|v| v.as_ref().and_then(Value::as_f64).unwrap_or(f64::NAN))
                .collect();
            let nf = features.len() as i32;
            let k = model.num_outputs();
            for raw in [false, true] {
                let want = if raw {
                    oracle.raw_scores(&dense, nf, true).unwrap()
                } else {
                    oracle
                        .predict_with_params(&dense, nf, true, "num_threads=1")
                        .unwrap()
                };
                let body = json!({"rows": json_rows, "raw_score": raw});
                let path = format!("/models/{model_name}/predict");
                let (resp, _) = handle(&source, &event(&path, &body)).await;
                let v: Value = serde_json::from_str(http::body_text(&resp)).unwrap();
                assert_eq!(resp.status().as_u16(), 200, "{name}: {v}");
                for (r, p) in v["predictions"].as_array().unwrap().iter().enumerate() {
                    let got: Vec<f64> = match p {
                        Value::Array(a) => a.iter().map(|x| x.as_f64().unwrap()).collect(),
                        x => vec![x.as_f64().unwrap()],
                    };
                    for c in 0..k {
                        assert!(
                            same(got[c], want[r * k + c]),
                            "{name} raw={raw} row {r} class {c}: {} vs LightGBM {}; row {}",
                            got[c],
                            want[r * k + c],
                            json_rows[r]
                        );
                    }
                    checked += 1;
                }
            }
            // Explanations too (TreeSHAP is slow in a debug build: one case per model).
            // lightgbm3's `predict_contrib` sizes its buffer for one output, so it is the
            // oracle for single-output models; shared/tests/shap_parity.rs covers multiclass.
            if case_no == 0 && k == 1 {
                let want = oracle.predict_contrib(&dense, nf, true).unwrap();
                let path = format!("/models/{model_name}/explain");
                let (resp, _) = handle(&source, &event(&path, &json!({"rows": json_rows}))).await;
                let v: Value = serde_json::from_str(http::body_text(&resp)).unwrap();
                assert_eq!(resp.status().as_u16(), 200, "{name}: {v}");
                let width = features.len() + 1;
                for (r, e) in v["explanations"].as_array().unwrap().iter().enumerate() {
                    for (i, c) in e["contributions"].as_array().unwrap().iter().enumerate() {
                        let want = want[r * width + i];
                        assert!(
                            same(c.as_f64().unwrap(), want),
                            "{name}: row {r} contribution {i}: {c} vs LightGBM {want}"
                        );
                    }
                }
                explained += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
    assert!(explained >= 15, "{explained}");
}
