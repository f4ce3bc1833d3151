//! `warmstart registry …`: read and change the `ModelRegistry` table with the same code the
//! reload function runs for its admin payloads (`warmstart_core::registry` for the changes,
//! `warmstart_core::aws::apply_change` for the conditional writes), so the CLI and a direct
//! invocation of reload cannot disagree. The endpoint comes from the SDK's environment
//! (`AWS_ENDPOINT_URL` for an emulator).

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use warmstart_core::aws::{self, apply_change, ModelStore, RegistryTable, Updated};
use warmstart_core::registry::{Change, RegistryItem};

#[derive(Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
    /// The ModelRegistry table.
    #[arg(long, env = "REGISTRY_TABLE", global = true)]
    pub table: Option<String>,
    /// Who makes the change, recorded in history [default: $USER, else `cli`].
    #[arg(long, global = true)]
    pub actor: Option<String>,
    /// Why, recorded in history.
    #[arg(long, global = true)]
    pub reason: Option<String>,
    /// The model bucket: lets `rollback --to` re-validate a version history does not know.
    #[arg(long, env = "MODEL_BUCKET", global = true)]
    pub bucket: Option<String>,
    /// Key prefix of all models.
    #[arg(long, env = "MODEL_PREFIX", default_value = "models/", global = true)]
    pub models_prefix: String,
    /// Print the JSON answer (the reload admin action's shape) instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Every model: active version, candidate (weight), shadow, revision, last rejection.
    List,
    /// One model's whole registry item: active, candidate, shadow, history, rejections.
    Show { model: String },
    /// Make the candidate active (the old active goes into history).
    ///
    /// With --force: make --version active although the quality gate rejected it (re-validated
    /// from S3 with --bucket unless it is staged or in history); needs --reason, and history
    /// records it as `force_promote`.
    Promote {
        model: String,
        /// Refuse unless this is the candidate's (or the shadow's) version.
        #[arg(long)]
        version: Option<String>,
        /// Override the quality gate for --version, on purpose (needs --reason).
        #[arg(long, requires = "version")]
        force: bool,
    },
    /// Set how much worse than the active version's (in percent of each gate metric) a new
    /// version's holdout metrics may be before the quality gate rejects it (default 2).
    Tolerance {
        model: String,
        #[arg(value_parser = parse_tolerance)]
        percent: f64,
    },
    /// Set the share of entities (customers, companies) the candidate serves, 0..=100.
    ///
    /// 0 pauses the canary and keeps the candidate; clear-candidate removes it.
    Canary {
        model: String,
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        weight: u8,
    },
    /// Let the candidate advance itself: `canary:<w>,bake:<minutes>` (promoted after the bake),
    /// `linear:<step>%/<minutes>` (step % more every interval, then promoted), or `manual`.
    ///
    /// The reload function's every-minute tick takes each step while no candidate alarm is in
    /// ALARM; an alarm clears the candidate, or rolls a just-promoted version back inside its
    /// bake window.
    Rollout {
        model: String,
        /// `canary:<w>,bake:<minutes>`, `linear:<step>%/<minutes>` or `manual`.
        spec: String,
    },
    /// Remove the candidate: everybody gets the active version.
    ClearCandidate { model: String },
    /// Remove the shadow.
    ClearShadow { model: String },
    /// Make the previous active version active again, or `--to` a named version.
    ///
    /// Without --to: the version active before the current one, skipping versions already
    /// rolled back from. With --to: a version from history, or (with --bucket) one that
    /// passes validation from S3 again.
    Rollback {
        model: String,
        #[arg(long)]
        to: Option<String>,
    },
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a number of percent"))?;
    if (0.0..=warmstart_core::registry::gate::MAX_TOLERANCE_PCT).contains(&t) {
        Ok(t)
    } else {
        Err(format!("{t} is outside 0..=100"))
    }
}

fn actor(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

/// One line per model.
pub fn summary_line(i: &RegistryItem) -> String {
    let active = i.active.as_ref().map_or("-", |a| a.version.as_str());
    let candidate = i.candidate.as_ref().map_or("-".to_string(), |c| {
        format!("{} ({}%)", c.version, c.weight)
    });
    let shadow = i.shadow.as_ref().map_or("-", |s| s.version.as_str());
    let rejected = i.rejected.last().map_or("-".to_string(), |r| {
        format!("{} {} at {}", r.version, r.code, r.at)
    });
    let mut line = format!(
        "{:<22} rev {:<4} active {active}  candidate {candidate}  shadow {shadow}  last rejected {rejected}",
        i.model, i.revision
    );
    if let Some(r) = warmstart_core::registry::rollout::current_rollout(i) {
        line.push_str(&format!("  rollout {} (step {})", r.plan, r.stepped_at));
    }
    if let Some(b) = &i.bake {
        line.push_str(&format!("  bake {} until {}", b.version, b.until));
    }
    for a in &i.alarms {
        line.push_str(&format!("  ALARM {} since {}", a.name, a.since));
    }
    line
}

pub fn run(args: RegistryArgs) -> Result<()> {
    let table_name = args
        .table
        .clone()
        .ok_or_else(|| anyhow!("--table (or REGISTRY_TABLE) is required"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(execute(&args, &table_name))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    }
    Ok(())
}

async fn execute(args: &RegistryArgs, table_name: &str) -> Result<Value> {
    let conf = aws::sdk_config().await;
    let table = RegistryTable::new(aws::dynamodb_client(&conf), table_name);
    let (model, change) = match &args.command {
        RegistryCommand::List => {
            let items = table.list().await?;
            if !args.json {
                if items.is_empty() {
                    println!("{table_name} holds no models");
                }
                for i in &items {
                    println!("{}", summary_line(i));
                }
            }
            return Ok(json!({"ok": true, "action": "list", "models": items}));
        }
        RegistryCommand::Show { model } => {
            let item = table
                .get(model)
                .await?
                .ok_or_else(|| anyhow!("{table_name} has no item for `{model}`"))?;
            if !args.json {
                println!("{}", serde_json::to_string_pretty(&item)?);
            }
            return Ok(json!({"ok": true, "action": "show", "model": model, "item": item}));
        }
        RegistryCommand::Promote {
            model,
            version: Some(version),
            force: true,
        } => {
            if args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                bail!("promote --force needs --reason: overriding the quality gate is recorded");
            }
            (
                model,
                Change::ForcePromote {
                    version: version.clone(),
                    validated: None,
                },
            )
        }
        RegistryCommand::Promote { model, version, .. } => (
            model,
            Change::Promote {
                version: version.clone(),
            },
        ),
        RegistryCommand::Tolerance { model, percent } => (
            model,
            Change::SetTolerance {
                tolerance_pct: *percent,
            },
        ),
        RegistryCommand::Canary { model, weight } => (model, Change::SetCanary { weight: *weight }),
        RegistryCommand::Rollout { model, spec } => (
            model,
            Change::SetRollout {
                rollout: warmstart_core::registry::admin::parse_rollout(spec)
                    .map_err(|e| anyhow!("{}", e.message))?,
            },
        ),
        RegistryCommand::ClearCandidate { model } => (model, Change::ClearCandidate),
        RegistryCommand::ClearShadow { model } => (model, Change::ClearShadow),
        RegistryCommand::Rollback { model, to } => (
            model,
            Change::Rollback {
                to: to.clone(),
                validated: None,
            },
        ),
    };
    let store = args
        .bucket
        .as_ref()
        .map(|b| ModelStore::new(aws::s3_client(&conf), b, &args.models_prefix));
    let by = actor(args.actor.clone());
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| warmstart_core::registry::admin::NO_REASON.to_string());
    let action = change.name();
    let updated = apply_change(&table, store.as_ref(), model, &change, &by, &reason)
        .await
        .map_err(|e| anyhow!("{action} {model}: {e} [{}]", e.code()))?;
    Ok(match updated {
        Updated::Written {
            item,
            summary,
            attempts,
        } => {
            if !args.json {
                println!("{model}: {summary} (revision {}, by {by})", item.revision);
                println!("{}", summary_line(&item));
            }
            json!({"ok": true, "action": action, "model": model, "changed": true,
                   "summary": summary, "revision": item.revision, "attempts": attempts,
                   "item": item})
        }
        Updated::Unchanged { item, why } => {
            if !args.json {
                println!("{model}: unchanged: {why}");
            }
            if item.is_none() && !matches!(change, Change::ClearCandidate | Change::ClearShadow) {
                bail!("{table_name} has no item for `{model}`");
            }
            json!({"ok": true, "action": action, "model": model, "changed": false,
                   "summary": why, "revision": item.as_ref().map(|i| i.revision),
                   "item": item})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(clap::Subcommand)]
    enum Top {
        Registry(RegistryArgs),
    }

    fn parse(args: &[&str]) -> Result<RegistryArgs, clap::Error> {
        let mut all = vec!["warmstart", "registry"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.cmd {
            Top::Registry(a) => a,
        })
    }

    #[test]
    fn commands_parse_with_global_options_anywhere() {
        let a = parse(&[
            "rollback",
            "product-recommender",
            "--to",
            "v1",
            "--table",
            "T",
            "--actor",
            "bob",
            "--reason",
            "bad p99",
        ])
        .unwrap();
        assert_eq!(a.table.as_deref(), Some("T"));
        assert_eq!(a.actor.as_deref(), Some("bob"));
        assert!(matches!(
            a.command,
            RegistryCommand::Rollback { ref model, to: Some(ref v) } if model == "product-recommender" && v == "v1"
        ));
        let a = parse(&["--table", "T", "canary", "m", "10"]).unwrap();
        assert!(matches!(
            a.command,
            RegistryCommand::Canary { weight: 10, .. }
        ));
        assert!(parse(&["canary", "m", "101"]).is_err());
        assert!(parse(&["clear-candidate", "m"]).is_ok());
        assert!(parse(&["clear-shadow", "m"]).is_ok());
        assert!(matches!(
            parse(&["rollout", "m", "linear:10%/5"]).unwrap().command,
            RegistryCommand::Rollout { ref spec, .. } if spec == "linear:10%/5"
        ));
        assert!(parse(&["promote", "m", "--version", "v2"]).is_ok());
        let a = parse(&[
            "promote",
            "m",
            "--version",
            "v2",
            "--force",
            "--reason",
            "r",
        ])
        .unwrap();
        assert!(matches!(
            a.command,
            RegistryCommand::Promote { force: true, .. }
        ));
        // --force overrides one named version, never "whatever the candidate is".
        assert!(parse(&["promote", "m", "--force"]).is_err());
        let a = parse(&["tolerance", "m", "5%"]).unwrap();
        assert!(matches!(a.command, RegistryCommand::Tolerance { percent, .. } if percent == 5.0));
        assert!(parse(&["tolerance", "m", "101"]).is_err());
        assert!(parse(&["tolerance", "m", "nan"]).is_err());
        assert!(parse(&["show", "m"]).is_ok());
        assert!(parse(&["list", "--json"]).unwrap().json);
    }

    #[test]
    fn the_actor_defaults_to_the_user() {
        assert_eq!(actor(Some("alice".into())), "alice");
        assert!(!actor(None).is_empty());
    }
}
