//! `warmstart publish <bundle>`: upload a bundle to S3, model files first, manifest.json last.

use super::AwsArgs;
use crate::train::bundle_out::block_on;
use crate::util::cloud;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory (the one holding manifest.json).
    pub bundle: PathBuf,
    /// The model bucket.
    #[arg(long, env = "MODEL_BUCKET")]
    pub bucket: String,
    /// Key prefix of all models.
    #[arg(long, default_value = "models/")]
    pub prefix: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Publishes the bundle and prints the manifest's `s3://` URL.
pub fn run(args: &Args) -> Result<()> {
    let key = block_on(async {
        let conf = cloud::sdk_config(args.aws.endpoint_url.as_deref()).await;
        let s3 = warmstart_core::aws::s3_client(&conf);
        warmstart_core::aws::publish_bundle(&s3, &args.bucket, &args.prefix, &args.bundle).await
    })?;
    println!("s3://{}/{key}", args.bucket);
    Ok(())
}
