//! Where training and seed data come from: the Kaggle Santander CSV ([`santander`]) and the
//! synthetic generator ([`synthetic`]), both into a monthly [`panel::Panel`], the training
//! [`examples`] built from it, TuShare exports ([`tushare`]), and the Features-table items
//! `warmstart seed` writes ([`seed`]).

pub mod csv_table;
pub mod examples;
pub mod merchant;
pub mod panel;
pub mod santander;
pub mod seed;
pub mod synthetic;
pub mod test_ver2;
pub mod tushare;
