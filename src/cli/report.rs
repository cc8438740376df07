//! `rebound report`: one run's report from the history (`RUN`), the trend per runbook over a
//! window (`--since 90d`, `--runbook NAME`) as Markdown, HTML or JSON, the metrics monitoring
//! reads (`--format prometheus` for node_exporter's textfile collector, `--format emf` for the
//! CloudWatch agent), or the dead-man switch (`--stale 8d`: exit 1 naming every runbook whose
//! last passing drill is older), all on stdout.

use std::path::PathBuf;

use super::output;
use chrono::Utc;

use rebound::duration::human_long;
use rebound::error::Error;
use rebound::evidence::document::Block;
use rebound::evidence::metrics::{self, Metrics};
use rebound::evidence::{html, markdown, trend};
use rebound::preflight::readiness::{self, Changes, Level, Readiness};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Html,
    Json,
    /// OpenMetrics text: per runbook, the last drill and the last passing drill.
    Prometheus,
    /// CloudWatch Embedded Metric Format: one JSON line per runbook.
    Emf,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's id: its report. Without it: the trend.
    #[arg(value_name = "RUN")]
    run: Option<String>,
    /// The window: runs started this long ago or later (90d, 12h, 2d12h).
    #[arg(long, value_name = "AGE", value_parser = super::parse_age)]
    since: Option<u64>,
    /// Of this runbook only.
    #[arg(long, value_name = "NAME")]
    runbook: Option<String>,
    /// Exit 1 naming every runbook whose last passing drill against AWS finished longer ago
    /// than AGE (or that never passed one); 0 when every runbook passed one since.
    #[arg(long, value_name = "AGE", value_parser = super::parse_age,
          conflicts_with_all = ["run", "format"])]
    stale: Option<u64>,
    /// Runbook files or directories that should be drilled: one with no drill in the history
    /// is listed (and with --stale, stale) as never passed.
    #[arg(long = "runbooks", value_name = "FILE|DIR", conflicts_with = "run")]
    expected: Vec<PathBuf>,
    #[command(flatten)]
    history: super::HistoryArgs,
    #[command(flatten)]
    aws: super::AwsArgs,
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let per_runbook = matches!(args.format, Format::Prometheus | Format::Emf);
    if args.run.is_some() && per_runbook {
        return Err(Error::Usage(
            "--format prometheus and emf are figures per runbook, not of one run: leave out RUN"
                .to_string(),
        ));
    }
    let (place, reports) = super::runtime()?.block_on(args.history.reports(&args.aws))?;
    if let Some(run) = &args.run {
        // The last attempt: what the run finally came to.
        let Some(r) = reports.iter().rev().find(|r| &r.run_id == run) else {
            return Err(Error::Usage(format!(
                "no run `{run}` in the history {place} (`rebound history` lists it)"
            )));
        };
        let text = match args.format {
            Format::Md => markdown::render(r),
            Format::Html => html::render(r),
            Format::Json | Format::Prometheus | Format::Emf => r.to_json(),
        };
        output::text(format_args!("{text}"));
        return Ok(0);
    }
    // An age beyond what a clock can hold means: since the beginning.
    let since = args
        .since
        .and_then(|s| chrono::TimeDelta::try_seconds(i64::try_from(s).ok()?))
        .and_then(|d| Utc::now().checked_sub_signed(d));
    if args.stale.is_some() || per_runbook {
        let expected = super::files::runbook_names(&args.expected)?;
        let m = metrics::compute(
            &reports,
            &expected,
            since,
            args.runbook.as_deref(),
            Utc::now(),
        );
        if let Some(max_age) = args.stale {
            return Ok(stale(&m, max_age, &place));
        }
        let text = if args.format == Format::Emf {
            m.emf()
        } else {
            m.openmetrics()
        };
        output::text(format_args!("{text}"));
        return Ok(0);
    }
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
        Format::Json | Format::Prometheus | Format::Emf => {
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

/// `--stale AGE`: a line per runbook, stale or not; 1 when any is stale, and when the history
/// holds no drill at all (a dead-man switch pointed at the wrong history must not stay quiet).
fn stale(m: &Metrics, max_age: u64, place: &str) -> u8 {
    let limit = human_long(max_age as f64);
    if m.runbooks.is_empty() {
        output::line(format_args!(
            "stale: no drill against AWS in the history {place}, so none passed within {limit}"
        ));
        return 1;
    }
    let stale = m.stale(max_age);
    let when = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    for w in &m.runbooks {
        let is_stale = stale.iter().any(|s| s.runbook == w.runbook);
        match (w.last_pass, m.pass_age(w)) {
            (Some(t), Some(age)) => {
                let over = if is_stale {
                    format!(" (more than {limit})")
                } else {
                    String::new()
                };
                output::line(format_args!(
                    "{}: {}: last passing drill {}, {} ago{over}",
                    if is_stale { "stale" } else { "ok" },
                    w.runbook,
                    when(t),
                    human_long(age)
                ));
            }
            _ => output::line(format_args!(
                "stale: {}: no passing drill in the history",
                w.runbook
            )),
        }
    }
    u8::from(!stale.is_empty())
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
