//! Development plumbing for running the functions on one machine, without AWS and without
//! Docker. A crate of its own so that no function binary (nor the production core) links an
//! emulator; the end-to-end tests (through `warmstart-tests`) and `warmstart local up` (the
//! stack behind `make run`) share it.
//!
//! - [`RuntimeApi`]: a Lambda Runtime API emulator on 127.0.0.1 (`/runtime/invocation/next`,
//!   `.../response`, `.../error`, `/runtime/init/error`), so a function binary runs through
//!   its real `lambda_runtime` loop;
//! - [`FunctionProcess`]: a function binary spawned against one, with the Lambda environment
//!   variables, its output collected and/or echoed with a prefix;
//! - [`stores`]: S3 (s3s-fs, a directory) and DynamoDB (dynoxide, SQLite) served in-process on
//!   127.0.0.1, persistent for the local stack or ephemeral for a test;
//! - [`aws`]: SDK configuration with the emulators' dummy credentials, clients, and table
//!   creation;
//! - [`http`]: the HTTP/1.1 accept loop the emulators and the local router share;
//! - [`fault_proxy`]: a TCP proxy that stalls or refuses on command (`warmstart local chaos`);
//! - [`bundles`]: the recommender manifest the trainer and the tests' synthetic bundles share;
//! - [`registry`]: registry items as the registry stress test and the chaos race seed them.

pub mod aws;
pub mod bundles;
pub mod fault_proxy;
pub mod http;
mod process;
pub mod registry;
mod runtime_api;
pub mod stores;

pub use fault_proxy::{Fault, FaultProxy};
pub use process::{FunctionProcess, SpawnOptions};
pub use runtime_api::{Outcome, RuntimeApi};
pub use stores::Stores;
