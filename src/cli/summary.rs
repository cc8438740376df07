//! The text a run ends with: each path's RTO against its target, the run's RTO and RPO, the
//! critical path, failures, what teardown did. Built here as text; `output` prints it.

use std::fmt::Write as _;
use std::path::PathBuf;

use rebound::duration::human;
use rebound::evidence::report::{Mode, Report};
use rebound::exec::Outcome;
use rebound::exec::model::{Fate, TornDown};
use rebound::runbook::Runbook;

/// The table printed at the end: each path's RTO against target, the run's RTO and RPO, the
/// critical path.
pub(super) fn summary(
    rb: &Runbook,
    r: &Report,
    report_dir: Option<&PathBuf>,
    signed: bool,
) -> String {
    let secs = |s: Option<f64>| s.map_or("-".to_string(), human);
    let target = |t: Option<u64>| t.map_or("-".to_string(), |t| human(t as f64));
    let met = |m: Option<bool>| match m {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    let mut out = String::new();
    let banner = if r.simulated {
        "  [simulated: a rehearsal, not evidence of recovery]"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\n{} ({}, {}): {}   run {}{banner}",
        rb.name,
        r.backend,
        if r.mode == Mode::Drill {
            "drill"
        } else {
            "recovery"
        },
        r.headline(),
        r.run_id
    );
    let width = rb
        .paths
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "\n  {:width$}  {:10} {:>8} {:>9}  met",
        "", "outcome", "target", "measured"
    );
    for p in &r.paths {
        let _ = writeln!(
            out,
            "  {:width$}  {:10} {:>8} {:>9}  {}",
            p.name,
            outcome_word(p.outcome),
            target(p.rto_target_seconds),
            secs(p.measured_seconds),
            met(p.met)
        );
    }
    let overhead = match (r.rto.measured_seconds, r.rto.bound_seconds) {
        (Some(m), Some(b)) if b > 0.0 => format!("   (cloud bound {}, x{:.3})", human(b), m / b),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {:width$}  {:10} {:>8} {:>9}  {}{overhead}",
        "RTO",
        outcome_word(r.outcome),
        target(r.rto.target_seconds),
        secs(r.rto.measured_seconds),
        met(r.rto.met)
    );
    let _ = writeln!(
        out,
        "  {:width$}  {:10} {:>8} {:>9}  {}",
        "RPO",
        "",
        target(r.rpo.target_seconds),
        secs(r.rpo.measured_seconds),
        met(r.rpo.met)
    );
    for m in r.rpo_misses() {
        let _ = writeln!(
            out,
            "  rpo missed: {} used {}, {} old: {} over the rpo of {}",
            m.step,
            m.artifact,
            human(m.age_seconds as f64),
            human((m.age_seconds - m.rpo_seconds) as f64),
            human(m.rpo_seconds as f64)
        );
    }
    if !r.critical_path.is_empty() {
        let _ = writeln!(out, "\n  critical path: {}", r.critical_path.join(" -> "));
    }
    for s in r.steps.iter().filter(|s| s.outcome == Outcome::Failed) {
        let _ = writeln!(
            out,
            "  failed: {}: {}",
            s.name,
            s.error.clone().unwrap_or_default()
        );
    }
    let torn = |fate: &str| {
        r.resources
            .iter()
            .filter(|x| x.teardown.as_deref() == Some(fate))
            .count()
    };
    if r.mode == Mode::Drill {
        let _ = writeln!(
            out,
            "  teardown: {} verified gone, {} failed, {} skipped",
            torn("verified"),
            torn("failed"),
            torn("skipped")
        );
    } else if !r.resources.is_empty() {
        let _ = writeln!(
            out,
            "  kept (a recovery keeps what it restored): {} resources tagged rebound:run-id={}; \
             `rebound teardown {}` removes them",
            r.resources.len(),
            r.run_id,
            r.run_id
        );
    }
    let calls: u64 = r.api_calls.values().sum();
    let _ = writeln!(out, "  api calls: {calls}");
    if let Some(dir) = report_dir {
        let _ = writeln!(
            out,
            "  report: {} (and report.md, report.html, junit.xml){}",
            dir.join("report.json").display(),
            if signed {
                "; each signed: FILE.minisig beside it"
            } else {
                ""
            }
        );
    }
    out
}

fn outcome_word(o: Outcome) -> &'static str {
    o.name()
}

/// One line per resource: kind, id, step, fate, why.
pub fn teardown_table(fates: &[TornDown]) -> String {
    let mut out = String::new();
    let verified = fates.iter().filter(|t| t.outcome == Fate::Verified).count();
    let _ = writeln!(
        out,
        "teardown: {verified} of {} resources verified gone",
        fates.len()
    );
    for t in fates {
        let _ = writeln!(out, "  {t}");
    }
    out
}
