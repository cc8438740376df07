//! The report model: serde types that exist only for reports, built from a run record and its
//! timings, with every field of the `rebound.report/v1` schema (README's "The JSON report"). `digest` is the SHA-256
//! of the report's canonical JSON with `digest` itself null, so any edit is detectable; the
//! history store chains it through `previous_digest`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::exec::model::{Rejected, TornDown};
use crate::exec::timings::Timings;
use crate::exec::{Outcome, RunRecord};
use crate::runbook::Runbook;

pub const SCHEMA: &str = "rebound.report/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub run_id: String,
    /// Which process of the run this is: 1 for `run`, 2 for the first `resume`, and so on.
    /// Each attempt is its own history record. Left out when 1, so reports written before it
    /// was kept read back, and digest, the same.
    #[serde(default = "first_attempt", skip_serializing_if = "is_first_attempt")]
    pub attempt: u32,
    pub rebound_version: String,
    pub runbook: RunbookRef,
    pub backend: String,
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
    /// Artifacts the run did not make that a `tag` step tagged: kept by teardown, listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tagged: Vec<Tagged>,
    pub api_calls: BTreeMap<String, u64>,
    pub approve_flag: bool,
    /// Every `approve` step that was approved: by whom and when.
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// Who ran it, where.
    #[serde(default)]
    pub ran_by: RanBy,
    /// AWS runs: the account and region (never credentials).
    #[serde(default)]
    pub aws: Option<AwsTarget>,
    /// The simulator's seed: the same seed replays the same timeline.
    pub seed: Option<u64>,
    /// An isolated drill: its instances were in security groups of their own (`exec::sandbox`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
    pub previous_digest: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RanBy {
    pub user: String,
    pub host: String,
}

impl RanBy {
    /// The user and host running this process.
    pub fn here() -> RanBy {
        RanBy {
            user: crate::identity::user(),
            host: crate::identity::host(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsTarget {
    /// From STS GetCallerIdentity; null when it could not be asked.
    pub account: Option<String>,
    pub region: Option<String>,
    /// Who the calls were made as: the caller's ARN (a role session names the person or the
    /// pipeline that assumed it). Absent in reports written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub step: String,
    pub by: String,
    pub at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Drill,
    Recovery,
}

impl Mode {
    /// `drill` or `recovery`, as the report's JSON and every rendering name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Drill => "drill",
            Mode::Recovery => "recovery",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookRef {
    pub name: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rto {
    pub target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub bound_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rpo {
    pub target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathReport {
    pub name: String,
    pub outcome: Outcome,
    pub rto_target_seconds: Option<u64>,
    pub measured_seconds: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub name: String,
    pub path: Option<String>,
    pub action: String,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<Rejected>,
    /// Volumes: when every block was loaded from the snapshot (full read speed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loaded_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub kind: String,
    pub id: String,
    /// The region it is in, when not the run's own (`aws.region`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub step: String,
    /// Null for a resource teardown found by its tags that no record of the run names (made
    /// in the instant before a crash).
    pub created_at: Option<String>,
    pub deleted_at: Option<String>,
    /// `verified`, `failed`, `skipped`; null until teardown runs.
    pub teardown: Option<String>,
}

/// An image or snapshot a `tag` step tagged, with the tags it was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tagged {
    pub id: String,
    pub step: String,
    pub tags: BTreeMap<String, String>,
}

/// An artifact a `find_*` used that is older than the runbook's RPO.
#[derive(Debug, Clone, PartialEq)]
pub struct RpoMiss {
    pub step: String,
    /// The image, snapshot or recovery point.
    pub artifact: String,
    pub age_seconds: u64,
    pub rpo_seconds: u64,
}

impl Report {
    /// Every artifact the run restored from that is older than the RPO, and so missed it: the
    /// newest there was, restored all the same (the RPO is a target, not a filter).
    pub fn rpo_misses(&self) -> Vec<RpoMiss> {
        // The run's own verdict decides (it counts only what its result rests on); this names
        // the artifacts behind it.
        let (Some(rpo), Some(false)) = (self.rpo.target_seconds, self.rpo.met) else {
            return Vec::new();
        };
        self.steps
            .iter()
            .filter(|s| s.action.starts_with("find_") && s.outcome == Outcome::Succeeded)
            .filter_map(|s| {
                let age = s.outputs.get("age")?.as_u64()?;
                let artifact = s.outputs.get("id").or_else(|| s.outputs.get("arn"))?;
                let artifact = artifact.as_str()?.to_string();
                (age > rpo).then(|| RpoMiss {
                    step: s.name.clone(),
                    artifact,
                    age_seconds: age,
                    rpo_seconds: rpo,
                })
            })
            .collect()
    }
}

impl Report {
    /// Succeeded with every target met (the run's RTO and RPO, each path's RTO): what the
    /// trend counts as passed and what monitoring calls a passing drill.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Succeeded
            && self.rto.met != Some(false)
            && self.rpo.met != Some(false)
            && self.paths.iter().all(|p| p.met != Some(false))
    }
}

impl Report {
    /// The outcome in words that hide nothing: `succeeded, RTO missed: ami 12m10s > 10m00s`,
    /// `succeeded, 4 resources left: run rebound teardown RUN`. The summary, report.md,
    /// report.html and junit.xml all lead with it.
    pub fn headline(&self) -> String {
        use crate::duration::human;
        let mut parts = vec![self.outcome.name().to_string()];
        for p in self.paths.iter().filter(|p| p.met == Some(false)) {
            if let (Some(m), Some(t)) = (p.measured_seconds, p.rto_target_seconds) {
                parts.push(format!(
                    "RTO missed: {} {} > {}",
                    p.name,
                    human(m),
                    human(t as f64)
                ));
            }
        }
        if self.rto.met == Some(false)
            && let (Some(m), Some(t)) = (self.rto.measured_seconds, self.rto.target_seconds)
        {
            parts.push(format!(
                "RTO missed: run {} > {}",
                human(m),
                human(t as f64)
            ));
        }
        for m in self.rpo_misses() {
            parts.push(format!(
                "RPO missed: {} {} old > {}",
                m.artifact,
                human(m.age_seconds as f64),
                human(m.rpo_seconds as f64)
            ));
        }
        let left = self
            .resources
            .iter()
            .filter(|r| matches!(r.teardown.as_deref(), Some("failed" | "skipped")))
            .count();
        if left > 0 {
            parts.push(format!(
                "{left} resources left: run rebound teardown {}",
                self.run_id
            ));
        }
        parts.join(", ")
    }
}

fn first_attempt() -> u32 {
    1
}

fn is_first_attempt(n: &u32) -> bool {
    *n == 1
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
                action: s.action.name().to_string(),
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
                    kind: c.kind.name().to_string(),
                    id: c.id.clone(),
                    region: c.region.clone(),
                    step: s.name.clone(),
                    created_at: Some(rfc3339(rec.wall(*when))),
                    deleted_at: None,
                    teardown: None,
                })
            })
            .collect();
        Report {
            schema: SCHEMA.to_string(),
            run_id: rec.run_id.clone(),
            attempt: 1,
            rebound_version: env!("CARGO_PKG_VERSION").to_string(),
            runbook: RunbookRef {
                name: rb.name.clone(),
                file: rb.source.name.clone(),
                sha256: hex(&Sha256::digest(rb.source.text.as_bytes())),
            },
            backend: rec.backend.to_string(),
            simulated: rec.backend == crate::cloud::Backend::Sim,
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
            tagged: rb
                .steps
                .iter()
                .zip(&rec.steps)
                .filter(|(s, _)| s.action == crate::action::Action::Tag)
                .flat_map(|(s, r)| {
                    let ids = r.outputs.get("tagged").and_then(Value::as_array);
                    let tags: BTreeMap<String, String> = r
                        .inputs
                        .get("tags")
                        .and_then(|t| serde_json::from_value(t.clone()).ok())
                        .unwrap_or_default();
                    ids.into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(move |id| Tagged {
                            id: id.to_string(),
                            step: s.name.clone(),
                            tags: tags.clone(),
                        })
                })
                .collect(),
            api_calls: rec
                .api_calls
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            approve_flag,
            approvals: rb
                .steps
                .iter()
                .zip(&rec.steps)
                .filter_map(|(s, r)| {
                    Some(Approval {
                        step: s.name.clone(),
                        by: r.approved_by.clone()?,
                        // When the person answered, on the wall clock; older records did not
                        // keep it, and give the step's end.
                        at: r.approved_at.map(rfc3339).or_else(|| at(r.finished_at)),
                    })
                })
                .collect(),
            ran_by: RanBy::here(),
            aws: None,
            seed: None,
            isolated: false,
            previous_digest: None,
            // Set once the report is final (teardown, account, chain): a digest of a report
            // of 6,000 steps costs a tenth of a second.
            digest: None,
        }
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
                    kind: t.kind.name().to_string(),
                    id: t.id.clone(),
                    region: t.region.clone(),
                    step: t.step.clone(),
                    created_at: None,
                    deleted_at,
                    teardown: Some(t.outcome.name().to_string()),
                }),
            }
        }
    }

    /// SHA-256 of the canonical JSON (keys in order, `digest` null), serialized straight to
    /// its bytes: the form `digest_of` takes of the record read back.
    pub fn compute_digest(&self) -> String {
        match super::canonical::of(self, true) {
            Ok(text) => hex(&Sha256::digest(&text)),
            // A report's keys are all strings: not reached, and the tree gives the same form.
            Err(_) => digest_of(&serde_json::to_value(self).unwrap_or(Value::Null)),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The digest of a report as JSON: SHA-256 of its canonical form (keys sorted, no spaces)
/// with `digest` null. The history verifies stored records with it.
pub fn digest_of(report: &Value) -> String {
    hex(&Sha256::digest(super::canonical::of_value(report, true)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
