//! What the executor tells the world while it runs. The CLI draws progress from these events
//! and the run record keeps their times; the executor itself knows nothing of terminals.

use crate::runbook::expr::StepId;

/// Seconds since the run started, on the run's clock (virtual on the simulator).
pub(crate) type At = f64;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Every dependency is done: the step may start when there is room.
    Queued {
        step: StepId,
        at: At,
    },
    Started {
        step: StepId,
        attempt: u32,
        at: At,
    },
    /// Something worth showing happened inside a step (a fallback, a retry, a wait).
    Progress {
        step: StepId,
        message: String,
        at: At,
    },
    Finished {
        step: StepId,
        outcome: Outcome,
        error: Option<String>,
        at: At,
    },
    /// No more work will start: the strategy is satisfied, or the run was interrupted.
    Stopping {
        reason: String,
        at: At,
    },
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Never started: something it needs failed.
    Skipped,
    /// Stopped or never started because the run ended first (strategy "first", Ctrl-C).
    Cancelled,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Cancelled => "cancelled",
        }
    }
}
