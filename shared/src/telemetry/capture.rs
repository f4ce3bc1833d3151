//! Sampled data capture: with `CAPTURE_SAMPLE_RATE` (0..=1, default 0) a serving function
//! logs, for that share of requests, one `capture` record per scored row — the model, the
//! version and variant that answered, the input row and the outputs of the served version and
//! of the shadow — so active and shadow can be compared on real traffic with Logs Insights
//! (README, "Logs Insights queries").
//!
//! ```json
//! {"message": "capture", "function": "predict", "request_id": "…", "model": "churn",
//!  "version": "2026-…", "variant": "candidate", "entity": "m-1",
//!  "input": {"<feature>": <value>, …}, "output": {"<output>": <value>, …},
//!  "shadow": {"version": "2026-…", "output": {…}}}
//! ```
//!
//! A record is one JSON line on stdout, written whole (like the EMF documents) rather than
//! through `tracing`, whose fields are flat strings: Logs Insights then discovers `input.*`,
//! `output.*` and `shadow.output.*` as fields. Sampling is by request id (FNV-1a + fmix64,
//! like the canary's buckets), so a sampled request's every row is captured and the share is
//! exact over many requests without a random number generator per call.

use crate::lambda::env::var;
use serde_json::{Map, Value};
use std::io::Write;

/// `CAPTURE_SAMPLE_RATE`: the share of requests captured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CaptureConfig {
    pub rate: f64,
}

impl CaptureConfig {
    pub const VAR: &'static str = "CAPTURE_SAMPLE_RATE";

    /// Reads `CAPTURE_SAMPLE_RATE`; a value that is not a number in 0..=1 is refused (init
    /// fails with this message rather than capturing nothing, or everything, by surprise).
    pub fn from_env() -> Result<Self, String> {
        Self::parse(var(Self::VAR).as_deref())
    }

    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(CaptureConfig::default());
        };
        match v.parse::<f64>() {
            Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(CaptureConfig { rate }),
            _ => Err(format!(
                "{} `{v}` must be a number from 0 to 1: the share of requests logged as \
                 `capture` records (0 = none, 0.01 = 1 %, 1 = all)",
                Self::VAR
            )),
        }
    }

    /// Whether the request `request_id` is captured.
    pub fn sampled(&self, request_id: &str) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        if self.rate >= 1.0 {
            return true;
        }
        // 53 bits of the hash as a uniform number in [0, 1).
        let h = crate::registry::bucket::fmix64(crate::registry::bucket::fnv1a64(
            request_id.as_bytes(),
        ));
        ((h >> 11) as f64 / (1u64 << 53) as f64) < self.rate
    }
}

/// One captured row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaptureRow {
    pub version: String,
    /// `active` or `candidate`.
    pub variant: &'static str,
    /// The customer, company or row id the canary routed by, when there is one.
    pub entity: Option<String>,
    /// Feature name → value (`null` for a missing value).
    pub input: Map<String, Value>,
    /// Output name → value.
    pub output: Map<String, Value>,
    /// The shadow's version and outputs, when a shadow scored the row.
    pub shadow: Option<(String, Map<String, Value>)>,
}

/// A finite number as JSON, `null` otherwise (JSON has no NaN).
pub fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// `names[i] → values[i]`.
pub fn named(
    names: impl IntoIterator<Item = impl Into<String>>,
    values: &[f64],
) -> Map<String, Value> {
    names
        .into_iter()
        .zip(values)
        .map(|(n, v)| (n.into(), number(*v)))
        .collect()
}

/// The `capture` record of one row.
pub fn record(function: &str, request_id: &str, model: &str, row: &CaptureRow) -> Value {
    let mut r = Map::new();
    r.insert("message".into(), "capture".into());
    r.insert("function".into(), function.into());
    r.insert("request_id".into(), request_id.into());
    r.insert("model".into(), model.into());
    r.insert("version".into(), row.version.clone().into());
    r.insert("variant".into(), row.variant.into());
    if let Some(e) = &row.entity {
        r.insert("entity".into(), e.clone().into());
    }
    r.insert("input".into(), Value::Object(row.input.clone()));
    r.insert("output".into(), Value::Object(row.output.clone()));
    if let Some((version, output)) = &row.shadow {
        r.insert(
            "shadow".into(),
            serde_json::json!({"version": version, "output": output}),
        );
    }
    Value::Object(r)
}

/// Writes the `capture` records of one request to `out`, one line each.
pub fn write_records(
    mut out: impl Write,
    function: &str,
    request_id: &str,
    model: &str,
    rows: &[CaptureRow],
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut buf, &record(function, request_id, model, row))?;
        buf.push(b'\n');
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Logs the `capture` records of one request on stdout.
pub fn log(function: &str, request_id: &str, model: &str, rows: &[CaptureRow]) {
    if rows.is_empty() {
        return;
    }
    if let Err(e) = write_records(std::io::stdout().lock(), function, request_id, model, rows) {
        tracing::warn!(error = %e, "could not write capture records");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_a_number_from_0_to_1_and_anything_else_is_refused() {
        assert_eq!(CaptureConfig::parse(None).unwrap().rate, 0.0);
        assert_eq!(CaptureConfig::parse(Some(" ")).unwrap().rate, 0.0);
        assert_eq!(CaptureConfig::parse(Some("0.25")).unwrap().rate, 0.25);
        assert_eq!(CaptureConfig::parse(Some("1")).unwrap().rate, 1.0);
        for bad in ["1.5", "-0.1", "NaN", "inf", "10%", "all"] {
            let e = CaptureConfig::parse(Some(bad)).unwrap_err();
            assert!(e.contains("CAPTURE_SAMPLE_RATE") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn sampling_takes_the_configured_share_of_request_ids() {
        let ids: Vec<String> = (0..20_000).map(|i| format!("req-{i}")).collect();
        let share = |rate: f64| {
            let c = CaptureConfig { rate };
            ids.iter().filter(|id| c.sampled(id)).count()
        };
        assert_eq!(share(0.0), 0);
        assert_eq!(share(1.0), ids.len());
        let tenth = share(0.1);
        assert!((1_700..=2_300).contains(&tenth), "{tenth}");
        // The same request is always decided the same way.
        let c = CaptureConfig { rate: 0.5 };
        assert_eq!(c.sampled("abc"), c.sampled("abc"));
    }

    #[test]
    fn a_record_names_inputs_and_outputs_of_the_served_version_and_the_shadow() {
        let row = CaptureRow {
            version: "v2".into(),
            variant: "candidate",
            entity: Some("15889".into()),
            input: named(["age", "renta"], &[35.0, f64::NAN]),
            output: named(["prediction"], &[0.25]),
            shadow: Some(("v3".into(), named(["prediction"], &[0.5]))),
        };
        let mut out = Vec::new();
        write_records(&mut out, "predict", "rid", "churn", &[row.clone(), row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2);
        let r: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            r,
            serde_json::json!({
                "message": "capture", "function": "predict", "request_id": "rid",
                "model": "churn", "version": "v2", "variant": "candidate", "entity": "15889",
                "input": {"age": 35.0, "renta": null},
                "output": {"prediction": 0.25},
                "shadow": {"version": "v3", "output": {"prediction": 0.5}}
            })
        );
    }
}
