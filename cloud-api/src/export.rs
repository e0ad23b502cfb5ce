//! `GET /api/feedback/export`: the stored feedback as NDJSON, for the improvement loop
//! (`python -m moodwing_training.improve`). Operators only: a bearer token from the configuration.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use moodwing_protocol::ExportedFeedback;
use serde::Deserialize;

use crate::ApiError;
use crate::operator::authorize;
use crate::routes::{AppState, blocking, in_range};

/// Most feedbacks in one answer; the next page starts after the `x-last-row` of this one.
pub const MAX_EXPORT: usize = 10_000;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// Received at or after: RFC 3339, or Unix milliseconds.
    since: Option<String>,
    /// Stored after this row (the previous page's `x-last-row`).
    after_row: Option<i64>,
    limit: Option<usize>,
}

pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let since_ms = match query.since.as_deref() {
        None => i64::MIN,
        Some(since) => parse_since(since).ok_or(ApiError::Invalid {
            field: "since",
            reason: "must be an RFC 3339 time or Unix milliseconds".into(),
        })?,
    };
    let limit = in_range("limit", query.limit.unwrap_or(MAX_EXPORT), 1..=MAX_EXPORT)?;
    let store = state.store.clone();
    let after_row = query.after_row.unwrap_or(0);
    let rows = blocking(move || store.export(since_ms, after_row, limit)).await?;
    let mut body = String::new();
    for stored in &rows {
        let line = ExportedFeedback {
            row: stored.row,
            received_at_ms: stored.received_at_ms,
            feedback: stored.feedback.clone(),
        };
        body.push_str(&serde_json::to_string(&line).map_err(|e| ApiError::BadJson(e.to_string()))?);
        body.push('\n');
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Some(last) = rows.last() {
        headers.insert("x-last-row", HeaderValue::from(last.row));
    }
    Ok(response)
}

fn parse_since(since: &str) -> Option<i64> {
    since.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(since)
            .ok()
            .map(|time| time.timestamp_millis())
    })
}
