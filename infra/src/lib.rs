//! The `warmstart` command-line tool: trains model bundles (recommender, fair multiple),
//! inspects and scores them, seeds the Features table, publishes bundles, values companies
//! offline and runs the local stack. A library so the pieces are unit-tested and reusable,
//! grouped by purpose:
//!
//! - [`cmd`]: one module per subcommand (its clap arguments and what it runs);
//! - [`train`]: LightGBM training of both models, their metrics, writing bundles;
//! - [`data`]: where training and seed data come from: the Santander CSV, the synthetic
//!   generator, TuShare exports, the monthly [`data::panel::Panel`] they produce, examples;
//!   [`data::santander::latest_profiles`], [`data::synthetic::latest_profiles`] and
//!   [`data::panel::Panel::latest_profiles`] turn monthly records into serving `Customer`s;
//! - [`local`]: `warmstart local up`, the stack behind `make run`;
//! - [`util`]: number formatting, progress bars, SDK configuration for the AWS commands.

pub mod cmd;
pub mod data;
pub mod local;
pub mod train;
pub mod util;
