//! The dependency graph: the steps each step waits for, by `after` or by using an output. No
//! step may wait for itself, directly or not (each cycle is named, step by step, with the
//! references that make it), and under `strategy = "first"` no step may wait for a step of
//! another path.

use std::collections::{HashMap, HashSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::runbook::checked::{PathDef, StepId};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::source::Span;

use super::{Checker, Deps};

impl<'a> Checker<'a> {
    /// Under `strategy = "first"` only one path runs to the end, so a step may use only its own
    /// path's steps and the runbook's shared ones; a shared step may use no path's.
    pub(super) fn cross_path(&mut self, deps: &[Deps], paths: &[PathDef]) {
        for (id, step_deps) in deps.iter().enumerate() {
            let from = self.steps[id].path;
            for &(dep, span) in step_deps {
                let to = self.steps[dep].path;
                let Some(to_path) = to else { continue };
                if from == Some(to_path) {
                    continue;
                }
                let dep_name = &self.steps[dep].ast.name.name;
                let message = match from {
                    Some(p) => format!(
                        "step `{}` in path `{}` uses `{dep_name}` from path `{}`",
                        self.steps[id].ast.name.name, paths[p].name, paths[to_path].name
                    ),
                    None => format!(
                        "shared step `{}` uses `{dep_name}` from path `{}`",
                        self.steps[id].ast.name.name, paths[to_path].name
                    ),
                };
                let d = Diagnostic::new(Code::CrossPath, span, message)
                    .label("from another path")
                    .related(
                        self.steps[dep].ast.name.span,
                        format!("`{dep_name}` is defined here"),
                    )
                    .hint(
                        "with strategy = \"first\" the other paths are cancelled when one wins; \
                         move the shared step out of the paths, or use strategy = \"all\"",
                    );
                self.error(d);
            }
        }
    }

    /// Every dependency cycle, naming each step in it.
    pub(super) fn cycles(&mut self, deps: &[Deps]) {
        let mut graph: DiGraph<StepId, Span> = DiGraph::with_capacity(deps.len(), deps.len());
        let nodes: Vec<NodeIndex> = (0..deps.len()).map(|i| graph.add_node(i)).collect();
        for (id, step_deps) in deps.iter().enumerate() {
            for &(dep, span) in step_deps {
                graph.add_edge(nodes[id], nodes[dep], span);
            }
        }
        let mut sccs: Vec<Vec<StepId>> = tarjan_scc(&graph)
            .into_iter()
            .map(|c| {
                let mut ids: Vec<StepId> = c.into_iter().map(|n| graph[n]).collect();
                ids.sort_unstable();
                ids
            })
            .filter(|c| c.len() > 1 || deps[c[0]].iter().any(|(d, _)| *d == c[0]))
            .collect();
        sccs.sort();
        for members in sccs {
            let d = self.cycle(&members, deps);
            self.error(d);
        }
    }

    /// One cycle, through the members of a strongly connected component: its shortest loop
    /// step by step, with the reference that makes each step wait for the next.
    fn cycle(&self, members: &[StepId], deps: &[Deps]) -> Diagnostic {
        let order = cycle_order(members, deps);
        let names: Vec<&str> = order
            .iter()
            .map(|&i| self.steps[i].ast.name.name.as_str())
            .collect();
        let first = order[0];
        let mut chain = names.join(" -> ");
        chain.push_str(&format!(" -> {}", names[0]));
        let others: Vec<String> = members
            .iter()
            .filter(|m| !order.contains(m))
            .map(|&m| format!("`{}`", self.steps[m].ast.name.name))
            .collect();
        if !others.is_empty() {
            chain.push_str(&format!(" (also caught in it: {})", others.join(", ")));
        }
        let mut d = Diagnostic::new(
            Code::Cycle,
            self.steps[first].ast.name.span,
            format!("dependency cycle: {chain}"),
        )
        .label(format!("`{}` is in a cycle", names[0]))
        .hint("a step cannot wait, directly or not, for itself; remove one of these references");
        for w in 0..order.len() {
            let (a, b) = (order[w], order[(w + 1) % order.len()]);
            if let Some((_, span)) = deps[a].iter().find(|(d, _)| *d == b) {
                d = d.related(
                    *span,
                    format!(
                        "`{}` waits for `{}`",
                        self.steps[a].ast.name.name, self.steps[b].ast.name.name
                    ),
                );
            }
        }
        d
    }
}

/// A shortest cycle through the first member of a strongly connected component, following
/// real dependency edges (breadth first, so linear in the component's size).
fn cycle_order(members: &[StepId], deps: &[Deps]) -> Vec<StepId> {
    let start = members[0];
    let inside: HashSet<StepId> = members.iter().copied().collect();
    let mut came_from: HashMap<StepId, StepId> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for &(next, _) in &deps[current] {
            if next == start {
                let mut cycle = vec![current];
                let mut at = current;
                while at != start {
                    at = came_from[&at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if inside.contains(&next) && next != start && !came_from.contains_key(&next) {
                came_from.insert(next, current);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}
