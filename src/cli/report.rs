//! `rebound report`: one run's report from the history (`RUN`), or the trend per runbook over
//! a window (`--since 90d`, `--runbook NAME`), as Markdown, HTML or JSON on stdout.

use super::output;
use chrono::Utc;

use rebound::error::Error;
use rebound::evidence::{html, markdown, trend};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's id: its report. Without it: the trend.
    #[arg(value_name = "RUN")]
    run: Option<String>,
    /// The trend's window: runs started this long ago or later (90d, 12h, 2d12h).
    #[arg(long, value_name = "AGE", value_parser = super::parse_age)]
    since: Option<u64>,
    /// The trend of this runbook only.
    #[arg(long, value_name = "NAME")]
    runbook: Option<String>,
    #[command(flatten)]
    history: super::HistoryArgs,
    #[command(flatten)]
    aws: super::AwsArgs,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let (place, records) = args.history.read(&args.aws)?;
    let reports = records
        .iter()
        .map(rebound::evidence::history::Stored::report)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(run) = &args.run {
        // The last attempt: what the run finally came to.
        let Some(r) = reports.iter().rev().find(|r| &r.run_id == run) else {
            return Err(Error::Usage(format!(
                "no run `{run}` in the history {place} (`rebound history` lists it)"
            )));
        };
        output::text(format_args!(
            "{}",
            match args.format {
                Format::Md => markdown::render(r),
                Format::Html => html::render(r),
                Format::Json => r.to_json(),
            }
        ));
        return Ok(0);
    }
    // An age beyond what a clock can hold means: since the beginning.
    let since = args
        .since
        .and_then(|s| chrono::TimeDelta::try_seconds(i64::try_from(s).ok()?))
        .and_then(|d| Utc::now().checked_sub_signed(d));
    let t = trend::compute(&reports, since, args.runbook.as_deref());
    match args.format {
        Format::Md => output::text(format_args!("{}", markdown::render_doc(&t.doc()))),
        Format::Html => output::text(format_args!("{}", html::render_doc(&t.doc()))),
        Format::Json => output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(&t).unwrap_or_default()
        )),
    }
    Ok(0)
}
