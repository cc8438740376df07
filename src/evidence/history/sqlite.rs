//! The history in one SQLite file (rusqlite, SQLite compiled in): a table of records in chain
//! order, each the report's JSON with its digest. Appends are one IMMEDIATE transaction, so
//! two runs finishing at once on one machine still form one chain.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior, params};

use super::{History, HistoryError, Stored, chain, record_of};
use crate::evidence::report::Report;
use crate::evidence::signature::Signer;
use crate::preflight::readiness::Readiness;

pub struct Sqlite {
    path: PathBuf,
    conn: Connection,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS runs (
    seq        INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    runbook    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    simulated  INTEGER NOT NULL,
    report     TEXT NOT NULL,
    digest     TEXT NOT NULL,
    signature  TEXT
)";

/// Histories made before runs were signed have no `signature` column: it is added, empty for
/// their records (which are unsigned). The chain's digests do not cover it: a signature is
/// checked against the record itself.
const SIGNATURE_COLUMN: &str = "ALTER TABLE runs ADD COLUMN signature TEXT";

/// Readiness checks (`rebound preflight --record`), apart from the runs: a check is never
/// evidence of recovery, and is not in the runs' hash chain.
const READINESS: &str = "CREATE TABLE IF NOT EXISTS readiness (
    seq        INTEGER PRIMARY KEY,
    runbook    TEXT NOT NULL,
    at         TEXT NOT NULL,
    level      TEXT NOT NULL,
    readiness  TEXT NOT NULL
)";

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, HistoryError> {
        let err = |e: &dyn std::fmt::Display| HistoryError::Store {
            place: path.display().to_string(),
            why: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        let conn = Connection::open(path).map_err(|e| err(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| err(&e))?;
        conn.execute(SCHEMA, []).map_err(|e| err(&e))?;
        let signed: bool = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'signature'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| err(&e))?;
        if !signed {
            conn.execute(SIGNATURE_COLUMN, []).map_err(|e| err(&e))?;
        }
        conn.execute(READINESS, []).map_err(|e| err(&e))?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Appends one readiness check.
    pub fn record_readiness(&self, r: &Readiness) -> Result<(), HistoryError> {
        let json = serde_json::to_string(r).map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO readiness (runbook, at, level, readiness) VALUES (?1, ?2, ?3, ?4)",
                params![r.runbook, r.at.to_rfc3339(), r.level().name(), json],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every readiness check, oldest first, by runbook name.
    pub fn readiness(&self) -> Result<Vec<Readiness>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, readiness FROM readiness ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json) = row.map_err(|e| self.err(e))?;
            out.push(
                serde_json::from_str(&json).map_err(|e| HistoryError::Corrupt {
                    seq,
                    why: format!("not a readiness check: {e}"),
                })?,
            );
        }
        Ok(out)
    }

    fn err(&self, e: impl std::fmt::Display) -> HistoryError {
        HistoryError::Store {
            place: self.place(),
            why: e.to_string(),
        }
    }
}

impl History for Sqlite {
    fn place(&self) -> String {
        self.path.display().to_string()
    }

    async fn records(&self) -> Result<Vec<Stored>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, report, digest, signature FROM runs ORDER BY seq")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(Stored {
                    seq: row.get(0)?,
                    json: row.get(1)?,
                    digest: row.get(2)?,
                    signature: row.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    async fn append(
        &mut self,
        report: &mut Report,
        signer: Option<&Signer>,
    ) -> Result<Stored, HistoryError> {
        let place = self.place();
        let err = |e: rusqlite::Error| HistoryError::Store {
            place: place.clone(),
            why: e.to_string(),
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let last: Option<String> = tx
            .query_row(
                "SELECT digest FROM runs ORDER BY seq DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(err)?;
        chain(report, last);
        let (json, signature) = record_of(report, signer)?;
        let digest = report.digest.clone().unwrap_or_default();
        tx.execute(
            "INSERT INTO runs (run_id, runbook, started_at, outcome, simulated, report, digest, signature)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                report.run_id,
                report.runbook.name,
                report.started_at,
                report.outcome.name(),
                report.simulated,
                json,
                digest,
                signature
            ],
        )
        .map_err(err)?;
        let seq = tx.last_insert_rowid();
        tx.commit().map_err(err)?;
        Ok(Stored {
            seq,
            json,
            digest,
            signature,
        })
    }
}
