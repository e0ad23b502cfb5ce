//! The production store: PostgreSQL, shared by every replica of the service.
//!
//! - Migrations are numbered and applied once, under an advisory lock, when a replica starts.
//! - An insert returns once its transaction is committed (`synchronous_commit` as the server has
//!   it, `on` by default): the same promise as the SQLite store.
//! - The outbox is drained by every replica at once: [`Backend::unexported`] claims rows with
//!   `FOR UPDATE SKIP LOCKED` and a lease (`claimed_by`, `claimed_until_ms`), so no two replicas
//!   hold the same row; the rows of a replica that died are claimed again once its lease ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls, Row};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use moodwing_protocol::{FeedbackBucket, ModelId, RadarReport, StoredRadarWindow};

use super::{
    AlertRecord, Backend, COLUMNS, Columns, Inserted, PendingSuspicion, RADAR_COLUMNS, StoreError,
    Stored, radar_row, suspicion_json, to_i64,
};
use crate::feedback::{Feedback, Label, Verdict};

/// Each migration once, in order; never edit one that has shipped, add the next.
const MIGRATIONS: [&str; 2] = [
    "
CREATE TABLE feedback (
    row BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    verdict TEXT NOT NULL CHECK (verdict IN ('validation', 'rejection')),
    text TEXT NOT NULL,
    predicted_label TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    predicted_at TEXT,
    corrected_label TEXT,
    comment TEXT,
    received_at_ms BIGINT NOT NULL,
    exported_at_ms BIGINT,
    prediction_id TEXT UNIQUE,
    issued_at_ms BIGINT,
    signature TEXT,
    claimed_by TEXT,
    claimed_until_ms BIGINT
);
CREATE INDEX feedback_unexported ON feedback (row) WHERE exported_at_ms IS NULL;
CREATE INDEX feedback_received ON feedback (received_at_ms, verdict);
CREATE TABLE alert (
    fired_at_ms BIGINT NOT NULL,
    rejections BIGINT NOT NULL,
    window_secs BIGINT NOT NULL
);
CREATE INDEX alert_fired ON alert (fired_at_ms);
",
    "
CREATE TABLE radar_window (
    row BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    window_secs BIGINT NOT NULL,
    tweets BIGINT NOT NULL,
    negatives BIGINT NOT NULL,
    suspicion TEXT,
    received_at_ms BIGINT NOT NULL,
    exported_at_ms BIGINT,
    claimed_by TEXT,
    claimed_until_ms BIGINT,
    UNIQUE (source, start_ms)
);
CREATE INDEX radar_window_start ON radar_window (start_ms);
CREATE INDEX radar_window_unexported ON radar_window (row)
    WHERE suspicion IS NOT NULL AND exported_at_ms IS NULL;
",
];

/// Advisory lock keys: migrations, and the alert's check-then-insert.
const MIGRATION_LOCK: i64 = 0x6d6f_6f64_0001;
const ALERT_LOCK: i64 = 0x6d6f_6f64_0002;

enum Connections {
    Plain(Pool<PostgresConnectionManager<NoTls>>),
    Tls(Pool<PostgresConnectionManager<MakeRustlsConnect>>),
}

pub struct PostgresStore {
    connections: Connections,
    /// This replica, as it signs its outbox claims.
    replica: String,
    lease: Duration,
}

impl PostgresStore {
    /// Connect (TLS unless the URL says `sslmode=disable`), and bring the schema up to date.
    pub fn open(url: &str, lease: Duration) -> Result<Self, StoreError> {
        let config: postgres::Config = url.parse()?;
        let connections = if config.get_ssl_mode() == postgres::config::SslMode::Disable {
            Connections::Plain(pool(PostgresConnectionManager::new(config, NoTls))?)
        } else {
            Connections::Tls(pool(PostgresConnectionManager::new(config, tls()?))?)
        };
        let store = Self {
            connections,
            replica: Uuid::new_v4().to_string(),
            lease,
        };
        store.with(migrate)?;
        Ok(store)
    }

    /// Run `work` on a pooled connection.
    fn with<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        fn get<M: r2d2::ManageConnection<Connection = Client>>(
            pool: &Pool<M>,
        ) -> Result<PooledConnection<M>, StoreError> {
            pool.get().map_err(|e| StoreError::Pool(e.to_string()))
        }
        match &self.connections {
            Connections::Plain(pool) => work(&mut *get(pool)?),
            Connections::Tls(pool) => work(&mut *get(pool)?),
        }
    }

    fn count(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.with(|client| {
            let count: i64 = client.query_one(sql, params)?.get(0);
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }
}

/// Up to 16 connections per replica (the blocking pool's requests wait for one for 10 s at most).
fn pool<M: r2d2::ManageConnection>(manager: M) -> Result<Pool<M>, StoreError> {
    Pool::builder()
        .max_size(16)
        .connection_timeout(Duration::from_secs(10))
        .build(manager)
        .map_err(|e| StoreError::Pool(e.to_string()))
}

/// Server certificates are checked against the system's roots (Azure's are public).
fn tls() -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(certificate);
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Pool(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    // Replicas start together: one applies, the others wait and then find nothing to do.
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    transaction.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let applied: i32 = transaction
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    for (index, migration) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        if version > applied {
            transaction.batch_execute(migration)?;
            transaction.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&version],
            )?;
        }
    }
    transaction.commit()?;
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn read_row(row: &Row) -> Columns {
    Columns {
        row: row.get(0),
        id: row.get(1),
        verdict: row.get(2),
        text: row.get(3),
        predicted_label: row.get(4),
        score: row.get(5),
        model_name: row.get(6),
        model_version: row.get(7),
        predicted_at: row.get(8),
        corrected_label: row.get(9),
        comment: row.get(10),
        received_at_ms: row.get(11),
        exported: row.get(12),
        prediction_id: row.get(13),
        issued_at_ms: row.get(14),
        signature: row.get(15),
    }
}

fn read_rows(rows: Vec<Row>) -> Result<Vec<Stored>, StoreError> {
    rows.iter().map(|row| read_row(row).into_stored()).collect()
}

impl Backend for PostgresStore {
    fn insert(&self, feedback: &Feedback, now_ms: i64) -> Result<Inserted, StoreError> {
        let signed = feedback.signed.as_ref();
        self.with(|client| {
            let inserted = client.execute(
                "INSERT INTO feedback (id, verdict, text, predicted_label, score, model_name, \
                 model_version, predicted_at, corrected_label, comment, received_at_ms, \
                 prediction_id, issued_at_ms, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT DO NOTHING",
                &[
                    &feedback.id,
                    &feedback.verdict.as_str(),
                    &feedback.text,
                    &feedback.predicted_label.as_str(),
                    &feedback.score,
                    &feedback.model.name,
                    &feedback.model.version,
                    &feedback.predicted_at,
                    &feedback.corrected_label.map(Label::as_str),
                    &feedback.comment,
                    &now_ms,
                    &signed.map(|s| s.prediction_id.as_str()),
                    &signed.map(|s| s.issued_at_ms),
                    &signed.map(|s| s.signature.as_str()),
                ],
            )?;
            if inserted == 1 {
                return Ok(Inserted::Created);
            }
            // Nothing inserted: the id or the prediction was taken. Rows are never deleted, so
            // whichever it was is still there.
            let same_id: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM feedback WHERE id = $1)",
                    &[&feedback.id],
                )?
                .get(0);
            Ok(if same_id {
                Inserted::Duplicate
            } else {
                Inserted::PredictionAnswered
            })
        })
    }

    fn get(&self, id: Uuid) -> Result<Option<Stored>, StoreError> {
        self.with(|client| {
            let row = client.query_opt(
                &format!("SELECT {COLUMNS} FROM feedback WHERE id = $1"),
                &[&id.to_string()],
            )?;
            row.map(|row| read_row(&row).into_stored()).transpose()
        })
    }

    fn unexported(&self, limit: usize, skipped: &[i64]) -> Result<Vec<Stored>, StoreError> {
        let now = now_ms();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|client| {
            // Free rows, expired claims and this replica's own (a retry) are claimed anew.
            let rows = client.query(
                &format!(
                    "UPDATE feedback SET claimed_by = $1, claimed_until_ms = $2 + $3 \
                     WHERE row IN (SELECT row FROM feedback \
                         WHERE exported_at_ms IS NULL AND row <> ALL($4) \
                         AND (claimed_until_ms IS NULL OR claimed_until_ms < $2 OR claimed_by = $1) \
                         ORDER BY row LIMIT $5 FOR UPDATE SKIP LOCKED) \
                     RETURNING {COLUMNS}"
                ),
                &[&self.replica, &now, &lease_ms, &skipped, &limit],
            )?;
            let mut claimed = read_rows(rows)?;
            claimed.sort_by_key(|stored| stored.row);
            Ok(claimed)
        })
    }

    fn mark_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.with(|client| {
            client.execute(
                "UPDATE feedback SET exported_at_ms = $1, claimed_by = NULL, claimed_until_ms = NULL \
                 WHERE row = ANY($2)",
                &[&now_ms, &rows],
            )?;
            Ok(())
        })
    }

    fn all(&self) -> Result<Vec<Stored>, StoreError> {
        self.with(|client| {
            read_rows(client.query(&format!("SELECT {COLUMNS} FROM feedback ORDER BY row"), &[])?)
        })
    }

    fn export(
        &self,
        since_ms: i64,
        after_row: i64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|client| {
            read_rows(client.query(
                &format!(
                    "SELECT {COLUMNS} FROM feedback WHERE received_at_ms >= $1 AND row > $2 \
                     ORDER BY row LIMIT $3"
                ),
                &[&since_ms, &after_row, &limit],
            )?)
        })
    }

    fn count_since(&self, verdict: Verdict, since_ms: i64) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM feedback WHERE verdict = $1 AND received_at_ms >= $2",
            &[&verdict.as_str(), &since_ms],
        )
    }

    fn count_since_up_to(
        &self,
        verdict: Verdict,
        since_ms: i64,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.count(
            "SELECT COUNT(*) FROM (SELECT 1 FROM feedback \
             WHERE verdict = $1 AND received_at_ms >= $2 LIMIT $3) AS recent",
            &[&verdict.as_str(), &since_ms, &limit],
        )
    }

    fn unexported_count(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT (SELECT COUNT(*) FROM feedback WHERE exported_at_ms IS NULL) + \
             (SELECT COUNT(*) FROM radar_window WHERE suspicion IS NOT NULL AND exported_at_ms IS NULL)",
            &[],
        )
    }

    fn record_alert_once(&self, alert: &AlertRecord, since_ms: i64) -> Result<bool, StoreError> {
        self.with(|client| {
            let mut transaction = client.transaction()?;
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&ALERT_LOCK])?;
            let inserted = transaction.execute(
                "INSERT INTO alert (fired_at_ms, rejections, window_secs) \
                 SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM alert WHERE fired_at_ms >= $4)",
                &[
                    &alert.fired_at_ms,
                    &i64::try_from(alert.rejections).unwrap_or(i64::MAX),
                    &i64::try_from(alert.window_secs).unwrap_or(i64::MAX),
                    &since_ms,
                ],
            )?;
            transaction.commit()?;
            Ok(inserted == 1)
        })
    }

    fn alerts_since(&self, since_ms: i64) -> Result<Vec<AlertRecord>, StoreError> {
        self.with(|client| {
            let rows = client.query(
                "SELECT fired_at_ms, rejections, window_secs FROM alert \
                 WHERE fired_at_ms >= $1 ORDER BY fired_at_ms DESC",
                &[&since_ms],
            )?;
            Ok(rows
                .iter()
                .map(|row| AlertRecord {
                    fired_at_ms: row.get(0),
                    rejections: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                    window_secs: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                })
                .collect())
        })
    }

    fn feedback_buckets(
        &self,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<FeedbackBucket>, StoreError> {
        self.with(|client| {
            let rows = client.query(
                "SELECT (received_at_ms / $2) * $2 AS start, model_name, model_version, \
                 COUNT(*) FILTER (WHERE verdict = 'validation'), \
                 COUNT(*) FILTER (WHERE verdict = 'rejection') FROM feedback \
                 WHERE received_at_ms >= $1 GROUP BY start, model_name, model_version \
                 ORDER BY start, model_name, model_version",
                &[&since_ms, &bucket_ms.max(1)],
            )?;
            Ok(rows
                .iter()
                .map(|row| FeedbackBucket {
                    start_ms: row.get(0),
                    model: ModelId {
                        name: row.get(1),
                        version: row.get(2),
                    },
                    validations: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
                    rejections: u64::try_from(row.get::<_, i64>(4)).unwrap_or(0),
                })
                .collect())
        })
    }

    fn newest(&self, verdict: Verdict, limit: usize) -> Result<Vec<Stored>, StoreError> {
        self.with(|client| {
            read_rows(client.query(
                &format!(
                    "SELECT {COLUMNS} FROM feedback WHERE verdict = $1 ORDER BY row DESC LIMIT $2"
                ),
                &[&verdict.as_str(), &to_i64(limit as u64)],
            )?)
        })
    }

    fn record_radar(&self, report: &RadarReport, now_ms: i64) -> Result<u64, StoreError> {
        self.with(|client| {
            let mut transaction = client.transaction()?;
            let mut new_suspicions = 0;
            for window in &report.windows {
                let suspicion = suspicion_json(window);
                // Locked until the commit, so a concurrent report of the same window waits.
                let flagged_before = transaction
                    .query_opt(
                        "SELECT suspicion IS NOT NULL FROM radar_window \
                         WHERE source = $1 AND start_ms = $2 FOR UPDATE",
                        &[&report.source, &window.start_ms],
                    )?
                    .is_some_and(|row| row.get::<_, bool>(0));
                transaction.execute(
                    "INSERT INTO radar_window (source, start_ms, window_secs, tweets, negatives, \
                         suspicion, received_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (source, start_ms) DO UPDATE SET window_secs = excluded.window_secs, \
                         tweets = excluded.tweets, negatives = excluded.negatives, \
                         suspicion = COALESCE(radar_window.suspicion, excluded.suspicion)",
                    &[
                        &report.source,
                        &window.start_ms,
                        &to_i64(report.window_secs),
                        &to_i64(window.tweets),
                        &to_i64(window.negatives),
                        &suspicion,
                        &now_ms,
                    ],
                )?;
                if suspicion.is_some() && !flagged_before {
                    new_suspicions += 1;
                }
            }
            transaction.commit()?;
            Ok(new_suspicions)
        })
    }

    fn radar_since(&self, since_ms: i64) -> Result<Vec<StoredRadarWindow>, StoreError> {
        self.with(|client| {
            let rows = client.query(
                &format!(
                    "SELECT {RADAR_COLUMNS} FROM radar_window WHERE start_ms >= $1 \
                     ORDER BY start_ms, source"
                ),
                &[&since_ms],
            )?;
            rows.iter()
                .map(|row| read_radar_row(row).map(|read| read.window))
                .collect()
        })
    }

    fn unexported_suspicions(&self, limit: usize) -> Result<Vec<PendingSuspicion>, StoreError> {
        let now = now_ms();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        self.with(|client| {
            let rows = client.query(
                &format!(
                    "UPDATE radar_window SET claimed_by = $1, claimed_until_ms = $2 + $3 \
                     WHERE row IN (SELECT row FROM radar_window \
                         WHERE suspicion IS NOT NULL AND exported_at_ms IS NULL \
                         AND (claimed_until_ms IS NULL OR claimed_until_ms < $2 OR claimed_by = $1) \
                         ORDER BY row LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING {RADAR_COLUMNS}"
                ),
                &[&self.replica, &now, &lease_ms, &to_i64(limit as u64)],
            )?;
            let mut pending = rows
                .iter()
                .map(read_radar_row)
                .collect::<Result<Vec<_>, StoreError>>()?;
            pending.sort_by_key(|suspicion| suspicion.row);
            Ok(pending)
        })
    }

    fn mark_suspicions_exported(&self, rows: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.with(|client| {
            client.execute(
                "UPDATE radar_window SET exported_at_ms = $1, claimed_by = NULL, \
                 claimed_until_ms = NULL WHERE row = ANY($2)",
                &[&now_ms, &rows],
            )?;
            Ok(())
        })
    }
}

/// A row of `RADAR_COLUMNS`.
fn read_radar_row(row: &Row) -> Result<PendingSuspicion, StoreError> {
    radar_row(
        row.get(0),
        row.get(1),
        row.get(2),
        [row.get(3), row.get(4), row.get(5)],
        row.get(6),
        row.get(7),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback::tests::rejection;
    use crate::store::tests::fresh_postgres_url;

    #[test]
    fn replicas_claim_disjoint_rows_and_take_over_a_dead_ones_after_its_lease() {
        let Some(url) = fresh_postgres_url() else {
            return;
        };
        let lease = Duration::from_millis(300);
        let (a, b) = (
            PostgresStore::open(&url, lease).unwrap(),
            PostgresStore::open(&url, lease).unwrap(),
        );
        for i in 0..5 {
            a.insert(&rejection(&format!("complaint {i}")), i).unwrap();
        }
        let rows = |claimed: Vec<Stored>| claimed.iter().map(|s| s.row).collect::<Vec<_>>();
        let claimed_by_a = rows(a.unexported(3, &[]).unwrap());
        let claimed_by_b = rows(b.unexported(10, &[]).unwrap());
        assert_eq!(claimed_by_a.len(), 3);
        assert_eq!(claimed_by_b.len(), 2);
        assert!(
            claimed_by_b.iter().all(|row| !claimed_by_a.contains(row)),
            "no row held twice"
        );
        b.mark_exported(&claimed_by_b, 10).unwrap();

        // `a` dies holding its rows: once its lease is over, `b` takes them.
        assert!(b.unexported(10, &[]).unwrap().is_empty());
        std::thread::sleep(lease + Duration::from_millis(100));
        assert_eq!(rows(b.unexported(10, &[]).unwrap()), claimed_by_a);
    }

    #[test]
    fn replicas_starting_together_apply_each_migration_once() {
        let Some(url) = fresh_postgres_url() else {
            return;
        };
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    PostgresStore::open(&url, Duration::from_secs(60)).map(|_| ())
                })
            })
            .collect();
        for start in starts {
            start.join().unwrap().unwrap();
        }
        let store = PostgresStore::open(&url, Duration::from_secs(60)).unwrap();
        let versions = store
            .count("SELECT COUNT(*) FROM schema_migrations", &[])
            .unwrap();
        assert_eq!(versions, MIGRATIONS.len() as u64);
    }
}
