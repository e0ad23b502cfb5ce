use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::alert::AlertRule;
use crate::exporter::now_ms;
use crate::feedback::{Feedback, Verdict};
use crate::store::StoreError;
use crate::{ApiError, Store};

/// Largest feedback body accepted: a maximal tweet and comment, escaped, fit well inside.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub alert: AlertRule,
    /// Wakes the outbox exporter when a feedback was stored.
    pub new_feedback: Arc<Notify>,
    /// Whether an App Insights connection string was given.
    pub exporting: bool,
}

pub fn router(state: AppState, allowed_origins: &[String]) -> Router {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE]);
    Router::new()
        .route("/api/feedback", post(post_feedback))
        .route("/api/feedback/stats", get(stats))
        .route("/api/health", get(health))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors)
        .with_state(state)
}

/// Store a validation or a rejection; the 2xx is sent only once it is committed to disk.
async fn post_feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        })?;
    let feedback: Feedback =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    feedback.validate()?;

    let received_at_ms = now_ms();
    let (created, alert) = {
        let (store, rule, feedback) = (state.store.clone(), state.alert, feedback.clone());
        blocking(move || {
            let created = store.insert(&feedback, received_at_ms)?;
            let alert = match (created, feedback.verdict) {
                (true, Verdict::Rejection) => rule.evaluate(&store, received_at_ms)?,
                _ => None,
            };
            Ok((created, alert))
        })
        .await?
    };
    if created {
        tracing::info!(
            event = feedback.verdict.event_name(),
            id = %feedback.id,
            predicted_label = feedback.predicted_label,
            score = feedback.score,
            model_version = feedback.model.version,
            exporting = state.exporting,
            "feedback stored"
        );
        state.new_feedback.notify_one();
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "id": feedback.id,
        "verdict": feedback.verdict,
        "stored": true,
        "duplicate": !created,
        "alert_fired": alert.is_some(),
    });
    Ok((status, Json(body)).into_response())
}

/// Counts and rejection rates over the last 5 minutes, hour, day and all time, the outbox's
/// backlog, and the alerts fired in the last day.
async fn stats(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let rule = state.alert;
    let body = blocking(move || {
        let now = now_ms();
        let windows = [("5m", 300_000), ("1h", 3_600_000), ("24h", 86_400_000)]
            .into_iter()
            .map(|(name, ms)| store.window_stats(name, now - ms))
            .chain([store.window_stats("all", i64::MIN)])
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({
            "windows": windows,
            "unexported": store.unexported_count()?,
            "alert_rule": {"threshold": rule.threshold, "window_secs": rule.window.as_secs()},
            "alerts_last_24h": store.alerts_since(now - 86_400_000)?,
        }))
    })
    .await?;
    Ok(Json(body))
}

async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let unexported = blocking(move || store.unexported_count()).await?;
    Ok(Json(json!({
        "status": "ok",
        "app_insights": if state.exporting { "configured" } else { "not configured: stored locally only" },
        "unexported": unexported,
    })))
}

/// Run store work off the async threads (SQLite waits for the disk).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let result = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
    Ok(result?)
}
