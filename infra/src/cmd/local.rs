//! `warmstart local up`: the local stack (see [`crate::local`]); `warmstart local chaos`: it
//! under load and faults (see [`crate::local::chaos`]).

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Local {
    /// Start everything and serve until Ctrl-C (see `warmstart local up --help`).
    Up(crate::local::UpArgs),
    /// The local stack under load while S3/DynamoDB fail, bundles go bad and functions die;
    /// prints a table per phase and fails on any 5xx or lost registry write (`make chaos`).
    Chaos(crate::local::chaos::ChaosArgs),
}

pub fn run(cmd: Local) -> Result<()> {
    match cmd {
        Local::Up(args) => crate::local::up(args),
        Local::Chaos(args) => crate::local::chaos::run(args),
    }
}
