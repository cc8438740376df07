//! `rebound history`: the runs in the history, oldest first; `rebound history verify`
//! recomputes the hash chain and names the first record that breaks it (exit 1), and with
//! `--pubkey` checks every record's signature too.

use super::output;
use std::fmt::Write as _;

use serde::Serialize;

use rebound::error::Error;
use rebound::evidence::history;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum Action {
    /// Recompute the hash chain; exit 1 naming the first edited, deleted, inserted or
    /// reordered record (and, with --pubkey, the first unsigned or badly signed one).
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
    /// verify: check every record's signature with this minisign public key (as `minisign -G`
    /// writes it); a record without one breaks it too.
    #[arg(long, value_name = "FILE", global = true)]
    pubkey: Option<std::path::PathBuf>,
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
    if args.pubkey.is_some() && args.action != Some(Action::Verify) {
        return Err(Error::Usage(
            "--pubkey is for `rebound history verify`".to_string(),
        ));
    }
    // The key first: a key that is not one is bad input, whatever the history holds.
    let key = args
        .pubkey
        .as_deref()
        .map(rebound::evidence::signature::Verifier::load)
        .transpose()?;
    let (place, records) = args.history.read(&args.aws)?;
    if args.action == Some(Action::Verify) {
        let checked = history::verify(&records).and_then(|n| match &key {
            Some(key) => history::verify_signatures(&records, key).map(|_| n),
            None => Ok(n),
        });
        return Ok(match checked {
            Ok(n) if key.is_some() => {
                output::line(format_args!(
                    "{place}: {n} records, the chain holds, every record signed by this key"
                ));
                0
            }
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
