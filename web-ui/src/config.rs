use serde::Deserialize;

/// Where the APIs are. Served as `config.json` next to the page, so one build runs against any
/// deployment: `scripts/run.sh` and the deploy workflow write it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base of the prediction API, e.g. `http://127.0.0.1:3000/api`.
    pub predict_api: String,
    /// Base of the feedback API, e.g. `http://127.0.0.1:8081/api`.
    pub feedback_api: String,
}

impl Config {
    pub fn parse(json: &str) -> Result<Self, String> {
        let mut config: Self =
            serde_json::from_str(json).map_err(|e| format!("config.json: {e}"))?;
        for base in [&mut config.predict_api, &mut config.feedback_api] {
            if !(base.starts_with("http://")
                || base.starts_with("https://")
                || base.starts_with('/'))
            {
                return Err(format!(
                    "config.json: {base:?} is not an http(s) URL or a path"
                ));
            }
            while base.ends_with('/') {
                base.pop();
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_dropped_and_bad_urls_refused() {
        let config =
            Config::parse(r#"{"predict_api": "http://a/api/", "feedback_api": "/api"}"#).unwrap();
        assert_eq!(config.predict_api, "http://a/api");
        assert!(Config::parse(r#"{"predict_api": "ftp://a", "feedback_api": "/api"}"#).is_err());
        assert!(Config::parse(r#"{"predict_api": "/api"}"#).is_err());
    }
}
