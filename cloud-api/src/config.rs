use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::alert::AlertRule;

/// The service's settings; [`Config::from_env`] reads them, with defaults for a local run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MOODWING_CLOUD_API_ADDR`, default `127.0.0.1:8081`.
    pub addr: SocketAddr,
    /// `MOODWING_FEEDBACK_DB`, default `moodwing-feedback.sqlite` in the working directory.
    pub database: PathBuf,
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING`; without it feedback is stored and logged only.
    pub connection_string: Option<String>,
    /// `MOODWING_INGESTION_CA`: a PEM certificate to trust for the ingestion endpoint, beside the
    /// system's (a local receiver, a proxy).
    pub ingestion_ca: Option<PathBuf>,
    /// `MOODWING_ALLOWED_ORIGINS`, comma-separated; default the local web UI's origins.
    pub allowed_origins: Vec<String>,
    /// `MOODWING_ALERT_THRESHOLD` rejections within `MOODWING_ALERT_WINDOW_SECS` (3 in 300).
    pub alert: AlertRule,
    /// `MOODWING_EXPORT_INTERVAL_MS`: how often the outbox is looked at (default 1000).
    pub export_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    reason: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same, from any lookup (tests pass a map instead of touching the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let parse = |name: &'static str, default: &str| -> Result<u64, ConfigError> {
            let value = get(name).unwrap_or_else(|| default.to_owned());
            value.trim().parse().map_err(|_| ConfigError {
                name,
                reason: format!("{value:?} is not a whole number"),
            })
        };
        let addr = get("MOODWING_CLOUD_API_ADDR").unwrap_or_else(|| "127.0.0.1:8081".into());
        Ok(Self {
            addr: addr.parse().map_err(|_| ConfigError {
                name: "MOODWING_CLOUD_API_ADDR",
                reason: format!("{addr:?} is not host:port"),
            })?,
            database: get("MOODWING_FEEDBACK_DB")
                .unwrap_or_else(|| "moodwing-feedback.sqlite".into())
                .into(),
            connection_string: get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            ingestion_ca: get("MOODWING_INGESTION_CA").map(PathBuf::from),
            allowed_origins: get("MOODWING_ALLOWED_ORIGINS")
                .unwrap_or_else(|| "http://127.0.0.1:8080,http://localhost:8080".into())
                .split(',')
                .map(|origin| origin.trim().to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            alert: AlertRule {
                threshold: parse("MOODWING_ALERT_THRESHOLD", "3")?,
                window: Duration::from_secs(parse("MOODWING_ALERT_WINDOW_SECS", "300")?),
            },
            export_interval: Duration::from_millis(parse("MOODWING_EXPORT_INTERVAL_MS", "1000")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_environment() {
        let config = Config::from_lookup(|_| None).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8081");
        assert_eq!(config.connection_string, None);
        assert_eq!(config.alert.threshold, 3);
        assert_eq!(config.alert.window, Duration::from_secs(300));
        assert_eq!(config.allowed_origins.len(), 2);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = Config::from_lookup(|name| {
            (name == "MOODWING_ALERT_THRESHOLD").then(|| "three".to_owned())
        })
        .unwrap_err();
        assert!(
            error.to_string().starts_with("MOODWING_ALERT_THRESHOLD"),
            "{error}"
        );
    }
}
