//! `rebound schedule FILE|DIR`: each runbook's next drill times (in UTC, whatever zone the
//! schedule is read in), so a team sees what its schedules mean before a scheduler acts on
//! them.

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use rebound::error::Error;
use rebound::runbook;
use rebound::runbook::schedule::Schedule;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<super::schedule_export::Command>,
    /// Runbook files, or directories of `*.runbook` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    paths: Vec<PathBuf>,
    /// How many next times per runbook.
    #[arg(long, default_value_t = 3, value_name = "N")]
    count: usize,
    /// From this moment instead of now (RFC 3339).
    #[arg(long, value_name = "TIME")]
    after: Option<DateTime<Utc>>,
    #[arg(long, value_enum, default_value = "text")]
    format: super::ListFormat,
}

#[derive(Serialize)]
struct Row {
    file: String,
    runbook: String,
    schedule: Option<String>,
    /// The zone the schedule is read in.
    zone: Option<String>,
    next: Vec<String>,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    if let Some(command) = &args.command {
        return super::schedule_export::run(command);
    }
    let after = args.after.unwrap_or_else(Utc::now);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for file in super::files::runbook_files(&args.paths)? {
        let rb = match runbook::load(&file, &[]) {
            Ok(rb) => rb,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let schedule = match rb.schedule.as_deref().map(Schedule::parse) {
            Some(Ok(s)) => Some(s),
            // The checker accepted it, so this does not happen; say so plainly if it does.
            Some(Err(e)) => return Err(Error::Usage(format!("{}: {}", file.display(), e.message))),
            None => None,
        };
        let next = schedule
            .as_ref()
            .map(|s| s.next(after, args.count))
            .unwrap_or_default();
        rows.push(Row {
            file: file.display().to_string(),
            runbook: rb.name.clone(),
            schedule: schedule.as_ref().map(|s| s.cron.clone()),
            zone: schedule.as_ref().map(|s| s.zone_name().to_string()),
            next: next
                .iter()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
                .collect(),
        });
    }
    args.format.print(&rows, || {
        let mut out = String::new();
        for r in &rows {
            match (&r.schedule, &r.zone) {
                (Some(s), Some(zone)) => {
                    let _ = writeln!(out, "{} ({}): \"{s}\" {zone}", r.runbook, r.file);
                    for t in &r.next {
                        let _ = writeln!(out, "  {t}");
                    }
                }
                _ => {
                    let _ = writeln!(out, "{} ({}): no schedule", r.runbook, r.file);
                }
            }
        }
        out
    });
    Error::of_all(errors, 0)
}
