//! `rebound history`: the runs in the history, oldest first; `rebound history verify`
//! recomputes the hash chain and names the first record that breaks it (exit 1).

use super::output;
use std::fmt::Write as _;

use serde::Serialize;

use rebound::error::Error;
use rebound::evidence::history;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Action {
    /// Recompute the hash chain; exit 1 naming the first edited, deleted, inserted or
    /// reordered record.
    Verify,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    history: super::HistoryArgs,
    #[command(flatten)]
    aws: super::AwsArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: super::ListFormat,
}

#[derive(Serialize)]
struct Row {
    seq: i64,
    run_id: String,
    /// 1 for the run's first process; each `resume` one more.
    attempt: u32,
    runbook: String,
    mode: String,
    backend: String,
    simulated: bool,
    started_at: String,
    outcome: String,
    rto_seconds: Option<f64>,
    digest: String,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let (place, records) = args.history.read(&args.aws)?;
    if args.action == Some(Action::Verify) {
        return Ok(match history::verify(&records) {
            Ok(n) => {
                output::line(format_args!("{place}: {n} records, the chain holds"));
                0
            }
            Err(b) => {
                output::line(format_args!(
                    "{}: record {} (run {}) breaks the chain: {}",
                    place, b.seq, b.run_id, b.why
                ));
                1
            }
        });
    }
    let mut rows = Vec::new();
    for r in &records {
        let report = r.report()?;
        rows.push(Row {
            seq: r.seq,
            run_id: report.run_id,
            attempt: report.attempt,
            runbook: report.runbook.name,
            mode: format!("{:?}", report.mode).to_lowercase(),
            backend: report.backend,
            simulated: report.simulated,
            started_at: report.started_at,
            outcome: report.outcome.name().to_string(),
            rto_seconds: report.rto.measured_seconds,
            digest: r.digest.clone(),
        });
    }
    args.format.print(&rows, || {
        let mut out = String::new();
        for r in &rows {
            let _ = writeln!(
                out,
                "{:>4} {:24} {:20} {:8} {:4} {:10} {:>9} {}{}",
                r.seq,
                if r.attempt > 1 {
                    format!("{} #{}", r.run_id, r.attempt)
                } else {
                    r.run_id.clone()
                },
                r.runbook,
                r.mode,
                r.backend,
                r.outcome,
                r.rto_seconds
                    .map_or("-".to_string(), rebound::duration::human),
                r.digest.chars().take(12).collect::<String>(),
                if r.simulated { "  (simulated)" } else { "" }
            );
        }
        if rows.is_empty() {
            let _ = writeln!(out, "no runs in {place}");
        }
        out
    });
    Ok(0)
}
