//! `rebound plan --format mermaid`: the DAG as a Mermaid flowchart (renders in GitHub and most
//! wikis), one subgraph per path, the expected critical path highlighted. Node ids are prefixed
//! (`s_`, `p_`) because a step may be called `end`, which Mermaid reserves.

use std::fmt::Write as _;

use super::Plan;
use crate::duration::human;
use crate::runbook::checked::{PathDef, format_duration};

pub fn render(plan: &Plan<'_>) -> String {
    let rb = plan.runbook;
    let steps = &rb.steps;
    let node = |id: usize| {
        let s = &steps[id];
        format!(
            "s_{}[\"{}<br/>{} ~{}\"]",
            s.name,
            s.name,
            s.action.name(),
            human(plan.expected[id])
        )
    };
    let mut out = String::from("flowchart LR\n");
    let open = |def: &PathDef| {
        let target = def
            .rto
            .map_or(String::new(), |d| format!(" · rto {}", format_duration(d)));
        format!("  subgraph p_{}[\"path {}{target}\"]", def.name, def.name)
    };
    plan.write_groups(&mut out, &node, &open, "  end");
    for s in steps {
        for &d in &s.deps {
            let _ = writeln!(out, "  s_{} --> s_{}", steps[d].name, s.name);
        }
    }
    if !plan.critical.steps.is_empty() {
        let names: Vec<String> = plan
            .critical
            .steps
            .iter()
            .map(|&s| format!("s_{}", steps[s].name))
            .collect();
        let _ = writeln!(out, "  classDef critical stroke:#d00,stroke-width:3px");
        let _ = writeln!(out, "  class {} critical", names.join(","));
    }
    out
}
