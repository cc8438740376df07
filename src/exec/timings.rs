//! RTO and RPO from a run record: per path, for the run (by strategy), the bound the simulated
//! cloud allowed, and the critical path that decided it. All RTOs count from t0 (the run's
//! start or `--declared-at`).

use super::event::Outcome;
use super::record::{RunRecord, StepRecord};
use crate::runbook::Runbook;
use crate::runbook::checked::{PathId, StepId, Strategy};

#[derive(Debug, Clone, PartialEq)]
pub struct PathTiming {
    pub outcome: Outcome,
    /// Seconds from t0 to the path's last step's finish, when it succeeded.
    pub measured: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timings {
    pub outcome: Outcome,
    pub paths: Vec<PathTiming>,
    /// Seconds from t0 until the strategy was satisfied.
    pub rto: Option<f64>,
    pub rto_met: Option<bool>,
    /// The same with every step taking only the cloud's own time, started the moment its
    /// dependencies were done (simulator only).
    pub bound: Option<f64>,
    /// t0 minus the creation of the oldest recovery point, image or snapshot used.
    pub rpo: Option<f64>,
    pub rpo_met: Option<bool>,
    /// The chain of steps that decided the RTO, first first.
    pub critical_path: Vec<StepId>,
}

impl Timings {
    /// Whether every target that was set and measured was met.
    pub fn targets_met(&self) -> bool {
        self.rto_met != Some(false)
            && self.rpo_met != Some(false)
            && self.paths.iter().all(|p| p.met != Some(false))
    }
}

fn failed(r: &StepRecord, critical: bool) -> bool {
    critical && matches!(r.outcome, Some(Outcome::Failed | Outcome::Skipped))
}

pub fn compute(rb: &Runbook, rec: &RunRecord) -> Timings {
    let offset = rec.offset();
    let steps = &rec.steps;
    let ok = |s: StepId| steps[s].outcome == Some(Outcome::Succeeded);
    let finish = |s: StepId| steps[s].finished_at.unwrap_or(0.0);
    // The bound: each step's own cloud time, chained with no delay between steps.
    let mut bound_finish = vec![0.0f64; steps.len()];
    let mut order: Vec<StepId> = (0..steps.len()).collect();
    order.sort_by(|&a, &b| finish(a).total_cmp(&finish(b)));
    for &s in &order {
        let r = &steps[s];
        let own = match (r.started_at, r.ready_at) {
            (Some(start), Some(ready)) => (ready - start).max(0.0),
            _ => 0.0,
        };
        let start = rb.steps[s]
            .deps
            .iter()
            .map(|&d| bound_finish[d])
            .fold(0.0, f64::max);
        bound_finish[s] = start + own;
    }

    let paths: Vec<PathTiming> = (0..rb.paths.len())
        .map(|p| {
            let members: Vec<StepId> = rb.path_steps(p).collect();
            let outcome = if members
                .iter()
                .any(|&s| failed(&steps[s], rb.steps[s].critical))
            {
                Outcome::Failed
            } else if members.iter().all(|&s| ok(s) || !rb.steps[s].critical) {
                Outcome::Succeeded
            } else {
                Outcome::Cancelled
            };
            let measured = (outcome == Outcome::Succeeded).then(|| {
                offset
                    + members
                        .iter()
                        .filter(|&&s| ok(s))
                        .map(|&s| finish(s))
                        .fold(0.0, f64::max)
            });
            let met = match (rb.paths[p].rto, measured) {
                (Some(target), Some(m)) => Some(m <= target.as_secs_f64()),
                (Some(_), None) => Some(false),
                _ => None,
            };
            PathTiming {
                outcome,
                measured,
                met,
            }
        })
        .collect();

    let any_critical_failed = (0..steps.len()).any(|s| failed(&steps[s], rb.steps[s].critical));
    let (outcome, end): (Outcome, Option<StepId>) = match rb.strategy {
        Strategy::First if !rb.paths.is_empty() => {
            let winner: Option<PathId> = (0..rb.paths.len())
                .filter(|&p| paths[p].outcome == Outcome::Succeeded)
                .min_by(|&a, &b| {
                    paths[a]
                        .measured
                        .unwrap_or(f64::MAX)
                        .total_cmp(&paths[b].measured.unwrap_or(f64::MAX))
                });
            match winner {
                Some(p) => (
                    Outcome::Succeeded,
                    last(rb.path_steps(p).filter(|&s| ok(s)), &finish),
                ),
                None if rec.interrupted => (Outcome::Cancelled, None),
                None => (Outcome::Failed, None),
            }
        }
        _ if rec.interrupted => (Outcome::Cancelled, None),
        _ if any_critical_failed => (Outcome::Failed, None),
        _ => (
            Outcome::Succeeded,
            last((0..steps.len()).filter(|&s| ok(s)), &finish),
        ),
    };
    let rto = (outcome == Outcome::Succeeded).then(|| offset + end.map_or(0.0, finish));
    let bound = match (rec.backend, outcome) {
        ("sim", Outcome::Succeeded) => Some(
            offset
                + match rb.strategy {
                    Strategy::First if !rb.paths.is_empty() => (0..rb.paths.len())
                        .filter(|&p| paths[p].outcome == Outcome::Succeeded)
                        .map(|p| {
                            rb.path_steps(p)
                                .map(|s| bound_finish[s])
                                .fold(0.0, f64::max)
                        })
                        .fold(f64::MAX, f64::min),
                    _ => (0..steps.len())
                        .filter(|&s| ok(s))
                        .map(|s| bound_finish[s])
                        .fold(0.0, f64::max),
                },
        ),
        _ => None,
    };
    let rpo = steps
        .iter()
        .filter_map(|r| r.artifact_created)
        .map(|c| (rec.t0 - c).num_milliseconds() as f64 / 1000.0)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    let mut critical_path = Vec::new();
    let mut current = end;
    while let Some(s) = current {
        critical_path.push(s);
        current = last(rb.steps[s].deps.iter().copied().filter(|&d| ok(d)), &finish);
    }
    critical_path.reverse();
    Timings {
        outcome,
        rto_met: match (rb.rto, rto) {
            (Some(t), Some(m)) => Some(m <= t.as_secs_f64()),
            (Some(_), None) => Some(false),
            _ => None,
        },
        rpo_met: match (rb.rpo, rpo) {
            (Some(t), Some(m)) => Some(m <= t.as_secs_f64()),
            _ => None,
        },
        paths,
        rto,
        bound,
        rpo,
        critical_path,
    }
}

/// The step that finished last among `ids` (the lower id on a tie).
fn last(ids: impl Iterator<Item = StepId>, finish: &dyn Fn(StepId) -> f64) -> Option<StepId> {
    ids.fold(None, |best: Option<StepId>, s| match best {
        Some(b) if finish(b) >= finish(s) => Some(b),
        _ => Some(s),
    })
}
