//! The per-request metrics of a serving function as CloudWatch Embedded Metric Format
//! documents with three dimension sets each — `[Function]`, `[Function, Variant]` and
//! `[Function, Model, Variant]` — so a rollout can be judged by variant (`active`,
//! `candidate`, `shadow`) and alarms can watch the candidate alone.
//!
//! Written by hand: `metrics_cloudwatch_embedded` (0.10) puts exactly one dimension set in a
//! document (its `Dimensions` field is a one-element array, see its `emf.rs`) and turns metric
//! labels into separate documents, so one request would be three documents with the same
//! values, tripling log volume and making `[Function]` sums depend on which document a query
//! reads. EMF itself allows several dimension sets over the same values
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! The crate still writes the function-level counters (cold starts, swaps, load failures).
//!
//! One request → one document per variant that served part of it (a batch split by the
//! canary is counted once under each), the `[Function]` set only in the first, so
//! `[Function]` counts each request once; plus, when a shadow scored it, one `Variant=shadow`
//! document with the shadow comparison. `Model` is the model's name (not its version: a
//! dimension value per version would make a new metric per deploy), and is left out (the
//! `[Function, Model, Variant]` set with it) when no model answered — an unknown model name
//! from a URL must not become a dimension value.

use serde_json::{json, Map, Value};

pub const VARIANT_ACTIVE: &str = "active";
pub const VARIANT_CANDIDATE: &str = "candidate";
pub const VARIANT_SHADOW: &str = "shadow";
/// The variants that answer requests, in the order their documents are written.
pub const VARIANTS: [&str; 2] = [VARIANT_ACTIVE, VARIANT_CANDIDATE];

/// Metric names of the per-request documents, as the template's alarms and dashboard spell
/// them.
pub mod names {
    pub const REQUESTS: &str = "Requests";
    /// Error answers, 4xx and 5xx (what the candidate error-rate alarms divide by `Requests`).
    pub const ERRORS: &str = "Errors";
    /// Answers with a 4xx status (the request's fault: bad input, unknown customer or model).
    pub const ERRORS_4XX: &str = "Errors4xx";
    /// Answers with a 5xx status (ours: a model or store that cannot answer).
    pub const ERRORS_5XX: &str = "Errors5xx";
    pub const LATENCY: &str = "Latency";
    pub const STORE_LATENCY: &str = "StoreLatency";
    pub const DEGRADED: &str = "Degraded";
    pub const POPULAR: &str = "Popular";
    /// Mean absolute difference between the served and the shadow outputs.
    pub const SHADOW_SCORE_DELTA: &str = "ShadowScoreDelta";
    /// recommend: |top-k ∩ shadow top-k| / k.
    pub const SHADOW_TOPK_OVERLAP: &str = "ShadowTopKOverlap";
    /// predict: rows the shadow could not score.
    pub const SHADOW_FAILED: &str = "ShadowFailed";
}

/// How the shadow compared on one request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ShadowFigures {
    pub score_delta: Option<f64>,
    pub topk_overlap: Option<f64>,
    pub failed: Option<u64>,
}

/// One counted request (see the module docs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFigures<'a> {
    /// The model's name, when a model answered.
    pub model: Option<&'a str>,
    /// The variants that served (part of) the request; `active` when empty.
    pub variants: Vec<&'static str>,
    pub status: u16,
    /// The problem code of an error answer (a property, not a dimension).
    pub error_code: Option<&'a str>,
    pub latency_ms: f64,
    pub store_ms: Option<f64>,
    pub degraded: bool,
    pub popular: bool,
    pub shadow: Option<ShadowFigures>,
}

/// The variants of a request from its answer's `variant`: `mixed` (a batch split by the
/// canary) is both.
pub fn variants_of(variant: Option<&str>) -> Vec<&'static str> {
    match variant {
        Some("candidate") => vec![VARIANT_CANDIDATE],
        Some("mixed") => vec![VARIANT_ACTIVE, VARIANT_CANDIDATE],
        _ => vec![VARIANT_ACTIVE],
    }
}

/// What every document of one request shares.
struct Context<'a> {
    namespace: &'a str,
    function: &'a str,
    timestamp_ms: u64,
    model: Option<&'a str>,
}

/// A metric: name, value (a number, or an array of samples), unit.
type Metric<'a> = (&'a str, Value, &'a str);

fn document(
    c: &Context<'_>,
    variant: &str,
    with_function_set: bool,
    metrics: &[Metric<'_>],
    properties: &[(&str, &str)],
) -> Value {
    let (namespace, function, timestamp_ms, model) =
        (c.namespace, c.function, c.timestamp_ms, c.model);
    let mut sets: Vec<Vec<&str>> = Vec::with_capacity(3);
    if with_function_set {
        sets.push(vec!["Function"]);
    }
    sets.push(vec!["Function", "Variant"]);
    if model.is_some() {
        sets.push(vec!["Function", "Model", "Variant"]);
    }
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": sets,
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    doc.insert("Function".into(), json!(function));
    doc.insert("Variant".into(), json!(variant));
    if let Some(m) = model {
        doc.insert("Model".into(), json!(m));
    }
    for (name, value, _) in metrics {
        doc.insert((*name).into(), value.clone());
    }
    for (k, v) in properties {
        doc.insert((*k).into(), json!(v));
    }
    Value::Object(doc)
}

/// The documents of one request (see the module docs).
pub fn request_documents(
    namespace: &str,
    function: &str,
    timestamp_ms: u64,
    r: &RequestFigures<'_>,
) -> Vec<Value> {
    let c = Context {
        namespace,
        function,
        timestamp_ms,
        model: r.model,
    };
    let count = |b: bool| json!(u64::from(b));
    let mut metrics: Vec<Metric<'_>> = vec![
        (names::REQUESTS, json!(1), "Count"),
        (names::ERRORS, count(r.status >= 400), "Count"),
        (
            names::ERRORS_4XX,
            count((400..500).contains(&r.status)),
            "Count",
        ),
        (names::ERRORS_5XX, count(r.status >= 500), "Count"),
        (names::DEGRADED, count(r.degraded), "Count"),
        (names::POPULAR, count(r.popular), "Count"),
        (names::LATENCY, json!([r.latency_ms]), "Milliseconds"),
    ];
    if let Some(s) = r.store_ms {
        metrics.push((names::STORE_LATENCY, json!([s]), "Milliseconds"));
    }
    let mut properties: Vec<(&str, &str)> = Vec::new();
    if let Some(code) = r.error_code {
        properties.push(("error_code", code));
    }
    let variants = if r.variants.is_empty() {
        vec![VARIANT_ACTIVE]
    } else {
        r.variants.clone()
    };
    let mut docs: Vec<Value> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| document(&c, v, i == 0, &metrics, &properties))
        .collect();
    if let Some(sh) = &r.shadow {
        let mut m: Vec<Metric<'_>> = Vec::new();
        if let Some(d) = sh.score_delta {
            m.push((names::SHADOW_SCORE_DELTA, json!([d]), "None"));
        }
        if let Some(o) = sh.topk_overlap {
            m.push((names::SHADOW_TOPK_OVERLAP, json!([o]), "None"));
        }
        if let Some(f) = sh.failed {
            m.push((names::SHADOW_FAILED, json!(f), "Count"));
        }
        if !m.is_empty() {
            docs.push(document(&c, VARIANT_SHADOW, true, &m, &[]));
        }
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(d: &Value) -> Value {
        d["_aws"]["CloudWatchMetrics"][0]["Dimensions"].clone()
    }

    fn units(d: &Value) -> Vec<(String, String)> {
        d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap().to_string(),
                    m["Unit"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn a_candidate_request_carries_the_three_dimension_sets_under_variant_candidate() {
        let r = RequestFigures {
            model: Some("product-recommender"),
            variants: variants_of(Some("candidate")),
            status: 200,
            latency_ms: 4.5,
            store_ms: Some(1.25),
            ..RequestFigures::default()
        };
        let docs = request_documents("NS", "recommend", 1_700_000_000_000, &r);
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        // Serialized and parsed back, as CloudWatch reads it from the log line.
        let d: Value = serde_json::from_str(&d.to_string()).unwrap();
        assert_eq!(
            dims(&d),
            json!([
                ["Function"],
                ["Function", "Variant"],
                ["Function", "Model", "Variant"]
            ])
        );
        assert_eq!(d["_aws"]["CloudWatchMetrics"][0]["Namespace"], "NS");
        assert_eq!(d["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(
            (&d["Function"], &d["Variant"], &d["Model"]),
            (
                &json!("recommend"),
                &json!("candidate"),
                &json!("product-recommender")
            )
        );
        assert_eq!(d["Requests"], 1);
        assert_eq!(
            (d["Errors4xx"].clone(), d["Errors5xx"].clone()),
            (json!(0), json!(0))
        );
        assert_eq!(d["Errors"], 0);
        assert_eq!(d["Latency"], json!([4.5]));
        assert_eq!(d["StoreLatency"], json!([1.25]));
        assert_eq!(
            (d["Degraded"].clone(), d["Popular"].clone()),
            (json!(0), json!(0))
        );
        // Every metric named in the directive is a member of the document.
        for (name, unit) in units(&d) {
            assert!(d.get(&name).is_some(), "{name}");
            assert!(
                ["Count", "Milliseconds"].contains(&unit.as_str()),
                "{name} {unit}"
            );
        }
    }

    #[test]
    fn errors_are_counted_by_family_with_the_code_as_a_property() {
        for (status, e4, e5) in [
            (400u16, 1, 0),
            (404, 1, 0),
            (413, 1, 0),
            (503, 0, 1),
            (500, 0, 1),
            (200, 0, 0),
        ] {
            let r = RequestFigures {
                status,
                error_code: (status >= 400).then_some("model_unavailable"),
                ..RequestFigures::default()
            };
            let d = &request_documents("NS", "predict", 0, &r)[0];
            assert_eq!(
                (d["Errors4xx"].as_u64(), d["Errors5xx"].as_u64()),
                (Some(e4), Some(e5)),
                "{status}"
            );
            assert_eq!(d["Errors"].as_u64(), Some(e4 + e5), "{status}");
            assert_eq!(d["error_code"].is_string(), status >= 400);
            // No model answered: no Model dimension (a URL's name must not become one).
            assert_eq!(dims(d), json!([["Function"], ["Function", "Variant"]]));
            assert_eq!(d["Variant"], "active");
            assert!(d.get("Model").is_none());
            assert!(d.get("StoreLatency").is_none());
        }
    }

    #[test]
    fn a_split_batch_counts_once_per_variant_and_once_per_function() {
        let r = RequestFigures {
            model: Some("m"),
            variants: variants_of(Some("mixed")),
            status: 200,
            degraded: true,
            latency_ms: 2.0,
            shadow: Some(ShadowFigures {
                score_delta: Some(0.01),
                topk_overlap: Some(0.75),
                failed: None,
            }),
            ..RequestFigures::default()
        };
        let docs = request_documents("NS", "recommend", 0, &r);
        assert_eq!(docs.len(), 3);
        let variants: Vec<&str> = docs
            .iter()
            .map(|d| d["Variant"].as_str().unwrap())
            .collect();
        assert_eq!(variants, ["active", "candidate", "shadow"]);
        let with_function: Vec<bool> = docs
            .iter()
            .map(|d| dims(d).as_array().unwrap().contains(&json!(["Function"])))
            .collect();
        // The request and the shadow figures are each counted once at the function level.
        assert_eq!(with_function, [true, false, true]);
        assert!(docs[..2]
            .iter()
            .all(|d| d["Requests"] == 1 && d["Degraded"] == 1));
        let shadow = &docs[2];
        assert_eq!(shadow["ShadowScoreDelta"], json!([0.01]));
        assert_eq!(shadow["ShadowTopKOverlap"], json!([0.75]));
        assert!(shadow.get("Requests").is_none() && shadow.get("ShadowFailed").is_none());
        assert_eq!(
            dims(shadow),
            json!([
                ["Function"],
                ["Function", "Variant"],
                ["Function", "Model", "Variant"]
            ])
        );
    }

    #[test]
    fn predict_shadow_failures_are_counted() {
        let r = RequestFigures {
            model: Some("churn"),
            shadow: Some(ShadowFigures {
                failed: Some(3),
                ..ShadowFigures::default()
            }),
            ..RequestFigures::default()
        };
        let docs = request_documents("NS", "predict", 0, &r);
        assert_eq!(docs[1]["ShadowFailed"], 3);
        assert!(docs[1].get("ShadowScoreDelta").is_none());
        // An empty comparison writes no shadow document.
        let r = RequestFigures {
            shadow: Some(ShadowFigures::default()),
            ..RequestFigures::default()
        };
        assert_eq!(request_documents("NS", "predict", 0, &r).len(), 1);
    }
}
