//! The API contract, `docs/openapi.yaml`, checked on every answer an end-to-end test sees:
//! [`check_answer`] finds the documented operation of an API Gateway event (method and
//! `rawPath`), requires its status to be documented for that operation, its `content-type` to
//! be the documented one, and validates the body against the response's JSON Schema
//! (OpenAPI 3.1 schemas are JSON Schema 2020-12). [`crate::Running`] calls it on every
//! invocation, so every e2e test is also a conformance test.

use jsonschema::{Registry, Resource, Validator};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The base URI the document is registered under; schemas are `{"$ref": "<URI>#<pointer>"}`.
const SPEC_URI: &str = "urn:warmstart:openapi";

struct Contract {
    spec: Value,
    registry: Registry<'static>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let spec: Value = serde_json::from_str(warmstart_core::api::openapi::SPEC_JSON)
            .expect("the embedded spec is JSON");
        let registry = Registry::new()
            .add(SPEC_URI, Resource::from_contents(spec.clone()))
            .and_then(|r| r.prepare())
            .expect("the spec registers as a JSON Schema resource");
        Contract {
            spec,
            registry,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// `~` and `/` escaped for a JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The documented path template `path` is an instance of (`/models/{name}` for
/// `/models/churn`), for `method`. A trailing slash is tolerated, as the functions do.
fn operation(spec: &Value, method: &str, path: &str) -> Option<String> {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    spec["paths"]
        .as_object()?
        .iter()
        .find_map(|(template, item)| {
            let matches = warmstart_core::http::path_matches(template, path);
            (matches && item.get(method).is_some()).then(|| template.clone())
        })
}

impl Contract {
    fn validator(&self, pointer: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().expect("validators");
        if let Some(v) = cache.get(pointer) {
            return v.clone();
        }
        // A URI fragment: the braces of path templates are percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        let schema = serde_json::json!({ "$ref": format!("{SPEC_URI}#{fragment}") });
        let v = jsonschema::options()
            .with_registry(&self.registry)
            .build(&schema)
            .unwrap_or_else(|e| panic!("docs/openapi.yaml: the schema at {pointer}: {e}"));
        let v = Arc::new(v);
        cache.insert(pointer.to_string(), v.clone());
        v
    }

    /// The pointer of a response object, following one `$ref` into `components/responses`.
    fn response_pointer(&self, pointer: String) -> String {
        let resolved = self.spec.pointer(&pointer).and_then(|r| r.get("$ref"));
        match resolved.and_then(Value::as_str) {
            Some(target) => target.trim_start_matches('#').to_string(),
            None => pointer,
        }
    }

    fn check(&self, function: &str, method: &str, path: &str, status: u16, answer: &Value) {
        let headers = &answer["headers"];
        let content_type = headers["content-type"].as_str().unwrap_or("");
        let body = answer["body"].as_str().unwrap_or("");
        // Valuation's `GET /health` is `GET /valuation/health` behind API Gateway.
        let path = if function == "valuation" && path.trim_end_matches('/') == "/health" {
            "/valuation/health"
        } else {
            path
        };
        let what = format!("{function}: {method} {path} answered {status}");
        let Some(template) = operation(&self.spec, method, path) else {
            // No route: the function's own `not_found` / `method_not_allowed` (API Gateway
            // answers these itself in a deployment).
            assert!(
                matches!(status, 404 | 405),
                "{what}, but docs/openapi.yaml documents no such operation"
            );
            self.validate("/components/schemas/Problem", body, &what);
            return;
        };
        let op = format!("/paths/{}/{method}", escape(&template));
        let response = self.response_pointer(format!("{op}/responses/{status}"));
        let documented = self.spec.pointer(&response).unwrap_or_else(|| {
            panic!(
                "{what}: status {status} is not documented for {method} {template} in \
                 docs/openapi.yaml; body: {}",
                clip(body)
            )
        });
        if documented.pointer("/headers/x-request-id").is_some() {
            assert!(
                headers["x-request-id"].is_string(),
                "{what}: no x-request-id header"
            );
        }
        let Some(content) = documented["content"].as_object() else {
            return;
        };
        let (media, _) = content
            .iter()
            .find(|(media, _)| content_type.starts_with(media.as_str()))
            .unwrap_or_else(|| {
                panic!("{what}: content-type `{content_type}` is not documented ({content:?})")
            });
        if media == "application/json" {
            self.validate(
                &format!("{response}/content/application~1json/schema"),
                body,
                &what,
            );
        }
    }

    fn validate(&self, pointer: &str, body: &str, what: &str) {
        let instance: Value = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {}", clip(body)));
        let validator = self.validator(pointer);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(5)
            .map(|e| format!("{} at `{}`", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what}: the body does not match docs/openapi.yaml ({pointer}):\n  {}\nbody: {}",
            errors.join("\n  "),
            clip(body)
        );
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(2000) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Checks `answer` (a function's payload-v2 answer to `event`) against the contract when
/// `event` is an API Gateway HTTP event; other events (S3, admin payloads) are not HTTP and
/// pass. `function` is the binary's name (`recommend`, `valuation`, `predict`, …). Panics,
/// failing the test, with what differs.
pub fn check_answer(function: &str, event: &[u8], answer: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Value>(event) else {
        return;
    };
    let Some(method) = event["requestContext"]["http"]["method"].as_str() else {
        return;
    };
    let path = event["rawPath"].as_str().unwrap_or("/");
    let Ok(answer) = serde_json::from_slice::<Value>(answer) else {
        panic!("{function}: {method} {path}: the answer is not JSON");
    };
    let Some(status) = answer["statusCode"].as_u64() else {
        return; // a bare JSON answer (payload v2's implicit 200) is not what the functions send
    };
    contract().check(
        function,
        &method.to_ascii_lowercase(),
        path,
        status as u16,
        &answer,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "statusCode": status,
            "headers": {"content-type": "application/json", "x-request-id": "r"},
            "body": body,
        }))
        .unwrap()
    }

    fn event(method: &str, path: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "rawPath": path,
            "requestContext": {"http": {"method": method}},
        }))
        .unwrap()
    }

    /// The panic message of `f`, which must panic.
    fn failure(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let e = std::panic::catch_unwind(f).expect_err("the answer was accepted");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn conforming_answers_pass() {
        let problem = r#"{"status":404,"code":"unknown_model","message":"m","request_id":"r"}"#;
        check_answer(
            "predict",
            &event("POST", "/models/x/predict"),
            &answer(404, problem),
        );
        let p = r#"{"model":{"name":"m","version":"v","outputs":["prediction"]},"predictions":[0.5,null],"variants":["active","candidate"],"request_id":"r"}"#;
        check_answer(
            "predict",
            &event("POST", "/models/x/predict"),
            &answer(200, p),
        );
        // S3 and admin events are not HTTP.
        check_answer("reload", br#"{"Records":[]}"#, b"{}");
    }

    #[test]
    fn a_wrong_field_an_undocumented_status_or_a_wrong_code_fails() {
        let ev = event("POST", "/models/x/predict");
        let mismatch = "does not match docs/openapi.yaml";
        // `predictions` of strings.
        let bad = r#"{"model":{"name":"m","version":"v","outputs":[]},"predictions":["x"],"variants":[],"request_id":"r"}"#;
        let e = failure(|| check_answer("predict", &ev, &answer(200, bad)));
        assert!(e.contains(mismatch) && e.contains("/predictions/0"), "{e}");
        // An extra field.
        let extra = r#"{"model":{"name":"m","version":"v","outputs":[]},"predictions":[],"variants":[],"request_id":"r","debug":1}"#;
        let e = failure(|| check_answer("predict", &ev, &answer(200, extra)));
        assert!(e.contains(mismatch) && e.contains("debug"), "{e}");
        // 422 is not documented for predict.
        let p422 = r#"{"status":422,"code":"not_explainable","message":"m","request_id":"r"}"#;
        let e = failure(|| check_answer("predict", &ev, &answer(422, p422)));
        assert!(e.contains("status 422 is not documented"), "{e}");
        // A 400 code under 404.
        let p404 = r#"{"status":404,"code":"rows_empty","message":"m","request_id":"r"}"#;
        let e = failure(|| check_answer("predict", &ev, &answer(404, p404)));
        assert!(e.contains(mismatch), "{e}");
        // Not JSON at all.
        let e = failure(|| check_answer("predict", &ev, &answer(400, "oops")));
        assert!(e.contains("not JSON"), "{e}");
        // Valuation's health answered in recommend's shape.
        let health = r#"{"status":"ok","request_id":"r"}"#;
        let e =
            failure(|| check_answer("valuation", &event("GET", "/health"), &answer(200, health)));
        assert!(
            e.contains(mismatch) && e.contains("valuation/health"),
            "{e}"
        );
    }
}
