//! The checked runbook as a DAG of steps: edges from references and `after`, a topological
//! order, levels (steps that can start together), each step's expected duration, and the
//! expected critical path. The views (text, dot, mermaid, json) render a `Plan`.
//!
//! Invariant: planning does no I/O and cannot fail; the checker has already rejected cycles.

pub(crate) mod critical;
pub mod dot;
pub mod json;
pub mod mermaid;
pub mod text;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::cloud::latency::LatencyModel;
use crate::runbook::Runbook;
use crate::runbook::checked::{PathDef, StepId};

pub use critical::Critical;

/// A runbook, planned.
#[derive(Debug, Clone)]
pub struct Plan<'r> {
    pub runbook: &'r Runbook,
    /// Edge `a -> b`: `b` waits for `a`. Node weights are step ids; node index = step id.
    pub graph: DiGraph<StepId, ()>,
    /// Every step after all its dependencies.
    pub order: Vec<StepId>,
    /// `level[s]`: the longest chain of dependencies before `s` (0 for a step that waits for
    /// nothing).
    pub level: Vec<usize>,
    /// Expected duration of each step, in seconds.
    pub expected: Vec<f64>,
    pub critical: Critical,
}

/// The runbook's steps as a graph (edge `a -> b`: `b` waits for `a`), and every step after
/// all its dependencies.
pub(crate) fn dag(runbook: &Runbook) -> (DiGraph<StepId, ()>, Vec<StepId>) {
    let n = runbook.steps.len();
    let mut graph = DiGraph::with_capacity(n, n * 2);
    let nodes: Vec<NodeIndex> = (0..n).map(|i| graph.add_node(i)).collect();
    for (id, step) in runbook.steps.iter().enumerate() {
        for &dep in &step.deps {
            graph.add_edge(nodes[dep], nodes[id], ());
        }
    }
    // The checker rejects cycles, so a failure here would be a checker bug; fall back to
    // source order rather than panic.
    let order: Vec<StepId> = toposort(&graph, None)
        .map(|o| o.into_iter().map(|n| graph[n]).collect())
        .unwrap_or_else(|_| (0..n).collect());
    (graph, order)
}

impl<'r> Plan<'r> {
    pub fn new(runbook: &'r Runbook, model: &LatencyModel) -> Plan<'r> {
        let n = runbook.steps.len();
        let (graph, order) = dag(runbook);
        let mut level = vec![0usize; n];
        for &id in &order {
            level[id] = runbook.steps[id]
                .deps
                .iter()
                .map(|&d| level[d] + 1)
                .max()
                .unwrap_or(0);
        }
        let expected: Vec<f64> = runbook
            .steps
            .iter()
            .map(|s| s.action.expected_seconds(&s.fields, model))
            .collect();
        let critical = Critical::new(runbook, &order, &expected);
        Plan {
            runbook,
            graph,
            order,
            level,
            expected,
            critical,
        }
    }

    /// Steps grouped by level, each level in source order.
    pub fn levels(&self) -> Vec<Vec<StepId>> {
        let depth = self.level.iter().copied().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (id, &l) in self.level.iter().enumerate() {
            levels[l].push(id);
        }
        levels
    }

    /// The steps as the graph views (dot, mermaid) lay them out: those outside paths, one
    /// `node` line each, then each path as a group between `open` and `close`.
    pub(crate) fn write_groups(
        &self,
        out: &mut String,
        node: &dyn Fn(StepId) -> String,
        open: &dyn Fn(&PathDef) -> String,
        close: &str,
    ) {
        use std::fmt::Write as _;
        let rb = self.runbook;
        for (id, s) in rb.steps.iter().enumerate() {
            if s.path.is_none() {
                let _ = writeln!(out, "  {}", node(id));
            }
        }
        for (p, def) in rb.paths.iter().enumerate() {
            let _ = writeln!(out, "{}", open(def));
            for id in rb.path_steps(p) {
                let _ = writeln!(out, "    {}", node(id));
            }
            let _ = writeln!(out, "{close}");
        }
    }

    /// Every `exec` step's command, in source order: what the runbook would run locally.
    pub(crate) fn exec_commands(&self) -> Vec<(StepId, String)> {
        use crate::action::Action;
        self.runbook
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.action == Action::Exec)
            .filter_map(|(id, s)| {
                let cmd = s.field("command")?;
                Some((id, cmd.display(&self.runbook.steps).to_string()))
            })
            .collect()
    }
}
