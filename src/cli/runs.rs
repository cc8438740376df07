//! `rebound runs`: the journaled runs, newest first, so a responder coming back to a laptop
//! finds the run to resume or tear down.

use super::output;
use std::fmt::Write as _;

use serde::Serialize;

use rebound::error::Error;
use rebound::exec::journal::{self, RunState};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    state: super::StateArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: super::ListFormat,
}

#[derive(Serialize)]
struct Row {
    run_id: String,
    runbook: String,
    state: &'static str,
    started_at: String,
    backend: String,
    drill: bool,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let dir = args.state.dir()?;
    let (runs, errors) = journal::list(&dir);
    for e in &errors {
        output::note(format_args!("warning: {e}"));
    }
    let rows: Vec<Row> = runs
        .iter()
        .map(|r| Row {
            run_id: r.header.run_id.clone(),
            runbook: r.header.runbook.clone(),
            // No end record: a process holds the run now, or the one that did died.
            state: match r.state {
                RunState::Running
                    if journal::is_live(&journal::path_of(&dir, &r.header.run_id)) =>
                {
                    "live"
                }
                RunState::Running => "interrupted",
                other => other.name(),
            },
            started_at: r
                .header
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            backend: r.header.backend.to_string(),
            drill: r.header.drill,
        })
        .collect();
    args.format.print(&rows, || {
        let mut out = String::new();
        if rows.is_empty() {
            let _ = writeln!(out, "no runs in {}", dir.display());
        }
        for r in &rows {
            let _ = writeln!(
                out,
                "{:24} {:20} {:20} {} {}{}",
                r.run_id,
                r.runbook,
                r.state,
                r.started_at,
                r.backend,
                if r.drill { " drill" } else { "" }
            );
        }
        out
    });
    Ok(0)
}
