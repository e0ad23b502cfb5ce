//! The radar's windows as a [`RadarReport`] for the cloud API, which keeps them for the monitor
//! page and sends each new suspicion to Application Insights as `bad_buzz_suspected`.

use std::time::Duration;

use moodwing_protocol::{NegativeTweet, RadarReceipt, RadarReport, RadarWindow};

use crate::{Rule, Suspicion, Window};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("sending the report to {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the cloud API refused the report ({status}): {body}")]
    Refused { status: u16, body: String },
}

/// Every window, with the suspicion (its z-scores, the rule, the most negative tweets) on the
/// flagged ones.
pub fn report(
    source: &str,
    window_secs: u64,
    windows: &[Window],
    suspicions: &[Suspicion],
    rule: &Rule,
) -> RadarReport {
    let windows = windows
        .iter()
        .enumerate()
        .map(|(index, window)| RadarWindow {
            start_ms: window.start_ms,
            tweets: window.volume,
            negatives: window.negatives,
            suspicion: suspicions.iter().find(|s| s.window == index).map(|s| {
                moodwing_protocol::Suspicion {
                    z_volume: s.z_volume,
                    z_share: s.z_share,
                    rule: rule.to_string(),
                    most_negative: window
                        .most_negative
                        .iter()
                        .map(|(score, id, text)| NegativeTweet {
                            id: id.clone(),
                            text: text.clone(),
                            score: f64::from(*score),
                        })
                        .collect(),
                }
            }),
        })
        .collect();
    RadarReport {
        source: source.to_owned(),
        window_secs,
        windows,
    }
}

/// `POST {api}/radar/reports` with the operator token; `api` is the cloud API's base, e.g.
/// `http://127.0.0.1:8081/api`.
pub fn send(report: &RadarReport, api: &str, token: &str) -> Result<RadarReceipt, ReportError> {
    // reqwest is built without a crypto provider (the workspace uses ring); twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("{}/radar/reports", api.trim_end_matches('/'));
    let http = |source| ReportError::Http {
        url: url.clone(),
        source,
    };
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(http)?
        .post(&url)
        .bearer_auth(token)
        .json(report)
        .send()
        .map_err(http)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ReportError::Refused {
            status: status.as_u16(),
            body: response.text().unwrap_or_default(),
        });
    }
    response.json().map_err(http)
}
