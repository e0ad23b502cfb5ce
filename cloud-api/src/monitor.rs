//! `GET /api/monitor`: what the monitor page shows, in one answer: feedback per model version in
//! time buckets, the newest rejections, the alerts, the outbox backlog and the radar's timeline.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use moodwing_protocol::{ExportedFeedback, MonitorSnapshot};
use serde::Deserialize;

use crate::ApiError;
use crate::exporter::now_ms;
use crate::feedback::Verdict;
use crate::operator::authorize;
use crate::routes::{AppState, blocking, in_range};

#[derive(Debug, Deserialize)]
pub struct MonitorQuery {
    /// How far back: 1 to 168 hours (default 24).
    hours: Option<u32>,
    /// Bucket width: 1 to 1440 minutes (default 5).
    bucket_minutes: Option<u32>,
    /// Newest rejections shown: 0 to 100 (default 20).
    recent: Option<usize>,
}

pub async fn monitor(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<MonitorQuery>, QueryRejection>,
) -> Result<Json<MonitorSnapshot>, ApiError> {
    authorize(&state, &headers)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(e.body_text()))?;
    let hours = in_range("hours", query.hours.unwrap_or(24), 1..=168)?;
    let bucket_minutes = in_range(
        "bucket_minutes",
        query.bucket_minutes.unwrap_or(5),
        1..=1440,
    )?;
    let recent = in_range("recent", query.recent.unwrap_or(20), 0..=100)?;
    let bucket_ms = i64::from(bucket_minutes) * 60_000;
    let now = now_ms();
    // Aligned on the buckets, so a refresh shows the same buckets with new counts.
    let since_ms = (now - i64::from(hours) * 3_600_000).div_euclid(bucket_ms) * bucket_ms;
    let (store, exporting) = (state.store.clone(), state.exporting);
    let snapshot = blocking(move || {
        Ok(MonitorSnapshot {
            generated_at_ms: now,
            since_ms,
            bucket_secs: u64::from(bucket_minutes) * 60,
            feedback: store.feedback_buckets(since_ms, bucket_ms)?,
            recent_rejections: store
                .newest(Verdict::Rejection, recent)?
                .into_iter()
                .map(|stored| ExportedFeedback {
                    row: stored.row,
                    received_at_ms: stored.received_at_ms,
                    feedback: stored.feedback,
                })
                .collect(),
            alerts: store.alerts_since(since_ms)?,
            unexported: store.unexported_count()?,
            exporting,
            radar: store.radar_since(since_ms)?,
        })
    })
    .await?;
    Ok(Json(snapshot))
}
