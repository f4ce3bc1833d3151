//! What a chaos run measured, and the rules that fail it.

use super::load::PhaseStats;

/// What the registry race did.
#[derive(Debug, Clone, Default)]
pub struct RaceOutcome {
    pub writers: usize,
    pub acknowledged: usize,
    pub failed: usize,
    pub conflicts_retried: u32,
    pub revision_before: u64,
    pub revision_after: u64,
    /// Acknowledged writes whose revision is missing or was acknowledged twice.
    pub lost: usize,
}

/// Everything the run measured.
pub struct Outcome {
    pub phases: Vec<PhaseStats>,
    pub seconds: Vec<f64>,
    pub notes: Vec<Vec<String>>,
    pub kills: u64,
    pub race: RaceOutcome,
    pub corrupt_version: String,
    /// The code reload rejected the corrupt bundle with (`None`: not rejected).
    pub corrupt_rejected: Option<String>,
    pub total_secs: f64,
}

impl Outcome {
    /// Why the run fails; empty when it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let sum = |g: fn(&PhaseStats) -> u64| self.phases.iter().map(g).sum::<u64>();
        let server_errors = sum(|p| p.server_errors);
        if server_errors > 0 {
            f.push(format!("{server_errors} 5xx answers"));
        }
        let killed = sum(|p| p.killed_in_flight);
        if killed > self.kills {
            f.push(format!(
                "{killed} requests failed with a killed function, more than the {} kills \
                 (queued requests must go to the restarted process)",
                self.kills
            ));
        }
        let transport = sum(|p| p.transport_errors);
        if transport > 0 {
            f.push(format!("{transport} transport errors"));
        }
        let unexpected = sum(|p| p.unexpected);
        if unexpected > 0 {
            f.push(format!("{unexpected} unexpected statuses or wrong answers"));
        }
        if self.race.lost > 0 {
            f.push(format!("{} registry writes lost", self.race.lost));
        }
        if self.race.acknowledged + self.race.failed == 0 {
            f.push("the registry race wrote nothing".into());
        }
        if self
            .phases
            .iter()
            .any(|p| p.versions.contains(&self.corrupt_version))
        {
            f.push(format!(
                "the corrupt version {} was served",
                self.corrupt_version
            ));
        }
        match self.corrupt_rejected.as_deref() {
            None => f.push("reload did not reject the corrupt bundle".into()),
            Some("stale_version") => {
                f.push("the corrupt bundle was rejected for its age, not its content".into())
            }
            Some(_) => {}
        }
        if self.phases.iter().any(|p| p.requests == 0) {
            f.push("a phase saw no request".into());
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_fails_on_what_the_issue_names() {
        let ok = PhaseStats {
            requests: 10,
            ok: 10,
            ..PhaseStats::default()
        };
        let outcome = |phases: Vec<PhaseStats>, kills: u64, lost: usize| Outcome {
            phases,
            seconds: vec![],
            notes: vec![],
            kills,
            race: RaceOutcome {
                acknowledged: 4,
                lost,
                ..RaceOutcome::default()
            },
            corrupt_version: "v-bad".into(),
            corrupt_rejected: Some("checksum_mismatch".into()),
            total_secs: 0.0,
        };
        assert!(outcome(vec![ok.clone()], 0, 0).failures().is_empty());
        let five = PhaseStats {
            server_errors: 1,
            ..ok.clone()
        };
        assert_eq!(outcome(vec![five], 0, 0).failures().len(), 1);
        assert_eq!(outcome(vec![ok.clone()], 0, 1).failures().len(), 1);
        let killed = PhaseStats {
            killed_in_flight: 2,
            ..ok.clone()
        };
        assert!(outcome(vec![killed.clone()], 2, 0).failures().is_empty());
        assert_eq!(outcome(vec![killed], 1, 0).failures().len(), 1);
        let mut bad = ok.clone();
        bad.versions.insert("v-bad".into());
        assert_eq!(outcome(vec![bad], 0, 0).failures().len(), 1);
        let idle = PhaseStats::default();
        assert_eq!(outcome(vec![ok, idle], 0, 0).failures().len(), 1);
    }
}
