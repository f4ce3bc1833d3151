//! The API Gateway stand-in: an HTTP server on 127.0.0.1 with the template's routes. Each
//! request becomes an HTTP API payload-v2 event (`routeKey`, `rawPath`, `rawQueryString`,
//! lower-case `headers`, `cookies`, `queryStringParameters`, `requestContext` with `requestId`
//! and `http.{method,path,protocol,sourceIp,userAgent}`, `body` with `isBase64Encoded`), and the
//! function's answer becomes the HTTP response (payload-v2 rules: a `statusCode` object, or
//! any other JSON as a 200 `application/json` body). Unknown routes answer 404 and failed
//! invocations 500, with API Gateway's `{"message": …}` bodies.

use super::functions::LocalFunction;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warmstart_devkit::http::serve_http1;
use warmstart_devkit::Outcome;

/// API Gateway's payload limit.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// `(method, path, function)`: the routes of template.yaml (`{name}`: a path parameter).
pub const ROUTES: [(&str, &str, &str); 10] = [
    ("POST", "/recommend", "recommend"),
    ("POST", "/recommend/batch", "recommend"),
    ("POST", "/recommend/fairness", "recommend"),
    ("GET", "/health", "recommend"),
    ("POST", "/valuation", "valuation"),
    ("GET", "/models", "predict"),
    ("GET", "/models/{name}", "predict"),
    ("POST", "/models/{name}/predict", "predict"),
    ("POST", "/models/{name}/explain", "predict"),
    ("POST", "/models/{name}/fairness", "predict"),
];

/// The function serving `method path`, and the route key (`POST /models/{name}/predict`).
pub fn route(method: &str, path: &str) -> Option<(&'static str, String)> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && warmstart_core::http::path_matches(p, path))
        .map(|(m, p, f)| (*f, format!("{m} {p}")))
}

/// What the router knows about one HTTP request.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Without the `?`; empty when there is none.
    pub query: String,
    /// Names as received; repeated names are joined with `,` (cookies with `; `-split into
    /// `cookies`), as API Gateway does.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    /// `host:port` the client addressed.
    pub host: String,
}

/// The function's answer as HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// `22/Nov/2026:10:00:15 +0000`, API Gateway's `requestContext.time`.
fn clf_time(t: OffsetDateTime) -> String {
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(u8::from(t.month())) - 1];
    format!(
        "{:02}/{month}/{}:{:02}:{:02}:{:02} +0000",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The HTTP API payload-v2 event for `req` on route `route_key`.
pub fn to_event(
    req: &HttpRequest,
    route_key: &str,
    request_id: &str,
    now: OffsetDateTime,
) -> Value {
    let mut headers = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (k, v) in &req.headers {
        let k = k.to_ascii_lowercase();
        if k == "cookie" {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| Value::String(c.to_string())),
            );
            continue;
        }
        match headers.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(v);
            }
            _ => {
                headers.insert(k, Value::String(v.clone()));
            }
        }
    }
    let user_agent = headers
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        let (k, v) = (k.into_owned(), v.into_owned());
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let domain = req.host.clone();
    let prefix = domain.split('.').next().unwrap_or("").to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": prefix,
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !req.body.is_empty() {
        match std::str::from_utf8(&req.body) {
            Ok(text) => event["body"] = Value::String(text.to_string()),
            Err(_) => {
                event["body"] =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&req.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// API Gateway's answer when the integration fails.
pub fn gateway_error(status: u16, message: &str) -> HttpAnswer {
    HttpAnswer {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({ "message": message }).to_string().into_bytes(),
    }
}

/// The HTTP response for a function's payload-v2 answer.
pub fn from_response(payload: &[u8]) -> HttpAnswer {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return gateway_error(500, "Internal Server Error");
    };
    let Some(status) = v.get("statusCode") else {
        // Payload v2: a JSON answer without statusCode is the body of a 200.
        return HttpAnswer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: payload.to_vec(),
        };
    };
    let Some(status) = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
    else {
        return gateway_error(500, "Internal Server Error");
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(h)) = v.get("headers") {
        for (k, val) in h {
            let text = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.push((k.clone(), text));
        }
    }
    if let Some(Value::Object(h)) = v.get("multiValueHeaders") {
        for (k, vals) in h {
            if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                continue;
            }
            for val in vals.as_array().into_iter().flatten() {
                if let Some(s) = val.as_str() {
                    headers.push((k.clone(), s.to_string()));
                }
            }
        }
    }
    for c in v
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = c.as_str() {
            headers.push(("set-cookie".into(), c.to_string()));
        }
    }
    let text = v.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(b) => b,
            Err(_) => return gateway_error(500, "Internal Server Error"),
        }
    } else {
        text.as_bytes().to_vec()
    };
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        && !body.is_empty()
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    HttpAnswer {
        status,
        headers,
        body,
    }
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// An API Gateway-looking request id, unique within this process.
fn request_id() -> String {
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
    let t = OffsetDateTime::now_utc().unix_timestamp_nanos() as u64;
    format!("{:x}{:06x}", (t / 1000) & 0xffff_ffff_ffff, n & 0xff_ffff)
}

/// The functions behind the routes.
pub struct Backends(pub Vec<Arc<LocalFunction>>);

impl Backends {
    fn get(&self, name: &str) -> Option<&LocalFunction> {
        self.0.iter().find(|f| f.name() == name).map(|f| f.as_ref())
    }
}

async fn handle(
    backends: Arc<Backends>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let id = request_id();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let answer = match route(&method, &path) {
        None => gateway_error(404, "Not Found"),
        Some((function, route_key)) => {
            let (parts, body) = req.into_parts();
            match Limited::new(body, MAX_BODY).collect().await {
                Err(_) => gateway_error(413, "Request Entity Too Large"),
                Ok(body) => {
                    let host = parts
                        .headers
                        .get(hyper::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1")
                        .to_string();
                    let request = HttpRequest {
                        method: method.clone(),
                        path: path.clone(),
                        query: parts.uri.query().unwrap_or("").to_string(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_string(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                        body: body.to_bytes().to_vec(),
                        source_ip: peer.ip().to_string(),
                        host,
                    };
                    let event = to_event(&request, &route_key, &id, OffsetDateTime::now_utc());
                    let event = serde_json::to_vec(&event).unwrap_or_default();
                    let invoked = match backends.get(function) {
                        Some(backend) => backend.invoke(&event).await,
                        None => Err(format!("no local function `{function}`")),
                    };
                    match invoked {
                        Ok(Outcome::Response(b)) => from_response(&b),
                        Ok(Outcome::Error(b)) => {
                            eprintln!(
                                "[router] {function} invocation error: {}",
                                String::from_utf8_lossy(&b)
                            );
                            gateway_error(500, "Internal Server Error")
                        }
                        Err(e) => {
                            eprintln!("[router] {function}: {e}");
                            gateway_error(503, "Service Unavailable")
                        }
                    }
                }
            }
        }
    };
    eprintln!(
        "[router] {method} {path} -> {} ({:.1} ms)",
        answer.status,
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut resp = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        resp = resp.header(k.as_str(), v.as_str());
    }
    resp = resp.header("apigw-requestid", id);
    Ok(resp
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| {
            let mut r = Response::new(Full::new(Bytes::from_static(
                br#"{"message":"Internal Server Error"}"#,
            )));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }))
}

/// Serves the routes on `listener` until `stop` changes.
pub async fn serve(listener: TcpListener, backends: Arc<Backends>, stop: watch::Receiver<bool>) {
    serve_http1(listener, stop, move |peer| {
        let backends = backends.clone();
        hyper::service::service_fn(move |req| handle(backends.clone(), peer, req))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_795_341_615).unwrap()
    }

    #[test]
    fn routes_match_the_template() {
        assert_eq!(
            route("POST", "/recommend"),
            Some(("recommend", "POST /recommend".into()))
        );
        assert_eq!(route("GET", "/health").unwrap().0, "recommend");
        assert_eq!(route("POST", "/valuation").unwrap().0, "valuation");
        assert_eq!(
            route("POST", "/models/churn/predict").unwrap(),
            ("predict", "POST /models/{name}/predict".to_string())
        );
        assert_eq!(route("GET", "/models").unwrap().0, "predict");
        assert_eq!(route("GET", "/models/a/b"), None);
        assert_eq!(route("GET", "/recommend"), None);
        assert_eq!(route("POST", "/nope"), None);
    }

    #[test]
    fn requests_become_payload_v2_events_the_functions_decode() {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/recommend".into(),
            query: "debug=1&tag=a%20b&tag=c".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("user-agent".into(), "curl/8.5.0".into()),
                ("cookie".into(), "a=1; b=2".into()),
                ("x-multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
            ],
            body: br#"{"customer_id":"15889","k":3}"#.to_vec(),
            source_ip: "127.0.0.1".into(),
            host: "127.0.0.1:3000".into(),
        };
        let event = to_event(&req, "POST /recommend", "req-1", now());
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "POST /recommend");
        assert_eq!(event["rawPath"], "/recommend");
        assert_eq!(event["rawQueryString"], "debug=1&tag=a%20b&tag=c");
        assert_eq!(event["queryStringParameters"]["tag"], "a b,c");
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["headers"]["x-multi"], "1,2");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["requestContext"]["requestId"], "req-1");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["requestContext"]["http"]["userAgent"], "curl/8.5.0");
        assert_eq!(
            event["requestContext"]["time"],
            "22/Nov/2026:10:00:15 +0000"
        );
        assert_eq!(event["requestContext"]["timeEpoch"], 1_795_341_615_000i64);
        assert_eq!(event["body"], r#"{"customer_id":"15889","k":3}"#);
        assert_eq!(event["isBase64Encoded"], false);
        // The functions' own event type reads it.
        let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(event).unwrap();
        assert_eq!(typed.raw_path.as_deref(), Some("/recommend"));
        assert_eq!(
            typed.request_context.http.method,
            aws_lambda_events::http::Method::POST
        );
        assert_eq!(typed.request_context.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            typed.body.as_deref(),
            Some(r#"{"customer_id":"15889","k":3}"#)
        );
    }

    #[test]
    fn bodiless_and_binary_requests() {
        let get = HttpRequest {
            method: "GET".into(),
            path: "/health".into(),
            host: "127.0.0.1:3000".into(),
            ..HttpRequest::default()
        };
        let e = to_event(&get, "GET /health", "r", now());
        assert!(e.get("body").is_none());
        assert!(e.get("queryStringParameters").is_none());
        let bin = HttpRequest {
            body: vec![0xff, 0x00, 0x80],
            ..get
        };
        let e = to_event(&bin, "GET /health", "r", now());
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wCA");
    }

    #[test]
    fn responses_become_http() {
        let a = from_response(
            br#"{"statusCode":400,"headers":{"content-type":"application/problem+json"},
                 "multiValueHeaders":{},"body":"{\"status\":400}","isBase64Encoded":false,
                 "cookies":["s=1"]}"#,
        );
        assert_eq!(a.status, 400);
        assert_eq!(a.body, br#"{"status":400}"#);
        assert!(a
            .headers
            .contains(&("content-type".into(), "application/problem+json".into())));
        assert!(a.headers.contains(&("set-cookie".into(), "s=1".into())));

        let b = from_response(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#);
        assert_eq!((b.status, b.body.as_slice()), (200, &b"hi"[..]));

        // Payload v2: JSON without statusCode is a 200 body.
        let c = from_response(br#"{"ok":true}"#);
        assert_eq!((c.status, c.body.as_slice()), (200, &br#"{"ok":true}"#[..]));

        assert_eq!(from_response(b"not json").status, 500);
        assert_eq!(from_response(br#"{"statusCode":"x"}"#).status, 500);
    }
}
