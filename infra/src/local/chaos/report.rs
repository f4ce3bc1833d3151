//! The chaos run's report: a markdown table (one row per phase) and the checks, what
//! `make chaos` prints and docs/RELIABILITY.md records.

use super::{ChaosArgs, Outcome, PHASES};
use std::fmt::Write;

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Shortens `2026-12-02T08-50-01Z-chaos-swap` to `…chaos-swap` and other versions to their
/// last 12 characters, so the table stays readable.
fn short(v: &str) -> String {
    if let Some(i) = v.find("-chaos-") {
        return format!("…{}", &v[i + 1..]);
    }
    let n = v.chars().count();
    if n <= 12 {
        v.to_string()
    } else {
        format!("…{}", v.chars().skip(n - 12).collect::<String>())
    }
}

pub fn render(args: &ChaosArgs, o: &Outcome, load_before: &str, load_after: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "warmstart local chaos --concurrency {} --phase-secs {} --seed {} ({:.0} s in all; \
         machine: {load_before} before, {load_after} after)\n",
        args.concurrency, args.phase_secs, args.seed, o.total_secs
    );
    let _ = writeln!(
        s,
        "| phase | s | requests | 2xx | 4xx (invalid bodies) | 5xx | killed in flight | \
         transport errors | unexpected | degraded | p50 ms | p99 ms | max ms | recommender \
         versions served | what happened |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (i, p) in o.phases.iter().enumerate() {
        let versions: Vec<String> = p.versions.iter().map(|v| short(v)).collect();
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            PHASES.get(i).copied().unwrap_or("?"),
            o.seconds.get(i).copied().unwrap_or(0.0),
            p.requests,
            p.ok,
            p.rejected,
            p.server_errors,
            p.killed_in_flight,
            p.transport_errors,
            p.unexpected,
            p.degraded,
            ms(p.quantile_ms(0.5)),
            ms(p.quantile_ms(0.99)),
            ms(p.max_ms()),
            versions.join(", "),
            o.notes.get(i).map(|n| n.join("; ")).unwrap_or_default(),
        );
    }
    let total = |g: fn(&super::load::PhaseStats) -> u64| o.phases.iter().map(g).sum::<u64>();
    let _ = writeln!(
        s,
        "\nrequests {}, 5xx {}, killed in flight {} (kills: {}), degraded {}, registry writes \
         lost {} ({} acknowledged by {} writers, {} failed, {} conflicts retried)",
        total(|p| p.requests),
        total(|p| p.server_errors),
        total(|p| p.killed_in_flight),
        o.kills,
        total(|p| p.degraded),
        o.race.lost,
        o.race.acknowledged,
        o.race.writers,
        o.race.failed,
        o.race.conflicts_retried,
    );
    for (i, p) in o.phases.iter().enumerate() {
        if let Some((us, what)) = &p.slowest {
            let _ = writeln!(
                s,
                "  {}: slowest {what} {} ms",
                PHASES.get(i).copied().unwrap_or("?"),
                ms(*us as f64 / 1e3)
            );
        }
        for sample in &p.samples {
            let _ = writeln!(s, "  {}: {sample}", PHASES.get(i).copied().unwrap_or("?"));
        }
    }
    let failures = o.failures();
    let _ = writeln!(
        s,
        "{}",
        if failures.is_empty() {
            "verdict: PASS".to_string()
        } else {
            format!("verdict: FAIL ({})", failures.join("; "))
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_shortened_readably() {
        assert_eq!(short("2026-12-02T08-50-01Z-chaos-swap"), "…chaos-swap");
        assert_eq!(short("2026-11-22T10-00-00Z-1a2b3c4d"), "…00Z-1a2b3c4d");
        assert_eq!(short("v1"), "v1");
    }
}
