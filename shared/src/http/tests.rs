use super::*;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;

fn post(body: &str, b64: bool) -> Request {
    let v = serde_json::json!({
        "version": "2.0", "routeKey": "POST /recommend", "rawPath": "/recommend",
        "requestContext": {"requestId": "rid-1", "http": {"method": "POST", "path": "/recommend"}},
        "body": body, "isBase64Encoded": b64,
    });
    let ev: ApiGatewayV2httpRequest = serde_json::from_value(v).unwrap();
    to_request(ev, None)
}

fn get(path: &str) -> Request {
    let v = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path,
        "requestContext": {"requestId": "rid-1", "http": {"method": "GET", "path": path}},
        "isBase64Encoded": false,
    });
    to_request(serde_json::from_value(v).unwrap(), None)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum R {
    Recommend,
    Health,
}

#[test]
fn routing_distinguishes_unknown_paths_from_wrong_methods() {
    let routes = &[
        ("POST", "/recommend", R::Recommend),
        ("GET", "/health", R::Health),
    ];
    assert_eq!(route(routes, &post("{}", false)).unwrap(), R::Recommend);
    assert_eq!(route(routes, &get("/health/")).unwrap(), R::Health);
    assert!(matches!(
        route(routes, &get("/nope")),
        Err(ApiError::NotFound { .. })
    ));
    match route(routes, &get("/recommend")) {
        Err(ApiError::MethodNotAllowed { allowed, .. }) => assert_eq!(allowed, "POST"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn brace_segments_match_one_non_empty_segment() {
    let routes = &[
        ("GET", "/models", R::Health),
        ("GET", "/models/{name}", R::Recommend),
    ];
    assert_eq!(route(routes, &get("/models/churn")).unwrap(), R::Recommend);
    assert_eq!(segment(&get("/models/churn/"), 1), Some("churn"));
    assert_eq!(route(routes, &get("/models/")).unwrap(), R::Health);
    for p in ["/models/a/b", "/models//", "/modelsx/a"] {
        assert!(
            matches!(route(routes, &get(p)), Err(ApiError::NotFound { .. })),
            "{p}"
        );
    }
}

#[test]
fn bodies_are_base64_decoded_and_limited() {
    let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"a":1}"#);
    assert_eq!(body(&post(&b64, true), 100).unwrap(), br#"{"a":1}"#);
    assert!(matches!(
        body(&post("not base64!", true), 100),
        Err(ApiError::BadBase64)
    ));
    let big = "x".repeat(101);
    assert!(matches!(
        body(&post(&big, false), 100),
        Err(ApiError::BodyTooLarge { limit: 100 })
    ));
    let big64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; 101]);
    assert!(matches!(
        body(&post(&big64, true), 100),
        Err(ApiError::BodyTooLarge { .. })
    ));
    // Oversized base64 is refused before it is decoded.
    let huge64 = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; MAX_BODY_BYTES + 10]);
    assert!(matches!(
        body(&post(&huge64, true), MAX_BODY_BYTES),
        Err(ApiError::BodyTooLarge { .. })
    ));
}

#[test]
fn problem_json_has_the_contract_shape() {
    let resp = problem_response(&ApiError::KOutOfRange { k: 25, max: 24 }, "rid-1");
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_str(body_text(&resp)).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "message", "request_id", "status"]);
    assert_eq!(v["status"], 400);
    assert_eq!(v["code"], "k_out_of_range");
    assert_eq!(v["request_id"], "rid-1");
}

#[test]
fn method_not_allowed_names_the_allowed_methods() {
    let err = ApiError::MethodNotAllowed {
        method: "DELETE".into(),
        allowed: "GET".into(),
    };
    let resp = problem_response(&err, "r");
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
}

#[test]
fn request_id_prefers_api_gateway_then_lambda() {
    assert_eq!(request_id(&post("{}", false)), "rid-1");
    let mut ctx = lambda_runtime::Context::default();
    ctx.request_id = "lambda".into();
    let bare = to_request(ApiGatewayV2httpRequest::default(), Some(ctx));
    assert_eq!(request_id(&bare), "lambda");
}

#[test]
fn payload_v2_answers_keep_status_headers_and_text_bodies() {
    let resp = to_apigw_response(problem_response(&ApiError::BatchEmpty, "r"));
    assert_eq!(resp.status_code, 400);
    assert_eq!(resp.headers["x-request-id"], "r");
    assert!(!resp.is_base64_encoded);
    match resp.body {
        Some(Body::Text(t)) => assert!(t.contains("batch_empty")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_bodies_classify_empty_malformed_and_overflowing_input() {
    assert!(matches!(parse_json(b"  "), Err(ApiError::MalformedJson(_))));
    assert!(matches!(parse_json(b"{"), Err(ApiError::MalformedJson(_))));
    assert!(matches!(
        parse_json(br#"{"k": 1e999}"#),
        Err(ApiError::NonFiniteNumber { .. })
    ));
    assert_eq!(parse_json(b"[1]").unwrap(), serde_json::json!([1]));
}
