//! The embedded store: SQLite in WAL mode with `synchronous=FULL`; one connection behind a mutex
//! (one writer at a time is all SQLite allows), so one process, one replica.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use moodwing_protocol::{FeedbackBucket, ModelId, RadarReport, StoredRadarWindow};

use super::{
    AlertRecord, Backend, COLUMNS, Columns, Inserted, PendingSuspicion, RADAR_COLUMNS, StoreError,
    Stored, radar_row, suspicion_json, to_i64,
};
use crate::feedback::{Feedback, Label, Verdict};

pub struct SqliteStore {
    connection: Mutex<Connection>,
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
CREATE TABLE IF NOT EXISTS radar_window (
    row INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    window_secs INTEGER NOT NULL,
    tweets INTEGER NOT NULL,
    negatives INTEGER NOT NULL,
    suspicion TEXT,
    received_at_ms INTEGER NOT NULL,
    exported_at_ms INTEGER,
    UNIQUE (source, start_ms)
);
CREATE INDEX IF NOT EXISTS radar_window_start ON radar_window (start_ms);
";

/// Columns added since the first release, added to an older store when it is opened.
const ADDED_COLUMNS: [(&str, &str); 3] = [
    ("prediction_id", "TEXT"),
    ("issued_at_ms", "INTEGER"),
    ("signature", "TEXT"),
];

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        add_missing_columns(&connection)?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.connection.lock().map_err(|_| StoreError::Poisoned)
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Stored>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(sql)?;
        let rows = statement.query_map(params, read_row)?;
        let mut stored = Vec::new();
        for row in rows {
            stored.push(row?.into_stored()?);
        }
        Ok(stored)
    }
}

impl Backend for SqliteStore {
    fn insert(&self, feedback: &Feedback, now_ms: i64) -> Result<Inserted, StoreError> {
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

    fn get(&self, id: Uuid) -> Result<Option<Stored>, StoreError> {
        let connection = self.lock()?;
        let mut statement =
            connection.prepare(&format!("SELECT {COLUMNS} FROM feedback WHERE id = ?1"))?;
        let row = statement.query_row([id.to_string()], read_row).optional()?;
        row.map(Columns::into_stored).transpose()
    }

    fn unexported(&self, limit: usize, skipped: &[i64]) -> Result<Vec<Stored>, StoreError> {
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

    fn all(&self) -> Result<Vec<Stored>, StoreError> {
        self.select(&format!("SELECT {COLUMNS} FROM feedback ORDER BY row"), [])
    }

    fn export(
        &self,
        since_ms: i64,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.select(
            &format!(
                "SELECT {COLUMNS} FROM feedback WHERE received_at_ms >= ?1 AND row > ?2 \
                 ORDER BY row LIMIT ?3"
            ),
            params![
                since_ms,
                after_row,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )
    }

    fn mark_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError> {
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

    fn count_since(&self, verdict: Verdict, since_ms: i64) -> Result<u64, StoreError> {
        let count: i64 = self.lock()?.query_row(
            "SELECT COUNT(*) FROM feedback WHERE verdict = ?1 AND received_at_ms >= ?2",
            params![verdict.as_str(), since_ms],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn count_since_up_to(
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

    fn unexported_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self.lock()?.query_row(
            "SELECT (SELECT COUNT(*) FROM feedback WHERE exported_at_ms IS NULL) + \
             (SELECT COUNT(*) FROM radar_window WHERE suspicion IS NOT NULL AND exported_at_ms IS NULL)",
            [],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    fn record_alert_once(&self, alert: &AlertRecord, since_ms: i64) -> Result<bool, StoreError> {
        // One connection behind the mutex: nothing runs between the check and the insert.
        let connection = self.lock()?;
        let inserted = connection.execute(
            "INSERT INTO alert (fired_at_ms, rejections, window_secs) \
             SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM alert WHERE fired_at_ms >= ?4)",
            params![
                alert.fired_at_ms,
                alert.rejections as i64,
                alert.window_secs as i64,
                since_ms
            ],
        )?;
        Ok(inserted == 1)
    }

    fn alerts_since(&self, since_ms: i64) -> Result<Vec<AlertRecord>, StoreError> {
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

    fn feedback_buckets(
        &self,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<FeedbackBucket>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(
            "SELECT (received_at_ms / ?2) * ?2 AS start, model_name, model_version, \
             SUM(verdict = 'validation'), SUM(verdict = 'rejection') FROM feedback \
             WHERE received_at_ms >= ?1 GROUP BY start, model_name, model_version \
             ORDER BY start, model_name, model_version",
        )?;
        let buckets = statement.query_map(params![since_ms, bucket_ms.max(1)], |row| {
            Ok(FeedbackBucket {
                start_ms: row.get(0)?,
                model: ModelId {
                    name: row.get(1)?,
                    version: row.get(2)?,
                },
                validations: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                rejections: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
            })
        })?;
        Ok(buckets.collect::<Result<_, _>>()?)
    }

    fn newest(&self, verdict: Verdict, limit: usize) -> Result<Vec<Stored>, StoreError> {
        self.select(
            &format!(
                "SELECT {COLUMNS} FROM feedback WHERE verdict = ?1 ORDER BY row DESC LIMIT ?2"
            ),
            params![verdict.as_str(), to_i64(limit as u64)],
        )
    }

    fn record_radar(&self, report: &RadarReport, now_ms: i64) -> Result<u64, StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        let mut new_suspicions = 0;
        for window in &report.windows {
            let suspicion = suspicion_json(window);
            let was_flagged: Option<bool> = transaction
                .query_row(
                    "SELECT suspicion IS NOT NULL FROM radar_window WHERE source = ?1 AND start_ms = ?2",
                    params![report.source, window.start_ms],
                    |row| row.get(0),
                )
                .optional()?;
            if suspicion.is_some() && was_flagged != Some(true) {
                new_suspicions += 1;
            }
            transaction.execute(
                "INSERT INTO radar_window (source, start_ms, window_secs, tweets, negatives, \
                 suspicion, received_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (source, start_ms) DO UPDATE SET window_secs = excluded.window_secs, \
                 tweets = excluded.tweets, negatives = excluded.negatives, \
                 suspicion = COALESCE(radar_window.suspicion, excluded.suspicion)",
                params![
                    report.source,
                    window.start_ms,
                    to_i64(report.window_secs),
                    to_i64(window.tweets),
                    to_i64(window.negatives),
                    suspicion,
                    now_ms
                ],
            )?;
        }
        transaction.commit()?;
        Ok(new_suspicions)
    }

    fn radar_since(&self, since_ms: i64) -> Result<Vec<StoredRadarWindow>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(&format!(
            "SELECT {RADAR_COLUMNS} FROM radar_window WHERE start_ms >= ?1 ORDER BY start_ms, source"
        ))?;
        let rows = statement.query_map([since_ms], read_radar_row)?;
        rows.map(|row| row?.map(|read| read.window)).collect()
    }

    fn unexported_suspicions(&self, limit: usize) -> Result<Vec<PendingSuspicion>, StoreError> {
        let connection = self.lock()?;
        let mut statement = connection.prepare(&format!(
            "SELECT {RADAR_COLUMNS} FROM radar_window \
             WHERE suspicion IS NOT NULL AND exported_at_ms IS NULL ORDER BY row LIMIT ?1"
        ))?;
        let rows = statement.query_map([to_i64(limit as u64)], read_radar_row)?;
        rows.map(|row| row?).collect()
    }

    fn mark_suspicions_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut connection = self.lock()?;
        let transaction = connection.transaction()?;
        for row in rows {
            transaction.execute(
                "UPDATE radar_window SET exported_at_ms = ?1 WHERE row = ?2",
                params![now_ms, row],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }
}

/// A row of `RADAR_COLUMNS`.
fn read_radar_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<PendingSuspicion, StoreError>> {
    Ok(radar_row(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        [row.get(3)?, row.get(4)?, row.get(5)?],
        row.get(6)?,
        row.get(7)?,
    ))
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Columns> {
    Ok(Columns {
        row: row.get(0)?,
        id: row.get(1)?,
        verdict: row.get(2)?,
        text: row.get(3)?,
        predicted_label: row.get(4)?,
        score: row.get(5)?,
        model_name: row.get(6)?,
        model_version: row.get(7)?,
        predicted_at: row.get(8)?,
        corrected_label: row.get(9)?,
        comment: row.get(10)?,
        received_at_ms: row.get(11)?,
        exported: row.get(12)?,
        prediction_id: row.get(13)?,
        issued_at_ms: row.get(14)?,
        signature: row.get(15)?,
    })
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
        let store = SqliteStore::open(&path).unwrap();
        let all = store.all().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].feedback.signed, None);
        let signed = rejection("new one");
        assert_eq!(store.insert(&signed, 6).unwrap(), Inserted::Created);
        assert_eq!(store.all().unwrap()[1].feedback, signed);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
