//! The history as objects in an S3 bucket with Object Lock, for teams whose drills run on many
//! machines: each record is its own object (`PREFIX/records/000000000042.json`), written once
//! (a conditional put: two writers cannot take one place) and locked in compliance mode for
//! the retention the user sets, so no one can rewrite past evidence. A locked object can still
//! get a newer *version* on top of it; records are read from each key's oldest version, the
//! one that was locked, so a later version changes nothing. A signed record's signature is the
//! object beside it (`PREFIX/records/000000000042.json.minisig`), written and locked the same
//! way, after the record.

use chrono::{DateTime, Utc};

use std::collections::BTreeMap;

use super::{History, HistoryError, Stored, chain, record_of};
use crate::cloud::aws::s3::Objects;
use crate::evidence::report::Report;
use crate::evidence::signature::{SUFFIX, Signer};

pub struct S3 {
    objects: Objects,
    /// `PREFIX/records/`.
    prefix: String,
    retention: chrono::Duration,
}

/// Attempts at an append that lost a race for its place.
const APPEND_ATTEMPTS: u32 = 5;

impl S3 {
    /// `location` is `s3://BUCKET/PREFIX`.
    pub(crate) async fn open(
        location: &str,
        settings: &crate::cloud::aws::Settings,
        retention: chrono::Duration,
    ) -> Result<S3, HistoryError> {
        let rest = location.strip_prefix("s3://").unwrap_or(location);
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(HistoryError::Store {
                place: location.to_string(),
                why: "expected s3://BUCKET/PREFIX".to_string(),
            });
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            "records/".to_string()
        } else {
            format!("{prefix}/records/")
        };
        Ok(S3 {
            objects: Objects::connect(settings, bucket).await,
            prefix,
            retention,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> HistoryError {
        HistoryError::Store {
            place: self.place(),
            why: e.to_string(),
        }
    }

    fn seq_of(&self, key: &str) -> Option<i64> {
        key.strip_prefix(&self.prefix)?
            .strip_suffix(".json")?
            .parse()
            .ok()
    }

    /// Each record's key and its oldest version, in key order; and the oldest version of
    /// each signature, by the key of the record it signs.
    async fn originals(&self) -> Result<Originals, HistoryError> {
        let versions = self
            .objects
            .versions(&self.prefix)
            .await
            .map_err(|e| self.err(e))?;
        let mut out: Vec<(i64, String, String)> = Vec::new();
        let mut signatures: BTreeMap<String, String> = BTreeMap::new();
        for v in versions {
            if let Some(record) = v.key.strip_suffix(SUFFIX) {
                // Oldest first per key: the first seen is the original.
                signatures.entry(record.to_string()).or_insert(v.version_id);
                continue;
            }
            let Some(seq) = self.seq_of(&v.key) else {
                continue;
            };
            // Oldest first per key: the first seen is the original.
            if out.last().is_none_or(|(_, k, _)| k != &v.key) {
                out.push((seq, v.key, v.version_id));
            }
        }
        out.sort_by_key(|(seq, _, _)| *seq);
        Ok(Originals {
            records: out,
            signatures,
        })
    }

    async fn read(
        &self,
        seq: i64,
        key: &str,
        version: &str,
        signature: Option<&String>,
    ) -> Result<Stored, HistoryError> {
        let json = self
            .objects
            .get(key, version)
            .await
            .map_err(|e| self.err(e))?;
        let digest = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v["digest"].as_str().map(str::to_string))
            .unwrap_or_default();
        let signature = match signature {
            Some(v) => Some(
                self.objects
                    .get(&format!("{key}{SUFFIX}"), v)
                    .await
                    .map_err(|e| self.err(e))?,
            ),
            None => None,
        };
        Ok(Stored {
            seq,
            json,
            digest,
            signature,
        })
    }
}

/// What the bucket holds: records (seq, key, oldest version) and signatures' oldest versions.
struct Originals {
    records: Vec<(i64, String, String)>,
    signatures: BTreeMap<String, String>,
}

impl History for S3 {
    fn place(&self) -> String {
        format!("s3://{}/{}", self.objects.bucket, self.prefix)
    }

    async fn records(&self) -> Result<Vec<Stored>, HistoryError> {
        let originals = self.originals().await?;
        let mut out = Vec::new();
        for (seq, key, version) in &originals.records {
            out.push(
                self.read(*seq, key, version, originals.signatures.get(key))
                    .await?,
            );
        }
        Ok(out)
    }

    async fn append(
        &mut self,
        report: &mut Report,
        signer: Option<&Signer>,
    ) -> Result<Stored, HistoryError> {
        let mut last_error = None;
        for _ in 0..APPEND_ATTEMPTS {
            let originals = self.originals().await?;
            let (seq, previous) = match originals.records.last() {
                Some((seq, key, version)) => (
                    seq + 1,
                    Some(self.read(*seq, key, version, None).await?.digest),
                ),
                None => (1, None),
            };
            chain(report, previous);
            let (json, signature) = record_of(report, signer)?;
            let key = format!("{}{seq:012}.json", self.prefix);
            let until: DateTime<Utc> = Utc::now() + self.retention;
            match self.objects.put_locked(&key, json.clone(), until).await {
                Ok(()) => {
                    // The place is ours: the signature beside it cannot race anyone.
                    if let Some(sig) = &signature {
                        self.objects
                            .put_locked(&format!("{key}{SUFFIX}"), sig.clone(), until)
                            .await
                            .map_err(|e| self.err(e))?;
                    }
                    return Ok(Stored {
                        seq,
                        json,
                        digest: report.digest.clone().unwrap_or_default(),
                        signature,
                    });
                }
                // Another writer took this place first: chain to its record instead.
                Err(e)
                    if e.code == "PreconditionFailed" || e.code == "ConditionalRequestConflict" =>
                {
                    last_error = Some(e);
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(self.err(last_error.map_or_else(|| "no attempt made".to_string(), |e| e.to_string())))
    }
}
