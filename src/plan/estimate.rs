//! The expected duration of one step, from the latency model: the median of each operation the
//! action performs, in order. Used for the plan's critical path and, later, for the order in
//! which the executor serves the critical path first.

use crate::cloud::latency::LatencyModel;
use crate::runbook::checked::{Expr, Step};
use crate::runbook::schema::{Action, Check};

/// Expected seconds from the step's start to its finish.
pub fn expected_seconds(step: &Step, m: &LatencyModel) -> f64 {
    match step.action {
        Action::FindImage | Action::FindSnapshot => m.describe.median,
        // List the vault's points, then describe the chosen one.
        Action::FindRecoveryPoint => 2.0 * m.describe.median,
        Action::Launch => m.run_instances.median + m.pending_to_running.median,
        Action::Restore => m.restore_job.median,
        Action::CreateVolume => m.create_volume.median,
        Action::Attach => m.attach_volume.median,
        Action::Verify => verify_seconds(step, m),
        Action::CreateImage => m.create_image.median,
        Action::Approve => m.approval.median,
        Action::Exec => m.exec.median,
        Action::Wait => match step.field("duration") {
            Some(Expr::Duration(d)) => d.as_secs_f64(),
            _ => 0.0,
        },
    }
}

/// The slowest of a verify step's checks, each counted from the instance being `running`.
fn verify_seconds(step: &Step, m: &LatencyModel) -> f64 {
    let Some(Expr::List(checks)) = step.field("checks") else {
        return m.describe.median;
    };
    checks
        .iter()
        .filter_map(|c| match c {
            Expr::Str(s) => Check::parse(s).ok(),
            _ => None,
        })
        .map(|c| match c {
            Check::Running => m.describe.median,
            Check::StatusOk => m.status_ok.median,
            Check::Tcp { .. } | Check::Http { .. } => m.boot.median,
            Check::Ssm { .. } => m.ssm_ready.median,
        })
        .fold(m.describe.median, f64::max)
}
