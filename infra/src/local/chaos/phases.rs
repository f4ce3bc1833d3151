//! The phases themselves: a warm-up, then each phase's fault or publication while the load
//! runs, with what the registry and the functions did noted for the report.

use super::super::functions::LocalFunction;
use super::super::setup::{self, REGISTRY_TABLE};
use super::super::{say, Stack};
use super::load::{self, Kind, Load, Planned};
use super::publishing::{active_of, publish, upload_raw, version, versioned_copy, wait_registry};
use super::race::registry_race;
use super::{ChaosArgs, Outcome, RaceOutcome, PHASES};
use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmstart_core::aws::RegistryTable;
use warmstart_devkit::{Fault, FaultProxy, Stores};

/// One valid request of each kind, answered 200 before the load starts: the valuation
/// inputs get cached (what an outage is answered from) and the predict model loaded.
async fn warm_up(api: SocketAddr) -> Result<()> {
    let mut conn = None;
    let mut planned: Vec<Planned> = load::valuation_bodies()
        .into_iter()
        .map(|b| Planned {
            kind: Kind::Valuation,
            method: "POST",
            path: "/valuation".into(),
            body: Some(b.to_string()),
            expect: 200,
            owned: Vec::new(),
        })
        .collect();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    while planned.len() < 40 {
        let p = load::plan(&mut rng);
        if p.kind != Kind::Invalid {
            planned.push(p);
        }
    }
    for p in &planned {
        let o = load::send(api, &mut conn, p)
            .await
            .map_err(|e| anyhow::anyhow!("warm-up {} {}: {e}", p.method, p.path))?;
        if o.status != 200 {
            bail!(
                "warm-up {} {} answered {} before any fault",
                p.method,
                p.path,
                o.status
            );
        }
    }
    Ok(())
}

pub(super) async fn drive(
    args: &ChaosArgs,
    stores: &Stores,
    stack: &Stack,
    dynamodb: &FaultProxy,
    s3: &FaultProxy,
    swap: &Path,
    worse: &Path,
) -> Result<Outcome> {
    let api: SocketAddr = stack
        .api
        .trim_start_matches("http://")
        .parse()
        .context("router address")?;
    let clients = setup::Clients::new(&stores.s3_endpoint, &stores.dynamodb_endpoint).await;
    let registry = RegistryTable::new(clients.dynamodb.clone(), REGISTRY_TABLE);
    let scratch = args.data_dir.join("chaos-publish");
    let model = "product-recommender";
    warm_up(api).await?;
    say(format!(
        "warm-up done; {} phases of {:.1} s at concurrency {}",
        PHASES.len(),
        args.phase_secs,
        args.concurrency
    ));

    let load = Load::start(api, args.concurrency, PHASES.len(), args.seed);
    let phase_len = Duration::from_secs_f64(args.phase_secs);
    let mut notes: Vec<Vec<String>> = vec![Vec::new(); PHASES.len()];
    let mut seconds = vec![0.0; PHASES.len()];
    let mut kills = 0u64;
    let mut race = RaceOutcome::default();
    let mut corrupt_version = String::new();
    let mut corrupt_rejected = None;
    for (i, name) in PHASES.iter().enumerate() {
        load.phase.store(i, Ordering::Relaxed);
        let t = Instant::now();
        say(format!("phase {}: {name}", i + 1));
        let note = &mut notes[i];
        match i {
            1 => dynamodb.set(Fault::Stall),
            2 => dynamodb.set(Fault::Refuse),
            4 => {
                s3.set(Fault::Refuse);
                let v = version("swap");
                publish(&clients, &versioned_copy(swap, &scratch, &v, false)?).await?;
                let item =
                    wait_registry(&registry, model, phase_len, |it| active_of(it) == v).await;
                note.push(match item {
                    Some(it) if active_of(&it) == v => format!(
                        "reload made {v} active after {:.1} s; S3 refused to the functions",
                        t.elapsed().as_secs_f64()
                    ),
                    _ => format!("reload did not make {v} active within the phase"),
                });
            }
            6 => {
                // Named now, so it sorts after the version just promoted: reload must refuse
                // it for its content, not for its age.
                corrupt_version = version("corrupt");
                let dir = versioned_copy(swap, &scratch, &corrupt_version, true)?;
                upload_raw(&clients, &dir, model, &corrupt_version).await?;
                let item = wait_registry(&registry, model, phase_len, |it| {
                    it.rejected.iter().any(|r| r.version == corrupt_version)
                })
                .await;
                let rejection = item.and_then(|it| {
                    it.rejected
                        .iter()
                        .find(|r| r.version == corrupt_version)
                        .cloned()
                });
                note.push(match &rejection {
                    Some(r) => format!("reload rejected it ({})", r.code),
                    None => "reload did not reject it within the phase".into(),
                });
                corrupt_rejected = rejection.map(|r| r.code);
            }
            7 => {
                let v = version("worse");
                publish(&clients, &versioned_copy(worse, &scratch, &v, false)?).await?;
                let item = wait_registry(&registry, model, phase_len, |it| {
                    active_of(it) == v
                        || it.candidate.as_ref().is_some_and(|c| c.version == v)
                        || it.rejected.iter().any(|r| r.version == v)
                })
                .await;
                note.push(match item {
                    Some(it) if active_of(&it) == v => {
                        "reload made it active (its rollout: immediate)".to_string()
                    }
                    Some(it) if it.rejected.iter().any(|r| r.version == v) => {
                        let r = it.rejected.iter().find(|r| r.version == v).expect("found");
                        format!("reload rejected it ({})", r.code)
                    }
                    Some(it) if it.candidate.is_some() => "reload made it the canary".into(),
                    _ => "the registry did not change within the phase".into(),
                });
            }
            8 => {
                let victims: Vec<&Arc<LocalFunction>> = ["recommend", "valuation", "predict"]
                    .iter()
                    .filter_map(|n| stack.function(n))
                    .collect();
                let gap = phase_len / (victims.len() as u32 + 1);
                let mut killed = Vec::new();
                for f in victims {
                    tokio::time::sleep(gap).await;
                    if f.kill_mid_invocation(Duration::from_secs(2)).await {
                        kills += 1;
                        killed.push(f.name());
                    }
                }
                note.push(format!(
                    "SIGKILL mid-invocation: {}",
                    if killed.is_empty() {
                        "none (nothing in flight)".into()
                    } else {
                        killed.join(", ")
                    }
                ));
            }
            9 => {
                race = registry_race(&registry, args.race_writes).await?;
                note.push(format!(
                    "{} writers x {}: {} acknowledged, {} conflicts retried, revision {} -> {}",
                    race.writers,
                    args.race_writes,
                    race.acknowledged,
                    race.conflicts_retried,
                    race.revision_before,
                    race.revision_after
                ));
            }
            _ => {}
        }
        tokio::time::sleep(phase_len.saturating_sub(t.elapsed())).await;
        dynamodb.set(Fault::None);
        s3.set(Fault::None);
        seconds[i] = t.elapsed().as_secs_f64();
    }
    let phases = load.finish().await;
    let restarts: Vec<String> = stack
        .functions
        .iter()
        .filter(|f| f.restarts() > 0)
        .map(|f| format!("{} {}", f.name(), f.restarts()))
        .collect();
    if !restarts.is_empty() {
        notes[8].push(format!("restarted: {}", restarts.join(", ")));
    }
    Ok(Outcome {
        phases,
        seconds,
        notes,
        kills,
        race,
        corrupt_version,
        corrupt_rejected,
        total_secs: 0.0,
    })
}
