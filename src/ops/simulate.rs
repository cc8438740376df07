//! `rebound simulate`: how long recovery will take, before an incident. Runs the runbook N
//! times on the simulator, each with its own seed (latencies drawn from the latency model,
//! faults from the profile), on the virtual clock, and summarises the RTOs: per path and for
//! the run, p50, p95 and p99 (nearest rank, as the trend report counts), the chance of meeting
//! each target, and how often each step was on the critical path.
//!
//! Each run is a whole run of the executor (journal in memory, approvals granted at once, no
//! teardown, nothing written), so what is predicted is what `rebound run` on the simulator
//! would measure. A run that fails counts as a missed target; its RTO is not in the spread.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt as _;
use serde::Serialize;

use crate::cloud::Regions;
use crate::cloud::sim::{Profile, Sim, World};
use crate::evidence::trend::percentile;
use crate::exec::journal::Journal;
use crate::exec::{self, Options, Outcome, timings};
use crate::plan::Plan;
use crate::runbook::Runbook;

/// A simulated run longer than this is stopped (a step waits for what never happens), as
/// `rebound run` does on the simulator.
const HORIZON: Duration = Duration::from_secs(7 * 86_400);

/// What is predicted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub runbook: String,
    pub runs: usize,
    /// The first run's seed; run `i` used `seed + i`.
    pub seed: u64,
    /// Runs that recovered (every counting step, or a path for strategy "first").
    pub succeeded: usize,
    pub rto: Spread,
    pub rto_target_seconds: Option<f64>,
    /// Share of all runs whose RTO met the target (failed runs missed it).
    pub rto_chance: Option<f64>,
    pub paths: Vec<PathPrediction>,
    /// Steps by how often they were on the critical path, most often first.
    pub critical_steps: Vec<Frequency>,
}

/// Nearest-rank percentiles of the RTOs of the runs that succeeded, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathPrediction {
    pub name: String,
    pub succeeded: usize,
    pub rto: Spread,
    pub rto_target_seconds: Option<f64>,
    pub rto_chance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frequency {
    pub step: String,
    /// Share of the successful runs with this step on the critical path.
    pub share: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        Spread {
            p50: percentile(&values, 50.0),
            p95: percentile(&values, 95.0),
            p99: percentile(&values, 99.0),
            max: values.last().copied(),
        }
    }
}

/// Share of `runs` whose RTO met `target` (`None` without a target).
fn chance(rtos: &[Option<f64>], target: Option<Duration>) -> Option<f64> {
    let target = target?.as_secs_f64();
    let met = rtos
        .iter()
        .filter(|r| r.is_some_and(|r| r <= target))
        .count();
    Some(met as f64 / rtos.len().max(1) as f64)
}

/// Runs `rb` `runs` times on the simulator; call inside a current-thread runtime with a
/// paused clock (see `runtime`).
pub async fn simulate(
    rb: &Runbook,
    world: &World,
    profile: &Profile,
    runs: usize,
    seed: u64,
) -> Prediction {
    let plan = Plan::new(rb, &profile.latency);
    let approve = |_: &str| async { Ok("simulate".to_string()) }.boxed_local();
    let mut run_rtos: Vec<Option<f64>> = Vec::with_capacity(runs);
    let mut path_rtos: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(runs); rb.paths.len()];
    let mut on_critical: BTreeMap<usize, usize> = BTreeMap::new();
    for i in 0..runs {
        let sim = Sim::new(world.clone(), profile.clone(), seed.wrapping_add(i as u64));
        // One per run: a shared one would keep every run's resources.
        let journal = Journal::memory();
        let opts = Options {
            run_id: format!("simulate-{i}"),
            t0: None,
            parallelism: usize::MAX,
            model: profile.latency.clone(),
            tick: Duration::from_secs(1),
            approve: &approve,
            journal: &journal,
            prior: None,
            sandbox: None,
        };
        let clouds = Regions::new(sim, &rb.regions());
        let record =
            exec::execute(&plan, &clouds, &opts, &|_| {}, tokio::time::sleep(HORIZON)).await;
        let t = timings::compute(rb, &record);
        run_rtos.push(t.rto.filter(|_| t.outcome == Outcome::Succeeded));
        for (p, timing) in t.paths.iter().enumerate() {
            path_rtos[p].push(timing.measured);
        }
        if t.outcome == Outcome::Succeeded {
            for &s in &t.critical_path {
                *on_critical.entry(s).or_default() += 1;
            }
        }
    }
    let succeeded = run_rtos.iter().flatten().count();
    let mut critical_steps: Vec<Frequency> = on_critical
        .into_iter()
        .map(|(s, n)| Frequency {
            step: rb.steps[s].name.clone(),
            share: n as f64 / succeeded.max(1) as f64,
        })
        .collect();
    critical_steps.sort_by(|a, b| b.share.total_cmp(&a.share));
    Prediction {
        runbook: rb.name.clone(),
        runs,
        seed,
        succeeded,
        rto: Spread::of(run_rtos.iter().flatten().copied().collect()),
        rto_target_seconds: rb.rto.map(|d| d.as_secs_f64()),
        rto_chance: chance(&run_rtos, rb.rto),
        paths: rb
            .paths
            .iter()
            .zip(&path_rtos)
            .map(|(p, rtos)| PathPrediction {
                name: p.name.clone(),
                succeeded: rtos.iter().flatten().count(),
                rto: Spread::of(rtos.iter().flatten().copied().collect()),
                rto_target_seconds: p.rto.map(|d| d.as_secs_f64()),
                rto_chance: chance(rtos, p.rto),
            })
            .collect(),
        critical_steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_nearest_rank() {
        let s = Spread::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (s.p50, s.p95, s.p99, s.max),
            (Some(50.0), Some(95.0), Some(99.0), Some(100.0))
        );
        assert_eq!(Spread::of(Vec::new()), Spread::default());
    }

    #[test]
    fn failed_runs_miss_the_target() {
        let rtos = [Some(10.0), Some(30.0), None, Some(20.0)];
        assert_eq!(chance(&rtos, Some(Duration::from_secs(20))), Some(0.5));
        assert_eq!(chance(&rtos, None), None);
    }
}
