//! The API's contract, `docs/openapi.yaml`, as the JSON `GET /openapi.json` serves (converted
//! at build time by `build.rs`). The predict function answers the route; the tests below keep
//! the document and the adapters' routes and error codes in step.

use crate::http::{Body, Response};
use lambda_http::http::{HeaderValue, StatusCode};

/// `docs/openapi.yaml` as compact JSON.
pub const SPEC_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The `GET /openapi.json` answer. Cacheable for a few minutes: it changes only with a deploy.
pub fn response(request_id: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Text(SPEC_JSON.to_string()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=300"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-request-id", v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ApiError;
    use crate::valuation::ValuationError;
    use serde_json::Value;

    fn spec() -> Value {
        serde_json::from_str(SPEC_JSON).expect("the spec is JSON")
    }

    /// Every `(method, path)` an adapter routes.
    fn served() -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = Vec::new();
        let mut add = |m: &str, p: &str| all.push((m.to_ascii_lowercase(), p.to_string()));
        for (m, p, _) in super::super::recommend::ROUTES {
            add(m, p);
        }
        for (m, p, _) in super::super::valuation::ROUTES {
            add(m, p);
        }
        for (m, p, _) in super::super::predict::ROUTES {
            add(m, p);
        }
        all
    }

    fn documented() -> Vec<(String, String)> {
        let spec = spec();
        let mut ops = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "delete", "patch"] {
                if item.get(method).is_some() {
                    ops.push((method.to_string(), path.clone()));
                }
            }
        }
        ops
    }

    #[test]
    fn the_spec_is_openapi_3_1_and_is_served_as_json() {
        let spec = spec();
        assert_eq!(spec["openapi"], "3.1.0");
        let resp = response("req-1");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(resp.headers()["x-request-id"], "req-1");
        let served: Value = serde_json::from_str(crate::http::body_text(&resp)).unwrap();
        assert_eq!(served, spec);
    }

    #[test]
    fn every_route_the_functions_serve_is_documented() {
        let documented = documented();
        for route in served() {
            assert!(
                documented.contains(&route),
                "{route:?} is routed but not in docs/openapi.yaml"
            );
        }
    }

    #[test]
    fn every_documented_route_is_served() {
        let served = served();
        for (m, p) in documented() {
            assert!(
                served.contains(&(m.clone(), p.clone())),
                "{m} {p} is documented but no adapter routes it"
            );
        }
    }

    /// One of every `ApiError` variant.
    fn every_error() -> Vec<ApiError> {
        vec![
            ApiError::MalformedJson("x".into()),
            ApiError::BadBase64,
            ApiError::BodyTooLarge { limit: 1 },
            ApiError::MissingField { field: "k" },
            ApiError::invalid("k", "bad"),
            ApiError::UnknownField {
                field: "x".into(),
                accepted: "k",
            },
            ApiError::KOutOfRange { k: 0, max: 24 },
            ApiError::UnknownFeature("x".into()),
            ApiError::UnknownProduct("x".into()),
            ApiError::NonFiniteNumber { field: "x".into() },
            ApiError::BatchTooLarge { got: 101, max: 100 },
            ApiError::BatchEmpty,
            ApiError::UnknownModel("x".into()),
            ApiError::UnknownCategory {
                field: "f".into(),
                feature: "f".into(),
                value: "v".into(),
            },
            ApiError::TooManyRows { got: 2, max: 1 },
            ApiError::RowsEmpty,
            ApiError::NotExplainable("x".into()),
            ApiError::ModelUnavailable("x".into()),
            ApiError::NotFound {
                method: "GET".into(),
                path: "/x".into(),
            },
            ApiError::MethodNotAllowed {
                method: "PUT".into(),
                allowed: "GET".into(),
            },
            ApiError::Valuation(ValuationError::invalid("beta", "bad")),
            ApiError::Valuation(ValuationError::GrowthNotBelowWacc {
                growth: 0.2,
                wacc: 0.1,
            }),
            ApiError::Valuation(ValuationError::NotFound {
                ts_code: "X".into(),
            }),
            ApiError::StoreUnavailable("x".into()),
            ApiError::Internal("x".into()),
        ]
    }

    #[test]
    fn every_error_code_is_documented_under_its_status() {
        let spec = spec();
        let all = &spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
        let responses = &spec["components"]["responses"];
        for e in every_error() {
            let code = Value::from(e.code());
            assert!(
                all.as_array().unwrap().contains(&code),
                "{code} is not in Problem.code"
            );
            // Routing errors are API Gateway's in a deployment (`{"message": ...}`); the
            // functions answer them only when invoked directly.
            if matches!(
                e,
                ApiError::NotFound { .. } | ApiError::MethodNotAllowed { .. }
            ) {
                continue;
            }
            let name = match e.status() {
                400 => "BadRequest",
                404 => "NotFound",
                413 => "PayloadTooLarge",
                422 => "Unprocessable",
                500 => "InternalError",
                503 => "ServiceUnavailable",
                s => panic!("status {s} of {code} has no documented response"),
            };
            let schema = &responses[name]["content"]["application/json"]["schema"];
            let problem = match schema.get("anyOf") {
                Some(any) => &any[0],
                None => schema,
            };
            let constraint = &problem["allOf"][1]["properties"];
            assert_eq!(constraint["status"]["const"], e.status(), "{name}");
            let codes = &constraint["code"];
            let listed = codes["enum"]
                .as_array()
                .map_or(codes["const"] == code, |c| c.contains(&code));
            assert!(listed, "{code} is not listed under {name}");
        }
    }

    #[test]
    fn examples_that_name_a_sample_event_carry_its_body() {
        let spec = spec();
        let dir = format!("{}/../events", env!("CARGO_MANIFEST_DIR"));
        let mut checked = 0;
        for (name, ex) in spec["components"]["examples"].as_object().unwrap() {
            let Some(file) = ex["summary"]
                .as_str()
                .and_then(|s| s.strip_prefix("events/"))
            else {
                continue;
            };
            let event: Value =
                serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{file}")).unwrap())
                    .unwrap();
            let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
            assert_eq!(ex["value"], body, "example {name} differs from {file}");
            checked += 1;
        }
        assert!(checked >= 8, "{checked}");
    }
}
