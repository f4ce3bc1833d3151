//! Running the functions on one machine, without AWS and without Docker (feature `local`):
//!
//! - [`RuntimeApi`]: a Lambda Runtime API emulator on 127.0.0.1 (`/runtime/invocation/next`,
//!   `.../response`, `.../error`, `/runtime/init/error`), so a function binary runs through
//!   its real `lambda_runtime` loop;
//! - [`FunctionProcess`]: a function binary spawned against one, with the Lambda environment
//!   variables, its output collected and/or echoed with a prefix;
//! - [`aws`]: SDK configuration with the emulators' dummy credentials, and table creation.
//!
//! Used by the end-to-end tests (through the `warmstart-tests` harness) and by
//! `warmstart local up`, the local stack behind `make run`.

pub mod aws;
mod process;
mod runtime_api;

pub use process::{FunctionProcess, SpawnOptions};
pub use runtime_api::{Outcome, RuntimeApi};
