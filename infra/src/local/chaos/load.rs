//! The load generator of `warmstart local chaos`: a fixed number of workers, each with its own
//! keep-alive HTTP/1.1 connection to the router (hyper's client connection, already in the
//! dependency graph), sending a fixed mix of requests back to back and recording each answer
//! against the phase that was current when it was sent.

use super::super::router::LOCAL_ERROR_HEADER;
use super::super::{SAMPLE_COMPANY, SAMPLE_CUSTOMERS};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long a client waits for one answer (the functions' timeout is 10 s).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The request kinds of the mix, with their weights (out of 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Recommend,
    Batch,
    Valuation,
    Predict,
    Health,
    Invalid,
}

const MIX: [(Kind, u32); 6] = [
    (Kind::Recommend, 30),
    (Kind::Batch, 10),
    (Kind::Valuation, 15),
    (Kind::Predict, 20),
    (Kind::Health, 10),
    (Kind::Invalid, 15),
];

/// Valuation inputs the load asks for: few, so that each has been answered (and cached)
/// before a store outage, as a client's repeated questions would be.
pub fn valuation_bodies() -> Vec<Value> {
    vec![
        json!({"ts_code": SAMPLE_COMPANY, "forecast_years": 5}),
        json!({"ts_code": SAMPLE_COMPANY, "forecast_years": 7, "beta": 1.1}),
        json!({"ts_code": SAMPLE_COMPANY, "terminal_value_method": "exit_multiple", "exit_multiple": 12}),
    ]
}

/// One request of the mix.
#[derive(Debug, Clone)]
pub struct Planned {
    pub kind: Kind,
    pub method: &'static str,
    pub path: String,
    pub body: Option<String>,
    /// 200 for the valid requests, 400 for the invalid bodies.
    pub expect: u16,
    /// Products the request says the customer owns: never to be recommended.
    pub owned: Vec<String>,
}

const PRODUCTS_OWNED_SOMETIMES: [&str; 3] =
    ["ind_recibo_ult1", "ind_cco_fin_ult1", "ind_ecue_fin_ult1"];

pub fn plan(rng: &mut ChaCha8Rng) -> Planned {
    let mut roll = rng.gen_range(0..100);
    let mut kind = Kind::Recommend;
    for (k, w) in MIX {
        if roll < w {
            kind = k;
            break;
        }
        roll -= w;
    }
    let post = |path: &str, body: Value, expect: u16| Planned {
        kind,
        method: "POST",
        path: path.to_string(),
        body: Some(body.to_string()),
        expect,
        owned: Vec::new(),
    };
    match kind {
        Kind::Recommend => {
            let id = if rng.gen_bool(0.1) {
                "99999999"
            } else {
                SAMPLE_CUSTOMERS[rng.gen_range(0..SAMPLE_CUSTOMERS.len())]
            };
            let k = rng.gen_range(1..=10);
            if rng.gen_bool(0.3) {
                let owned: Vec<String> = PRODUCTS_OWNED_SOMETIMES
                    .iter()
                    .take(rng.gen_range(1..=3))
                    .map(|s| s.to_string())
                    .collect();
                let mut p = post(
                    "/recommend",
                    json!({"customer_id": id, "k": k, "owned_products": owned}),
                    200,
                );
                p.owned = owned;
                p
            } else {
                post("/recommend", json!({"customer_id": id, "k": k}), 200)
            }
        }
        Kind::Batch => post(
            "/recommend/batch",
            json!({"customer_ids": SAMPLE_CUSTOMERS, "k": 3}),
            200,
        ),
        Kind::Valuation => {
            let bodies = valuation_bodies();
            let b = bodies[rng.gen_range(0..bodies.len())].clone();
            post("/valuation", b, 200)
        }
        Kind::Predict => post(
            "/models/compliance-risk/predict",
            json!({
                "rows": [{"category": "travel", "region": "west", "account_age_months": rng.gen_range(1..60),
                          "chargebacks": rng.gen_range(0..5), "refund_rate": 0.12, "kyc_verified": 0}],
                "id": [format!("m-{}", rng.gen_range(0..1000))],
            }),
            200,
        ),
        Kind::Health => Planned {
            kind,
            method: "GET",
            path: if rng.gen_bool(0.5) {
                "/health".into()
            } else {
                "/valuation/health".into()
            },
            body: None,
            expect: 200,
            owned: Vec::new(),
        },
        Kind::Invalid => {
            let (path, body) = match rng.gen_range(0..4) {
                0 => ("/recommend", r#"{"customer_id":"#.to_string()),
                1 => ("/recommend", r#"{"customer_id":"15889","k":0}"#.to_string()),
                2 => (
                    "/valuation",
                    json!({"ts_code": SAMPLE_COMPANY, "forecast_years": 0}).to_string(),
                ),
                _ => (
                    "/models/compliance-risk/predict",
                    r#"{"rows":[]}"#.to_string(),
                ),
            };
            Planned {
                kind,
                method: "POST",
                path: path.into(),
                body: Some(body),
                expect: 400,
                owned: Vec::new(),
            }
        }
    }
}

/// One answer as the load saw it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub status: u16,
    pub latency: Duration,
    pub degraded: bool,
    /// `model.version` of a recommend or batch answer.
    pub recommender_version: Option<String>,
    /// A 502 whose function died while running it (`Runtime.ExitError`).
    pub killed_in_flight: bool,
    /// What was wrong with the answer besides its status (e.g. an owned product
    /// recommended); `None` when nothing.
    pub wrong: Option<String>,
}

/// What one phase saw.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    pub requests: u64,
    pub ok: u64,
    /// 4xx answers to the invalid bodies, as expected.
    pub rejected: u64,
    pub server_errors: u64,
    pub killed_in_flight: u64,
    /// Transport failures (connection refused/reset, client timeout).
    pub transport_errors: u64,
    /// A valid request answered 4xx, an invalid one 2xx, or a wrong answer.
    pub unexpected: u64,
    pub degraded: u64,
    pub latencies_us: Vec<u64>,
    pub versions: BTreeSet<String>,
    pub samples: Vec<String>,
    /// The slowest answer: latency (µs) and `METHOD path`.
    pub slowest: Option<(u64, String)>,
}

impl PhaseStats {
    fn record(&mut self, p: &Planned, o: Result<Observed, String>) {
        self.requests += 1;
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                self.transport_errors += 1;
                self.sample(format!("{} {}: {e}", p.method, p.path));
                return;
            }
        };
        let us = o.latency.as_micros() as u64;
        self.latencies_us.push(us);
        if self.slowest.as_ref().is_none_or(|(s, _)| us > *s) {
            self.slowest = Some((us, format!("{} {}", p.method, p.path)));
        }
        if o.degraded {
            self.degraded += 1;
        }
        match o.status {
            500..=599 if o.killed_in_flight => self.killed_in_flight += 1,
            500..=599 => {
                self.server_errors += 1;
                self.sample(format!("{} {} -> {}", p.method, p.path, o.status));
            }
            s if s == p.expect && o.wrong.is_none() => {
                if s < 300 {
                    self.ok += 1;
                } else {
                    self.rejected += 1;
                }
            }
            s => {
                self.unexpected += 1;
                self.sample(format!(
                    "{} {} -> {s} (expected {}){}",
                    p.method,
                    p.path,
                    p.expect,
                    o.wrong.map(|w| format!(": {w}")).unwrap_or_default()
                ));
            }
        }
    }

    fn sample(&mut self, what: String) {
        if self.samples.len() < 5 {
            self.samples.push(what);
        }
    }

    /// The `q` quantile of the latencies (nearest rank), in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let mut v = self.latencies_us.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1] as f64 / 1e3
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies_us.iter().copied().max().unwrap_or(0) as f64 / 1e3
    }
}

/// Workers and where they record.
pub struct Load {
    pub phase: Arc<AtomicUsize>,
    pub stats: Arc<Mutex<Vec<PhaseStats>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `concurrency` workers against `api` (`http://127.0.0.1:port`) recording into
    /// `phases` slots; phase 0 first.
    pub fn start(api: SocketAddr, concurrency: usize, phases: usize, seed: u64) -> Load {
        let phase = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(Mutex::new(vec![PhaseStats::default(); phases]));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..concurrency)
            .map(|w| {
                let (phase, stats, stop) = (phase.clone(), stats.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(w as u64));
                    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let p = plan(&mut rng);
                        let at = phase.load(Ordering::Relaxed);
                        let o = send(api, &mut conn, &p).await;
                        if stop.load(Ordering::Relaxed) && o.is_err() {
                            break;
                        }
                        // Latency and status count where the request was sent; the version
                        // where the answer arrived (what was served then).
                        let answered = phase.load(Ordering::Relaxed);
                        let mut all = stats.lock().expect("stats");
                        if let Some(v) = o.as_ref().ok().and_then(|o| o.recommender_version.clone())
                        {
                            all[answered].versions.insert(v);
                        }
                        all[at].record(&p, o);
                    }
                })
            })
            .collect();
        Load {
            phase,
            stats,
            stop,
            workers,
        }
    }

    /// Stops the workers once their request in flight is answered.
    pub async fn finish(self) -> Vec<PhaseStats> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, w).await;
        }
        let stats = self.stats.lock().expect("stats").clone();
        stats
    }
}

async fn connect(api: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(api).await.map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends `p` on the worker's connection (opening one when needed) and reads the answer.
pub async fn send(
    api: SocketAddr,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    p: &Planned,
) -> Result<Observed, String> {
    let started = Instant::now();
    let r = tokio::time::timeout(CLIENT_TIMEOUT, exchange(api, conn, p)).await;
    let (status, headers, body) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            *conn = None;
            return Err(e);
        }
        Err(_) => {
            *conn = None;
            return Err(format!("no answer within {CLIENT_TIMEOUT:?}"));
        }
    };
    let latency = started.elapsed();
    let killed_in_flight = status == 502
        && headers
            .get(LOCAL_ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
            == Some(super::super::functions::EXIT_ERROR_TYPE);
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let degraded = v["degraded"] == Value::Bool(true);
    let recommender_version = match p.kind {
        Kind::Recommend | Kind::Batch if status == 200 => {
            v["model"]["version"].as_str().map(str::to_string)
        }
        _ => None,
    };
    let mut wrong = None;
    if status == 200 && !p.owned.is_empty() {
        let recommended: Vec<&str> = v["recommendations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["product"].as_str())
            .collect();
        if let Some(o) = recommended.iter().find(|r| p.owned.iter().any(|o| o == *r)) {
            wrong = Some(format!(
                "owned product {o} recommended (source {}, degraded {})",
                v["source"], v["degraded"]
            ));
        }
    }
    Ok(Observed {
        status,
        latency,
        degraded,
        recommender_version,
        killed_in_flight,
        wrong,
    })
}

async fn exchange(
    api: SocketAddr,
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    p: &Planned,
) -> Result<(u16, hyper::HeaderMap, Bytes), String> {
    if conn.as_ref().is_none_or(SendRequest::is_closed) {
        *conn = Some(connect(api).await?);
    }
    let sender = conn.as_mut().expect("connected");
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::builder()
        .method(p.method)
        .uri(&p.path)
        .header(hyper::header::HOST, api.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(p.body.clone().unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_covers_every_kind_and_is_reproducible() {
        let mut a = ChaCha8Rng::seed_from_u64(1);
        let mut b = ChaCha8Rng::seed_from_u64(1);
        let mut seen = Vec::new();
        for _ in 0..500 {
            let p = plan(&mut a);
            let q = plan(&mut b);
            assert_eq!(
                (p.path.as_str(), p.body.as_deref()),
                (q.path.as_str(), q.body.as_deref())
            );
            if !seen.contains(&p.kind) {
                seen.push(p.kind);
            }
            assert_eq!(p.expect == 400, p.kind == Kind::Invalid);
        }
        assert_eq!(seen.len(), MIX.len());
    }

    fn observed(status: u16) -> Observed {
        Observed {
            status,
            latency: Duration::from_millis(3),
            degraded: false,
            recommender_version: None,
            killed_in_flight: false,
            wrong: None,
        }
    }

    #[test]
    fn answers_are_counted_where_they_belong() {
        let valid = plan(&mut ChaCha8Rng::seed_from_u64(3));
        let mut s = PhaseStats::default();
        s.record(&valid, Ok(observed(valid.expect)));
        s.record(&valid, Ok(observed(503)));
        s.record(
            &valid,
            Ok(Observed {
                killed_in_flight: true,
                ..observed(502)
            }),
        );
        s.record(
            &valid,
            Ok(Observed {
                wrong: Some("owned product recommended".into()),
                ..observed(valid.expect)
            }),
        );
        s.record(&valid, Err("connection refused".into()));
        assert_eq!(
            (
                s.requests,
                s.ok,
                s.server_errors,
                s.killed_in_flight,
                s.unexpected,
                s.transport_errors
            ),
            (5, 1, 1, 1, 1, 1)
        );
        assert_eq!(s.quantile_ms(0.5), 3.0);
        assert_eq!(s.samples.len(), 3);
    }
}
