//! `rebound report`: one run's report from the history (`RUN`), or the trend per runbook over
//! a window (`--since 90d`, `--runbook NAME`), as Markdown, HTML or JSON on stdout.

use super::output;
use chrono::Utc;

use rebound::error::Error;
use rebound::evidence::document::Block;
use rebound::evidence::{html, markdown, trend};
use rebound::preflight::readiness::{self, Changes, Level, Readiness};

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
    let groups = by_runbook(args.history.readiness_checks()?, args.runbook.as_deref());
    let ready: Vec<Changes<'_>> = groups
        .values()
        .filter_map(|checks| readiness::changes(checks))
        .collect();
    let mut doc = t.doc();
    doc.blocks.extend(readiness_blocks(&ready));
    match args.format {
        Format::Md => output::text(format_args!("{}", markdown::render_doc(&doc))),
        Format::Html => output::text(format_args!("{}", html::render_doc(&doc))),
        Format::Json => {
            let mut v = serde_json::to_value(&t).unwrap_or_default();
            if !ready.is_empty() {
                v["readiness"] = serde_json::to_value(&ready).unwrap_or_default();
            }
            output::line(format_args!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ));
        }
    }
    Ok(0)
}

/// The readiness checks (oldest first) by runbook name; of `only` alone when given.
fn by_runbook(
    checks: Vec<Readiness>,
    only: Option<&str>,
) -> std::collections::BTreeMap<String, Vec<Readiness>> {
    let mut groups: std::collections::BTreeMap<String, Vec<Readiness>> = Default::default();
    for c in checks
        .into_iter()
        .filter(|c| only.is_none_or(|o| o == c.runbook))
    {
        groups.entry(c.runbook.clone()).or_default().push(c);
    }
    groups
}

/// The readiness section: each runbook's state at its last check, and what is new since it
/// was last ready.
fn readiness_blocks(ready: &[Changes<'_>]) -> Vec<Block> {
    if ready.is_empty() {
        return Vec::new();
    }
    let when = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for c in ready {
        let state = match c.latest.level() {
            Level::Info | Level::Ok => "ready",
            Level::Warning => "ready with warnings",
            Level::Error => "not ready",
        };
        rows.push(vec![
            c.latest.runbook.clone(),
            state.to_string(),
            when(c.latest.at),
            c.last_ready
                .map_or_else(|| "never".to_string(), |l| when(l.at)),
        ]);
        let since = c.baseline.map_or_else(
            || "never ready".to_string(),
            |l| format!("new since the last ready check, {}", when(l.at)),
        );
        for f in &c.new {
            let step = f
                .step
                .as_deref()
                .map(|s| format!("{s}: "))
                .unwrap_or_default();
            lines.push(format!(
                "{}: {} {} ({since}): {step}{}",
                c.latest.runbook,
                f.level.name(),
                f.check,
                f.message
            ));
        }
    }
    let mut blocks = vec![
        Block::Heading("Readiness (rebound preflight; not evidence of recovery)".to_string()),
        Block::Table {
            head: ["runbook", "state", "checked", "last ready"]
                .map(str::to_string)
                .to_vec(),
            rows,
        },
    ];
    blocks.extend(lines.into_iter().map(Block::Text));
    blocks
}
