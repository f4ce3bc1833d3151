//! One module per `warmstart` subcommand: its clap arguments and the function that runs it.
//! `main.rs` only parses and dispatches.

pub mod examples;
pub mod import;
pub mod inspect;
pub mod local;
pub mod predict;
pub mod publish;
pub mod registry;
pub mod score;
pub mod seed;
pub mod train;
pub mod value;

use clap::Args;

/// The endpoint option of the commands that talk to AWS.
#[derive(Args)]
pub struct AwsArgs {
    /// Endpoint of every AWS service (an emulator, e.g. http://127.0.0.1:4566) [default: the
    /// SDK's, which honours AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB].
    /// Without credentials in the environment, a custom endpoint gets dummy ones.
    #[arg(long)]
    pub endpoint_url: Option<String>,
}
