//! `warmstart local up`: the local stack (see [`crate::local`]); `warmstart local chaos`: it
//! under load and faults (see [`crate::local::chaos`]); `warmstart local invoke`: one event to a
//! function of the running stack through its Lambda Invoke API.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::Value;
use std::path::PathBuf;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Subcommand)]
pub enum Local {
    /// Start everything and serve until Ctrl-C (see `warmstart local up --help`).
    Up(crate::local::UpArgs),
    /// The local stack under load while S3/DynamoDB fail, bundles go bad and functions die;
    /// prints a table per phase and fails on any 5xx or lost registry write (`make chaos`).
    Chaos(crate::local::chaos::ChaosArgs),
    /// Send an event to a function of the running stack (as `aws lambda invoke` does) and
    /// print its answer; exits 1 on an invocation error.
    ///
    /// Events: events/*.json (API Gateway, S3, admin payloads, EventBridge ticks and alarms).
    Invoke(InvokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct InvokeArgs {
    /// recommend, valuation, predict or reload (also `warmstart-reload`, `ReloadFunction`).
    pub function: String,
    /// The event (JSON); `-` reads it from stdin.
    pub event: PathBuf,
    /// The stack's Lambda Invoke API port (`warmstart local up --lambda-port`).
    #[arg(long, env = "WARMSTART_LAMBDA_PORT", default_value_t = 3001)]
    pub lambda_port: u16,
    /// Set an EventBridge event's clock: its `time` (and an alarm's state timestamp) become
    /// `now` or the RFC 3339 instant given. Reload's rollouts run on the event's clock, so a
    /// sample event from the past would be judged in the past.
    #[arg(long)]
    pub time: Option<String>,
}

pub fn run(cmd: Local) -> Result<()> {
    match cmd {
        Local::Up(args) => crate::local::up(args),
        Local::Chaos(args) => crate::local::chaos::run(args),
        Local::Invoke(args) => invoke(args),
    }
}

/// `event` with its EventBridge clock set to `time` (`now` or RFC 3339).
pub fn with_time(mut event: Value, time: &str) -> Result<Value> {
    let t = if time == "now" {
        OffsetDateTime::now_utc()
    } else {
        OffsetDateTime::parse(time, &Rfc3339)
            .with_context(|| format!("--time `{time}` is neither `now` nor RFC 3339"))?
    };
    let t = t.replace_nanosecond(0).unwrap_or(t).format(&Rfc3339)?;
    if event.get("detail-type").is_none() {
        bail!("--time sets an EventBridge event's clock; this event has no `detail-type`");
    }
    event["time"] = Value::String(t.clone());
    if event["detail"]["state"]["timestamp"].is_string() {
        event["detail"]["state"]["timestamp"] = Value::String(t);
    }
    Ok(event)
}

fn invoke(args: InvokeArgs) -> Result<()> {
    let raw = if args.event.as_os_str() == "-" {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read(&args.event).with_context(|| format!("reading {}", args.event.display()))?
    };
    let mut event: Value = serde_json::from_slice(&raw)
        .with_context(|| format!("{} is not JSON", args.event.display()))?;
    if let Some(t) = &args.time {
        event = with_time(event, t)?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, function_error, error_type, body) = runtime.block_on(post(
        args.lambda_port,
        &args.function,
        serde_json::to_vec(&event)?,
    ))?;
    let text = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => serde_json::to_string_pretty(&v)?,
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    };
    if status >= 400 {
        bail!("the Lambda Invoke API answered {status} {error_type}: {text}");
    }
    println!("{text}");
    if let Some(kind) = function_error {
        bail!("{} returned an invocation error ({kind})", args.function);
    }
    Ok(())
}

/// `POST /2015-03-31/functions/<function>/invocations`: status, `X-Amz-Function-Error`,
/// `x-amzn-ErrorType` (empty when none), body.
async fn post(
    port: u16,
    function: &str,
    event: Vec<u8>,
) -> Result<(u16, Option<String>, String, Bytes)> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!(
                "nothing listens on 127.0.0.1:{port}: start the stack (`make run` or `warmstart \
                 local up`), or pass its --lambda-port"
            )
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let name: String =
        percent_encoding::utf8_percent_encode(function, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let req = hyper::Request::post(format!("/2015-03-31/functions/{name}/invocations"))
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(event)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let function_error = resp
        .headers()
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let error_type = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, function_error, error_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_sets_the_clock_of_eventbridge_events_only() {
        let alarm = json!({"detail-type": "CloudWatch Alarm State Change", "time": "x",
                           "detail": {"state": {"timestamp": "y", "value": "ALARM"}}});
        let v = with_time(alarm, "2026-12-01T10:00:00.5Z").unwrap();
        assert_eq!(v["time"], "2026-12-01T10:00:00Z");
        assert_eq!(v["detail"]["state"]["timestamp"], "2026-12-01T10:00:00Z");
        let tick = with_time(json!({"detail-type": "Scheduled Event"}), "now").unwrap();
        assert!(tick["time"].as_str().unwrap().ends_with('Z'));
        assert!(with_time(json!({"action": "list"}), "now").is_err());
        assert!(with_time(json!({"detail-type": "Scheduled Event"}), "yesterday").is_err());
    }
}
