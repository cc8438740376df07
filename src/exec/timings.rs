//! RTO and RPO from a run record: per path, for the run (by strategy), the bound the simulated
//! cloud allowed, and the critical path that decided it. All RTOs count from t0 (the run's
//! start or `--declared-at`).
//!
//! The rules, for an auditor:
//! - Only critical steps count: a step with `critical = false` neither fails a path or the run
//!   nor moves an RTO (when a path has only non-critical steps, they count).
//! - A path succeeded when every step that counts succeeded; its RTO is the finish of the last
//!   of them. A path with a counting step failed or skipped failed; one stopped before it was
//!   done (strategy "first", Ctrl-C) was cancelled and has no RTO and no verdict.
//! - Strategy "all": the run succeeded when every counting step did; its RTO is the last
//!   finish. Strategy "first": the run succeeded when a path did and no shared (path-less)
//!   counting step failed; its RTO is the first path's, its RPO only what that path used.

use super::event::Outcome;
use super::record::RunRecord;
use crate::runbook::Runbook;
use crate::runbook::checked::{StepId, Strategy};

#[derive(Debug, Clone, PartialEq)]
pub struct PathTiming {
    pub outcome: Outcome,
    /// Seconds from t0 to the path's last counting step's finish, when it succeeded.
    pub measured: Option<f64>,
    /// Whether `measured` met the path's target; `None` without a target or a measurement.
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
    /// dependencies were done; a verify on its instances' clock (`bound_finishes`; simulator
    /// only).
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

pub fn compute(rb: &Runbook, rec: &RunRecord) -> Timings {
    let offset = rec.offset();
    let steps = &rec.steps;
    let outcome_of = |s: StepId| steps[s].outcome.unwrap_or(Outcome::Cancelled);
    let ok = |s: StepId| outcome_of(s) == Outcome::Succeeded;
    let finish = |s: StepId| steps[s].finished_at.unwrap_or(0.0);
    // The steps of a group that count: the critical ones, or all when none is critical.
    let counting = |members: &[StepId]| -> Vec<StepId> {
        let critical: Vec<StepId> = members
            .iter()
            .copied()
            .filter(|&s| rb.steps[s].critical)
            .collect();
        if critical.is_empty() {
            members.to_vec()
        } else {
            critical
        }
    };
    let broken = |s: StepId| matches!(outcome_of(s), Outcome::Failed | Outcome::Skipped);

    let bound_finish = bound_finishes(rb, rec);

    let paths: Vec<PathTiming> = (0..rb.paths.len())
        .map(|p| {
            let members = counting(&rb.path_steps(p).collect::<Vec<_>>());
            let outcome = if members.is_empty() {
                Outcome::Skipped
            } else if members.iter().any(|&s| broken(s)) {
                Outcome::Failed
            } else if members.iter().all(|&s| ok(s)) {
                Outcome::Succeeded
            } else {
                Outcome::Cancelled
            };
            let measured = (outcome == Outcome::Succeeded)
                .then(|| offset + members.iter().map(|&s| finish(s)).fold(0.0, f64::max));
            let met = rb.paths[p]
                .rto
                .zip(measured)
                .map(|(target, m)| m <= target.as_secs_f64());
            PathTiming {
                outcome,
                measured,
                met,
            }
        })
        .collect();

    let all: Vec<StepId> = (0..steps.len()).collect();
    // The steps the result rests on, and the one whose finish is the RTO.
    let (outcome, used): (Outcome, Vec<StepId>) = match rb.strategy {
        Strategy::First if !rb.paths.is_empty() => {
            let shared: Vec<StepId> = all
                .iter()
                .copied()
                .filter(|&s| rb.steps[s].path.is_none())
                .collect();
            let shared_broken = counting(&shared).iter().any(|&s| broken(s)) && !shared.is_empty();
            let winner = (0..rb.paths.len())
                .filter(|&p| paths[p].outcome == Outcome::Succeeded)
                .min_by(|&a, &b| {
                    let m = |p: usize| paths[p].measured.unwrap_or(f64::MAX);
                    m(a).total_cmp(&m(b)).then(a.cmp(&b))
                });
            match winner {
                Some(p) if !shared_broken => (
                    Outcome::Succeeded,
                    with_dependencies(rb, rb.path_steps(p).collect()),
                ),
                _ if rec.interrupted => (Outcome::Cancelled, Vec::new()),
                _ => (Outcome::Failed, Vec::new()),
            }
        }
        _ if rec.interrupted => (Outcome::Cancelled, Vec::new()),
        _ if counting(&all).iter().any(|&s| broken(s)) => (Outcome::Failed, Vec::new()),
        _ => (Outcome::Succeeded, all.clone()),
    };
    let deciding = counting(&used);
    let end = last(deciding.iter().copied().filter(|&s| ok(s)), &finish);
    let rto = (outcome == Outcome::Succeeded).then(|| offset + end.map_or(0.0, finish));
    let bound =
        (rec.backend == crate::cloud::Backend::Sim && outcome == Outcome::Succeeded).then(|| {
            offset
                + deciding
                    .iter()
                    .filter(|&&s| ok(s))
                    .map(|&s| bound_finish[s])
                    .fold(0.0, f64::max)
        });
    let rpo = used
        .iter()
        .filter(|&&s| ok(s))
        .filter_map(|&s| steps[s].artifact_created)
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
        rto_met: rb.rto.zip(rto).map(|(t, m)| m <= t.as_secs_f64()),
        rpo_met: rb.rpo.zip(rpo).map(|(t, m)| m <= t.as_secs_f64()),
        paths,
        rto,
        bound,
        rpo,
        critical_path,
    }
}

/// Each step's finish had every step taken only the cloud's own time (from its start to when
/// the cloud was done and showed it: `StepRecord::ready_at`), starting the moment its
/// dependencies were done.
///
/// A step whose readiness runs on the clock of resources an earlier step made
/// (`StepRecord::counts_from`: a verify's status checks run from when its instances came up)
/// is done, in that ideal run, when the cloud was done, moved earlier by as much as the
/// step that made them was: the ideal verify is ready when EC2 would have passed the checks of
/// instances launched on time, not its own duration after its ideal start, which would count
/// the launch's lag twice and give a bound earlier than EC2 allows.
fn bound_finishes(rb: &Runbook, rec: &RunRecord) -> Vec<f64> {
    let steps = &rec.steps;
    let mut bound_finish = vec![0.0f64; steps.len()];
    let (_, order) = crate::plan::dag(rb);
    let maker: std::collections::HashMap<&str, StepId> = steps
        .iter()
        .enumerate()
        .flat_map(|(m, r)| r.created.iter().map(move |(c, _)| (c.id.as_str(), m)))
        .collect();
    // Instances this run did not make (or whose maker did not finish) have no shift to take:
    // such a verify counts from its own start, as before, which never makes the bound later.
    let made_here = |ids: &[String]| {
        ids.iter().all(|id| {
            maker
                .get(id.as_str())
                .is_some_and(|&m| steps[m].ready_at.is_some())
        })
    };
    for &s in &order {
        let r = &steps[s];
        let start = rb.steps[s]
            .deps
            .iter()
            .map(|&d| bound_finish[d])
            .fold(0.0, f64::max);
        bound_finish[s] = match (r.started_at, r.ready_at) {
            (Some(_), Some(ready)) if !r.counts_from.is_empty() && made_here(&r.counts_from) => {
                // The largest shift of any maker: the bound stays a lower bound.
                let shift = r
                    .counts_from
                    .iter()
                    .filter_map(|id| maker.get(id.as_str()))
                    .filter_map(|&m| steps[m].ready_at.map(|at| at - bound_finish[m]))
                    .fold(0.0, f64::max);
                start.max(ready - shift)
            }
            (Some(started), Some(ready)) => start + (ready - started).max(0.0),
            _ => start,
        };
    }
    bound_finish
}

/// `ids` and every step they depend on, directly or not.
fn with_dependencies(rb: &Runbook, ids: Vec<StepId>) -> Vec<StepId> {
    let mut seen = vec![false; rb.steps.len()];
    let mut stack = ids;
    let mut out = Vec::new();
    while let Some(s) = stack.pop() {
        if std::mem::replace(&mut seen[s], true) {
            continue;
        }
        out.push(s);
        stack.extend(rb.steps[s].deps.iter().copied());
    }
    out.sort_unstable();
    out
}

/// The step that finished last among `ids` (the lower id on a tie).
fn last(ids: impl Iterator<Item = StepId>, finish: &dyn Fn(StepId) -> f64) -> Option<StepId> {
    ids.fold(None, |best: Option<StepId>, s| match best {
        Some(b) if finish(b) >= finish(s) => Some(b),
        _ => Some(s),
    })
}
