//! The trend report: per runbook, over a window of the history, how recovery has gone: runs,
//! passed and failed, RTO p50/p95/max and RPO against the targets, each path side by side (the
//! AMI path against the snapshot path), and how many drills' cleanups were verified.
//! Simulated runs are listed apart and never counted: they are rehearsals, not evidence.
//!
//! Percentiles are nearest-rank: the p-th percentile of n values is the value at rank
//! ⌈p·n/100⌉ of them sorted (so p50 of 1, 2, 3, 4 is 2, p95 is 4), with no interpolation to
//! invent a measurement nobody made.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::document::{Block, Doc, secs, target};
use super::report::{Mode, Report};
use crate::exec::Outcome;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub since: Option<DateTime<Utc>>,
    pub runbooks: Vec<RunbookTrend>,
    /// Simulated runs in the window: listed, never counted.
    pub simulated: Vec<RunRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRef {
    pub run_id: String,
    pub runbook: String,
    pub started_at: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunbookTrend {
    pub runbook: String,
    pub runs: usize,
    pub drills: usize,
    /// Succeeded with every target met.
    pub passed: usize,
    pub failed: usize,
    pub rto: Stats,
    pub rto_target_seconds: Option<u64>,
    /// Runs whose RTO met the target, of those with a verdict.
    pub rto_met: Ratio,
    pub rpo: Stats,
    pub rpo_target_seconds: Option<u64>,
    pub rpo_met: Ratio,
    pub paths: Vec<PathTrend>,
    /// Drills whose every resource was verified gone, of the drills.
    pub cleanups_verified: Ratio,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathTrend {
    pub name: String,
    pub rto: Stats,
    pub rto_target_seconds: Option<u64>,
    pub met: Ratio,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub yes: usize,
    pub of: usize,
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

impl Stats {
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Stats {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        Stats {
            count: v.len(),
            p50: percentile(&v, 50.0),
            p95: percentile(&v, 95.0),
            max: v.last().copied(),
        }
    }
}

impl Ratio {
    fn of(verdicts: impl IntoIterator<Item = bool>) -> Ratio {
        let v: Vec<bool> = verdicts.into_iter().collect();
        Ratio {
            yes: v.iter().filter(|b| **b).count(),
            of: v.len(),
        }
    }
}

fn started(r: &Report) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&r.started_at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether `r` started at or after `since` and is of runbook `only`, each when given: the
/// window of the trend and of the metrics.
pub(crate) fn in_window(r: &Report, since: Option<DateTime<Utc>>, only: Option<&str>) -> bool {
    since.is_none_or(|s| started(r).is_some_and(|t| t >= s))
        && only.is_none_or(|n| r.runbook.name == n)
}

/// The trend of `reports` started at or after `since`, of runbook `only` if given.
pub fn compute(reports: &[Report], since: Option<DateTime<Utc>>, only: Option<&str>) -> Trend {
    let mut by_runbook: BTreeMap<String, Vec<&Report>> = BTreeMap::new();
    let mut simulated = Vec::new();
    for r in reports.iter().filter(|r| in_window(r, since, only)) {
        if r.simulated {
            simulated.push(RunRef {
                run_id: r.run_id.clone(),
                runbook: r.runbook.name.clone(),
                started_at: r.started_at.clone(),
                outcome: r.outcome,
            });
        } else {
            by_runbook
                .entry(r.runbook.name.clone())
                .or_default()
                .push(r);
        }
    }
    let runbooks = by_runbook
        .into_iter()
        .map(|(name, runs)| runbook_trend(name, &runs))
        .collect();
    Trend {
        since,
        runbooks,
        simulated,
    }
}

fn runbook_trend(runbook: String, runs: &[&Report]) -> RunbookTrend {
    let passed = runs.iter().filter(|r| r.passed()).count();
    // The latest run's targets are the ones to read against.
    let last = runs.last();
    let mut path_names: Vec<String> = Vec::new();
    for r in runs {
        for p in &r.paths {
            if !path_names.contains(&p.name) {
                path_names.push(p.name.clone());
            }
        }
    }
    let paths = path_names
        .into_iter()
        .map(|name| {
            let of_path = || {
                runs.iter()
                    .filter_map(|r| r.paths.iter().find(|p| p.name == name))
            };
            PathTrend {
                rto: Stats::of(of_path().filter_map(|p| p.measured_seconds)),
                rto_target_seconds: of_path().next_back().and_then(|p| p.rto_target_seconds),
                met: Ratio::of(of_path().filter_map(|p| p.met)),
                name,
            }
        })
        .collect();
    let drills: Vec<&&Report> = runs.iter().filter(|r| r.mode == Mode::Drill).collect();
    RunbookTrend {
        runs: runs.len(),
        drills: drills.len(),
        passed,
        failed: runs.len() - passed,
        rto: Stats::of(runs.iter().filter_map(|r| r.rto.measured_seconds)),
        rto_target_seconds: last.and_then(|r| r.rto.target_seconds),
        rto_met: Ratio::of(runs.iter().filter_map(|r| r.rto.met)),
        rpo: Stats::of(runs.iter().filter_map(|r| r.rpo.measured_seconds)),
        rpo_target_seconds: last.and_then(|r| r.rpo.target_seconds),
        rpo_met: Ratio::of(runs.iter().filter_map(|r| r.rpo.met)),
        paths,
        cleanups_verified: Ratio::of(drills.iter().map(|r| {
            r.resources
                .iter()
                .all(|x| x.teardown.as_deref() == Some("verified"))
        })),
        runbook,
    }
}

fn ratio(r: Ratio) -> String {
    if r.of == 0 {
        "-".to_string()
    } else {
        format!("{}/{}", r.yes, r.of)
    }
}

impl Trend {
    /// The trend as a document, for Markdown and HTML.
    pub fn doc(&self) -> Doc {
        let title = match self.since {
            Some(s) => format!("Recovery trend since {}", s.format("%Y-%m-%d")),
            None => "Recovery trend".to_string(),
        };
        let mut blocks = Vec::new();
        if self.runbooks.is_empty() {
            blocks.push(Block::Text(
                "No runs against real AWS in this window.".to_string(),
            ));
        }
        for t in &self.runbooks {
            blocks.push(Block::Heading(t.runbook.clone()));
            blocks.push(Block::Facts(vec![
                (
                    "runs".to_string(),
                    format!("{} ({} drills)", t.runs, t.drills),
                ),
                ("passed".to_string(), t.passed.to_string()),
                ("failed".to_string(), t.failed.to_string()),
                ("cleanups verified".to_string(), ratio(t.cleanups_verified)),
            ]));
            let head = ["", "target", "p50", "p95", "max", "met"];
            // One row a measure: its target, its spread, how often it was met.
            let row = |name: String, goal, spread: &Stats, met| {
                let cells = [secs(spread.p50), secs(spread.p95), secs(spread.max)];
                [vec![name, target(goal)], cells.to_vec(), vec![ratio(met)]].concat()
            };
            let mut rows = vec![
                row("RTO".to_string(), t.rto_target_seconds, &t.rto, t.rto_met),
                row("RPO".to_string(), t.rpo_target_seconds, &t.rpo, t.rpo_met),
            ];
            for p in &t.paths {
                let name = format!("path {}", p.name);
                rows.push(row(name, p.rto_target_seconds, &p.rto, p.met));
            }
            blocks.push(Block::Table {
                head: head.iter().map(|h| (*h).to_string()).collect(),
                rows,
            });
        }
        if !self.simulated.is_empty() {
            blocks.push(Block::Heading(
                "Simulated runs (rehearsals, not counted)".to_string(),
            ));
            blocks.push(Block::Table {
                head: ["run", "runbook", "started", "outcome"]
                    .iter()
                    .map(|h| (*h).to_string())
                    .collect(),
                rows: self
                    .simulated
                    .iter()
                    .map(|s| {
                        vec![
                            s.run_id.clone(),
                            s.runbook.clone(),
                            s.started_at.clone(),
                            s.outcome.name().to_string(),
                        ]
                    })
                    .collect(),
            });
        }
        Doc {
            title,
            lead: None,
            banner: None,
            blocks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Stats::of([4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.p50, s.p95, s.max), (Some(2.0), Some(4.0), Some(4.0)));
        let s = Stats::of((1..=20).map(f64::from));
        assert_eq!((s.p50, s.p95), (Some(10.0), Some(19.0)));
        assert_eq!(Stats::of([]).p50, None);
    }
}
