//! The quality gate: before a validated version becomes candidate, shadow or active, its
//! holdout metrics (from its manifest) are compared with the active version's and with its own
//! baseline. Pure: the reload function reads both manifests and the item's tolerance.
//!
//! Gate metrics per kind (higher or lower is better):
//!
//! | kind | metric | better | own baseline |
//! |---|---|---|---|
//! | `product-recommender` | `map_at_7` | higher | `baseline_map_at_7` (popularity) |
//! | `product-recommender` | `mean_auc` (mean of `metrics.auc`) | higher | 0.5 (a random ranking) |
//! | `fair-multiple` | `rmse` | lower | `baseline_rmse` (industry median) |
//! | `generic` | the primary one: `auc` (mean of `metrics.auc`), else `rmse`, else `multi_logloss`, else `logloss` | AUC higher, the others lower | `baseline_<metric>` (AUC: `baseline_auc`, else 0.5) |
//!
//! A version is refused (code `quality_gate`, every figure in the reason) when a gate metric
//! is worse than the active version's by more than the tolerance (relative, per model in the
//! registry item, [`DEFAULT_TOLERANCE_PCT`] by default), when it does not strictly beat its
//! own baseline, or when it lacks a gate metric the active version reports (it could not be
//! compared). Mean AUCs are compared over the outputs both versions report. A metric the active
//! version does not report is judged by the baseline alone; a generic bundle without any of the
//! metrics above (an `import` without `--metrics`) passes with nothing to compare, and the log
//! says so. Versions of another kind are not compared (the registry refuses them as
//! `kind_changed`). An operator overrides the gate for one version on purpose with a forced
//! promotion (`warmstart registry promote --force --version V --reason …`).

use super::validate::Rejected;
use crate::bundle::{Manifest, ModelKind};
use std::collections::BTreeMap;

/// The rejection code.
pub const QUALITY_GATE: &str = "quality_gate";
/// How much worse than the active version a version may be, in percent of the active figure.
pub const DEFAULT_TOLERANCE_PCT: f64 = 2.0;
/// The largest tolerance an operator may set (a version may be twice as bad).
pub const MAX_TOLERANCE_PCT: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One gate metric of a manifest.
#[derive(Debug, Clone, PartialEq)]
struct Figure {
    name: &'static str,
    value: f64,
    better: Better,
    baseline: Option<f64>,
}

/// The AUC per output of a manifest, when it reports any.
fn aucs(m: &Manifest) -> Option<&BTreeMap<String, f64>> {
    (!m.metrics.auc.is_empty()).then_some(&m.metrics.auc)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The gate metrics of `m` (see the module docs).
fn figures(m: &Manifest) -> Vec<Figure> {
    let other = |k: &str| m.metrics.other.get(k).copied();
    let mean_auc = aucs(m).and_then(|a| mean(a.values().copied()));
    match m.kind {
        ModelKind::ProductRecommender => {
            let mut out = Vec::new();
            if let Some(v) = m.metrics.map_at_7 {
                out.push(Figure {
                    name: "map_at_7",
                    value: v,
                    better: Better::Higher,
                    baseline: m.metrics.baseline_map_at_7,
                });
            }
            if let Some(v) = mean_auc {
                out.push(Figure {
                    name: "mean_auc",
                    value: v,
                    better: Better::Higher,
                    baseline: Some(0.5),
                });
            }
            out
        }
        ModelKind::FairMultiple => other("rmse")
            .map(|v| Figure {
                name: "rmse",
                value: v,
                better: Better::Lower,
                baseline: other("baseline_rmse"),
            })
            .into_iter()
            .collect(),
        ModelKind::Generic => {
            if let Some(v) = mean_auc {
                return vec![Figure {
                    name: "auc",
                    value: v,
                    better: Better::Higher,
                    baseline: other("baseline_auc").or(Some(0.5)),
                }];
            }
            for name in ["rmse", "multi_logloss", "logloss"] {
                if let Some(v) = other(name) {
                    return vec![Figure {
                        name,
                        value: v,
                        better: Better::Lower,
                        baseline: other(&format!("baseline_{name}")),
                    }];
                }
            }
            Vec::new()
        }
    }
}

/// The figure of `name` in `new` and in `active`, made comparable: a mean AUC over the outputs
/// both report (with their number when that is not all of either's).
fn comparable(name: &str, new: &Manifest, active: &Manifest) -> Option<(f64, f64, Option<usize>)> {
    let a = figures(active).into_iter().find(|f| f.name == name)?;
    let n = figures(new).into_iter().find(|f| f.name == name)?;
    if matches!(name, "mean_auc" | "auc") {
        if let (Some(na), Some(aa)) = (aucs(new), aucs(active)) {
            let common: Vec<&String> = na.keys().filter(|k| aa.contains_key(*k)).collect();
            if !common.is_empty() {
                let subset =
                    (common.len() != na.len() || common.len() != aa.len()).then_some(common.len());
                return Some((
                    mean(common.iter().map(|k| na[*k]))?,
                    mean(common.iter().map(|k| aa[*k]))?,
                    subset,
                ));
            }
        }
    }
    Some((n.value, a.value, None))
}

/// A number with four significant digits.
fn fig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    format!("{v:.decimals$}")
}

/// What the gate found: one line per check, e.g. `map_at_7 0.0310 vs active 0.0305 (-1.6 %)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GateReport {
    pub checks: Vec<String>,
    pub failures: Vec<String>,
}

impl GateReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The reason recorded with a rejection: the failures first, then the other figures.
    pub fn reason(&self, version: &str, tolerance_pct: f64) -> String {
        let mut s = format!(
            "{version} fails the quality gate (tolerance {tolerance_pct}% of the active figure): {}",
            self.failures.join("; ")
        );
        if !self.checks.is_empty() {
            s.push_str(&format!(" [passed: {}]", self.checks.join("; ")));
        }
        s
    }

    /// One line for logs.
    pub fn summary(&self) -> String {
        if self.checks.is_empty() && self.failures.is_empty() {
            "no gate metric to compare".into()
        } else {
            self.checks
                .iter()
                .chain(&self.failures)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        }
    }
}

/// Runs the gate on `new` against `active` (its version and manifest, when there is an active
/// version of the same kind) with `tolerance_pct`.
pub fn evaluate(
    new: &Manifest,
    active: Option<(&str, &Manifest)>,
    tolerance_pct: f64,
) -> GateReport {
    let mut report = GateReport::default();
    let tol = tolerance_pct.clamp(0.0, MAX_TOLERANCE_PCT) / 100.0;
    let new_figures = figures(new);
    for f in &new_figures {
        if let Some(base) = f.baseline {
            let beats = match f.better {
                Better::Higher => f.value > base,
                Better::Lower => f.value < base,
            };
            let line = format!(
                "{} {} {} its baseline {}",
                f.name,
                fig(f.value),
                if beats { "beats" } else { "does not beat" },
                fig(base)
            );
            if beats {
                report.checks.push(line);
            } else {
                report.failures.push(line);
            }
        }
    }
    let Some((active_version, active)) = active.filter(|(_, a)| a.kind == new.kind) else {
        return report;
    };
    for a in figures(active) {
        if !new_figures.iter().any(|f| f.name == a.name) {
            report.failures.push(format!(
                "reports no {} while the active {active_version} does ({}), so it cannot be \
                 compared",
                a.name,
                fig(a.value)
            ));
            continue;
        }
        let Some((n, av, subset)) = comparable(a.name, new, active) else {
            continue;
        };
        let change_pct = if av == 0.0 {
            0.0
        } else {
            (n - av) / av.abs() * 100.0
        };
        let worse_by = match a.better {
            Better::Higher => av - n,
            Better::Lower => n - av,
        };
        let too_worse = worse_by > tol * av.abs();
        let line = format!(
            "{} {} vs the active {active_version}'s {} ({:+.1}%{}{})",
            a.name,
            fig(n),
            fig(av),
            change_pct,
            match a.better {
                Better::Higher => ", higher is better",
                Better::Lower => ", lower is better",
            },
            subset.map_or(String::new(), |k| format!(
                ", over the {k} outputs both report"
            ))
        );
        if too_worse {
            report.failures.push(line);
        } else {
            report.checks.push(line);
        }
    }
    report
}

/// [`evaluate`] as a verdict: `Err` with code [`QUALITY_GATE`] when the version fails.
pub fn check(
    new: &Manifest,
    active: Option<(&str, &Manifest)>,
    tolerance_pct: f64,
) -> Result<GateReport, Rejected> {
    let report = evaluate(new, active, tolerance_pct);
    if report.passed() {
        Ok(report)
    } else {
        Err(Rejected::new(
            QUALITY_GATE,
            report.reason(&new.version, tolerance_pct),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::Metrics;

    fn manifest(kind: ModelKind, version: &str, metrics: Metrics) -> Manifest {
        let (mut m, _) = crate::valuation::synthetic::synthetic_fair_multiple_parts(version, 1);
        m.kind = kind;
        m.metrics = metrics;
        m
    }

    fn reco(version: &str, map: f64, base: f64, auc: &[(&str, f64)]) -> Manifest {
        manifest(
            ModelKind::ProductRecommender,
            version,
            Metrics {
                map_at_7: Some(map),
                baseline_map_at_7: Some(base),
                auc: auc.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                ..Metrics::default()
            },
        )
    }

    fn other(kind: ModelKind, version: &str, pairs: &[(&str, f64)]) -> Manifest {
        manifest(
            kind,
            version,
            Metrics {
                other: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                ..Metrics::default()
            },
        )
    }

    #[test]
    fn a_recommender_within_tolerance_passes_and_a_worse_one_is_refused_with_its_figures() {
        let active = reco("v1", 0.0310, 0.0210, &[("a", 0.80), ("b", 0.70)]);
        // 1.6 % lower MAP@7: within 2 %.
        let ok = reco("v2", 0.0305, 0.0210, &[("a", 0.80), ("b", 0.70)]);
        let r = check(&ok, Some(("v1", &active)), DEFAULT_TOLERANCE_PCT).unwrap();
        assert_eq!(r.checks.len(), 4, "{r:?}");

        let worse = reco("v3", 0.0250, 0.0210, &[("a", 0.80), ("b", 0.70)]);
        let e = check(&worse, Some(("v1", &active)), DEFAULT_TOLERANCE_PCT).unwrap_err();
        assert_eq!(e.code, QUALITY_GATE);
        assert!(!e.transient);
        assert!(
            e.reason
                .contains("map_at_7 0.02500 vs the active v1's 0.03100 (-19.4%"),
            "{}",
            e.reason
        );
        assert!(
            e.reason.contains("tolerance 2% of the active figure"),
            "{}",
            e.reason
        );
        // The passing figures are in the reason too.
        assert!(e.reason.contains("mean_auc 0.7500"), "{}", e.reason);
        // A wider tolerance lets it through.
        check(&worse, Some(("v1", &active)), 25.0).unwrap();
    }

    #[test]
    fn mean_auc_is_compared_over_the_outputs_both_report() {
        let active = reco("v1", 0.03, 0.02, &[("a", 0.80), ("b", 0.60)]);
        // Product b has no AUC in the new holdout; a alone is compared: 0.80 vs 0.80.
        let new = reco("v2", 0.03, 0.02, &[("a", 0.80)]);
        let r = check(&new, Some(("v1", &active)), 2.0).unwrap();
        assert!(
            r.checks
                .iter()
                .any(|c| c.contains("over the 1 outputs both report")),
            "{r:?}"
        );
        // 0.625 vs 0.70 over a and b: refused, though c's AUC would lift the plain mean.
        let worse = reco("v2", 0.03, 0.02, &[("a", 0.70), ("b", 0.55), ("c", 0.99)]);
        let e = check(&worse, Some(("v1", &active)), 2.0).unwrap_err();
        assert!(
            e.reason
                .contains("mean_auc 0.6250 vs the active v1's 0.7000"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn a_version_that_does_not_beat_its_baseline_is_refused_even_without_an_active() {
        let flat = reco("v1", 0.0200, 0.0200, &[("a", 0.8)]);
        let e = check(&flat, None, 2.0).unwrap_err();
        assert!(
            e.reason
                .contains("map_at_7 0.02000 does not beat its baseline 0.02000"),
            "{}",
            e.reason
        );
        let random = reco("v1", 0.03, 0.02, &[("a", 0.5), ("b", 0.45)]);
        assert!(check(&random, None, 2.0).is_err());
        check(&reco("v1", 0.03, 0.02, &[("a", 0.6)]), None, 2.0).unwrap();
    }

    #[test]
    fn lower_is_better_for_rmse_and_logloss() {
        let fm = |v: &str, rmse: f64| {
            other(
                ModelKind::FairMultiple,
                v,
                &[("rmse", rmse), ("baseline_rmse", 5.0)],
            )
        };
        let active = fm("v1", 3.0);
        check(&fm("v2", 2.0), Some(("v1", &active)), 2.0).unwrap();
        check(&fm("v2", 3.05), Some(("v1", &active)), 2.0).unwrap();
        let e = check(&fm("v2", 3.2), Some(("v1", &active)), 2.0).unwrap_err();
        assert!(
            e.reason
                .contains("rmse 3.200 vs the active v1's 3.000 (+6.7%, lower is better)"),
            "{}",
            e.reason
        );
        let e = check(&fm("v2", 5.5), None, 2.0).unwrap_err();
        assert!(
            e.reason.contains("does not beat its baseline 5.000"),
            "{}",
            e.reason
        );

        let multi = |v: &str, ll: f64| {
            other(
                ModelKind::Generic,
                v,
                &[
                    ("multi_logloss", ll),
                    ("baseline_multi_logloss", 1.1),
                    ("accuracy", 0.5),
                ],
            )
        };
        let active = multi("v1", 0.60);
        check(&multi("v2", 0.61), Some(("v1", &active)), 2.0).unwrap();
        assert!(check(&multi("v2", 0.70), Some(("v1", &active)), 2.0).is_err());
    }

    #[test]
    fn generic_models_are_judged_by_their_primary_metric() {
        // Binary: AUC (higher), baseline_auc 0.5 as `train generic` writes it; logloss is
        // reported but not the gate metric.
        let bin = |v: &str, auc: f64, logloss: f64| {
            let mut m = other(
                ModelKind::Generic,
                v,
                &[
                    ("logloss", logloss),
                    ("baseline_logloss", 0.6),
                    ("baseline_auc", 0.5),
                ],
            );
            m.metrics.auc.insert("prediction".into(), auc);
            m
        };
        let active = bin("v1", 0.80, 0.40);
        check(&bin("v2", 0.79, 0.90), Some(("v1", &active)), 2.0).unwrap();
        let e = check(&bin("v2", 0.70, 0.30), Some(("v1", &active)), 2.0).unwrap_err();
        assert!(
            e.reason.contains("auc 0.7000 vs the active v1's 0.8000"),
            "{}",
            e.reason
        );

        // Regression without a baseline (an import with --metrics {"rmse": …}).
        let reg =
            |v: &str, rmse: f64| other(ModelKind::Generic, v, &[("rmse", rmse), ("mae", 1.0)]);
        check(&reg("v1", 10.0), None, 2.0).unwrap();
        assert!(check(&reg("v2", 11.0), Some(("v1", &reg("v1", 10.0))), 2.0).is_err());

        // Nothing to compare: passes, and says so.
        let none = other(ModelKind::Generic, "v1", &[]);
        let r = check(&none, None, 2.0).unwrap();
        assert_eq!(r.summary(), "no gate metric to compare");
        // … unless the active version reports the metric it lacks.
        let e = check(&none, Some(("v0", &reg("v0", 10.0))), 2.0).unwrap_err();
        assert!(
            e.reason
                .contains("reports no rmse while the active v0 does"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn versions_of_another_kind_are_not_compared() {
        let active = reco("v1", 0.03, 0.02, &[("a", 0.8)]);
        let fm = other(ModelKind::FairMultiple, "v2", &[("rmse", 1.0)]);
        check(&fm, Some(("v1", &active)), 2.0).unwrap();
    }

    #[test]
    fn figures_have_four_significant_digits() {
        assert_eq!(fig(0.031), "0.03100");
        assert_eq!(fig(12.34567), "12.35");
        assert_eq!(fig(1234.4), "1234");
        assert_eq!(fig(0.0), "0");
    }
}
