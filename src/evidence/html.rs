//! `report.html`: the document as one self-contained page: the style inline, no script, no
//! font or image from anywhere else, so it opens the same from an evidence archive years
//! later. The timeline is an inline SVG: one bar per step, paths as lanes, the critical path
//! outlined, targets as vertical lines.

use std::fmt::Write as _;

use super::document::{Block, Doc, Timeline};
use super::report::Report;
use crate::duration::human;
use crate::exec::Outcome;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1040px;color:#1b1f24;padding:0 1em}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}.banner{background:#fff8c5;border:1px solid #d4a72c;padding:.6em 1em;font-weight:600}\
.no{color:#cf222e;font-weight:600}svg text{font:11px system-ui,sans-serif}";

pub fn render(r: &Report) -> String {
    render_doc(&Doc::of(r))
}

/// Any document (a run's, the trend's).
pub fn render_doc(doc: &Doc) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&doc.title),
        esc(&doc.title)
    );
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
                        let class = if c == "NO" { " class=\"no\"" } else { "" };
                        let _ = write!(out, "<td{class}>{}</td>", esc(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</table>\n");
            }
            Block::Timeline(t) => svg(&mut out, t),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Text safe in HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 20.0;
const TOP: f64 = 24.0;
const GAP: f64 = 10.0;

fn colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "#2da44e",
        Outcome::Failed => "#cf222e",
        Outcome::Skipped | Outcome::Cancelled => "#8c959f",
    }
}

/// The timeline: rows of bars grouped in lanes, an axis of seconds from t0 on top.
fn svg(out: &mut String, t: &Timeline) {
    let end = t
        .lanes
        .iter()
        .flat_map(|l| l.bars.iter().map(|b| b.end))
        .chain(t.targets.iter().map(|x| x.at))
        .fold(1.0f64, f64::max);
    // Room on the right for the last tick's label and the bars' names.
    let plot = WIDTH - LABEL - 70.0;
    let x = |secs: f64| LABEL + secs.max(0.0) / end * plot;
    let rows: usize = t.lanes.iter().map(|l| l.bars.len()).sum();
    let height = TOP + rows as f64 * ROW + t.lanes.len() as f64 * GAP + 30.0;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"timeline of the run's steps\">"
    );
    // The axis: five ticks from t0.
    for i in 0..=5 {
        let secs = end * f64::from(i) / 5.0;
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#eaeef2\"/><text x=\"{0:.1}\" y=\"14\" text-anchor=\"middle\">{2}</text>",
            x(secs),
            height - 20.0,
            esc(&human(secs))
        );
    }
    let mut y = TOP;
    let mut lane_spans = Vec::new();
    for lane in &t.lanes {
        let top = y;
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"{top:.1}\" width=\"{WIDTH}\" height=\"{:.1}\" fill=\"#f6f8fa\" opacity=\"0.6\"/><text x=\"4\" y=\"{:.1}\" font-weight=\"600\">{}</text>",
            lane.bars.len() as f64 * ROW,
            top + 13.0,
            esc(&lane.name)
        );
        for bar in &lane.bars {
            let (x0, x1) = (x(bar.start), x(bar.end));
            let stroke = if bar.critical {
                " stroke=\"#bf8700\" stroke-width=\"2.5\""
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{}\"{stroke}><title>{}: {} ({} to {})</title></rect><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                y + 3.0,
                (x1 - x0).max(1.5),
                ROW - 6.0,
                colour(bar.outcome),
                esc(&bar.step),
                bar.outcome.name(),
                esc(&human(bar.start)),
                esc(&human(bar.end)),
                x1 + 4.0,
                y + 14.0,
                esc(&bar.step)
            );
            y += ROW;
        }
        lane_spans.push((lane.name.clone(), top, y));
        y += GAP;
    }
    for target in &t.targets {
        let (y0, y1) = match &target.lane {
            Some(name) => lane_spans
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or((TOP, y), |(_, a, b)| (*a, *b)),
            None => (TOP, y - GAP),
        };
        let xt = x(target.at);
        let _ = writeln!(
            out,
            "<line x1=\"{xt:.1}\" y1=\"{y0:.1}\" x2=\"{xt:.1}\" y2=\"{y1:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"5 3\" stroke-width=\"1.5\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#cf222e\" text-anchor=\"end\">{}</text>",
            xt - 3.0,
            y1 + 12.0,
            esc(&target.label)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"4\" y=\"{:.1}\" fill=\"#57606a\">seconds from t0; outlined: the critical path; dashed: targets</text>",
        height - 4.0
    );
    out.push_str("</svg>\n");
}
