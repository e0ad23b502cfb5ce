use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::feedback::{Feedback, ModelRef, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("the store's lock was poisoned by a panic")]
    Poisoned,
    #[error("the store task stopped: {0}")]
    Task(String),
    #[error("row {id}: {reason}")]
    Corrupt { id: i64, reason: String },
}

/// The feedback table, in SQLite with a write-ahead log and `synchronous=FULL`: once `insert`
/// returns, the feedback survives the process being killed (and the machine losing power).
#[derive(Clone)]
pub struct Store {
    connection: Arc<Mutex<Connection>>,
}

/// A feedback as stored, with when it arrived (Unix milliseconds) and its outbox state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stored {
    pub row: i64,
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub fired_at_ms: i64,
    pub rejections: u64,
    pub window_secs: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feedback (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    verdict TEXT NOT NULL CHECK (verdict IN ('validation', 'rejection')),
    text TEXT NOT NULL,
    predicted_label TEXT NOT NULL,
    score REAL NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    predicted_at TEXT,
    corrected_label TEXT,
    comment TEXT,
    received_at_ms INTEGER NOT NULL,
    exported_at_ms INTEGER
);
CREATE INDEX IF NOT EXISTS feedback_unexported ON feedback (row) WHERE exported_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS feedback_received ON feedback (received_at_ms, verdict);
CREATE TABLE IF NOT EXISTS alert (
    fired_at_ms INTEGER NOT NULL,
    rejections INTEGER NOT NULL,
    window_secs INTEGER NOT NULL
);
";

const COLUMNS: &str = "row, id, verdict, text, predicted_label, score, model_name, model_version, \
    predicted_at, corrected_label, comment, received_at_ms, exported_at_ms IS NOT NULL";

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Store a feedback; `false` when one with the same id was already stored (a retry).
    pub fn insert(&self, feedback: &Feedback, now_ms: i64) -> Result<bool, StoreError> {
        let inserted = self.lock()?.execute(
            "INSERT OR IGNORE INTO feedback (id, verdict, text, predicted_label, score, model_name, \
             model_version, predicted_at, corrected_label, comment, received_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                feedback.id.to_string(),
                feedback.verdict.as_str(),
                feedback.text,
                feedback.predicted_label,
                feedback.score,
                feedback.model.name,
                feedback.model.version,
                feedback.predicted_at,
                feedback.corrected_label,
                feedback.comment,
                now_ms,
            ],
        )?;
        Ok(inserted == 1)
    }

    pub fn get(&self, id: Uuid) -> Result<Option<Stored>, StoreError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&format!("SELECT {COLUMNS} FROM feedback WHERE id = ?1"))?;
        let row = statement.query_row([id.to_string()], read_row).optional()?;
        row.map(|r| r.map_err(|(id, reason)| StoreError::Corrupt { id, reason }))
            .transpose()
    }

    /// The oldest feedback not yet accepted by the ingestion endpoint, at most `limit`, leaving
    /// out the `skipped` rows.
    pub fn unexported(&self, limit: usize, skipped: &[i64]) -> Result<Vec<Stored>, StoreError> {
        let mut pending = self.select(
            &format!(
                "SELECT {COLUMNS} FROM feedback WHERE exported_at_ms IS NULL ORDER BY row LIMIT ?1"
            ),
            params![i64::try_from(limit + skipped.len()).unwrap_or(i64::MAX)],
        )?;
        pending.retain(|stored| !skipped.contains(&stored.row));
        pending.truncate(limit);
        Ok(pending)
    }

    /// Every stored feedback, oldest first.
    pub fn all(&self) -> Result<Vec<Stored>, StoreError> {
        self.select(&format!("SELECT {COLUMNS} FROM feedback ORDER BY row"), [])
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Stored>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(sql)?;
        let rows = statement.query_map(params, read_row)?;
        let mut stored = Vec::new();
        for row in rows {
            stored.push(row?.map_err(|(id, reason)| StoreError::Corrupt { id, reason })?);
        }
        Ok(stored)
    }

    pub fn mark_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        for row in rows {
            transaction.execute(
                "UPDATE feedback SET exported_at_ms = ?1 WHERE row = ?2",
                params![now_ms, row],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    pub fn count_since(&self, verdict: Verdict, since_ms: i64) -> Result<u64, StoreError> {
        let count: i64 = self.lock()?.query_row(
            "SELECT COUNT(*) FROM feedback WHERE verdict = ?1 AND received_at_ms >= ?2",
            params![verdict.as_str(), since_ms],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or(0))
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

    pub fn unexported_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self.lock()?.query_row(
            "SELECT COUNT(*) FROM feedback WHERE exported_at_ms IS NULL",
            [],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub fn record_alert(&self, alert: &AlertRecord) -> Result<(), StoreError> {
        self.lock()?.execute(
            "INSERT INTO alert (fired_at_ms, rejections, window_secs) VALUES (?1, ?2, ?3)",
            params![
                alert.fired_at_ms,
                alert.rejections as i64,
                alert.window_secs as i64
            ],
        )?;
        Ok(())
    }

    /// Alerts fired at or after `since_ms`, newest first.
    pub fn alerts_since(&self, since_ms: i64) -> Result<Vec<AlertRecord>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT fired_at_ms, rejections, window_secs FROM alert \
             WHERE fired_at_ms >= ?1 ORDER BY fired_at_ms DESC",
        )?;
        let alerts = statement.query_map([since_ms], |row| {
            Ok(AlertRecord {
                fired_at_ms: row.get(0)?,
                rejections: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                window_secs: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(alerts.collect::<Result<_, _>>()?)
    }
}

type RowResult = Result<Stored, (i64, String)>;

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RowResult> {
    let index: i64 = row.get(0)?;
    let id: String = row.get(1)?;
    let verdict: String = row.get(2)?;
    let (Ok(id), Some(verdict)) = (Uuid::parse_str(&id), Verdict::parse(&verdict)) else {
        return Ok(Err((
            index,
            format!("bad id {id:?} or verdict {verdict:?}"),
        )));
    };
    Ok(Ok(Stored {
        row: index,
        received_at_ms: row.get(11)?,
        exported: row.get(12)?,
        feedback: Feedback {
            id,
            verdict,
            text: row.get(3)?,
            predicted_label: row.get(4)?,
            score: row.get(5)?,
            model: ModelRef {
                name: row.get(6)?,
                version: row.get(7)?,
            },
            predicted_at: row.get(8)?,
            corrected_label: row.get(9)?,
            comment: row.get(10)?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::tests::rejection;

    fn temp_store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("moodwing-store-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (Store::open(&dir.join("feedback.sqlite")).unwrap(), dir)
    }

    #[test]
    fn a_feedback_round_trips_and_a_retry_is_stored_once() {
        let (store, dir) = temp_store();
        let feedback = rejection("@united still waiting for my bag");
        assert!(store.insert(&feedback, 1_000).unwrap());
        assert!(!store.insert(&feedback, 2_000).unwrap());
        let stored = store.get(feedback.id).unwrap().unwrap();
        assert_eq!(stored.feedback, feedback);
        assert_eq!(stored.received_at_ms, 1_000);
        assert_eq!(store.all().unwrap().len(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_outbox_gives_unexported_rows_oldest_first() {
        let (store, dir) = temp_store();
        for (i, text) in ["one", "two", "three"].iter().enumerate() {
            store.insert(&rejection(text), i as i64).unwrap();
        }
        let pending = store.unexported(2, &[]).unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|s| s.feedback.text.as_str())
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        store.mark_exported(&[pending[0].row], 10).unwrap();
        assert_eq!(store.unexported_count().unwrap(), 2);
        assert_eq!(store.unexported(10, &[]).unwrap()[0].feedback.text, "two");
        let after_skip = store.unexported(1, &[pending[1].row]).unwrap();
        assert_eq!(
            after_skip[0].feedback.text, "three",
            "a skipped row does not use up the limit"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn windows_count_and_rate() {
        let (store, dir) = temp_store();
        store.insert(&rejection("old"), 0).unwrap();
        let mut validation = rejection("fine");
        validation.verdict = Verdict::Validation;
        validation.corrected_label = None;
        store.insert(&validation, 500).unwrap();
        store.insert(&rejection("new"), 600).unwrap();
        let stats = store.window_stats("recent", 500).unwrap();
        assert_eq!((stats.validations, stats.rejections), (1, 1));
        assert_eq!(stats.rejection_rate, Some(0.5));
        assert_eq!(
            store.window_stats("none", 10_000).unwrap().rejection_rate,
            None
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
