use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use crate::feedback::{Feedback, Label, ModelId, Verdict};
use moodwing_protocol::Signed;

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
    exported_at_ms INTEGER,
    prediction_id TEXT,
    issued_at_ms INTEGER,
    signature TEXT
);
CREATE INDEX IF NOT EXISTS feedback_unexported ON feedback (row) WHERE exported_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS feedback_received ON feedback (received_at_ms, verdict);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_prediction ON feedback (prediction_id);
CREATE TABLE IF NOT EXISTS alert (
    fired_at_ms INTEGER NOT NULL,
    rejections INTEGER NOT NULL,
    window_secs INTEGER NOT NULL
);
";

/// Columns added since the first release, added to an older store when it is opened.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("prediction_id", "TEXT"),
    ("issued_at_ms", "INTEGER"),
    ("signature", "TEXT"),
];

const COLUMNS: &str = "row, id, verdict, text, predicted_label, score, model_name, model_version, \
    predicted_at, corrected_label, comment, received_at_ms, exported_at_ms IS NOT NULL, \
    prediction_id, issued_at_ms, signature";

/// What [`Store::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Created,
    /// A retry: a feedback with this id was already stored.
    Duplicate,
    /// Another feedback about the same prediction was already stored; nothing was stored.
    PredictionAnswered,
}

impl Store {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        add_missing_columns(&connection)?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Store a feedback, at most one per id and one per signed prediction.
    pub fn insert(&self, feedback: &Feedback, now_ms: i64) -> Result<Inserted, StoreError> {
        let signed = feedback.signed.as_ref();
        let connection = self.lock()?;
        let inserted = connection.execute(
            "INSERT OR IGNORE INTO feedback (id, verdict, text, predicted_label, score, model_name, \
             model_version, predicted_at, corrected_label, comment, received_at_ms, prediction_id, \
             issued_at_ms, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                feedback.id,
                feedback.verdict.as_str(),
                feedback.text,
                feedback.predicted_label.as_str(),
                feedback.score,
                feedback.model.name,
                feedback.model.version,
                feedback.predicted_at,
                feedback.corrected_label.map(Label::as_str),
                feedback.comment,
                now_ms,
                signed.map(|s| &s.prediction_id),
                signed.map(|s| s.issued_at_ms),
                signed.map(|s| &s.signature),
            ],
        )?;
        if inserted == 1 {
            return Ok(Inserted::Created);
        }
        // Ignored: the id or the prediction was taken. Same connection, still locked: no writer
        // came in between.
        let same_id: bool = connection.query_row(
            "SELECT EXISTS (SELECT 1 FROM feedback WHERE id = ?1)",
            [&feedback.id],
            |row| row.get(0),
        )?;
        Ok(if same_id {
            Inserted::Duplicate
        } else {
            Inserted::PredictionAnswered
        })
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

    /// [`Store::count_since`], counting no further than `limit`.
    pub fn count_since_up_to(
        &self,
        verdict: Verdict,
        since_ms: i64,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let count: i64 = self.lock()?.query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM feedback \
             WHERE verdict = ?1 AND received_at_ms >= ?2 LIMIT ?3)",
            params![
                verdict.as_str(),
                since_ms,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
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
    let predicted: String = row.get(4)?;
    let corrected: Option<String> = row.get(9)?;
    let corrected_label = corrected.as_deref().map(parse_label);
    let (Ok(uuid), Some(verdict), Some(predicted_label), None | Some(Some(_))) = (
        Uuid::parse_str(&id),
        parse_verdict(&verdict),
        parse_label(&predicted),
        corrected_label,
    ) else {
        return Ok(Err((
            index,
            format!("bad id {id:?}, verdict {verdict:?} or labels {predicted:?}, {corrected:?}"),
        )));
    };
    let prediction_id: Option<String> = row.get(13)?;
    let signed = match (prediction_id, row.get(14)?, row.get(15)?) {
        (Some(prediction_id), Some(issued_at_ms), Some(signature)) => Some(Signed {
            prediction_id,
            issued_at_ms,
            signature,
        }),
        _ => None,
    };
    Ok(Ok(Stored {
        row: index,
        id: uuid,
        received_at_ms: row.get(11)?,
        exported: row.get(12)?,
        feedback: Feedback {
            id,
            verdict,
            text: row.get(3)?,
            predicted_label,
            score: row.get(5)?,
            model: ModelId {
                name: row.get(6)?,
                version: row.get(7)?,
            },
            signed,
            predicted_at: row.get(8)?,
            corrected_label: corrected_label.flatten(),
            comment: row.get(10)?,
        },
    }))
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

/// Bring a store made by an earlier release up to [`SCHEMA`] (SQLite has no `ADD COLUMN IF NOT
/// EXISTS`).
fn add_missing_columns(connection: &Connection) -> Result<(), StoreError> {
    let exists: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feedback')",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(());
    }
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info('feedback')")?;
    let present = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for (name, kind) in ADDED_COLUMNS {
        if !present.iter().any(|column| column == name) {
            connection.execute_batch(&format!("ALTER TABLE feedback ADD COLUMN {name} {kind}"))?;
        }
    }
    Ok(())
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
        assert_eq!(store.insert(&feedback, 1_000).unwrap(), Inserted::Created);
        assert_eq!(store.insert(&feedback, 2_000).unwrap(), Inserted::Duplicate);
        let mut second_opinion = feedback.clone();
        second_opinion.id = Uuid::new_v4().to_string();
        assert_eq!(
            store.insert(&second_opinion, 3_000).unwrap(),
            Inserted::PredictionAnswered
        );
        let stored = store
            .get(Uuid::parse_str(&feedback.id).unwrap())
            .unwrap()
            .unwrap();
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

    #[test]
    fn a_store_of_the_first_release_gains_the_signature_columns() {
        let dir = std::env::temp_dir().join(format!("moodwing-store-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("feedback.sqlite");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE feedback (row INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, \
             verdict TEXT NOT NULL, text TEXT NOT NULL, predicted_label TEXT NOT NULL, \
             score REAL NOT NULL, model_name TEXT NOT NULL, model_version TEXT NOT NULL, \
             predicted_at TEXT, corrected_label TEXT, comment TEXT, \
             received_at_ms INTEGER NOT NULL, exported_at_ms INTEGER);
             INSERT INTO feedback (id, verdict, text, predicted_label, score, model_name, \
             model_version, corrected_label, received_at_ms) VALUES \
             ('0b6a4c3e-2f4d-4f7a-9b1c-5d6e7f8a9b0c', 'rejection', 'old one', 'positive', 0.8, \
             'moodwing-lstm', '1', 'negative', 5);",
        )
        .unwrap();
        drop(old);
        let store = Store::open(&path).unwrap();
        let all = store.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].feedback.signed, None);
        let signed = rejection("new one");
        assert_eq!(store.insert(&signed, 6).unwrap(), Inserted::Created);
        assert_eq!(store.all().unwrap()[1].feedback, signed);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
