//! The expected critical path: the chain of steps that decides the run's RTO when every step
//! takes its expected time. Under `strategy = "all"` that is the chain to the step that
//! finishes last; under `"first"`, the chain to the finish of the path expected to win.

use crate::runbook::Runbook;
use crate::runbook::checked::{PathId, StepId, Strategy};

#[derive(Debug, Clone, PartialEq)]
pub struct Critical {
    /// Expected finish of each step, seconds after the run starts.
    pub finish: Vec<f64>,
    /// Expected finish of each path (its last step).
    pub path_finish: Vec<f64>,
    /// Expected RTO of the run.
    pub rto: f64,
    /// The critical chain, first step first.
    pub steps: Vec<StepId>,
}

impl Critical {
    /// `order` is a topological order of the steps; `expected` their durations.
    pub(crate) fn new(runbook: &Runbook, order: &[StepId], expected: &[f64]) -> Critical {
        let steps = &runbook.steps;
        let mut finish = vec![0.0f64; steps.len()];
        for &id in order {
            let start = steps[id]
                .deps
                .iter()
                .map(|&d| finish[d])
                .fold(0.0, f64::max);
            finish[id] = start + expected[id];
        }
        let path_finish: Vec<f64> = (0..runbook.paths.len())
            .map(|p| runbook.path_steps(p).map(|s| finish[s]).fold(0.0, f64::max))
            .collect();
        let end = end_step(runbook, &finish, &path_finish);
        let mut chain = Vec::new();
        let mut current = end;
        while let Some(id) = current {
            chain.push(id);
            current = steps[id]
                .deps
                .iter()
                .copied()
                .max_by(|&a, &b| finish[a].total_cmp(&finish[b]).then(b.cmp(&a)));
        }
        chain.reverse();
        Critical {
            rto: end.map_or(0.0, |e| finish[e]),
            finish,
            path_finish,
            steps: chain,
        }
    }
}

/// The step whose finish is the run's RTO.
fn end_step(runbook: &Runbook, finish: &[f64], path_finish: &[f64]) -> Option<StepId> {
    let latest = |ids: &mut dyn Iterator<Item = StepId>| {
        ids.max_by(|&a, &b| finish[a].total_cmp(&finish[b]).then(b.cmp(&a)))
    };
    let winner: Option<PathId> = match runbook.strategy {
        Strategy::First => (0..runbook.paths.len())
            .filter(|&p| runbook.path_steps(p).next().is_some())
            .min_by(|&a, &b| path_finish[a].total_cmp(&path_finish[b]).then(a.cmp(&b))),
        Strategy::All => None,
    };
    match winner {
        Some(p) => latest(&mut runbook.path_steps(p)),
        None => latest(&mut (0..runbook.steps.len())),
    }
}
