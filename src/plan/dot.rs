//! `rebound plan --format dot`: the DAG for Graphviz, one cluster per path, the expected
//! critical path in red.

use std::fmt::Write as _;

use super::Plan;
use crate::duration::human;
use crate::runbook::checked::{PathDef, format_duration, quote};

pub fn render(plan: &Plan<'_>) -> String {
    let rb = plan.runbook;
    let steps = &rb.steps;
    let critical = |id: usize| plan.critical.steps.contains(&id);
    let node = |id: usize| {
        let s = &steps[id];
        let label = format!(
            "{}\\n{} ~{}",
            s.name,
            s.action.name(),
            human(plan.expected[id])
        );
        let style = if critical(id) {
            ", color=red, penwidth=2"
        } else {
            ""
        };
        format!("{} [label=\"{label}\"{style}];", quote(&s.name))
    };
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&rb.name));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, fontname=\"Helvetica\"];");
    let open = |def: &PathDef| {
        let target = def
            .rto
            .map_or(String::new(), |d| format!(" (rto {})", format_duration(d)));
        format!(
            "  subgraph {} {{\n    label={};",
            quote(&format!("cluster_{}", def.name)),
            quote(&format!("path {}{target}", def.name))
        )
    };
    plan.write_groups(&mut out, &node, &open, "  }");
    for (id, s) in steps.iter().enumerate() {
        for &d in &s.deps {
            let on_chain = plan
                .critical
                .steps
                .windows(2)
                .any(|w| w[0] == d && w[1] == id);
            let style = if on_chain {
                " [color=red, penwidth=2]"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} -> {}{style};",
                quote(&steps[d].name),
                quote(&s.name)
            );
        }
    }
    out.push_str("}\n");
    out
}
