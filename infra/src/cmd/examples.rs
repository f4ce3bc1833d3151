//! `warmstart examples merchant`: synthetic training CSVs for `warmstart train generic`.

use crate::data::merchant;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Examples {
    /// Merchant analytics: cashflow.csv (regression target next_month_net_cash_flow) and
    /// compliance.csv (binary target compliance_risk, flagged/clear).
    ///
    /// One row per merchant and month: month, category and region (strings), account age,
    /// transactions, average ticket, revenue, refund rate, chargebacks, KYC status; a few
    /// cells missing. Deterministic by --seed. Then, e.g.:
    /// warmstart train generic --csv <out>/cashflow.csv --target next_month_net_cash_flow
    /// --objective regression --drop merchant_id --out /tmp/cashflow
    Merchant(MerchantArgs),
}

#[derive(Args)]
pub struct MerchantArgs {
    /// Directory for the two CSV files (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// Merchant-months (rows) per file.
    #[arg(long, default_value_t = 5000)]
    pub rows: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(cmd: Examples) -> Result<()> {
    match cmd {
        Examples::Merchant(a) => {
            let rows = merchant::generate(a.rows, a.seed);
            let (cash, comp) = merchant::write(&a.out, &rows)?;
            let flagged = rows.iter().filter(|m| m.compliance_risk).count();
            println!(
                "wrote {} and {} ({} merchant-months, seed {}, {flagged} flagged)",
                cash.display(),
                comp.display(),
                rows.len(),
                a.seed
            );
        }
    }
    Ok(())
}
