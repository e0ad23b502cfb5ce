//! The feedback store: one interface, two backends.
//!
//! - [`sqlite`]: the embedded default (a file, WAL, `synchronous=FULL`): local runs, tests, one replica.
//! - [`postgres`]: production (`MOODWING_DATABASE_URL=postgres://...`): several replicas share it,
//!   and each claims the outbox rows it exports for a lease, so no two send the same row at once.
//!
//! Both promise the same: once [`Backend::insert`] returns, the feedback is committed and survives
//! the process being killed.

mod postgres;
mod sqlite;

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moodwing_protocol::{FeedbackBucket, RadarReport, Signed, StoredRadarWindow};
use serde::Serialize;
use uuid::Uuid;

use crate::feedback::{Feedback, Label, ModelId, Verdict};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] ::postgres::Error),
    #[error("no PostgreSQL connection: {0}")]
    Pool(String),
    #[error("the store's lock was poisoned by a panic")]
    Poisoned,
    #[error("the store task stopped: {0}")]
    Task(String),
    #[error("row {id}: {reason}")]
    Corrupt { id: i64, reason: String },
}

/// Where the feedback is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` URL, and how long an exporting replica holds the outbox rows it claimed.
    Postgres {
        url: String,
        lease: Duration,
    },
}

/// A feedback as stored, with when it arrived (Unix milliseconds) and its outbox state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    pub row: i64,
    #[serde(skip)]
    pub id: Uuid,
    pub received_at_ms: i64,
    pub exported: bool,
    #[serde(flatten)]
    pub feedback: Feedback,
}

/// Counts over one time window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    pub window: &'static str,
    pub validations: u64,
    pub rejections: u64,
    /// Rejections over all feedback in the window; `null` when there was none.
    pub rejection_rate: Option<f64>,
}

/// A firing of the rejection alert rule.
pub use moodwing_protocol::AlertFired as AlertRecord;

/// A row of `radar_window`: a bad-buzz suspicion waiting in the outbox, or any radar window as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSuspicion {
    pub row: i64,
    pub received_at_ms: i64,
    pub window: StoredRadarWindow,
}

/// What [`Backend::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created,
    /// A retry: a feedback with this id was already stored.
    Duplicate,
    /// Another feedback about the same prediction was already stored; nothing was stored.
    PredictionAnswered,
}

/// What a backend does. Calls block (on the disk or the network): the async code calls them on
/// tokio's blocking pool.
pub trait Backend: Send + Sync {
    /// Store a feedback, at most one per id and one per signed prediction.
    fn insert(&self, feedback: &Feedback, now_ms: i64) -> Result<Inserted, StoreError>;
    fn get(&self, id: Uuid) -> Result<Option<Stored>, StoreError>;
    /// The oldest feedback not yet accepted by the ingestion endpoint, at most `limit`, leaving out
    /// the `skipped` rows; with PostgreSQL, claimed by this replica until its lease ends.
    fn unexported(&self, limit: usize, skipped: &[i64]) -> Result<Vec<Stored>, StoreError>;
    fn mark_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError>;
    /// Every stored feedback, oldest first.
    fn all(&self) -> Result<Vec<Stored>, StoreError>;
    /// At most `limit` feedbacks received at or after `since_ms` and stored after row `after_row`,
    /// oldest first: the export, page by page.
    fn export(
        &self,
        since_ms: i64,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError>;
    fn count_since(&self, verdict: Verdict, since_ms: i64) -> Result<u64, StoreError>;
    /// [`Backend::count_since`], counting no further than `limit`.
    fn count_since_up_to(
        &self,
        verdict: Verdict,
        since_ms: i64,
        limit: u64,
    ) -> Result<u64, StoreError>;
    /// Rows the outbox has not sent yet: feedback and bad-buzz suspicions.
    fn unexported_count(&self) -> Result<u64, StoreError>;
    /// Record `alert` unless one was recorded at or after `since_ms`, atomically (replicas
    /// evaluate the rule at the same time); whether it was recorded.
    fn record_alert_once(&self, alert: &AlertRecord, since_ms: i64) -> Result<bool, StoreError>;
    /// Alerts fired at or after `since_ms`, newest first.
    fn alerts_since(&self, since_ms: i64) -> Result<Vec<AlertRecord>, StoreError>;
    /// Validations and rejections per model version, in buckets of `bucket_ms` aligned on
    /// multiples of it, from `since_ms`; oldest first.
    fn feedback_buckets(
        &self,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<FeedbackBucket>, StoreError>;
    /// The `limit` newest feedbacks with this verdict, newest first.
    fn newest(&self, verdict: Verdict, limit: usize) -> Result<Vec<Stored>, StoreError>;
    /// Keep a radar report's windows, replacing those kept for the same source and start (a
    /// suspicion, once kept, stays: it was reported); how many suspicions are new.
    fn record_radar(&self, report: &RadarReport, now_ms: i64) -> Result<u64, StoreError>;
    /// Radar windows starting at or after `since_ms`, oldest first.
    fn radar_since(&self, since_ms: i64) -> Result<Vec<StoredRadarWindow>, StoreError>;
    /// Suspicions not yet accepted by the ingestion endpoint, oldest first, at most `limit`;
    /// claimed like [`Backend::unexported`].
    fn unexported_suspicions(&self, limit: usize) -> Result<Vec<PendingSuspicion>, StoreError>;
    fn mark_suspicions_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError>;
}

/// The store the service uses, whichever the backend.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    pub fn open(location: &Location) -> Result<Self, StoreError> {
        Ok(match location {
            Location::Sqlite(path) => Self(Arc::new(SqliteStore::open(path)?)),
            Location::Postgres { url, lease } => Self(Arc::new(PostgresStore::open(url, *lease)?)),
        })
    }

    pub fn window_stats(
        &self,
        window: &'static str,
        since_ms: i64,
    ) -> Result<WindowStats, StoreError> {
        let validations = self.count_since(Verdict::Validation, since_ms)?;
        let rejections = self.count_since(Verdict::Rejection, since_ms)?;
        let total = validations + rejections;
        Ok(WindowStats {
            window,
            validations,
            rejections,
            rejection_rate: (total > 0).then(|| rejections as f64 / total as f64),
        })
    }
}

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// A stored row as both backends read it, before it is checked.
struct Columns {
    row: i64,
    id: String,
    verdict: String,
    text: String,
    predicted_label: String,
    score: f64,
    model_name: String,
    model_version: String,
    predicted_at: Option<String>,
    corrected_label: Option<String>,
    comment: Option<String>,
    received_at_ms: i64,
    exported: bool,
    prediction_id: Option<String>,
    issued_at_ms: Option<i64>,
    signature: Option<String>,
}

/// The columns read, in this order, by both backends.
const COLUMNS: &str = "row, id, verdict, text, predicted_label, score, model_name, model_version, \
    predicted_at, corrected_label, comment, received_at_ms, exported_at_ms IS NOT NULL, \
    prediction_id, issued_at_ms, signature";

impl Columns {
    fn into_stored(self) -> Result<Stored, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            id: self.row,
            reason,
        };
        let corrected_label = self.corrected_label.as_deref().map(parse_label);
        let (Ok(uuid), Some(verdict), Some(predicted_label), None | Some(Some(_))) = (
            Uuid::parse_str(&self.id),
            parse_verdict(&self.verdict),
            parse_label(&self.predicted_label),
            corrected_label,
        ) else {
            return Err(corrupt(format!(
                "bad id {:?}, verdict {:?} or labels {:?}, {:?}",
                self.id, self.verdict, self.predicted_label, self.corrected_label
            )));
        };
        let signed = match (self.prediction_id, self.issued_at_ms, self.signature) {
            (Some(prediction_id), Some(issued_at_ms), Some(signature)) => Some(Signed {
                prediction_id,
                issued_at_ms,
                signature,
            }),
            _ => None,
        };
        Ok(Stored {
            row: self.row,
            id: uuid,
            received_at_ms: self.received_at_ms,
            exported: self.exported,
            feedback: Feedback {
                id: self.id,
                verdict,
                text: self.text,
                predicted_label,
                score: self.score,
                model: ModelId {
                    name: self.model_name,
                    version: self.model_version,
                },
                signed,
                predicted_at: self.predicted_at,
                corrected_label: corrected_label.flatten(),
                comment: self.comment,
            },
        })
    }
}

fn parse_verdict(value: &str) -> Option<Verdict> {
    match value {
        "validation" => Some(Verdict::Validation),
        "rejection" => Some(Verdict::Rejection),
        _ => None,
    }
}

fn parse_label(value: &str) -> Option<Label> {
    match value {
        "negative" => Some(Label::Negative),
        "positive" => Some(Label::Positive),
        _ => None,
    }
}

/// A radar window's columns as both backends read them, in this order (`suspicion` is JSON).
const RADAR_COLUMNS: &str =
    "row, source, start_ms, window_secs, tweets, negatives, suspicion, received_at_ms";

/// A row of [`RADAR_COLUMNS`], checked.
fn radar_row(
    row: i64,
    source: String,
    start_ms: i64,
    counts: [i64; 3],
    suspicion: Option<String>,
    received_at_ms: i64,
) -> Result<PendingSuspicion, StoreError> {
    let [window_secs, tweets, negatives] = counts.map(|n| u64::try_from(n).unwrap_or(0));
    let suspicion = suspicion
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            id: row,
            reason: format!("radar suspicion: {e}"),
        })?;
    Ok(PendingSuspicion {
        row,
        received_at_ms,
        window: StoredRadarWindow {
            source,
            window_secs,
            window: moodwing_protocol::RadarWindow {
                start_ms,
                tweets,
                negatives,
                suspicion,
            },
        },
    })
}

/// A suspicion as stored (JSON), or `None` for a quiet window.
fn suspicion_json(window: &moodwing_protocol::RadarWindow) -> Option<String> {
    window
        .suspicion
        .as_ref()
        .and_then(|suspicion| serde_json::to_string(suspicion).ok())
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::feedback::tests::rejection;

    /// A new, empty database on the test server `MOODWING_TEST_POSTGRES` (a connection string
    /// without `dbname`; `scripts/test.sh` starts the server), or `None` without one, unless
    /// `MOODWING_TEST_POSTGRES_REQUIRED` says it must be there.
    pub(crate) fn fresh_postgres_url() -> Option<String> {
        let Ok(server) = std::env::var("MOODWING_TEST_POSTGRES") else {
            assert!(
                std::env::var_os("MOODWING_TEST_POSTGRES_REQUIRED").is_none(),
                "MOODWING_TEST_POSTGRES is not set: the PostgreSQL store cannot be tested"
            );
            eprintln!("MOODWING_TEST_POSTGRES not set: the PostgreSQL store is not tested here");
            return None;
        };
        let name = format!("moodwing_test_{}", Uuid::new_v4().simple());
        let mut admin =
            ::postgres::Client::connect(&format!("{server} dbname=postgres"), ::postgres::NoTls)
                .expect("the test PostgreSQL server answers");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("a test database");
        Some(format!("{server} dbname={name}"))
    }

    /// The store on every backend that can be tested here, each empty.
    pub(crate) fn stores() -> Vec<(&'static str, Store)> {
        let dir = std::env::temp_dir().join(format!("moodwing-store-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut stores = vec![(
            "sqlite",
            Store::open(&Location::Sqlite(dir.join("feedback.sqlite"))).unwrap(),
        )];
        if let Some(url) = fresh_postgres_url() {
            let lease = Duration::from_secs(60);
            stores.push((
                "postgres",
                Store::open(&Location::Postgres { url, lease }).unwrap(),
            ));
        }
        stores
    }

    #[test]
    fn a_feedback_round_trips_and_is_stored_once_per_id_and_per_prediction() {
        for (backend, store) in stores() {
            let feedback = rejection("@united still waiting for my bag");
            assert_eq!(
                store.insert(&feedback, 1_000).unwrap(),
                Inserted::Created,
                "{backend}"
            );
            assert_eq!(
                store.insert(&feedback, 2_000).unwrap(),
                Inserted::Duplicate,
                "{backend}"
            );
            let mut second_opinion = feedback.clone();
            second_opinion.id = Uuid::new_v4().to_string();
            assert_eq!(
                store.insert(&second_opinion, 3_000).unwrap(),
                Inserted::PredictionAnswered,
                "{backend}"
            );
            let stored = store
                .get(Uuid::parse_str(&feedback.id).unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(stored.feedback, feedback, "{backend}");
            assert_eq!(stored.received_at_ms, 1_000, "{backend}");
            assert_eq!(store.all().unwrap().len(), 1, "{backend}");
        }
    }

    #[test]
    fn the_outbox_gives_unexported_rows_oldest_first() {
        for (backend, store) in stores() {
            for (i, text) in ["one", "two", "three"].iter().enumerate() {
                store.insert(&rejection(text), i as i64).unwrap();
            }
            let texts = |rows: &[Stored]| -> Vec<String> {
                rows.iter().map(|s| s.feedback.text.clone()).collect()
            };
            let pending = store.unexported(2, &[]).unwrap();
            assert_eq!(texts(&pending), ["one", "two"], "{backend}");
            store.mark_exported(&[pending[0].row], 10).unwrap();
            assert_eq!(store.unexported_count().unwrap(), 2, "{backend}");
            assert_eq!(
                texts(&store.unexported(10, &[]).unwrap()),
                ["two", "three"],
                "{backend}"
            );
            let after_skip = store.unexported(1, &[pending[1].row]).unwrap();
            assert_eq!(
                texts(&after_skip),
                ["three"],
                "{backend}: a skipped row does not use up the limit"
            );
        }
    }

    #[test]
    fn the_export_pages_by_row_from_a_time() {
        for (backend, store) in stores() {
            for (i, text) in ["one", "two", "three", "four"].iter().enumerate() {
                store.insert(&rejection(text), 100 * i as i64).unwrap();
            }
            let texts = |rows: &[Stored]| -> Vec<String> {
                rows.iter().map(|s| s.feedback.text.clone()).collect()
            };
            let first = store.export(100, 0, 2).unwrap();
            assert_eq!(texts(&first), ["two", "three"], "{backend}");
            let next = store.export(100, first[1].row, 2).unwrap();
            assert_eq!(texts(&next), ["four"], "{backend}");
            assert!(store.export(1_000, 0, 10).unwrap().is_empty(), "{backend}");
        }
    }

    #[test]
    fn windows_count_and_rate() {
        for (backend, store) in stores() {
            store.insert(&rejection("old"), 0).unwrap();
            let mut validation = rejection("fine");
            validation.verdict = Verdict::Validation;
            validation.corrected_label = None;
            store.insert(&validation, 500).unwrap();
            store.insert(&rejection("new"), 600).unwrap();
            let stats = store.window_stats("recent", 500).unwrap();
            assert_eq!((stats.validations, stats.rejections), (1, 1), "{backend}");
            assert_eq!(stats.rejection_rate, Some(0.5), "{backend}");
            assert_eq!(
                store.window_stats("none", 10_000).unwrap().rejection_rate,
                None
            );
            assert_eq!(
                store.count_since_up_to(Verdict::Rejection, 0, 1).unwrap(),
                1,
                "{backend}"
            );
        }
    }

    #[test]
    fn radar_windows_are_replaced_but_a_suspicion_stays_and_is_exported_once() {
        use moodwing_protocol::{RadarWindow, Suspicion};
        let report = |negatives: u64, flagged: bool| RadarReport {
            source: "mentions".into(),
            window_secs: 900,
            windows: vec![
                RadarWindow {
                    start_ms: 0,
                    tweets: 100,
                    negatives: 10,
                    suspicion: None,
                },
                RadarWindow {
                    start_ms: 900_000,
                    tweets: 100,
                    negatives,
                    suspicion: flagged.then(|| Suspicion {
                        z_volume: 9.0,
                        z_share: 7.0,
                        rule: "z >= 4".into(),
                        most_negative: Vec::new(),
                    }),
                },
            ],
        };
        for (backend, store) in stores() {
            assert_eq!(
                store.record_radar(&report(80, true), 1).unwrap(),
                1,
                "{backend}"
            );
            assert_eq!(store.unexported_count().unwrap(), 1, "{backend}");
            let pending = store.unexported_suspicions(10).unwrap();
            assert_eq!(pending.len(), 1, "{backend}");
            assert_eq!(pending[0].window.window.start_ms, 900_000, "{backend}");
            store
                .mark_suspicions_exported(&[pending[0].row], 2)
                .unwrap();
            assert_eq!(
                store.record_radar(&report(80, true), 2).unwrap(),
                0,
                "{backend}: the same flag again is not new"
            );

            // A rerun that no longer flags it updates the counts, keeps the suspicion, sends nothing.
            assert_eq!(
                store.record_radar(&report(60, false), 3).unwrap(),
                0,
                "{backend}"
            );
            let windows = store.radar_since(0).unwrap();
            assert_eq!(windows.len(), 2, "{backend}");
            assert_eq!(windows[1].window.negatives, 60, "{backend}");
            assert!(windows[1].window.suspicion.is_some(), "{backend}");
            assert!(
                store.unexported_suspicions(10).unwrap().is_empty(),
                "{backend}"
            );
            assert!(store.radar_since(900_000).unwrap().len() == 1, "{backend}");
        }
    }

    #[test]
    fn feedback_is_bucketed_per_model_version() {
        for (backend, store) in stores() {
            let mut validation = rejection("fine");
            validation.verdict = Verdict::Validation;
            validation.corrected_label = None;
            let mut newer = rejection("newer model, still wrong");
            newer.model.version = "2".into();
            store.insert(&rejection("wrong"), 1_000).unwrap();
            store.insert(&validation, 299_999).unwrap();
            store.insert(&newer, 300_000).unwrap();
            let buckets = store.feedback_buckets(0, 300_000).unwrap();
            let rows: Vec<(i64, &str, u64, u64)> = buckets
                .iter()
                .map(|b| {
                    (
                        b.start_ms,
                        b.model.version.as_str(),
                        b.validations,
                        b.rejections,
                    )
                })
                .collect();
            let version = rejection("x").model.version;
            assert_eq!(
                rows,
                [(0, version.as_str(), 1, 1), (300_000, "2", 0, 1)],
                "{backend}"
            );
            let newest: Vec<String> = store
                .newest(Verdict::Rejection, 1)
                .unwrap()
                .into_iter()
                .map(|s| s.feedback.text)
                .collect();
            assert_eq!(newest, ["newer model, still wrong"], "{backend}");
        }
    }

    #[test]
    fn an_alert_is_recorded_once_per_window() {
        for (backend, store) in stores() {
            let alert = |at| AlertRecord {
                fired_at_ms: at,
                rejections: 3,
                window_secs: 300,
            };
            assert!(
                store.record_alert_once(&alert(1_000), 0).unwrap(),
                "{backend}"
            );
            assert!(
                !store.record_alert_once(&alert(2_000), 0).unwrap(),
                "{backend}"
            );
            assert!(
                store.record_alert_once(&alert(400_000), 100_000).unwrap(),
                "{backend}"
            );
            assert_eq!(store.alerts_since(0).unwrap().len(), 2, "{backend}");
        }
    }
}
