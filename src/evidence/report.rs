//! The report model: serde types that exist only for reports, built from a run record and its
//! timings, with every field of DESIGN.md's `rebound.report/v1` schema. `digest` is the SHA-256
//! of the report's canonical JSON with `digest` itself null, so any edit is detectable; the
//! history store will chain it through `previous_digest`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::exec::action::Rejected;
use crate::exec::teardown::TornDown;
use crate::exec::timings::Timings;
use crate::exec::{Outcome, RunRecord};
use crate::runbook::Runbook;

pub const SCHEMA: &str = "rebound.report/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub run_id: String,
    pub rebound_version: &'static str,
    pub runbook: RunbookRef,
    pub backend: &'static str,
    /// Simulated runs are rehearsals, never evidence of recovery.
    pub simulated: bool,
    pub mode: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub declared_at: String,
    pub outcome: Outcome,
    pub params: BTreeMap<String, Value>,
    pub rto: Rto,
    pub rpo: Rpo,
    pub paths: Vec<PathReport>,
    pub critical_path: Vec<String>,
    pub steps: Vec<StepReport>,
    pub resources: Vec<Resource>,
    pub api_calls: BTreeMap<String, u64>,
    pub approve_flag: bool,
    /// The simulator's seed: the same seed replays the same timeline.
    pub seed: Option<u64>,
    pub previous_digest: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Drill,
    Recovery,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunbookRef {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rto {
    pub target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub bound_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rpo {
    pub target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    pub name: String,
    pub outcome: Outcome,
    pub rto_target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    pub name: String,
    pub path: Option<String>,
    pub action: &'static str,
    pub critical: bool,
    pub outcome: Outcome,
    pub queued_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub attempts: u32,
    pub api_calls: BTreeMap<String, u64>,
    pub inputs: Map<String, Value>,
    pub outputs: Map<String, Value>,
    pub error: Option<String>,
    /// `find_*`: every candidate passed over, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// Volumes: when every block was loaded from the snapshot (full read speed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_loaded_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    pub kind: &'static str,
    pub id: String,
    pub step: String,
    /// Null for a resource teardown found by its tags that no record of the run names (made
    /// in the instant before a crash).
    pub created_at: Option<String>,
    pub deleted_at: Option<String>,
    /// `verified`, `failed`, `skipped`; null until teardown runs.
    pub teardown: Option<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Seconds rounded to milliseconds.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    pub fn new(
        rb: &Runbook,
        rec: &RunRecord,
        timings: &Timings,
        mode: Mode,
        approve_flag: bool,
    ) -> Report {
        let at = |a: Option<f64>| a.map(|a| rfc3339(rec.wall(a)));
        let steps: Vec<StepReport> = rb
            .steps
            .iter()
            .zip(&rec.steps)
            .map(|(s, r)| StepReport {
                name: s.name.clone(),
                path: s.path.map(|p| rb.paths[p].name.clone()),
                action: s.action.name(),
                critical: s.critical,
                outcome: r.outcome.unwrap_or(Outcome::Cancelled),
                queued_at: at(r.queued_at),
                started_at: at(r.started_at),
                finished_at: at(r.finished_at),
                duration_seconds: r.started_at.zip(r.finished_at).map(|(a, b)| ms(b - a)),
                attempts: r.attempts,
                api_calls: r
                    .api_calls
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v))
                    .collect(),
                inputs: r.inputs.clone(),
                outputs: r.outputs.clone(),
                error: r.error.clone(),
                rejected: r.rejected.clone(),
                data_loaded_at: at(r.loaded_at),
                approved_by: r.approved_by.clone(),
            })
            .collect();
        let resources = rb
            .steps
            .iter()
            .zip(&rec.steps)
            .flat_map(|(s, r)| {
                r.created.iter().map(move |(c, when)| Resource {
                    kind: c.kind.name(),
                    id: c.id.clone(),
                    step: s.name.clone(),
                    created_at: Some(rfc3339(rec.wall(*when))),
                    deleted_at: None,
                    teardown: None,
                })
            })
            .collect();
        let mut report = Report {
            schema: SCHEMA,
            run_id: rec.run_id.clone(),
            rebound_version: env!("CARGO_PKG_VERSION"),
            runbook: RunbookRef {
                name: rb.name.clone(),
                file: rb.source.name.clone(),
                sha256: hex(&Sha256::digest(rb.source.text.as_bytes())),
            },
            backend: rec.backend,
            simulated: rec.backend == "sim",
            mode,
            started_at: rfc3339(rec.started),
            finished_at: rfc3339(rec.wall(rec.finished_at)),
            declared_at: rfc3339(rec.t0),
            outcome: timings.outcome,
            params: rb
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.to_json(&rb.steps)))
                .collect(),
            rto: Rto {
                target_seconds: rb.rto.map(|d| d.as_secs()),
                measured_seconds: timings.rto.map(ms),
                bound_seconds: timings.bound.map(ms),
                met: timings.rto_met,
            },
            rpo: Rpo {
                target_seconds: rb.rpo.map(|d| d.as_secs()),
                measured_seconds: timings.rpo.map(ms),
                met: timings.rpo_met,
            },
            paths: rb
                .paths
                .iter()
                .zip(&timings.paths)
                .map(|(p, t)| PathReport {
                    name: p.name.clone(),
                    outcome: t.outcome,
                    rto_target_seconds: p.rto.map(|d| d.as_secs()),
                    measured_seconds: t.measured.map(ms),
                    met: t.met,
                })
                .collect(),
            critical_path: timings
                .critical_path
                .iter()
                .map(|&s| rb.steps[s].name.clone())
                .collect(),
            steps,
            resources,
            api_calls: rec
                .api_calls
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            approve_flag,
            seed: None,
            previous_digest: None,
            digest: None,
        };
        report.digest = Some(report.compute_digest());
        report
    }

    /// Records each resource's teardown (`wall` turns run seconds into a time); resources
    /// teardown found by tag alone are added.
    pub fn apply_teardown(&mut self, fates: &[TornDown], wall: impl Fn(f64) -> DateTime<Utc>) {
        for t in fates {
            let deleted_at = t.at.map(|a| rfc3339(wall(a)));
            match self.resources.iter_mut().find(|r| r.id == t.id) {
                Some(r) => {
                    r.teardown = Some(t.outcome.name().to_string());
                    r.deleted_at = deleted_at;
                }
                None => self.resources.push(Resource {
                    kind: t.kind.name(),
                    id: t.id.clone(),
                    step: t.step.clone(),
                    created_at: None,
                    deleted_at,
                    teardown: Some(t.outcome.name().to_string()),
                }),
            }
        }
    }

    /// SHA-256 of the canonical JSON (keys in order, `digest` null).
    pub fn compute_digest(&self) -> String {
        let mut copy = self.clone();
        copy.digest = None;
        let value = serde_json::to_value(&copy).unwrap_or(Value::Null);
        hex(&Sha256::digest(value.to_string().as_bytes()))
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
