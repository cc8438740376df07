//! `rebound plan --format json`: the plan for programs (CI gates, dashboards).

use serde::Serialize;
use serde_json::Value;

use super::Plan;
use crate::runbook::checked::{ParamOrigin, Strategy};

#[derive(Serialize)]
struct PlanJson<'a> {
    schema: &'static str,
    runbook: &'a str,
    file: &'a str,
    strategy: Strategy,
    rto_target_seconds: Option<u64>,
    rpo_target_seconds: Option<u64>,
    schedule: Option<&'a str>,
    params: Vec<ParamJson<'a>>,
    paths: Vec<PathJson<'a>>,
    steps: Vec<StepJson<'a>>,
    exec_commands: Vec<ExecJson<'a>>,
    critical_path: CriticalJson<'a>,
}

#[derive(Serialize)]
struct ParamJson<'a> {
    name: &'a str,
    value: Value,
    origin: ParamOrigin,
}

#[derive(Serialize)]
struct PathJson<'a> {
    name: &'a str,
    rto_target_seconds: Option<u64>,
    expected_seconds: f64,
    steps: Vec<&'a str>,
}

#[derive(Serialize)]
struct StepJson<'a> {
    name: &'a str,
    action: &'static str,
    path: Option<&'a str>,
    level: usize,
    depends_on: Vec<&'a str>,
    expected_seconds: f64,
    expected_finish_seconds: f64,
    critical: bool,
    timeout_seconds: Option<u64>,
    retries: u32,
    fields: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct ExecJson<'a> {
    step: &'a str,
    command: Value,
}

#[derive(Serialize)]
struct CriticalJson<'a> {
    expected_seconds: f64,
    steps: Vec<&'a str>,
}

/// Seconds rounded to milliseconds, so the JSON is stable across platforms.
fn ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn render(plan: &Plan<'_>) -> String {
    let rb = plan.runbook;
    let steps = &rb.steps;
    let name = |id: usize| steps[id].name.as_str();
    let doc = PlanJson {
        schema: "rebound.plan/v1",
        runbook: &rb.name,
        file: &rb.source.name,
        strategy: rb.strategy,
        rto_target_seconds: rb.rto.map(|d| d.as_secs()),
        rpo_target_seconds: rb.rpo.map(|d| d.as_secs()),
        schedule: rb.schedule.as_deref(),
        params: rb
            .params
            .iter()
            .map(|p| ParamJson {
                name: &p.name,
                value: p.value.to_json(steps),
                origin: p.origin,
            })
            .collect(),
        paths: rb
            .paths
            .iter()
            .enumerate()
            .map(|(p, def)| PathJson {
                name: &def.name,
                rto_target_seconds: def.rto.map(|d| d.as_secs()),
                expected_seconds: ms(plan.critical.path_finish[p]),
                steps: rb.path_steps(p).map(name).collect(),
            })
            .collect(),
        steps: plan
            .order
            .iter()
            .map(|&id| {
                let s = &steps[id];
                StepJson {
                    name: &s.name,
                    action: s.action.name(),
                    path: s.path.map(|p| rb.paths[p].name.as_str()),
                    level: plan.level[id],
                    depends_on: s.deps.iter().map(|&d| name(d)).collect(),
                    expected_seconds: ms(plan.expected[id]),
                    expected_finish_seconds: ms(plan.critical.finish[id]),
                    critical: s.critical,
                    timeout_seconds: s.timeout.map(|d| d.as_secs()),
                    retries: s.retries,
                    fields: s
                        .fields
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json(steps)))
                        .collect(),
                }
            })
            .collect(),
        exec_commands: plan
            .exec_commands()
            .into_iter()
            .filter_map(|(id, _)| {
                Some(ExecJson {
                    step: name(id),
                    command: steps[id].field("command")?.to_json(steps),
                })
            })
            .collect(),
        critical_path: CriticalJson {
            expected_seconds: ms(plan.critical.rto),
            steps: plan.critical.steps.iter().map(|&s| name(s)).collect(),
        },
    };
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
