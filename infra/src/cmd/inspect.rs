//! `warmstart inspect <bundle-dir> [--against <active-bundle-dir>]`: what a bundle holds,
//! whether it is intact, and what reload's quality gate will say about it.

use crate::train::bundle_out::block_on;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use warmstart_core::bundle::{sha256_hex, Manifest, MANIFEST_FILE};
use warmstart_core::registry::gate;
use warmstart_core::{Bundle, DirSource};

#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory (the one holding manifest.json).
    pub bundle: PathBuf,
    /// The active version's bundle directory (its manifest.json is enough): run reload's
    /// quality gate against it, and fail when the gate would reject this bundle.
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// The model's quality gate tolerance, in percent of the active figures.
    #[arg(long, default_value_t = warmstart_core::registry::gate::DEFAULT_TOLERANCE_PCT)]
    pub tolerance: f64,
}

/// Prints the bundle summary, checks every file, loads the bundle as the functions do,
/// replays its golden rows and runs the quality gate (against `args.against` when given). Any
/// problem is an error (non-zero exit); a gate verdict is one only with `--against`.
pub fn run(args: &Args) -> Result<()> {
    let dir = args.bundle.as_path();
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&manifest_path).with_context(|| {
        format!(
            "reading {} (is this a bundle directory?)",
            manifest_path.display()
        )
    })?;
    let m = Manifest::from_json(&bytes)?;
    println!("bundle    {}", dir.display());
    println!("name      {}", m.name);
    println!("version   {}", m.version);
    println!("kind      {}", m.kind.as_str());
    println!("created   {}", m.created_at);
    println!(
        "rollout   {}",
        m.rollout
            .map_or("immediate (not set)".to_string(), |r| r.to_string())
    );
    let cats = m.features.iter().filter(|f| f.categorical).count();
    println!("features  {} ({cats} categorical)", m.features.len());
    // Requests may send these strings; `warmstart score` takes the codes (position in the list).
    for f in m.features.iter().filter(|f| !f.categories.is_empty()) {
        let shown: Vec<&str> = f.categories.iter().take(5).map(String::as_str).collect();
        let more = if f.categories.len() > 5 { ", …" } else { "" };
        println!(
            "  {:<22} {} categories: {}{more}",
            f.name,
            f.categories.len(),
            shown.join(" | ")
        );
    }
    println!("outputs   {}", m.outputs.len());
    for (i, o) in m.outputs.iter().enumerate() {
        let rate = m
            .base_rates
            .get(i)
            .map_or(String::new(), |r| format!("  base rate {r:.5}"));
        let class = if o.class > 0 {
            format!(" class {}", o.class)
        } else {
            String::new()
        };
        println!("  {:<22} {:<26} {}{class}{rate}", o.code, o.name, o.model);
    }

    println!("files     {}", m.files.len());
    let mut problems = Vec::new();
    for f in &m.files {
        let status = match std::fs::read(dir.join(&f.path)) {
            Err(e) => format!("MISSING ({e})"),
            Ok(b) if b.len() as u64 != f.bytes => {
                format!("SIZE MISMATCH ({} bytes on disk)", b.len())
            }
            Ok(b) if !sha256_hex(&b).eq_ignore_ascii_case(&f.sha256) => {
                "SHA256 MISMATCH".to_string()
            }
            Ok(_) => "sha256 ok".to_string(),
        };
        if !status.ends_with("ok") {
            problems.push(format!("{}: {status}", f.path));
        }
        println!(
            "  {:<34} {:>10} bytes  {}  {}",
            f.path,
            f.bytes,
            &f.sha256[..f.sha256.len().min(12)],
            status
        );
    }

    println!("metrics");
    if let Some(n) = m.metrics.holdout_rows {
        println!("  holdout rows        {n}");
    }
    if let Some(v) = m.metrics.map_at_7 {
        let base = m
            .metrics
            .baseline_map_at_7
            .map_or(String::new(), |b| format!("  (baseline {b:.4})"));
        println!("  MAP@7               {v:.4}{base}");
    }
    for (k, v) in &m.metrics.other {
        println!("  {k:<19} {}", fmt_short(*v));
    }
    if !m.metrics.auc.is_empty() {
        let mean = m.metrics.auc.values().sum::<f64>() / m.metrics.auc.len() as f64;
        println!(
            "  AUC                 {} outputs, mean {mean:.4}",
            m.metrics.auc.len()
        );
        for (k, v) in &m.metrics.auc {
            println!("    {k:<22} {v:.4}");
        }
    }
    if !m.training.is_empty() {
        println!("training");
        for (k, v) in &m.training {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {k:<19} {v}");
        }
    }

    let active = match &args.against {
        Some(a) => {
            let path = a.join(MANIFEST_FILE);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading the active manifest {}", path.display()))?;
            Some(Manifest::from_json(&bytes)?)
        }
        None => None,
    };
    let against = active.as_ref().map(|a| (a.version.as_str(), a));
    let report = gate::evaluate(&m, against, args.tolerance);
    println!(
        "quality gate ({}, tolerance {}%)",
        against.map_or(
            "baseline only; --against <active bundle> compares".to_string(),
            |(v, _)| { format!("against {v}") }
        ),
        args.tolerance
    );
    for line in &report.checks {
        println!("  ok        {line}");
    }
    for line in &report.failures {
        println!("  FAILS     {line}");
    }
    if report.checks.is_empty() && report.failures.is_empty() {
        println!("  {}", report.summary());
    }
    if !report.passed() {
        let verdict = format!(
            "reload would reject it ({}): {}",
            gate::QUALITY_GATE,
            report.failures.join("; ")
        );
        if args.against.is_some() {
            problems.push(verdict);
        } else {
            println!("warning: {verdict}");
        }
    }

    if let Err(e) = m.validate() {
        problems.push(e.to_string());
    }
    if !problems.is_empty() {
        bail!("the bundle is refused: {}", problems.join("; "));
    }
    let bundle = block_on(Bundle::load(&DirSource::new(dir)))
        .with_context(|| format!("loading the bundle from {}", dir.display()))?;
    let n = bundle
        .verify_golden()
        .context("golden rows do not reproduce")?;
    println!(
        "models    {} parsed ({} trees)",
        bundle.models().count(),
        bundle.models().map(|(_, m)| m.num_trees()).sum::<usize>()
    );
    println!("golden rows: {n}/{} bit-identical", m.golden.len());
    Ok(())
}

fn fmt_short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}
