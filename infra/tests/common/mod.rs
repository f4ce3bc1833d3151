//! Running the built `warmstart` binary from the integration tests.

#![allow(dead_code)] // each test file uses a different subset

pub mod browser;
pub mod http;
pub mod stack;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `warmstart args…` with no endpoint overrides from the environment.
pub fn warmstart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .output()
        .expect("runs warmstart")
}

/// Runs a command that must succeed; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = warmstart(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "warmstart {} failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a command that must fail cleanly (non-zero, a message, no panic); returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = warmstart(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "warmstart {} succeeded",
        args.join(" ")
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
