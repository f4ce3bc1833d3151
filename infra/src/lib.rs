//! The `warmstart` command-line tool: trains model bundles (recommender, fair multiple),
//! inspects and scores them, seeds the Features table ([`seed`]), publishes bundles, values
//! companies offline ([`value`]) and runs the local stack ([`local`]). A library so the pieces
//! are unit-tested and reusable: [`santander::latest_profiles`], [`synthetic::latest_profiles`]
//! and [`panel::Panel::latest_profiles`] turn the monthly records into serving `Customer`s.

pub mod bundle_out;
pub mod cloud;
pub mod examples;
pub mod fair_multiple;
pub mod inspect;
pub mod lgbm;
pub mod local;
pub mod metrics;
pub mod numfmt;
pub mod panel;
pub mod progress;
pub mod recommender;
pub mod santander;
pub mod score;
pub mod seed;
pub mod synthetic;
pub mod tushare;
pub mod value;
