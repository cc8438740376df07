//! `rebound plan --format text`: what a responder reads before running a runbook. Steps by
//! level with what each waits for, paths with targets and expectations, params and where their
//! values came from, every local command, and the expected critical path.

use std::fmt::Write as _;

use super::Plan;
use crate::duration::human;
use crate::runbook::checked::{ParamOrigin, format_duration};

pub fn render(plan: &Plan<'_>) -> String {
    let rb = plan.runbook;
    let steps = &rb.steps;
    let mut out = String::new();
    let _ = writeln!(out, "runbook \"{}\" ({})", rb.name, rb.source.name);
    let mut facts = vec![format!("strategy {}", rb.strategy)];
    if let Some(d) = rb.rto {
        facts.push(format!("rto {}", format_duration(d)));
    }
    if let Some(d) = rb.rpo {
        facts.push(format!("rpo {}", format_duration(d)));
    }
    if let Some(r) = &rb.region {
        facts.push(format!("region {r}"));
    }
    if let Some(s) = &rb.schedule {
        facts.push(format!("schedule \"{s}\""));
    }
    let _ = writeln!(out, "  {}", facts.join(" | "));

    if !rb.params.is_empty() {
        let _ = writeln!(out, "\nparams");
        let width = rb.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &rb.params {
            let (value, origin) = match p.origin {
                ParamOrigin::Default => (p.value.display(steps).to_string(), "default".into()),
                ParamOrigin::Set => (p.value.display(steps).to_string(), "--set".into()),
                ParamOrigin::Secret => (
                    crate::secret::PLACEHOLDER.to_string(),
                    format!("secret, from ${}", crate::secret::env_var(&p.name)),
                ),
            };
            let _ = writeln!(out, "  {:width$} = {value}  ({origin})", p.name);
        }
    }

    let _ = writeln!(
        out,
        "\nsteps by level (a step starts when everything it waits for is done)"
    );
    let name_w = steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let action_w = steps
        .iter()
        .map(|s| s.action.name().len())
        .max()
        .unwrap_or(0);
    let path_w = rb
        .paths
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(1)
        .max(1);
    for (level, ids) in plan.levels().iter().enumerate() {
        let _ = writeln!(out, "  level {level}");
        for &id in ids {
            let s = &steps[id];
            let path = s.path.map_or("-", |p| rb.paths[p].name.as_str());
            let waits: Vec<&str> = s.deps.iter().map(|&d| steps[d].name.as_str()).collect();
            let mut line = format!(
                "    {:name_w$}  {:action_w$}  path {:path_w$}  ~{:>7}",
                s.name,
                s.action.name(),
                path,
                human(plan.expected[id])
            );
            if !waits.is_empty() {
                let _ = write!(line, "  after {}", waits.join(", "));
            }
            if !s.critical {
                line.push_str("  (non-critical)");
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    if !rb.paths.is_empty() {
        let _ = writeln!(out, "\npaths");
        for (p, def) in rb.paths.iter().enumerate() {
            let target = def.rto.map_or("-".to_string(), format_duration);
            let members: Vec<&str> = rb.path_steps(p).map(|s| steps[s].name.as_str()).collect();
            let _ = writeln!(
                out,
                "  {:path_w$}  target {:>6}  expected {:>7}  {}",
                def.name,
                target,
                human(plan.critical.path_finish[p]),
                members.join(", ")
            );
        }
    }

    let commands = plan.exec_commands();
    if !commands.is_empty() {
        let _ = writeln!(out, "\nlocal commands (exec)");
        for (id, cmd) in commands {
            let _ = writeln!(out, "  {:name_w$}  {cmd}", steps[id].name);
        }
    }

    let chain: Vec<&str> = plan
        .critical
        .steps
        .iter()
        .map(|&s| steps[s].name.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\nexpected critical path ({}): {}",
        human(plan.critical.rto),
        if chain.is_empty() {
            "(no steps)".to_string()
        } else {
            chain.join(" -> ")
        }
    );
    out
}
