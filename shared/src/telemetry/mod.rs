//! Logs and metrics. Logs: `tracing` to stdout, JSON when Lambda's `AWS_LAMBDA_LOG_FORMAT` is
//! `JSON` (the template's setting), plain text otherwise; the level comes from `RUST_LOG`, else
//! `AWS_LAMBDA_LOG_LEVEL`, else `info`. Metrics: CloudWatch Embedded Metric Format documents on
//! stdout, one per invocation, in the namespace `METRICS_NAMESPACE` (default `Warmstart`) with
//! the single dimension `Function` that the template's alarms and dashboard select on.

use metrics::Unit;
use metrics_cloudwatch_embedded::Collector;
use tracing_subscriber::EnvFilter;

pub const DEFAULT_NAMESPACE: &str = "Warmstart";

/// Metric names, as the template's alarms and dashboard spell them.
pub mod names {
    pub const REQUESTS: &str = "Requests";
    pub const LATENCY: &str = "Latency";
    pub const STORE_LATENCY: &str = "StoreLatency";
    pub const DEGRADED: &str = "Degraded";
    pub const POPULAR: &str = "Popular";
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
    /// A recommendation request: counts in `Requests` and `Degraded`/`Popular`, and its time in
    /// `Latency`. Health and model listings are not counted, so the degraded rate is a rate of
    /// recommendation answers.
    pub counted: bool,
    pub latency_ms: f64,
    pub store_ms: Option<f64>,
    pub degraded: bool,
    pub popular: bool,
    /// The container's first invocation: `ColdStart` 1 and `InitDuration`.
    pub cold_start: bool,
    pub init_ms: Option<f64>,
    pub model_version: &'a str,
    pub request_id: &'a str,
}

/// The EMF recorder, installed as the process's `metrics` recorder.
pub struct Metrics {
    collector: &'static Collector,
}

impl Metrics {
    /// Installs the recorder with namespace `METRICS_NAMESPACE` and dimension
    /// `Function = function`. Fails if a recorder is already installed.
    pub fn init(function: &'static str) -> Result<Self, String> {
        let metrics = Self::init_bare(function)?;
        let ms = Unit::Milliseconds;
        metrics::describe_counter!(names::REQUESTS, Unit::Count, "recommendation requests");
        metrics::describe_counter!(
            names::DEGRADED,
            Unit::Count,
            "answers degraded to popularity"
        );
        metrics::describe_counter!(names::POPULAR, Unit::Count, "answers from popularity");
        metrics::describe_counter!(names::COLD_START, Unit::Count, "first invocations");
        metrics::describe_histogram!(names::LATENCY, ms, "handler time");
        metrics::describe_histogram!(names::STORE_LATENCY, ms, "feature store wait");
        metrics::describe_histogram!(names::INIT_DURATION, ms, "process start to ready");
        // Register the counters so that zeros are emitted from the first document on.
        for name in [
            names::REQUESTS,
            names::DEGRADED,
            names::POPULAR,
            names::COLD_START,
        ] {
            metrics::counter!(name).increment(0);
        }
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
            .cloudwatch_namespace(namespace)
            .with_dimension("Function", function)
            // Degraded must be reported as 0 too: the alarm divides Sum(Degraded) by
            // Sum(Requests).
            .emit_zeros(true)
            .init()
            .map_err(|e| e.to_string())?;
        Ok(Metrics { collector })
    }

    /// Sets a property (searchable in Logs Insights, not a dimension) of the next document.
    pub fn set_property(&self, name: &'static str, value: impl Into<String>) {
        self.collector.set_property(name, value.into());
    }

    /// Records one invocation.
    pub fn record(&self, m: &InvocationMetrics<'_>) {
        if m.counted {
            metrics::counter!(names::REQUESTS).increment(1);
            metrics::counter!(names::DEGRADED).increment(u64::from(m.degraded));
            metrics::counter!(names::POPULAR).increment(u64::from(m.popular));
            metrics::histogram!(names::LATENCY).record(m.latency_ms);
            if let Some(s) = m.store_ms {
                metrics::histogram!(names::STORE_LATENCY).record(s);
            }
        }
        if m.cold_start {
            metrics::counter!(names::COLD_START).increment(1);
            if let Some(i) = m.init_ms {
                metrics::histogram!(names::INIT_DURATION).record(i);
            }
        }
        // Properties: searchable in Logs Insights, not dimensions (the alarms select on
        // `Function` alone).
        self.collector
            .set_property("model_version", m.model_version.to_string())
            .set_property("request_id", m.request_id.to_string());
    }

    /// Writes the pending EMF document(s) to `out`.
    pub fn flush_to(&self, out: impl std::io::Write) -> std::io::Result<()> {
        self.collector.flush(out)
    }

    /// Writes the pending EMF document(s) to stdout, as one locked write per document.
    pub fn flush(&self) {
        let stdout = std::io::stdout();
        if let Err(e) = self.collector.flush(stdout.lock()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that installs the global recorder.
    #[test]
    fn emf_documents_carry_the_alarm_metric_names_and_one_dimension() {
        std::env::set_var("METRICS_NAMESPACE", "WarmstartTest");
        let m = Metrics::init("recommend").unwrap();
        m.record(&InvocationMetrics {
            counted: true,
            latency_ms: 1.5,
            store_ms: Some(0.7),
            degraded: false,
            popular: true,
            cold_start: true,
            init_ms: Some(88.0),
            model_version: "v1",
            request_id: "rid",
        });
        let mut out = Vec::new();
        m.flush_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let docs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(docs.len(), 1, "{text}");
        let d = &docs[0];
        let cw = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "WarmstartTest");
        assert_eq!(cw["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(d["Function"], "recommend");
        assert_eq!(d["Requests"], 1);
        assert_eq!(d["Degraded"], 0);
        assert_eq!(d["Popular"], 1);
        assert_eq!(d["ColdStart"], 1);
        assert_eq!(d["Latency"], serde_json::json!([1.5]));
        assert_eq!(d["StoreLatency"], serde_json::json!([0.7]));
        assert_eq!(d["InitDuration"], serde_json::json!([88.0]));
        assert_eq!(d["model_version"], "v1");
        let units: std::collections::HashMap<&str, &str> = cw["Metrics"]
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

        // The next invocation reports zeros for the counters and no cold start.
        m.record(&InvocationMetrics {
            counted: true,
            latency_ms: 0.5,
            degraded: true,
            ..InvocationMetrics::default()
        });
        let mut out = Vec::new();
        m.flush_to(&mut out).unwrap();
        let d: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(d["ColdStart"], 0);
        assert_eq!(d["Degraded"], 1);
        assert!(d.get("InitDuration").is_none());
    }
}
