//! The Lambda Invoke API of the local stack, as `sam local start-lambda` serves it:
//! `POST /2015-03-31/functions/<name>/invocations` on 127.0.0.1:`--lambda-port` sends the
//! request body as the event to the running function and answers what Lambda answers — the
//! function's result (200), an invocation error (200 with `X-Amz-Function-Error: Unhandled`),
//! 202 for `X-Amz-Invocation-Type: Event`, 204 for `DryRun`, and a 404
//! `ResourceNotFoundException` for an unknown function. So `aws lambda invoke
//! --endpoint-url http://127.0.0.1:3001`, curl and `warmstart local invoke` can send any event
//! (an EventBridge alarm or tick, an admin payload, an S3 notification) to the functions.
//!
//! A function is named as `warmstart local up` calls it (`reload`), as its process is named
//! (`warmstart-reload`), by its template logical id (`ReloadFunction`, what `sam local`
//! takes) or by an ARN ending in one of those.
//!
//! [`schedule_ticks`] is EventBridge's `rate(1 minute)` rule of template.yaml: a `Scheduled
//! Event` to reload every period.

use super::functions::LocalFunction;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use warmstart_devkit::http::serve_http1;
use warmstart_devkit::Outcome;

/// Lambda's synchronous invocation payload limit.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// The account and region of the ARNs the local stack answers with.
const ARN_PREFIX: &str = "arn:aws:lambda:us-east-1:123456789012:function:";

/// The functions the Invoke API reaches.
pub struct Functions(pub Vec<Arc<LocalFunction>>);

impl Functions {
    /// The function `name` designates (see the module docs).
    pub fn find(&self, name: &str) -> Option<&Arc<LocalFunction>> {
        let name = name.rsplit(":function:").next().unwrap_or(name);
        // A qualifier (`reload:$LATEST`) names the only version there is.
        let name = name.split(':').next().unwrap_or(name);
        self.0.iter().find(|f| {
            let short = f.name();
            name == short || name == format!("warmstart-{short}") || name == logical_id(short)
        })
    }
}

/// `reload` → `ReloadFunction`, the template's logical id.
pub fn logical_id(short: &str) -> String {
    let mut c = short.chars();
    match c.next() {
        Some(first) => format!("{}{}Function", first.to_ascii_uppercase(), c.as_str()),
        None => String::new(),
    }
}

/// `<name>` of `/2015-03-31/functions/<name>/invocations`, percent-decoded.
pub fn function_in_path(path: &str) -> Option<String> {
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn answer(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// An AWS error answer (`x-amzn-ErrorType` and `{"Type", "message"}`, as the SDKs read it).
fn aws_error(status: u16, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    answer(
        status,
        &[("x-amzn-ErrorType", error_type)],
        json!({"Type": "User", "message": message})
            .to_string()
            .into_bytes(),
    )
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

async fn handle(
    functions: Arc<Functions>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let Some(name) = function_in_path(&path) else {
        return Ok(aws_error(
            404,
            "UnknownOperationException",
            &format!(
                "no Lambda operation at {path}: POST /2015-03-31/functions/<name>/invocations"
            ),
        ));
    };
    if req.method() != hyper::Method::POST {
        return Ok(aws_error(
            405,
            "UnknownOperationException",
            "invocations take POST",
        ));
    }
    let Some(function) = functions.find(&name).cloned() else {
        let known: Vec<&str> = functions.0.iter().map(|f| f.name()).collect();
        return Ok(aws_error(
            404,
            "ResourceNotFoundException",
            &format!(
                "Function not found: {ARN_PREFIX}{name} (this stack runs {})",
                known.join(", ")
            ),
        ));
    };
    let invocation_type = req
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse")
        .to_string();
    let body = match Limited::new(req.into_body(), MAX_PAYLOAD).collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => {
            return Ok(aws_error(
                413,
                "RequestTooLargeException",
                &format!("the payload exceeds {MAX_PAYLOAD} bytes"),
            ))
        }
    };
    // The CLI sends no body without --payload; Lambda hands the function `{}`.
    let event = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".to_vec()
    } else {
        body
    };
    if serde_json::from_slice::<Value>(&event).is_err() {
        return Ok(aws_error(
            400,
            "InvalidRequestContentException",
            "Could not parse request body into json",
        ));
    }
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    eprintln!(
        "[lambda-api] {invocation_type} invocation {n} of {}",
        function.name()
    );
    match invocation_type.as_str() {
        "DryRun" => Ok(answer(204, &[], Vec::new())),
        "Event" => {
            tokio::spawn(async move {
                if let Err(e) = function.invoke(&event).await {
                    eprintln!("[lambda-api] async invocation {n} failed: {e}");
                }
            });
            Ok(answer(202, &[], Vec::new()))
        }
        "RequestResponse" => Ok(match function.invoke(&event).await {
            Ok(Outcome::Response(b)) => answer(200, &[("X-Amz-Executed-Version", "$LATEST")], b),
            Ok(Outcome::Error(b)) => answer(
                200,
                &[
                    ("X-Amz-Executed-Version", "$LATEST"),
                    ("X-Amz-Function-Error", "Unhandled"),
                ],
                b,
            ),
            Err(e) => answer(
                200,
                &[("X-Amz-Function-Error", "Unhandled")],
                json!({"errorType": "Runtime.ExitError", "errorMessage": e})
                    .to_string()
                    .into_bytes(),
            ),
        }),
        other => Ok(aws_error(
            400,
            "InvalidParameterValueException",
            &format!("X-Amz-Invocation-Type `{other}`: use RequestResponse, Event or DryRun"),
        )),
    }
}

/// Serves the Invoke API on `listener` until `stop` changes.
pub async fn serve(listener: TcpListener, functions: Arc<Functions>, stop: watch::Receiver<bool>) {
    serve_http1(listener, stop, move |_peer| {
        let functions = functions.clone();
        hyper::service::service_fn(move |req| handle(functions.clone(), req))
    })
    .await
}

/// The `Scheduled Event` EventBridge sends for the template's `rate(1 minute)` rule.
pub fn scheduled_event(now: OffsetDateTime, sequence: u64) -> Value {
    // EventBridge's times are whole seconds.
    let time = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": format!("00000000-0000-4000-8000-{sequence:012x}"),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/warmstart-local-RolloutTick"],
        "detail": {}
    })
}

/// Sends reload a `Scheduled Event` every `every` until `stop` changes, logging the models a
/// tick moved (a tick with nothing due stays quiet).
pub async fn schedule_ticks(
    reload: Arc<LocalFunction>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut sequence = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        sequence += 1;
        let event = scheduled_event(OffsetDateTime::now_utc(), sequence);
        match reload
            .invoke(&serde_json::to_vec(&event).unwrap_or_default())
            .await
        {
            Ok(Outcome::Response(b)) => {
                let answer: Value = serde_json::from_slice(&b).unwrap_or_default();
                for m in answer["models"].as_array().into_iter().flatten() {
                    if m["outcome"] != "waiting" {
                        eprintln!(
                            "[schedule] {} {}: {}",
                            m["model"].as_str().unwrap_or_default(),
                            m["outcome"].as_str().unwrap_or_default(),
                            m["summary"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(Outcome::Error(b)) => eprintln!(
                "[schedule] reload returned an error: {}",
                String::from_utf8_lossy(&b)
            ),
            Err(e) => eprintln!("[schedule] reload did not answer: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_paths_name_the_function() {
        assert_eq!(
            function_in_path("/2015-03-31/functions/reload/invocations").as_deref(),
            Some("reload")
        );
        assert_eq!(
            function_in_path(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Areload/invocations"
            )
            .as_deref(),
            Some("arn:aws:lambda:us-east-1:1:function:reload")
        );
        for bad in [
            "/2015-03-31/functions//invocations",
            "/2015-03-31/functions/a/b/invocations",
            "/2015-03-31/functions/reload",
            "/invocations",
        ] {
            assert_eq!(function_in_path(bad), None, "{bad}");
        }
        assert_eq!(logical_id("reload"), "ReloadFunction");
    }

    #[test]
    fn the_scheduled_event_reads_like_eventbridge_s() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_341_605).unwrap()
            + time::Duration::milliseconds(250);
        let e = scheduled_event(t, 3);
        assert_eq!(e["time"], "2026-11-22T10:00:05Z");
        assert_eq!(e["detail-type"], "Scheduled Event");
        let sample: Value = serde_json::from_slice(
            &std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../events/schedule-tick.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&e), keys(&sample));
    }
}
