//! `POST /api/radar/reports`: the windows `moodwing radar` counted over a stream of tweets. They
//! are kept for the monitor page's timeline; each new bad-buzz suspicion goes through the outbox
//! to Application Insights as a `bad_buzz_suspected` event, which has its own alert rule.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use moodwing_protocol::{RadarReceipt, RadarReport};

use crate::ApiError;
use crate::exporter::now_ms;
use crate::operator::authorize;
use crate::routes::{AppState, blocking, json_body};

/// Largest report: a week of 1-minute windows with their counts fits, or fewer with tweets.
pub const MAX_REPORT_BYTES: usize = 4 * 1024 * 1024;
const MAX_WINDOWS: usize = 10_080;
const MAX_TWEETS_SHOWN: usize = 20;
const MAX_TEXT_CHARS: usize = 1_000;

pub async fn post_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let report: RadarReport = json_body(&headers, body, MAX_REPORT_BYTES).await?;
    validate(&report)?;
    let store = state.store.clone();
    let stored = report.clone();
    let new_suspicions = blocking(move || store.record_radar(&stored, now_ms())).await?;
    for window in report.windows.iter().filter(|w| w.suspicion.is_some()) {
        tracing::warn!(
            source = report.source,
            start_ms = window.start_ms,
            negatives = window.negatives,
            tweets = window.tweets,
            "bad buzz suspected"
        );
    }
    if new_suspicions > 0 {
        state.new_feedback.notify_one();
    }
    let receipt = RadarReceipt {
        windows: report.windows.len() as u64,
        new_suspicions,
    };
    Ok((StatusCode::CREATED, Json(receipt)).into_response())
}

fn validate(report: &RadarReport) -> Result<(), ApiError> {
    let invalid = |field, reason: &str| ApiError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    let source_ok = (1..=100).contains(&report.source.len())
        && report
            .source
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !source_ok {
        return Err(invalid(
            "source",
            "must be 1 to 100 letters, digits, '-', '_' or '.'",
        ));
    }
    if !(60..=86_400).contains(&report.window_secs) {
        return Err(invalid("window_secs", "must be from 60 to 86400"));
    }
    if report.windows.is_empty() || report.windows.len() > MAX_WINDOWS {
        return Err(invalid("windows", "must hold 1 to 10080 windows"));
    }
    for window in &report.windows {
        if window.negatives > window.tweets || window.start_ms < 0 {
            return Err(invalid(
                "windows",
                "a window has more negatives than tweets or starts before 1970",
            ));
        }
        if let Some(suspicion) = &window.suspicion {
            let finite = suspicion.z_volume.is_finite() && suspicion.z_share.is_finite();
            let tweets_ok = suspicion.most_negative.len() <= MAX_TWEETS_SHOWN
                && suspicion.most_negative.iter().all(|tweet| {
                    tweet.text.chars().count() <= MAX_TEXT_CHARS
                        && tweet.id.len() <= 100
                        && (0.0..=1.0).contains(&tweet.score)
                });
            if !finite || !tweets_ok || suspicion.rule.len() > 200 {
                return Err(invalid(
                    "suspicion",
                    "z-scores must be finite, at most 20 tweets of 1000 characters with scores in [0, 1]",
                ));
            }
        }
    }
    Ok(())
}
