//! The history as objects in an S3 bucket with Object Lock, for teams whose drills run on many
//! machines: each record is its own object (`PREFIX/records/000000000042.json`), written once
//! (a conditional put: two writers cannot take one place) and locked in compliance mode for
//! the retention the user sets, so no one can rewrite past evidence. A locked object can still
//! get a newer *version* on top of it; records are read from each key's oldest version, the
//! one that was locked, so a later version changes nothing.

use chrono::{DateTime, Utc};

use super::{History, HistoryError, Stored, chain};
use crate::cloud::aws::s3::Objects;
use crate::evidence::report::Report;

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

    /// Each record's key and its oldest version, in key order.
    async fn originals(&self) -> Result<Vec<(i64, String, String)>, HistoryError> {
        let versions = self
            .objects
            .versions(&self.prefix)
            .await
            .map_err(|e| self.err(e))?;
        let mut out: Vec<(i64, String, String)> = Vec::new();
        for v in versions {
            let Some(seq) = self.seq_of(&v.key) else {
                continue;
            };
            // Oldest first per key: the first seen is the original.
            if out.last().is_none_or(|(_, k, _)| k != &v.key) {
                out.push((seq, v.key, v.version_id));
            }
        }
        out.sort_by_key(|(seq, _, _)| *seq);
        Ok(out)
    }

    async fn read(&self, seq: i64, key: &str, version: &str) -> Result<Stored, HistoryError> {
        let json = self
            .objects
            .get(key, version)
            .await
            .map_err(|e| self.err(e))?;
        let digest = serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|v| v["digest"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Stored { seq, json, digest })
    }
}

impl History for S3 {
    fn place(&self) -> String {
        format!("s3://{}/{}", self.objects.bucket, self.prefix)
    }

    async fn records(&self) -> Result<Vec<Stored>, HistoryError> {
        let mut out = Vec::new();
        for (seq, key, version) in self.originals().await? {
            out.push(self.read(seq, &key, &version).await?);
        }
        Ok(out)
    }

    async fn append(&mut self, report: &mut Report) -> Result<Stored, HistoryError> {
        let mut last_error = None;
        for _ in 0..APPEND_ATTEMPTS {
            let originals = self.originals().await?;
            let (seq, previous) = match originals.last() {
                Some((seq, key, version)) => {
                    (seq + 1, Some(self.read(*seq, key, version).await?.digest))
                }
                None => (1, None),
            };
            chain(report, previous);
            let json = report.to_json();
            let key = format!("{}{seq:012}.json", self.prefix);
            let until: DateTime<Utc> = Utc::now() + self.retention;
            match self.objects.put_locked(&key, json.clone(), until).await {
                Ok(()) => {
                    return Ok(Stored {
                        seq,
                        json,
                        digest: report.digest.clone().unwrap_or_default(),
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
