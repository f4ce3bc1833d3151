//! A Lambda Runtime API emulator: the subset of the API a custom runtime (`lambda_runtime`)
//! uses, served on 127.0.0.1 over plain HTTP/1.1 (hyper).
//!
//! Events are queued by [`RuntimeApi::invoke`] and handed out, one per
//! `GET /runtime/invocation/next`, to whichever process polls (several processes may poll
//! the same emulator, like several containers of one function). An invocation whose caller
//! gave up (timeout, dropped future) is removed from the queue, so a later process does not
//! receive it.

use crate::http::serve_http1;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Notify};

static INVOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// The function name the emulator reports when none is given.
pub(crate) const DEFAULT_FUNCTION: &str = "warmstart-recommend";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response` with this body.
    Response(Vec<u8>),
    /// `POST /runtime/invocation/{id}/error` with this body.
    Error(Vec<u8>),
}

impl Outcome {
    /// The response body as JSON; panics on an invocation error.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Outcome::Response(b) => serde_json::from_slice(b).expect("response is JSON"),
            Outcome::Error(b) => panic!("invocation error: {}", String::from_utf8_lossy(b)),
        }
    }
}

struct Queued {
    id: String,
    event: Vec<u8>,
    timeout: Duration,
}

#[derive(Default)]
struct ApiState {
    pending: HashMap<String, oneshot::Sender<Outcome>>,
    /// Handed out by `/next` and not answered yet.
    in_flight: std::collections::HashSet<String>,
    init_error: Option<Vec<u8>>,
    next_calls: usize,
}

/// Removes an invocation's pending entry when its caller stops waiting, whatever the reason.
struct PendingGuard<'a> {
    state: &'a Mutex<ApiState>,
    id: &'a str,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.state.lock().expect("state");
        state.pending.remove(self.id);
        state.in_flight.remove(self.id);
    }
}

/// A Lambda Runtime API emulator on 127.0.0.1; stops serving on drop.
pub struct RuntimeApi {
    port: u16,
    function_name: Arc<str>,
    queue: mpsc::UnboundedSender<Queued>,
    state: Arc<Mutex<ApiState>>,
    polled: Arc<Notify>,
    init_failed: Arc<Notify>,
    stop: watch::Sender<bool>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl RuntimeApi {
    /// An emulator for `warmstart-recommend` on a free port; panics if it cannot bind.
    pub async fn start() -> RuntimeApi {
        Self::start_for(DEFAULT_FUNCTION)
            .await
            .expect("bind runtime api")
    }

    /// An emulator on a free 127.0.0.1 port for the function `function_name` (used in the
    /// invoked function ARN it reports).
    pub async fn start_for(function_name: &str) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let function_name: Arc<str> = Arc::from(function_name);
        let (tx, rx) = mpsc::unbounded_channel::<Queued>();
        let state = Arc::new(Mutex::new(ApiState::default()));
        let polled = Arc::new(Notify::new());
        let init_failed = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            state: state.clone(),
            polled: polled.clone(),
            init_failed: init_failed.clone(),
            arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve_http1(listener, stopped, move |_| {
            let shared = shared.clone();
            service_fn(move |req| shared.clone().handle(req))
        }));
        Ok(RuntimeApi {
            port,
            function_name,
            queue: tx,
            state,
            polled,
            init_failed,
            stop,
        })
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The function name this emulator reports.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// Queues `event` and waits for the function's answer (at most `timeout`, which is also
    /// the deadline the function is told).
    pub async fn invoke(&self, event: &[u8], timeout: Duration) -> Result<Outcome, String> {
        let id = format!(
            "{:08x}-{}",
            INVOCATIONS.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        );
        let (tx, rx) = oneshot::channel();
        self.state
            .lock()
            .expect("state")
            .pending
            .insert(id.clone(), tx);
        let _guard = PendingGuard {
            state: &self.state,
            id: &id,
        };
        self.queue
            .send(Queued {
                id: id.clone(),
                event: event.to_vec(),
                timeout,
            })
            .map_err(|_| "runtime API stopped".to_string())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(format!("invocation {id} dropped")),
            Err(_) => {
                let init = self.init_error();
                Err(format!(
                    "invocation {id} got no answer within {timeout:?}{}",
                    init.map(|e| format!(" (init error: {e})"))
                        .unwrap_or_default()
                ))
            }
        }
    }

    /// Invocations a process has taken (`/next`) and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.state.lock().expect("state").in_flight.len()
    }

    /// Ends every invocation a process has taken but not answered with the error `body`, as
    /// Lambda fails the invocation of an execution environment whose runtime exited
    /// (`Runtime.ExitError`). Queued invocations stay queued for the next process. Returns how
    /// many were failed.
    pub fn fail_in_flight(&self, body: &[u8]) -> usize {
        let mut state = self.state.lock().expect("state");
        let ids: Vec<String> = state.in_flight.drain().collect();
        let mut failed = 0;
        for id in ids {
            if let Some(tx) = state.pending.remove(&id) {
                if tx.send(Outcome::Error(body.to_vec())).is_ok() {
                    failed += 1;
                }
            }
        }
        failed
    }

    /// How many times a function has polled `/next` so far.
    pub fn next_calls(&self) -> usize {
        self.state.lock().expect("state").next_calls
    }

    /// Waits until the function has polled `/next` at least once (init is done).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        self.wait_polls(1, timeout).await
    }

    /// Waits until `/next` has been polled at least `n` times in all (e.g. by a restarted
    /// process after `n - 1` earlier polls).
    pub async fn wait_polls(&self, n: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.polled.notified();
            if self.next_calls() >= n {
                return Ok(());
            }
            if let Some(e) = self.init_error() {
                return Err(format!("init failed: {e}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("function did not poll /next within {timeout:?}"));
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }

    /// The body the function posted to `/runtime/init/error`, if any.
    pub fn init_error(&self) -> Option<String> {
        self.state
            .lock()
            .expect("state")
            .init_error
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// Forgets a reported init error (before a new process of the function starts).
    pub fn clear_init_error(&self) {
        self.state.lock().expect("state").init_error = None;
    }

    pub async fn wait_init_error(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.init_failed.notified();
            if let Some(e) = self.init_error() {
                return Some(e);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";

fn reply(status: StatusCode, body: &'static [u8]) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// What the emulator's connections share.
struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    state: Arc<Mutex<ApiState>>,
    polled: Arc<Notify>,
    init_failed: Arc<Notify>,
    arn: String,
}

impl Shared {
    /// The next queued event whose caller is still waiting, now in flight.
    async fn next_event(&self) -> Option<Queued> {
        let mut queue = self.queue.lock().await;
        loop {
            let q = queue.recv().await?;
            let mut state = self.state.lock().expect("state");
            if state.pending.contains_key(&q.id) {
                state.in_flight.insert(q.id.clone());
                return Some(q);
            }
        }
    }

    /// `GET /next`: blocks until an event is queued, as Lambda holds the poll of an idle
    /// container.
    async fn next(&self) -> Response<Full<Bytes>> {
        self.state.lock().expect("state").next_calls += 1;
        self.polled.notify_waiters();
        let Some(q) = self.next_event().await else {
            return reply(
                StatusCode::GONE,
                br#"{"errorMessage":"runtime API stopped"}"#,
            );
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d + q.timeout)
            .unwrap_or_default()
            .as_millis();
        let trace = format!(
            "Root=1-00000000-{:024x};Parent=0000000000000001;Sampled=0",
            q.id.len()
        );
        let mut r = Response::new(Full::new(Bytes::from(q.event)));
        let headers = r.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in [
            ("lambda-runtime-aws-request-id", q.id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            ("lambda-runtime-invoked-function-arn", self.arn.clone()),
            ("lambda-runtime-trace-id", trace),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        r
    }

    /// `POST /invocation/{id}/response|error`: hands the body to the waiting caller.
    fn answer(&self, id: &str, outcome: Outcome) -> Response<Full<Bytes>> {
        let tx = {
            let mut state = self.state.lock().expect("state");
            state.in_flight.remove(id);
            state.pending.remove(id)
        };
        match tx {
            Some(tx) => {
                let _ = tx.send(outcome);
                reply(StatusCode::ACCEPTED, br#"{"status":"OK"}"#)
            }
            None => reply(
                StatusCode::BAD_REQUEST,
                br#"{"errorMessage":"unknown request id"}"#,
            ),
        }
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let get = req.method() == Method::GET;
        let post = req.method() == Method::POST;
        let path = req.uri().path().to_string();
        if get && path == NEXT {
            return Ok(self.next().await);
        }
        if !post {
            return Ok(reply(StatusCode::NOT_FOUND, b"{}"));
        }
        let Ok(body) = req.into_body().collect().await else {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                br#"{"errorMessage":"unreadable body"}"#,
            ));
        };
        let body = body.to_bytes().to_vec();
        if path == INIT_ERROR {
            self.state.lock().expect("state").init_error = Some(body);
            self.init_failed.notify_waiters();
            return Ok(reply(StatusCode::ACCEPTED, br#"{"status":"OK"}"#));
        }
        let answer = match path
            .strip_prefix(INVOCATION)
            .and_then(|p| p.rsplit_once('/'))
        {
            Some((id, "response")) => self.answer(id, Outcome::Response(body)),
            Some((id, "error")) => self.answer(id, Outcome::Error(body)),
            _ => reply(StatusCode::NOT_FOUND, b"{}"),
        };
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// A minimal runtime client: GET /next, then POST the event back as the response.
    async fn echo_once(address: &str) -> String {
        let mut conn = TcpStream::connect(address).await.unwrap();
        conn.write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (r, mut w) = conn.into_split();
        let mut r = BufReader::new(r);
        let mut id = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "lambda-runtime-aws-request-id" => id = v.trim().to_string(),
                    "content-length" => len = v.trim().parse().unwrap(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).await.unwrap();
        let post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        w.write_all(post.as_bytes()).await.unwrap();
        w.write_all(&body).await.unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        String::from_utf8(body).unwrap()
    }

    /// Takes one event and never answers it (a process that dies mid-invocation); returns
    /// the event.
    async fn take_one(address: &str) -> (TcpStream, String) {
        let mut conn = TcpStream::connect(address).await.unwrap();
        conn.write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        loop {
            let text = String::from_utf8_lossy(&got);
            if let Some((_, body)) = text.split_once("\r\n\r\n") {
                if body.len() >= 2 && body.ends_with('"') {
                    break;
                }
            }
            let n = conn.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).into_owned();
        let body = text.rsplit("\r\n\r\n").next().unwrap().to_string();
        (conn, body)
    }

    #[tokio::test]
    async fn a_dead_process_fails_only_the_invocation_it_had_taken() {
        let api = Arc::new(RuntimeApi::start_for("demo").await.unwrap());
        let second = Duration::from_secs(5);
        let taken = {
            let api = api.clone();
            tokio::spawn(async move { api.invoke(b"\"taken\"", second).await })
        };
        let (dead, body) = take_one(&api.address()).await;
        assert_eq!(body, "\"taken\"");
        assert_eq!(api.in_flight(), 1);
        let queued = {
            let api = api.clone();
            tokio::spawn(async move { api.invoke(b"\"queued\"", second).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(dead);
        assert_eq!(
            api.fail_in_flight(br#"{"errorType":"Runtime.ExitError"}"#),
            1
        );
        assert_eq!(
            taken.await.unwrap().unwrap(),
            Outcome::Error(br#"{"errorType":"Runtime.ExitError"}"#.to_vec())
        );
        assert_eq!(api.in_flight(), 0);
        // The queued one goes to the next process.
        assert_eq!(echo_once(&api.address()).await, "\"queued\"");
        assert_eq!(
            queued.await.unwrap().unwrap(),
            Outcome::Response(b"\"queued\"".to_vec())
        );
        assert_eq!(api.fail_in_flight(b"{}"), 0);
    }

    #[tokio::test]
    async fn abandoned_invocations_are_not_handed_out() {
        let api = RuntimeApi::start_for("demo").await.unwrap();
        assert_eq!(api.function_name(), "demo");
        // Nobody polls: the first invocation times out and must leave the queue.
        let err = api
            .invoke(b"\"first\"", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.contains("no answer"), "{err}");
        let address = api.address();
        let client = tokio::spawn(async move { echo_once(&address).await });
        let out = api
            .invoke(b"\"second\"", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(out, Outcome::Response(b"\"second\"".to_vec()));
        assert_eq!(client.await.unwrap(), "\"second\"");
        assert_eq!(api.next_calls(), 1);
    }
}
