//! What every function binary does around its handler: configuration from the environment
//! ([`env`]) and, when init fails, telling the Lambda service why before exiting
//! ([`fail_init`]). The `lambda_runtime` client has no call for `/runtime/init/error`, so
//! without this an init failure shows up only as "Runtime exited" with no reason.

pub mod env;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long reporting an init error may take before the process exits anyway.
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Logs the init failure, reports it to the Runtime API (`AWS_LAMBDA_RUNTIME_API`) as a
/// `Runtime.InitError` and exits with status 1.
pub async fn fail_init(message: &str) -> ! {
    tracing::error!(error = %message, "init failed");
    if let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") {
        if let Err(e) = report_init_error(&api, message).await {
            eprintln!("could not report the init error to the runtime API: {e}");
        }
    }
    std::process::exit(1);
}

/// `POST /2018-06-01/runtime/init/error` to the Runtime API at `api` (`host:port`), as the
/// Lambda Runtime API defines it. Gives up after two seconds.
pub async fn report_init_error(api: &str, message: &str) -> std::io::Result<()> {
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": message,
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let send = async {
        let mut conn = tokio::net::TcpStream::connect(api).await?;
        conn.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer).await?;
        let status_line = String::from_utf8_lossy(&answer);
        match status_line.split_whitespace().nth(1) {
            Some(code) if code.starts_with('2') => Ok(()),
            _ => Err(std::io::Error::other(format!(
                "runtime API answered `{}`",
                status_line.lines().next().unwrap_or("")
            ))),
        }
    };
    tokio::time::timeout(REPORT_TIMEOUT, send)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-shot Runtime API that answers `status` and hands back the request it read.
    async fn runtime_api(status: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let mut got = Vec::new();
            // Headers and the small body arrive together or in a few reads.
            while !String::from_utf8_lossy(&got).contains("}") {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        (addr, task)
    }

    #[tokio::test]
    async fn init_errors_are_posted_as_runtime_init_error() {
        let (api, seen) = runtime_api("202 Accepted").await;
        report_init_error(&api, "FEATURES_TABLE is not set")
            .await
            .unwrap();
        let request = seen.await.unwrap();
        assert!(request.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"));
        assert!(request.contains("Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n"));
        let body: serde_json::Value =
            serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["errorType"], "Runtime.InitError");
        assert_eq!(body["errorMessage"], "FEATURES_TABLE is not set");
    }

    #[tokio::test]
    async fn a_refused_report_is_an_error() {
        let (api, _seen) = runtime_api("403 Forbidden").await;
        let err = report_init_error(&api, "x").await.unwrap_err();
        assert!(err.to_string().contains("403"), "{err}");
        // Nobody listening: an error, quickly.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(report_init_error(&format!("127.0.0.1:{port}"), "x")
            .await
            .is_err());
    }
}
