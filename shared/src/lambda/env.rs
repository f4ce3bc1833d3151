//! Function configuration from environment variables. Empty or blank values count as unset,
//! as SAM passes an empty string for an optional parameter left blank.

use std::time::Duration;

/// The trimmed value of `name`, `None` when unset or blank.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The value of `name`, or `"<name> is not set"`.
pub fn required(name: &str) -> Result<String, String> {
    var(name).ok_or_else(|| format!("{name} is not set"))
}

/// A whole number ≥ `min`; `default` when unset.
pub fn number(name: &str, default: u64, min: u64) -> Result<u64, String> {
    parse_number(name, var(name), default, min)
}

/// Milliseconds, at least 1; `default` when unset.
pub fn millis(name: &str, default_ms: u64) -> Result<Duration, String> {
    number(name, default_ms, 1).map(Duration::from_millis)
}

/// Seconds, 0 allowed; `default` when unset.
pub fn seconds(name: &str, default_secs: u64) -> Result<Duration, String> {
    number(name, default_secs, 0).map(Duration::from_secs)
}

fn parse_number(name: &str, value: Option<String>, default: u64, min: u64) -> Result<u64, String> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name} must be a whole number ≥ {min}, got `{v}`")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_default_parse_and_name_the_variable_when_wrong() {
        assert_eq!(parse_number("X_MS", None, 150, 1), Ok(150));
        assert_eq!(parse_number("X_MS", Some("20".into()), 150, 1), Ok(20));
        assert_eq!(parse_number("X_SECS", Some("0".into()), 30, 0), Ok(0));
        for bad in ["0", "-1", "1.5", "ten", "99999999999999999999"] {
            let err = parse_number("X_MS", Some(bad.into()), 150, 1).unwrap_err();
            assert_eq!(err, format!("X_MS must be a whole number ≥ 1, got `{bad}`"));
        }
    }

    #[test]
    fn unset_names_are_reported() {
        let name = "WARMSTART_TEST_SURELY_UNSET_VARIABLE";
        assert_eq!(var(name), None);
        assert_eq!(required(name), Err(format!("{name} is not set")));
        assert_eq!(millis(name, 200), Ok(Duration::from_millis(200)));
        assert_eq!(seconds(name, 30), Ok(Duration::from_secs(30)));
    }
}
