//! What a run did, step by step, in the run's own seconds (`At`): the executor's result, from
//! which the timings and the report are computed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::api::Calls;
use super::event::{At, Outcome};
use super::model::{Created, Rejected};

/// Serialized into the journal when the step ends, and read back by `resume`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StepRecord {
    /// `None` only while the run is going.
    pub outcome: Option<Outcome>,
    pub queued_at: Option<At>,
    pub started_at: Option<At>,
    pub finished_at: Option<At>,
    pub attempts: u32,
    pub api_calls: Calls,
    /// The step's fields as resolved when it started.
    pub inputs: Map<String, Value>,
    pub outputs: Map<String, Value>,
    pub error: Option<String>,
    /// When the cloud was done with the step and showed it: a resource EC2 did not show yet
    /// (not yet propagated) is ready from when it did (simulator; the finish otherwise).
    pub ready_at: Option<At>,
    /// Resources made by earlier steps whose clock `ready_at` runs on (`Done::counts_from`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counts_from: Vec<String>,
    /// Volumes: when every block was loaded from the snapshot.
    pub loaded_at: Option<At>,
    pub rejected: Vec<Rejected>,
    /// Resources created, and when.
    pub created: Vec<(Created, At)>,
    /// `find_*`: creation time of what was chosen.
    pub artifact_created: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    /// `approve`: when the person (or the flag) approved, on the wall clock.
    pub approved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub run_id: String,
    pub backend: crate::cloud::Backend,
    /// Wall-clock time the run started.
    pub started: DateTime<Utc>,
    /// When the disaster was declared (`--declared-at`), or `started`.
    pub t0: DateTime<Utc>,
    /// Seconds after `started` the run ended.
    pub finished_at: At,
    /// Stopped by Ctrl-C (or a signal) before it was done.
    pub interrupted: bool,
    pub steps: Vec<StepRecord>,
    /// Every API call of the run, by operation (the pollers' too).
    pub api_calls: Calls,
}

impl RunRecord {
    /// Seconds from t0 to the run's start (0 unless the disaster was declared earlier).
    pub(crate) fn offset(&self) -> f64 {
        ((self.started - self.t0).num_milliseconds() as f64 / 1000.0).max(0.0)
    }

    /// A run-relative time as a wall-clock time.
    pub fn wall(&self, at: At) -> DateTime<Utc> {
        self.started + chrono::Duration::milliseconds((at * 1000.0).round() as i64)
    }
}
