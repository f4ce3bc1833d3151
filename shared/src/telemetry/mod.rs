//! Logs and metrics. Logs: `tracing` to stdout, JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT` is
//! `JSON` (the template's setting), plain text otherwise; the level comes from `RUST_LOG`, else
//! `AWS_LAMBDA_LOG_LEVEL`, else `info`. Metrics: CloudWatch Embedded Metric Format documents on
//! stdout in the namespace `METRICS_NAMESPACE` (default `Warmstart`): per invocation, one
//! document of the function-level counters (cold start, model swaps, load failures, reload's
//! counters) with the dimension `Function`, written by `metrics_cloudwatch_embedded`; and, for
//! a counted request, its per-variant documents ([`emf`]: requests, errors, latency, degraded
//! answers, shadow comparison under `[Function]`, `[Function, Variant]` and
//! `[Function, Model, Variant]`). The sampled data capture is [`capture`].

pub mod capture;
pub mod emf;

use metrics::Unit;
use metrics_cloudwatch_embedded::Collector;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::EnvFilter;

pub use emf::{variants_of, RequestFigures, ShadowFigures, VARIANTS};

pub const DEFAULT_NAMESPACE: &str = "Warmstart";

/// Metric names, as the template's alarms and dashboard spell them (the per-request ones are
/// [`emf::names`]).
pub mod names {
    pub use super::emf::names::*;
    pub const COLD_START: &str = "ColdStart";
    pub const INIT_DURATION: &str = "InitDuration";
}

/// Whether Lambda asked for JSON logs.
pub fn json_logs() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}

/// The log filter: `RUST_LOG`, else Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn log_filter() -> EnvFilter {
    if let Ok(f) = EnvFilter::try_from_default_env() {
        return f;
    }
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .map(|l| l.to_ascii_lowercase())
        .filter(|l| ["trace", "debug", "info", "warn", "error"].contains(&l.as_str()))
        .unwrap_or_else(|| "info".into());
    EnvFilter::new(level)
}

/// Installs the global tracing subscriber (once; later calls do nothing).
pub fn init_tracing() {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .with_target(false);
    let _ = if json_logs() {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// What one invocation contributes to the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationMetrics<'a> {
    /// A counted request (a recommendation, valuation or prediction; health checks and
    /// listings are not, so rates are rates of answers): its per-variant documents.
    pub request: Option<RequestFigures<'a>>,
    /// The container's first invocation: `ColdStart` 1 and `InitDuration`.
    pub cold_start: bool,
    pub init_ms: Option<f64>,
    pub model_version: &'a str,
    pub request_id: &'a str,
}

/// The EMF recorder, installed as the process's `metrics` recorder, plus the per-request
/// documents of the current invocation.
pub struct Metrics {
    collector: &'static Collector,
    namespace: String,
    function: &'static str,
    pending: Mutex<Vec<String>>,
}

impl Metrics {
    /// Installs the recorder with namespace `METRICS_NAMESPACE` and dimension
    /// `Function = function`. Fails if a recorder is already installed.
    pub fn init(function: &'static str) -> Result<Self, String> {
        let metrics = Self::init_bare(function)?;
        metrics::describe_counter!(names::COLD_START, Unit::Count, "first invocations");
        metrics::describe_histogram!(
            names::INIT_DURATION,
            Unit::Milliseconds,
            "process start to ready"
        );
        // Registered so that zeros are emitted from the first document on.
        metrics::counter!(names::COLD_START).increment(0);
        Ok(metrics)
    }

    /// Installs the recorder (namespace `METRICS_NAMESPACE`, dimension `Function =
    /// function`, zeros emitted) without describing any metric: for functions with their own
    /// metric set (reload). Fails if a recorder is already installed.
    pub fn init_bare(function: &'static str) -> Result<Self, String> {
        let namespace = std::env::var("METRICS_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.clone())
            .with_dimension("Function", function)
            // Counters are reported as 0 too: alarms see 0, not missing data.
            .emit_zeros(true)
            .init()
            .map_err(|e| e.to_string())?;
        Ok(Metrics {
            collector,
            namespace,
            function,
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Sets a property (searchable in Logs Insights, not a dimension) of the next document.
    pub fn set_property(&self, name: &'static str, value: impl Into<String>) {
        self.collector.set_property(name, value.into());
    }

    /// Records one invocation.
    pub fn record(&self, m: &InvocationMetrics<'_>) {
        if let Some(r) = &m.request {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let docs = emf::request_documents(&self.namespace, self.function, now_ms, r);
            let mut pending = self.pending.lock().expect("metrics lock");
            for mut d in docs {
                d["model_version"] = m.model_version.into();
                d["request_id"] = m.request_id.into();
                pending.push(d.to_string());
            }
        }
        if m.cold_start {
            metrics::counter!(names::COLD_START).increment(1);
            if let Some(i) = m.init_ms {
                metrics::histogram!(names::INIT_DURATION).record(i);
            }
        }
        // Properties: searchable in Logs Insights, not dimensions.
        self.collector
            .set_property("model_version", m.model_version.to_string())
            .set_property("request_id", m.request_id.to_string());
    }

    /// Writes the pending EMF documents to `out`: the function-level one, then the
    /// per-request ones, one line each.
    pub fn flush_to(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        self.collector.flush(&mut out)?;
        let pending = std::mem::take(&mut *self.pending.lock().expect("metrics lock"));
        for line in pending {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// Writes the pending EMF documents to stdout under one lock.
    pub fn flush(&self) {
        let stdout = std::io::stdout();
        if let Err(e) = self.flush_to(stdout.lock()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that installs the global recorder.
    #[test]
    fn an_invocation_writes_the_function_document_then_its_variant_documents() {
        std::env::set_var("METRICS_NAMESPACE", "WarmstartTest");
        let m = Metrics::init("recommend").unwrap();
        m.record(&InvocationMetrics {
            request: Some(RequestFigures {
                model: Some("product-recommender"),
                variants: variants_of(Some("candidate")),
                status: 200,
                latency_ms: 1.5,
                store_ms: Some(0.7),
                popular: true,
                ..RequestFigures::default()
            }),
            cold_start: true,
            init_ms: Some(88.0),
            model_version: "v2",
            request_id: "rid",
        });
        let mut out = Vec::new();
        m.flush_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let docs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(docs.len(), 2, "{text}");
        let (f, r) = (&docs[0], &docs[1]);
        let cw = &f["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "WarmstartTest");
        assert_eq!(cw["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(f["Function"], "recommend");
        assert_eq!(f["ColdStart"], 1);
        assert_eq!(f["InitDuration"], serde_json::json!([88.0]));
        assert!(
            f.get("Requests").is_none(),
            "counted once, in the variant document"
        );

        let rw = &r["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(rw["Namespace"], "WarmstartTest");
        assert_eq!(
            rw["Dimensions"],
            serde_json::json!([
                ["Function"],
                ["Function", "Variant"],
                ["Function", "Model", "Variant"]
            ])
        );
        assert_eq!(
            (r["Function"].as_str(), r["Variant"].as_str()),
            (Some("recommend"), Some("candidate"))
        );
        assert_eq!(r["Model"], "product-recommender");
        assert_eq!(r["Requests"], 1);
        assert_eq!(r["Popular"], 1);
        assert_eq!(r["Degraded"], 0);
        assert_eq!(r["Latency"], serde_json::json!([1.5]));
        assert_eq!(r["StoreLatency"], serde_json::json!([0.7]));
        assert_eq!(
            (r["model_version"].as_str(), r["request_id"].as_str()),
            (Some("v2"), Some("rid"))
        );
        let units: std::collections::HashMap<&str, &str> = rw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["Name"].as_str().unwrap(),
                    m["Unit"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(units["Latency"], "Milliseconds");
        assert_eq!(units["Requests"], "Count");

        // The next invocation: no cold start, and an uncounted one (health) has no variant
        // document.
        m.record(&InvocationMetrics::default());
        let mut out = Vec::new();
        m.flush_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let d: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(d["ColdStart"], 0);
        assert!(d.get("InitDuration").is_none());
    }
}
