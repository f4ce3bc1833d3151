//! Warmstart core: everything the Lambda functions and the CLI share. Handlers stay thin;
//! the logic lives here where it is unit-tested without AWS.

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
pub mod bundle;
pub mod fairness;
pub mod http;
pub mod lambda;
pub mod model;
pub mod predict;
pub mod recommend;
pub mod registry;
#[cfg(feature = "aws")]
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod valuation;

pub use bundle::{Bundle, BundleError, BundleSource, DirSource, Manifest};
pub use model::{Model, ModelError};
