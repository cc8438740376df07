//! `report.md`: the document as Markdown, for a wiki or a pull request. The timeline is a
//! Mermaid `gantt` chart, which GitHub and most wikis draw.

use std::fmt::Write as _;

use super::document::{Block, Doc, Gauge, Timeline};
use super::report::Report;
use crate::exec::Outcome;

pub fn render(r: &Report) -> String {
    render_doc(&Doc::of(r))
}

/// Any document (a run's, the trend's).
pub fn render_doc(doc: &Doc) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", doc.title);
    if let Some(lead) = &doc.lead {
        let _ = writeln!(out, "**{}**\n", cell(&lead.headline));
        for f in &lead.failures {
            let _ = writeln!(out, "- ✗ {}", cell(f));
        }
        if !lead.failures.is_empty() {
            out.push('\n');
        }
    }
    if let Some(b) = &doc.banner {
        let _ = writeln!(out, "> **{b}**\n");
    }
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(out, "## {h}\n");
            }
            Block::Text(t) => {
                let _ = writeln!(out, "{}\n", cell(t));
            }
            Block::Facts(facts) => {
                let _ = writeln!(out, "| | |\n|---|---|");
                for (k, v) in facts {
                    let _ = writeln!(out, "| {} | {} |", cell(k), cell(v));
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                let head: Vec<String> = head.iter().map(|h| cell(h)).collect();
                let _ = writeln!(out, "| {} |", head.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for row in rows {
                    let row: Vec<String> = row.iter().map(|c| cell(c)).collect();
                    let _ = writeln!(out, "| {} |", row.join(" | "));
                }
                out.push('\n');
            }
            Block::Timeline(t) => gantt(&mut out, t),
            Block::Gauges(g) => gauges(&mut out, g),
        }
    }
    out
}

/// Text safe in a table cell: pipes escaped, one line.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A Mermaid gantt chart on absolute milliseconds (`dateFormat x`): one section per lane,
/// critical steps marked `crit`, failed ones `active`.
fn gantt(out: &mut String, t: &Timeline) {
    let ms = |secs: f64| t.t0.timestamp_millis() + (secs * 1000.0).round() as i64;
    let _ = writeln!(
        out,
        "```mermaid\ngantt\n  dateFormat x\n  axisFormat %H:%M:%S"
    );
    for (i, lane) in t.lanes.iter().enumerate() {
        let _ = writeln!(out, "  section {}", lane.name);
        for (j, bar) in lane.bars.iter().enumerate() {
            let mut tags = Vec::new();
            if bar.critical {
                tags.push("crit");
            }
            tags.push(match bar.outcome {
                Outcome::Succeeded => "done",
                _ => "active",
            });
            // Mermaid draws a zero-length bar as nothing: at least a millisecond.
            let end = ms(bar.end).max(ms(bar.start) + 1);
            let _ = writeln!(
                out,
                "  {} :{}, s{i}_{j}, {}, {end}",
                bar.step,
                tags.join(", "),
                ms(bar.start)
            );
        }
    }
    let _ = writeln!(out, "```\n");
    if !t.targets.is_empty() {
        let targets: Vec<&str> = t.targets.iter().map(|x| x.label.as_str()).collect();
        let _ = writeln!(out, "Targets: {}.\n", targets.join("; "));
    }
}

/// The targets as a table: met or missed in words, measured against target.
fn gauges(out: &mut String, gauges: &[Gauge]) {
    use super::document::secs;
    let _ = writeln!(
        out,
        "| | verdict | target | measured | |\n|---|---|---|---|---|"
    );
    for g in gauges {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&g.name),
            g.words(),
            secs(g.target),
            secs(g.measured),
            cell(&g.note)
        );
    }
    out.push('\n');
}
