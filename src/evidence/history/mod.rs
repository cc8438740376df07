//! The history of runs: every finished run appended as a record whose `digest` is the SHA-256
//! of its canonical JSON including `previous_digest`, so the records form a hash chain. Edit a
//! record and its digest no longer matches; delete, insert or reorder one and the next
//! record's `previous_digest` no longer points at the one before it. `verify` finds the first
//! such record, for every store alike: the stores only keep and return records in order.
//!
//! What a chain cannot show on its own: the newest records removed from the end, or the whole
//! chain rewritten by someone who recomputes every digest. Keep the history where it cannot be
//! rewritten (a shared store with object lock) for that, and sign the records (`--sign-key`):
//! each record then keeps the minisign signature of its JSON, which `verify_signatures` checks
//! against a public key, so a rewritten chain would need the secret key too.

pub(crate) mod s3;
pub mod sqlite;

use std::path::PathBuf;

use serde_json::Value;

use super::report::{Report, digest_of};
use super::signature::{Signer, Verifier};

/// One stored record: its place in the chain, and the report as it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub seq: i64,
    pub json: String,
    pub digest: String,
    /// The minisign signature of `json`'s bytes (a `.minisig` file's text), when the run was
    /// signed.
    pub signature: Option<String>,
}

impl Stored {
    pub fn report(&self) -> Result<Report, HistoryError> {
        serde_json::from_str(&self.json).map_err(|e| HistoryError::Corrupt {
            seq: self.seq,
            why: e.to_string(),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {place}: {why}")]
    Store { place: String, why: String },
    #[error("history record {seq}: not a report: {why}")]
    Corrupt { seq: i64, why: String },
    #[error(transparent)]
    Signature(#[from] super::signature::SignatureError),
}

/// A store of the chain. Async because the shared store is S3; the SQLite store answers at
/// once.
#[allow(async_fn_in_trait)]
pub trait History {
    /// Where it is, for messages.
    fn place(&self) -> String;
    /// Every record, in chain order.
    async fn records(&self) -> Result<Vec<Stored>, HistoryError>;
    /// Appends `report`, chained to the last record: sets its `previous_digest` and `digest`,
    /// and keeps `signer`'s signature of the record's JSON with it.
    async fn append(
        &mut self,
        report: &mut Report,
        signer: Option<&Signer>,
    ) -> Result<Stored, HistoryError>;
}

/// The stores there are: a SQLite file, or an S3 bucket with Object Lock.
pub enum Store {
    Sqlite(sqlite::Sqlite),
    S3(s3::S3),
}

impl History for Store {
    fn place(&self) -> String {
        match self {
            Store::Sqlite(s) => s.place(),
            Store::S3(s) => s.place(),
        }
    }

    async fn records(&self) -> Result<Vec<Stored>, HistoryError> {
        match self {
            Store::Sqlite(s) => s.records().await,
            Store::S3(s) => s.records().await,
        }
    }

    async fn append(
        &mut self,
        report: &mut Report,
        signer: Option<&Signer>,
    ) -> Result<Stored, HistoryError> {
        match self {
            Store::Sqlite(s) => s.append(report, signer).await,
            Store::S3(s) => s.append(report, signer).await,
        }
    }
}

/// Chains `report` to `last` (the newest record's digest, if any).
pub(crate) fn chain(report: &mut Report, last: Option<String>) {
    report.previous_digest = last;
    report.digest = None;
    report.digest = Some(report.compute_digest());
}

/// The record's JSON, and its signature by `signer` if any.
pub(crate) fn record_of(
    report: &Report,
    signer: Option<&Signer>,
) -> Result<(String, Option<String>), HistoryError> {
    let json = report.to_json();
    let signature = match signer {
        Some(s) => Some(s.sign(json.as_bytes(), &trusted_comment(report, "report.json"))?),
        None => None,
    };
    Ok((json, signature))
}

/// What a signature of one of `report`'s files says about it, signed with it and printed by
/// `minisign -V`: which file of which run, with its digest.
pub fn trusted_comment(report: &Report, file: &str) -> String {
    format!(
        "rebound {file} run {} digest {}",
        report.run_id,
        report.digest.as_deref().unwrap_or("none")
    )
}

/// Every record's signature checked against `key`: the number of records when each carries a
/// good one, else the first that does not (unsigned, or a signature that does not verify).
pub fn verify_signatures(records: &[Stored], key: &Verifier) -> Result<usize, Broken> {
    for r in records {
        let run_id = serde_json::from_str::<Value>(&r.json)
            .ok()
            .and_then(|v| v["run_id"].as_str().map(str::to_string))
            .unwrap_or_else(|| "?".to_string());
        let why = match &r.signature {
            None => Some("it is not signed".to_string()),
            Some(sig) => key
                .verify(r.json.as_bytes(), sig)
                .err()
                .map(|e| format!("its signature does not verify with this key ({e})")),
        };
        if let Some(why) = why {
            return Err(Broken {
                seq: r.seq,
                run_id,
                why,
            });
        }
    }
    Ok(records.len())
}

/// The first record that breaks the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub seq: i64,
    pub run_id: String,
    pub why: String,
}

/// Recomputes the chain; the number of records when it holds.
pub fn verify(records: &[Stored]) -> Result<usize, Broken> {
    let mut previous: Option<String> = None;
    for r in records {
        let value: Value = serde_json::from_str(&r.json).unwrap_or(Value::Null);
        let run_id = value["run_id"].as_str().unwrap_or("?").to_string();
        let broken = |why: String| Broken {
            seq: r.seq,
            run_id: run_id.clone(),
            why,
        };
        if !value.is_object() {
            return Err(broken("not a JSON report".to_string()));
        }
        let claimed = value["digest"].as_str().unwrap_or_default();
        let computed = digest_of(&value);
        if claimed != r.digest || computed != r.digest {
            return Err(broken(
                "its content does not match its digest (edited)".to_string(),
            ));
        }
        let points_at = value["previous_digest"].as_str().map(str::to_string);
        if points_at != previous {
            return Err(broken(
                "it does not follow the record before it (a record was deleted, inserted or moved)"
                    .to_string(),
            ));
        }
        previous = Some(r.digest.clone());
    }
    Ok(records.len())
}

/// The default history: `history.sqlite` in the per-user data directory.
pub fn default_path() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("", "", "rebound")?;
    Some(dirs.data_dir().join("history.sqlite"))
}

/// Opens the history at `place`: `s3://BUCKET/PREFIX` (through `settings`, records locked
/// for `retention`), else a SQLite file.
pub async fn open(
    place: &str,
    settings: &crate::cloud::aws::Settings,
    retention: chrono::Duration,
) -> Result<Store, HistoryError> {
    if place.starts_with("s3://") {
        Ok(Store::S3(s3::S3::open(place, settings, retention).await?))
    } else {
        Ok(Store::Sqlite(sqlite::Sqlite::open(std::path::Path::new(
            place,
        ))?))
    }
}
