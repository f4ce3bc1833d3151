//! What the stack's stores are filled with before the functions start: the feature items
//! (seeded once, kept across restarts) and the published bundles (made active when the
//! registry has nothing for their model).

use super::setup::{self, BUCKET, FEATURES_TABLE, MODELS_PREFIX};
use super::{say, UpArgs, SAMPLE_COMPANY, SAMPLE_CUSTOMERS};
use crate::data::seed;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;
use warmstart_core::aws::valuation_store::DynamoCompanyStore;
use warmstart_core::aws::DynamoFeatureStore;
use warmstart_core::bundle::MANIFEST_FILE;

pub(super) async fn seed_features(args: &UpArgs, clients: &setup::Clients) -> Result<()> {
    let db = &clients.dynamodb;
    let customer_key = format!("customer#{}", SAMPLE_CUSTOMERS[0]);
    let company_key = format!("company#{SAMPLE_COMPANY}");
    if !args.reseed
        && setup::has_item(db, FEATURES_TABLE, &customer_key).await?
        && setup::has_item(db, FEATURES_TABLE, &company_key).await?
    {
        say(format!(
            "features: already in {} (kept in {}; --reseed writes them again)",
            FEATURES_TABLE,
            args.data_dir.display()
        ));
        return Ok(());
    }
    let t = Instant::now();
    let (mut customers, _) = seed::customers(&seed::CustomerSource::Synthetic {
        customers: args.customers,
        months: 6,
        seed: args.seed,
    })?;
    // The sample events and the README ask for these ids: give them to the first customers.
    for (c, id) in customers.iter_mut().zip(SAMPLE_CUSTOMERS) {
        c.customer_id = id.to_string();
    }
    let store = DynamoFeatureStore::new(db.clone(), FEATURES_TABLE);
    let report = seed::write_customers(&store, &customers).await?;
    let companies = seed::companies(args.companies, args.seed, &seed::today());
    let cstore = DynamoCompanyStore::new(db.clone(), FEATURES_TABLE);
    let creport = seed::write_companies(&cstore, &companies).await?;
    say(format!(
        "features: {} customers, {} companies, {} industries written in {:.1} s",
        report.written,
        creport.companies,
        creport.industries,
        t.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Publishes a bundle and makes it active when the registry has nothing for its model.
pub(super) async fn publish(clients: &setup::Clients, dir: &Path) -> Result<(String, String)> {
    let key = warmstart_core::aws::publish_bundle(&clients.s3, BUCKET, MODELS_PREFIX, dir)
        .await
        .with_context(|| format!("publishing {}", dir.display()))?;
    let manifest = crate::train::bundle_out::read_manifest(dir)?;
    let prefix = key.trim_end_matches(MANIFEST_FILE).to_string();
    let wrote = setup::activate_if_unset(
        &clients.dynamodb,
        &manifest.name,
        &manifest.version,
        &prefix,
    )
    .await?;
    say(format!(
        "models: s3://{BUCKET}/{key}{}",
        if wrote { " (now active)" } else { "" }
    ));
    Ok((manifest.name, manifest.version))
}
