//! `warmstart predict recommender`: a Kaggle submission for the Santander `test_ver2.csv`,
//! ranked exactly as the recommend function serves the same profiles (the core's
//! `Customer::write_row`, `Bundle::score_into` and `top_k`), so an offline score on Kaggle
//! measures what production answers.

use crate::data::test_ver2;
use crate::train::bundle_out::block_on;
use crate::util::progress;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use warmstart_core::bundle::{Bundle, DirSource};
use warmstart_core::recommend::{
    check_recommender_bundle, top_k, Customer, NUM_FEATURES, NUM_PRODUCTS,
};

/// Products per submission line (the competition's MAP@7).
pub const SUBMISSION_K: usize = 7;

#[derive(Subcommand)]
pub enum Predict {
    /// Kaggle's submission for test_ver2.csv: `ncodpers,added_products`, one line per test
    /// customer with up to 7 product codes, most likely first, never one owned in the
    /// customer's latest --history month.
    ///
    /// Each test row is the profile the recommend function would see after `seed recommender
    /// --csv test_ver2.csv --history train_ver2.csv`: that month's demographics, the products
    /// of the customer's latest month in the history (none for a new customer). Unreadable
    /// test rows stop the run, named by file and line.
    Recommender(RecommenderArgs),
}

#[derive(Args)]
pub struct RecommenderArgs {
    /// A product-recommender bundle directory.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The Santander test_ver2.csv (the month to predict).
    #[arg(long, value_name = "TEST_VER2_CSV")]
    pub csv: PathBuf,
    /// The Santander train_ver2.csv: each customer's latest month gives the products owned.
    #[arg(long, value_name = "TRAIN_VER2_CSV")]
    pub history: PathBuf,
    /// Where the submission CSV goes.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(cmd: Predict) -> Result<()> {
    match cmd {
        Predict::Recommender(a) => recommender(&a),
    }
}

fn recommender(a: &RecommenderArgs) -> Result<()> {
    let bundle = block_on(Bundle::load(&DirSource::new(&a.bundle)))
        .with_context(|| format!("loading bundle {}", a.bundle.display()))?;
    check_recommender_bundle(&bundle)
        .with_context(|| format!("{} is not a servable recommender", a.bundle.display()))?;
    let report = test_ver2::parse(&a.csv, "parsing")
        .with_context(|| format!("reading {}", a.csv.display()))?;
    let rows = test_ver2::rows(&a.csv, report)?;
    let (history, parsed) = test_ver2::history(&a.history)?;
    println!(
        "history: {} rows of {}, {} customers; {}",
        parsed.rows,
        a.history.display(),
        history.len(),
        parsed.rejected_summary()
    );

    // Written beside the target and renamed at the end, so a failed run leaves no
    // half-written submission behind.
    let partial = a.out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "ncodpers,added_products")?;
    let pb = progress::bar(rows.records.len() as u64, "scoring", "customers");
    let mut new_customers = 0usize;
    for (i, rec) in rows.records.iter().enumerate() {
        let known = history.get(&rec.customer.to_string());
        new_customers += usize::from(known.is_none());
        let customer = test_ver2::profile(&rows, rec, known);
        let codes = ranked(&bundle, &customer)?;
        writeln!(out, "{},{}", rec.customer, codes.join(" "))?;
        if i.is_multiple_of(4096) {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    out.flush()?;
    drop(out);
    rename(&partial, &a.out)?;
    println!(
        "wrote {} ({} customers: {} with products from the history, {new_customers} new) \
         with {} {}",
        a.out.display(),
        rows.records.len(),
        rows.records.len() - new_customers,
        bundle.name(),
        bundle.version()
    );
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("moving {} to {}", from.display(), to.display()))
}

/// The product codes the recommend function answers for `customer` with k =
/// [`SUBMISSION_K`], most likely first.
pub fn ranked(bundle: &Bundle, customer: &Customer) -> Result<Vec<&'static str>> {
    let mut row = [0.0f64; NUM_FEATURES];
    customer.write_row(&mut row);
    let mut scores = [0.0f64; NUM_PRODUCTS];
    bundle
        .score_into(&row, &mut scores)
        .with_context(|| format!("scoring customer {}", customer.customer_id))?;
    Ok(
        top_k(&scores, customer.owned_indices(), SUBMISSION_K, false)
            .into_iter()
            .map(|r| r.product)
            .collect(),
    )
}
