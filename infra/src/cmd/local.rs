//! `warmstart local up`: the local stack (see [`crate::local`]).

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Local {
    /// Start everything and serve until Ctrl-C (see `warmstart local up --help`).
    Up(crate::local::UpArgs),
}

pub fn run(cmd: Local) -> Result<()> {
    match cmd {
        Local::Up(args) => crate::local::up(args),
    }
}
