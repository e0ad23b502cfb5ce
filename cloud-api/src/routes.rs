use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use moodwing_protocol::{Receipt, Refusals};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::alert::AlertRule;
use crate::exporter::now_ms;
use crate::feedback::{Feedback, SignatureCheck, Verdict, event_name, validate};
use crate::limits::{RateLimits, limit};
use crate::store::{Inserted, StoreError};
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
    pub signatures: Arc<SignatureCheck>,
    pub limits: Arc<RateLimits>,
    pub refusals: Arc<RefusalCounts>,
    /// `MOODWING_OPERATOR_TOKEN`: without it the export is disabled.
    pub operator_token: Option<Arc<str>>,
}

/// Feedback refused since the start, by reason: forged or replayed feedback shows up here (and in
/// the log) before it can be mistaken for a model's problem.
#[derive(Debug, Default)]
pub struct RefusalCounts {
    missing_signature: AtomicU64,
    bad_signature: AtomicU64,
    expired: AtomicU64,
    already_answered: AtomicU64,
    rate_limited: AtomicU64,
}

impl RefusalCounts {
    pub fn count(&self, error: &ApiError) {
        let counter = match error {
            ApiError::SignatureRequired => &self.missing_signature,
            ApiError::BadSignature => &self.bad_signature,
            ApiError::PredictionExpired { .. } => &self.expired,
            ApiError::AlreadyAnswered => &self.already_answered,
            ApiError::RateLimited { .. } => &self.rate_limited,
            _ => return,
        };
        counter.fetch_add(1, Relaxed);
        tracing::warn!(code = error.code(), "feedback refused: {error}");
    }

    pub fn snapshot(&self) -> Refusals {
        Refusals {
            missing_signature: self.missing_signature.load(Relaxed),
            bad_signature: self.bad_signature.load(Relaxed),
            expired: self.expired.load(Relaxed),
            already_answered: self.already_answered.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
        }
    }
}

pub fn router(state: AppState, allowed_origins: &[String]) -> Router {
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([CONTENT_TYPE, AUTHORIZATION]);
    let feedback_routes = Router::new()
        .route("/api/feedback", post(post_feedback))
        .route("/api/feedback/stats", get(stats))
        .route("/api/feedback/export", get(crate::export::export))
        .route("/api/monitor", get(crate::monitor::monitor))
        .route("/api/radar/reports", post(crate::radar::post_report))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit));
    Router::new()
        .merge(feedback_routes)
        .route("/api/health", get(health))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors)
        .with_state(state)
}

/// Store a validation or a rejection of a signed prediction; the 2xx is sent only once it is
/// committed to disk.
async fn post_feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = receive(&state, &headers, body).await;
    if let Err(error) = &result {
        state.refusals.count(error);
    }
    result
}

/// A JSON body of at most `limit` bytes, read as `T`: 415 if it is not sent as JSON, 413 if it is
/// longer, 400 if it is not a `T`.
pub(crate) async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// `value` if `range` holds it, else a 422 naming `field` and the range.
pub(crate) fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ApiError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::Invalid {
            field,
            reason: format!("must be from {} to {}", range.start(), range.end()),
        })
    }
}

async fn receive(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let feedback: Feedback = json_body(headers, body, MAX_BODY_BYTES).await?;
    let id = validate(&feedback)?;
    let received_at_ms = now_ms();
    state.signatures.check(&feedback, received_at_ms)?;

    let (inserted, alert) = {
        let (store, rule, feedback) = (state.store.clone(), state.alert, feedback.clone());
        blocking(move || {
            let inserted = store.insert(&feedback, received_at_ms)?;
            let alert = match (inserted, feedback.verdict) {
                (Inserted::Created, Verdict::Rejection) => rule.evaluate(&store, received_at_ms)?,
                _ => None,
            };
            Ok((inserted, alert))
        })
        .await?
    };
    let status = match inserted {
        Inserted::Created => StatusCode::CREATED,
        Inserted::Duplicate => StatusCode::OK,
        Inserted::PredictionAnswered => return Err(ApiError::AlreadyAnswered),
    };
    if inserted == Inserted::Created {
        tracing::info!(
            event = event_name(feedback.verdict),
            %id,
            predicted_label = feedback.predicted_label.as_str(),
            score = feedback.score,
            model_version = feedback.model.version,
            exporting = state.exporting,
            "feedback stored"
        );
        state.new_feedback.notify_one();
    }
    let receipt = Receipt {
        id: id.to_string(),
        verdict: feedback.verdict,
        stored: true,
        duplicate: inserted == Inserted::Duplicate,
        alert_fired: alert.is_some(),
    };
    Ok((status, Json(receipt)).into_response())
}

/// Counts and rejection rates over the last 5 minutes, hour, day and all time, the outbox's
/// backlog, the alerts fired in the last day and the feedback refused since the start.
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
    let mut body = body;
    body["refused"] = json!(state.refusals.snapshot());
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

/// Run store work off the async threads (the store waits for the disk or the network).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let result = tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
    Ok(result?)
}
