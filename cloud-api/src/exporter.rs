use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter, SpanLinks};
use tokio::sync::Notify;

use crate::feedback::event_name;
use crate::store::{PendingSuspicion, Store, StoreError, Stored, to_i64};
use sha2::{Digest, Sha256};

/// Rows sent in one request to the ingestion endpoint.
const BATCH: usize = 50;
/// The longest wait between two attempts while the endpoint fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Rows tried one at a time after a failed batch before the endpoint is taken to be down.
const MAX_SUSPECTS: usize = 5;
/// How long a row the endpoint refused, while it accepted the rows after it, waits to be retried.
const QUARANTINE: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("APPLICATIONINSIGHTS_CONNECTION_STRING: {0}")]
    ConnectionString(String),
    #[error("MOODWING_INGESTION_CA {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("building the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

pub type AppInsights = opentelemetry_application_insights::Exporter<reqwest::Client>;

/// The Application Insights exporter over `reqwest` (rustls), trusting `extra_ca` beside the
/// system's roots.
pub fn app_insights(
    connection_string: &str,
    extra_ca: Option<&Path>,
) -> Result<AppInsights, ExportError> {
    // Several crates could pick a TLS crypto provider; this binary uses ring. Installing twice
    // (tests) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(path) = extra_ca {
        let certificate = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string()))
            .map_err(|reason| ExportError::Certificate {
                path: path.display().to_string(),
                reason,
            })?;
        client = client.tls_certs_merge([certificate]);
    }
    let mut exporter = AppInsights::new_from_connection_string(connection_string, client.build()?)
        .map_err(|e| ExportError::ConnectionString(e.to_string()))?
        .with_retry_notify(|error, wait| {
            tracing::warn!(%error, ?wait, "App Insights ingestion failed; the exporter retries");
        });
    exporter.set_resource(
        &Resource::builder_empty()
            .with_service_name("moodwing-cloud-api")
            .build(),
    );
    Ok(exporter)
}

/// Send the outbox to App Insights, forever: unsent rows oldest first, marked sent only after the
/// ingestion endpoint accepted them; on failure, wait (doubling up to a minute) and try again.
/// `new_feedback` wakes it early.
pub async fn run_outbox(
    store: Store,
    exporter: AppInsights,
    interval: Duration,
    new_feedback: Arc<Notify>,
) {
    let mut outbox = Outbox::default();
    let mut backoff = interval;
    loop {
        let result = match export_suspicions(&store, &exporter).await {
            Ok(suspicions) => export_batch(&store, &exporter, &mut outbox)
                .await
                .map(|sent| sent + suspicions),
            Err(error) => Err(error),
        };
        match result {
            Ok(0) => {
                backoff = interval;
                let _ = tokio::time::timeout(interval, new_feedback.notified()).await;
            }
            Ok(sent) => {
                backoff = interval;
                tracing::info!(sent, "outbox rows exported to App Insights");
            }
            Err(BatchError::Ingestion {
                retry_now: true, ..
            }) => {}
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "export failed; kept in the outbox");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Which rows the next attempt sends, so that a row the endpoint will never take cannot hold
/// back the rows behind it. After a failed batch, rows go one at a time: rows refused while a
/// later row is accepted are set aside (quarantined) and retried every ten minutes, never
/// dropped; when [`MAX_SUSPECTS`] rows in a row are refused, the endpoint is taken to be down
/// and nothing is set aside.
#[derive(Debug, Default)]
struct Outbox {
    one_at_a_time: bool,
    /// Rows refused one at a time since the last acceptance.
    suspects: Vec<i64>,
    /// Rows set aside, and when to try each again.
    quarantined: HashMap<i64, Instant>,
}

impl Outbox {
    fn batch_size(&self) -> usize {
        if self.one_at_a_time { 1 } else { BATCH }
    }

    /// Rows the next attempt must not send.
    fn skipped(&self, now: Instant) -> Vec<i64> {
        let waiting = self.quarantined.iter().filter(|(_, due)| **due > now);
        self.suspects
            .iter()
            .copied()
            .chain(waiting.map(|(row, _)| *row))
            .collect()
    }

    fn accepted(&mut self, rows: &[i64], now: Instant) {
        for row in self.suspects.drain(..) {
            tracing::warn!(row, retry_in = ?QUARANTINE, "the ingestion endpoint refuses this feedback but accepts others: set aside, kept in the outbox");
            self.quarantined.insert(row, now + QUARANTINE);
        }
        for row in rows {
            self.quarantined.remove(row);
        }
        self.one_at_a_time = false;
    }

    /// Whether to try the next row at once (`true`) or back off.
    fn refused(&mut self, rows: &[i64], now: Instant) -> bool {
        if let [row] = rows
            && self.one_at_a_time
        {
            if self.quarantined.contains_key(row) {
                self.quarantined.insert(*row, now + QUARANTINE);
                return true;
            }
            self.suspects.push(*row);
            if self.suspects.len() < MAX_SUSPECTS {
                return true;
            }
            self.suspects.clear();
            return false;
        }
        self.one_at_a_time = true;
        false
    }
}

#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ingestion: {reason}")]
    Ingestion { reason: String, retry_now: bool },
}

/// One batch; how many rows were sent.
async fn export_batch(
    store: &Store,
    exporter: &AppInsights,
    outbox: &mut Outbox,
) -> Result<usize, BatchError> {
    let (limit, skipped) = (outbox.batch_size(), outbox.skipped(Instant::now()));
    let pending = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.unexported(limit, &skipped))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??
    };
    if pending.is_empty() {
        if outbox.suspects.is_empty() {
            return Ok(0);
        }
        // Only refused rows are left: nothing later was accepted, so none of them is set aside.
        outbox.suspects.clear();
        return Err(BatchError::Ingestion {
            reason: "the only rows left were refused".into(),
            retry_now: false,
        });
    }
    let rows: Vec<i64> = pending.iter().map(|stored| stored.row).collect();
    if let Err(error) = exporter
        .export(pending.iter().map(span_for).collect())
        .await
    {
        let retry_now = outbox.refused(&rows, Instant::now());
        return Err(BatchError::Ingestion {
            reason: error.to_string(),
            retry_now,
        });
    }
    outbox.accepted(&rows, Instant::now());
    let store = store.clone();
    let sent = rows.len();
    tokio::task::spawn_blocking(move || store.mark_exported(&rows, now_ms()))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    Ok(sent)
}

/// Every bad-buzz suspicion not yet sent, as `bad_buzz_suspected` events; how many were sent.
/// They are few (one per flagged window), so they go in one batch, before the feedback.
async fn export_suspicions(store: &Store, exporter: &AppInsights) -> Result<usize, BatchError> {
    let pending = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.unexported_suspicions(BATCH))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??
    };
    if pending.is_empty() {
        return Ok(0);
    }
    if let Err(error) = exporter
        .export(pending.iter().map(span_for_suspicion).collect())
        .await
    {
        return Err(BatchError::Ingestion {
            reason: format!("bad_buzz_suspected: {error}"),
            retry_now: false,
        });
    }
    let rows: Vec<i64> = pending.iter().map(|suspicion| suspicion.row).collect();
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.mark_suspicions_exported(&rows, now_ms()))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    Ok(pending.len())
}

/// The radar's report as a request, with the suspicion as a `bad_buzz_suspected` custom event:
/// the window, its counts and z-scores, and its most negative tweets.
pub fn span_for_suspicion(pending: &PendingSuspicion) -> SpanData {
    let stored = &pending.window;
    let window = &stored.window;
    let mut properties = vec![
        KeyValue::new("ai.customEvent.name", "bad_buzz_suspected"),
        KeyValue::new(
            "suspicion_id",
            format!("{}@{}", stored.source, window.start_ms),
        ),
        KeyValue::new("source", stored.source.clone()),
        KeyValue::new("window_start_ms", window.start_ms),
        KeyValue::new("window_secs", to_i64(stored.window_secs)),
        KeyValue::new("tweets", to_i64(window.tweets)),
        KeyValue::new("negatives", to_i64(window.negatives)),
    ];
    if let Some(suspicion) = &window.suspicion {
        properties.extend([
            KeyValue::new("z_volume", suspicion.z_volume),
            KeyValue::new("z_share", suspicion.z_share),
            KeyValue::new("rule", suspicion.rule.clone()),
        ]);
        for (rank, tweet) in suspicion.most_negative.iter().take(3).enumerate() {
            properties.push(KeyValue::new(
                format!("most_negative_{}", rank + 1),
                tweet.text.clone(),
            ));
        }
    }
    let digest = Sha256::digest(format!("{}\n{}", stored.source, window.start_ms));
    let mut id = [0; 16];
    id.copy_from_slice(&digest[..16]);
    request_span(
        u128::from_be_bytes(id),
        pending.received_at_ms,
        "/api/radar/reports",
        properties,
    )
}

/// The request that brought the feedback, with the feedback as a custom event
/// (`prediction_rejected` or `prediction_validated`) whose properties are the feedback's fields.
pub fn span_for(stored: &Stored) -> SpanData {
    let feedback = &stored.feedback;
    let mut properties = vec![
        KeyValue::new("ai.customEvent.name", event_name(feedback.verdict)),
        KeyValue::new("feedback_id", feedback.id.clone()),
        KeyValue::new("text", feedback.text.clone()),
        KeyValue::new("predicted_label", feedback.predicted_label.as_str()),
        KeyValue::new("score", feedback.score),
        KeyValue::new("model_name", feedback.model.name.clone()),
        KeyValue::new("model_version", feedback.model.version.clone()),
    ];
    if let Some(signed) = &feedback.signed {
        properties.push(KeyValue::new("prediction_id", signed.prediction_id.clone()));
    }
    if let Some(label) = feedback.corrected_label {
        properties.push(KeyValue::new("corrected_label", label.as_str()));
    }
    for (key, value) in [
        ("comment", &feedback.comment),
        ("predicted_at", &feedback.predicted_at),
    ] {
        if let Some(value) = value {
            properties.push(KeyValue::new(key, value.clone()));
        }
    }
    request_span(
        stored.id.as_u128(),
        stored.received_at_ms,
        "/api/feedback",
        properties,
    )
}

/// A `POST` to `path` answered 201 at `at_ms`, carrying one custom event with `properties`.
fn request_span(id: u128, at_ms: i64, path: &'static str, properties: Vec<KeyValue>) -> SpanData {
    let received = UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
    let mut events = SpanEvents::default();
    events
        .events
        .push(Event::new("ai.custom", received, properties, 0));
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_bytes(id.to_be_bytes()),
            SpanId::from_bytes((id as u64).to_be_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Server,
        name: format!("POST {path}").into(),
        start_time: received,
        end_time: received,
        attributes: vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.path", path),
            KeyValue::new("http.response.status_code", 201),
        ],
        dropped_attributes_count: 0,
        events,
        links: SpanLinks::default(),
        status: Status::Ok,
        instrumentation_scope: InstrumentationScope::builder("moodwing-cloud-api").build(),
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_row_is_set_aside_once_a_later_row_is_accepted() {
        let (mut outbox, now) = (Outbox::default(), Instant::now());
        assert!(!outbox.refused(&[1, 2, 3], now), "a failed batch backs off");
        assert_eq!(outbox.batch_size(), 1);
        assert!(
            outbox.refused(&[1], now),
            "then the next row is tried at once"
        );
        assert_eq!(outbox.skipped(now), [1]);
        outbox.accepted(&[2], now);
        assert_eq!(outbox.batch_size(), BATCH);
        assert_eq!(outbox.skipped(now), [1], "row 1 waits");
        assert!(
            outbox.skipped(now + QUARANTINE).is_empty(),
            "and is tried again later"
        );
        outbox.accepted(&[1], now + QUARANTINE);
        assert!(outbox.quarantined.is_empty());
    }

    #[test]
    fn when_every_row_is_refused_the_endpoint_is_down_and_nothing_is_set_aside() {
        let (mut outbox, now) = (Outbox::default(), Instant::now());
        assert!(!outbox.refused(&[1, 2], now));
        for row in 1..MAX_SUSPECTS as i64 {
            assert!(outbox.refused(&[row], now));
        }
        assert!(!outbox.refused(&[MAX_SUSPECTS as i64], now), "backs off");
        assert!(
            outbox.skipped(now).is_empty(),
            "and starts again from the oldest row"
        );
        outbox.accepted(&[1], now);
        assert!(outbox.quarantined.is_empty());
    }
}
