use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderName;
use moodwing_signature::SigningKey;

use crate::alert::AlertRule;
use crate::feedback::SignatureCheck;
use crate::limits::LimitConfig;
use crate::store::Location;

/// The service's settings; [`Config::from_env`] reads them, with defaults for a local run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MOODWING_CLOUD_API_ADDR`, default `127.0.0.1:8081`.
    pub addr: SocketAddr,
    /// `MOODWING_DATABASE_URL` (`postgres://...`, production: several replicas share it, each
    /// holding the outbox rows it exports for `MOODWING_OUTBOX_LEASE_SECS`, default 120); without
    /// it, SQLite at `MOODWING_FEEDBACK_DB`, default `moodwing-feedback.sqlite` in the working
    /// directory (one replica).
    pub store: Location,
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
    /// `MOODWING_SIGNING_KEY` (the edge service's `signing_key`) and, during a rotation,
    /// `MOODWING_SIGNING_KEY_PREVIOUS`; `MOODWING_PREDICTION_MAX_AGE_SECS` (86400). Without a key the
    /// service does not start, unless `MOODWING_ALLOW_UNSIGNED=true` (local development only).
    pub signatures: SignatureCheck,
    /// `MOODWING_RATE_PER_CLIENT_PER_MINUTE` (30) with `MOODWING_RATE_CLIENT_BURST` (10),
    /// `MOODWING_RATE_OVERALL_PER_SECOND` (200) with `MOODWING_RATE_OVERALL_BURST` (400), and
    /// `MOODWING_CLIENT_IP_HEADER` (none: the peer address is the client's).
    pub limits: LimitConfig,
    /// `MOODWING_OPERATOR_TOKEN` (at least 32 characters): the bearer token of
    /// `GET /api/feedback/export`; without it the export is disabled.
    pub operator_token: Option<String>,
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
        let key = |name: &'static str| -> Result<Option<SigningKey>, ConfigError> {
            get(name)
                .map(|secret| SigningKey::new(&secret))
                .transpose()
                .map_err(|e| ConfigError {
                    name,
                    reason: e.to_string(),
                })
        };
        let keys: Vec<SigningKey> = [
            key("MOODWING_SIGNING_KEY")?,
            key("MOODWING_SIGNING_KEY_PREVIOUS")?,
        ]
        .into_iter()
        .flatten()
        .collect();
        let allow_unsigned = match get("MOODWING_ALLOW_UNSIGNED").as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    name: "MOODWING_ALLOW_UNSIGNED",
                    reason: format!("{other:?} is neither true nor false"),
                });
            }
        };
        if keys.is_empty() && !allow_unsigned {
            return Err(ConfigError {
                name: "MOODWING_SIGNING_KEY",
                reason: "not set: without the edge service's signing key no feedback can be \
                         checked (set MOODWING_ALLOW_UNSIGNED=true to accept unsigned feedback, \
                         for local development only)"
                    .into(),
            });
        }
        let rate = |name: &'static str, default: &str| -> Result<u32, ConfigError> {
            u32::try_from(parse(name, default)?).map_err(|_| ConfigError {
                name,
                reason: "is too large".into(),
            })
        };
        let client_ip_header = get("MOODWING_CLIENT_IP_HEADER")
            .map(|name| {
                HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| ConfigError {
                    name: "MOODWING_CLIENT_IP_HEADER",
                    reason: format!("{name:?} is not a header name"),
                })
            })
            .transpose()?;
        let operator_token = get("MOODWING_OPERATOR_TOKEN").map(|t| t.trim().to_owned());
        if operator_token.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(ConfigError {
                name: "MOODWING_OPERATOR_TOKEN",
                reason: "must have at least 32 characters".into(),
            });
        }
        Ok(Self {
            operator_token,
            addr: addr.parse().map_err(|_| ConfigError {
                name: "MOODWING_CLOUD_API_ADDR",
                reason: format!("{addr:?} is not host:port"),
            })?,
            store: match get("MOODWING_DATABASE_URL") {
                Some(url) => Location::Postgres {
                    url,
                    lease: Duration::from_secs(parse("MOODWING_OUTBOX_LEASE_SECS", "120")?),
                },
                None => Location::Sqlite(
                    get("MOODWING_FEEDBACK_DB")
                        .unwrap_or_else(|| "moodwing-feedback.sqlite".into())
                        .into(),
                ),
            },
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
            signatures: SignatureCheck {
                keys,
                max_age: Duration::from_secs(parse("MOODWING_PREDICTION_MAX_AGE_SECS", "86400")?),
                allow_unsigned,
            },
            limits: LimitConfig {
                per_client_per_minute: rate("MOODWING_RATE_PER_CLIENT_PER_MINUTE", "30")?,
                client_burst: rate("MOODWING_RATE_CLIENT_BURST", "10")?,
                overall_per_second: rate("MOODWING_RATE_OVERALL_PER_SECOND", "200")?,
                overall_burst: rate("MOODWING_RATE_OVERALL_BURST", "400")?,
                client_ip_header,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a signing key of the right length for tests";

    #[test]
    fn defaults_need_only_a_signing_key() {
        let config =
            Config::from_lookup(|name| (name == "MOODWING_SIGNING_KEY").then(|| KEY.to_owned()))
                .unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8081");
        assert_eq!(config.connection_string, None);
        assert_eq!(config.alert.threshold, 3);
        assert_eq!(config.alert.window, Duration::from_secs(300));
        assert_eq!(config.allowed_origins.len(), 2);
        assert_eq!(config.signatures.keys.len(), 1);
        assert!(!config.signatures.allow_unsigned);
        assert_eq!(config.signatures.max_age, Duration::from_secs(86_400));
        assert_eq!(config.limits.client_ip_header, None);
    }

    #[test]
    fn without_a_key_it_refuses_to_start_unless_told_it_is_local_development() {
        let error = Config::from_lookup(|_| None).unwrap_err();
        assert!(
            error.to_string().starts_with("MOODWING_SIGNING_KEY"),
            "{error}"
        );
        let local = Config::from_lookup(|name| {
            (name == "MOODWING_ALLOW_UNSIGNED").then(|| "true".to_owned())
        })
        .unwrap();
        assert!(local.signatures.allow_unsigned && local.signatures.keys.is_empty());
        let short = Config::from_lookup(|name| {
            (name == "MOODWING_SIGNING_KEY").then(|| "short".to_owned())
        })
        .unwrap_err();
        assert!(short.to_string().contains("at least 32 bytes"), "{short}");
        let short_token = Config::from_lookup(|name| match name {
            "MOODWING_SIGNING_KEY" => Some(KEY.to_owned()),
            "MOODWING_OPERATOR_TOKEN" => Some("too short".to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            short_token
                .to_string()
                .starts_with("MOODWING_OPERATOR_TOKEN"),
            "{short_token}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let error = Config::from_lookup(|name| match name {
            "MOODWING_ALERT_THRESHOLD" => Some("three".to_owned()),
            "MOODWING_SIGNING_KEY" => Some(KEY.to_owned()),
            _ => None,
        })
        .unwrap_err();
        assert!(
            error.to_string().starts_with("MOODWING_ALERT_THRESHOLD"),
            "{error}"
        );
    }
}
