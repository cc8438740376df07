//! `report.html`: the document as one self-contained page: the style inline, no script, no
//! font or image from anywhere else, so it opens the same from an evidence archive years
//! later. It leads with the verdict in words and a gauge per target (measured against target
//! as a bar), then the timeline (`timeline_svg`). Met and missed are said in words and
//! symbols and drawn solid or hatched, never by colour alone: the page prints in black and
//! white, and SVG fills print where CSS backgrounds are dropped.

use std::fmt::Write as _;

use super::document::{Block, Doc, Gauge, Verdict};
use super::escape::esc;
use super::report::Report;
use crate::duration::human;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1040px;color:#1b1f24;padding:0 1em}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;font-weight:600}\
svg text{font:11px system-ui,sans-serif}\
h1.verdict{border-left:8px solid;padding-left:.4em}h1.met{border-color:#2da44e}h1.missed,h1.failed{border-color:#cf222e;border-left-style:double;border-left-width:12px}h1.cancelled{border-color:#8c959f;border-left-style:dashed}\
.headline{font-size:1.1em;margin-top:-.6em}.failures{color:#cf222e;font-weight:600;list-style:none;padding-left:0}.met{color:#1a7f37}.missed{color:#cf222e}.word{font-weight:700;white-space:nowrap}\
table.gauges td{vertical-align:middle}table.gauges td.word{font-size:1.05em}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}svg{break-inside:avoid}}";

pub fn render(r: &Report) -> String {
    render_doc(&Doc::of(r))
}

/// Any document (a run's, the trend's).
pub fn render_doc(doc: &Doc) -> String {
    let mut out = String::new();
    // The tab, the window list and a file browser's preview show the title first: for a run,
    // its verdict leads it.
    let (tab, class, symbol) = match &doc.lead {
        Some(lead) => (
            format!(
                "{}: {} ({})",
                lead.verdict.words(),
                lead.subject,
                lead.headline
            ),
            format!(" class=\"verdict {}\"", verdict_class(lead.verdict)),
            match lead.verdict {
                Verdict::Met => "✓ ",
                Verdict::Missed | Verdict::Failed => "✗ ",
                Verdict::Cancelled => "■ ",
            },
        ),
        None => (doc.title.clone(), String::new(), ""),
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1{class}>{symbol}{}</h1>\n",
        esc(&tab),
        esc(&doc.title)
    );
    if let Some(lead) = &doc.lead {
        let _ = writeln!(out, "<p class=\"headline\">{}</p>", esc(&lead.headline));
        if !lead.failures.is_empty() {
            out.push_str("<ul class=\"failures\">\n");
            for f in &lead.failures {
                let _ = writeln!(out, "<li>✗ {}</li>", esc(f));
            }
            out.push_str("</ul>\n");
        }
    }
    if let Some(b) = &doc.banner {
        let _ = writeln!(out, "<p class=\"banner\">{}</p>", esc(b));
    }
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => {
                let _ = writeln!(out, "<h2>{}</h2>", esc(h));
            }
            Block::Text(t) => {
                let _ = writeln!(out, "<p>{}</p>", esc(t));
            }
            Block::Facts(facts) => {
                out.push_str("<table>\n");
                for (k, v) in facts {
                    let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
                }
                out.push_str("</table>\n");
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<tr>");
                for h in head {
                    let _ = write!(out, "<th>{}</th>", esc(h));
                }
                out.push_str("</tr>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        let _ = write!(out, "<td>{}</td>", esc(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</table>\n");
            }
            Block::Timeline(t) => out.push_str(&super::timeline_svg::draw(t).0),
            Block::Gauges(g) => gauges(&mut out, g),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "met",
        Verdict::Missed => "missed",
        Verdict::Failed => "failed",
        Verdict::Cancelled => "cancelled",
    }
}

const GAUGE: f64 = 320.0;

/// One row per target: its name, met or missed in words, measured against target as a bar
/// (the target a black tick; the bar solid when met, hatched when missed), the numbers.
fn gauges(out: &mut String, gauges: &[Gauge]) {
    out.push_str("<table class=\"gauges\">\n<tr><th>target</th><th>verdict</th><th>measured against target</th><th>measured</th><th></th></tr>\n");
    for (i, g) in gauges.iter().enumerate() {
        let class = match g.met {
            Some(true) => "word met",
            Some(false) => "word missed",
            None if g.target.is_some() => "word missed",
            None => "word",
        };
        let numbers = match (g.measured, g.target) {
            (Some(m), Some(t)) if m > t => {
                format!("{} of {}: over by {}", human(m), human(t), human(m - t))
            }
            (Some(m), Some(t)) if t > 0.0 => {
                format!("{} of {} ({:.0}%)", human(m), human(t), m / t * 100.0)
            }
            (Some(m), _) => human(m),
            (None, Some(t)) => format!("not measured, target {}", human(t)),
            (None, None) => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&g.name),
            esc(g.words()),
            gauge_bar(i, g),
            esc(&numbers),
            esc(&g.note)
        );
    }
    out.push_str("</table>\n");
}

/// The bar of one gauge: an SVG, so that it prints as drawn.
fn gauge_bar(i: usize, g: &Gauge) -> String {
    let Some(m) = g.measured else {
        return String::new();
    };
    let scale = (g.target.map_or(m, |t| t.max(m)) * 1.1).max(1.0);
    let w = |s: f64| (s / scale * GAUGE).clamp(0.0, GAUGE);
    let fill = match g.met {
        Some(true) => "#2da44e".to_string(),
        Some(false) => format!("url(#hatch{i})"),
        None => "#8c959f".to_string(),
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{GAUGE}\" height=\"18\" viewBox=\"0 0 {GAUGE} 18\" role=\"img\" aria-label=\"{}: {}\">",
        esc(&g.name),
        esc(g.words())
    );
    if g.met == Some(false) {
        let _ = write!(
            svg,
            "<defs><pattern id=\"hatch{i}\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"#cf222e\"/><path d=\"M0 6 L6 0\" stroke=\"#ffffff\" stroke-width=\"1.5\"/></pattern></defs>"
        );
    }
    let _ = write!(
        svg,
        "<rect x=\"0\" y=\"3\" width=\"{GAUGE}\" height=\"12\" fill=\"#ffffff\" stroke=\"#d0d7de\"/><rect x=\"0\" y=\"3\" width=\"{:.1}\" height=\"12\" fill=\"{fill}\" stroke=\"#1b1f24\" stroke-width=\"0.5\"/>",
        w(m).max(1.5)
    );
    if let Some(t) = g.target {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"18\" stroke=\"#1b1f24\" stroke-width=\"2.5\"/>",
            w(t)
        );
    }
    svg.push_str("</svg>");
    svg
}
