//! SDK configuration for the commands that talk to AWS (`seed`, `publish`): the standard
//! environment (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL[_S3|_DYNAMODB]`), or an explicit
//! `--endpoint-url`. A loopback endpoint is a local emulator: it gets the local stack's
//! credentials (`test` / `test`, which `warmstart local up` checks signatures against), and
//! `us-east-1` when no region is configured.

use warmstart_core::aws::sdk::config::{self as aws_config, SdkConfig};
use warmstart_core::aws::sdk::s3::config::{Credentials, Region};

/// Region used when none is configured and the endpoint is local.
pub const LOCAL_REGION: &str = "us-east-1";

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// SDK configuration from the environment, with `endpoint` (when given) for every service.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let Some(endpoint) = endpoint else {
        return warmstart_core::aws::sdk_config().await;
    };
    // An explicit endpoint needs no region lookup beyond the environment (no IMDS probe).
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| LOCAL_REGION.to_string());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(warmstart_core::aws::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(region));
    if is_loopback(endpoint) || (!env_set("AWS_ACCESS_KEY_ID") && !env_set("AWS_PROFILE")) {
        loader = loader.credentials_provider(local_credentials());
    }
    loader.load().await
}

/// Whether `endpoint` (a URL) points at this machine.
pub fn is_loopback(endpoint: &str) -> bool {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// The credentials the local stack's emulators accept (`test` / `test`).
pub fn local_credentials() -> Credentials {
    use warmstart_devkit::aws::{ACCESS_KEY, SECRET_KEY};
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "warmstart-local")
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_endpoints() {
        assert!(super::is_loopback("http://127.0.0.1:4566"));
        assert!(super::is_loopback("http://localhost:4567/"));
        assert!(!super::is_loopback("https://s3.eu-west-1.amazonaws.com"));
        assert!(!super::is_loopback("http://10.0.0.5:9000"));
    }
}
