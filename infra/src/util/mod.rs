//! Small shared pieces: shortest round-trip number formatting ([`numfmt`]), progress bars
//! ([`progress`]) and SDK configuration for the commands that talk to AWS ([`cloud`]).

pub mod cloud;
pub mod numfmt;
pub mod progress;
