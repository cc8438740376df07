//! report.html's timeline as an inline SVG: one bar per step, paths as lanes, the critical
//! path outlined, each target a dashed line and the measured RTO a solid one, on an axis that
//! fits the run (`axis`). No label may cover another: the targets' and the RTO's labels are
//! stacked in a band above the lanes, one row more whenever two would touch; a step's name
//! goes right of its bar, else left of it, else inside it; a lane's name is cut to its
//! column. Every label placed is kept as a box, so that a test can prove none overlap.

use std::fmt::Write as _;

use super::axis::Axis;
use super::document::Timeline;
use super::escape::esc;
use crate::duration::human;
use crate::exec::Outcome;

const WIDTH: f64 = 1000.0;
/// The lanes' names, left of t0.
const LABEL: f64 = 150.0;
const ROW: f64 = 20.0;
/// The tick labels' row.
const TICKS: f64 = 14.0;
/// One row of target labels.
const LINE: f64 = 14.0;
const GAP: f64 = 10.0;
/// Right margin: room for a step's name after a bar near the end.
const MARGIN: f64 = 70.0;

/// A label's box on the page, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Area {
    pub(crate) x0: f64,
    pub(crate) y0: f64,
    pub(crate) x1: f64,
    pub(crate) y1: f64,
}

#[cfg(test)]
impl Area {
    fn overlaps(&self, o: &Area) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// How wide 11px system-ui text is, from above: an average glyph is under 6.5 px (digits
/// 6.1, lower case 5.6), bold under 7.
fn width(text: &str, bold: bool) -> f64 {
    text.chars().count() as f64 * if bold { 7.0 } else { 6.5 }
}

/// The box of text whose baseline starts at `x` (anchored at its start) and `y`.
fn boxed(x: f64, y: f64, text: &str, bold: bool) -> Area {
    Area {
        x0: x,
        y0: y - 10.0,
        x1: x + width(text, bold),
        y1: y + 3.0,
    }
}

/// The SVG, and every label's area (the tests' view of the layout).
pub(crate) fn draw(t: &Timeline) -> (String, Vec<Area>) {
    let mut out = String::new();
    let mut boxes = Vec::new();
    let run_end = t
        .lanes
        .iter()
        .flat_map(|l| l.bars.iter().map(|b| b.end))
        .chain(t.measured)
        .fold(1.0f64, f64::max);
    let target_secs: Vec<f64> = t.targets.iter().map(|x| x.at).collect();
    let axis = Axis::fit(run_end, &target_secs, LABEL, WIDTH - MARGIN);

    // The marks' labels, each at its line: start-anchored right of it when that fits, else
    // end-anchored left of it; then into the first row where it touches nothing.
    let mut marks: Vec<(f64, String, bool, Option<&String>)> = t
        .measured
        .map(|m| (m, format!("measured RTO {}", human(m)), true, None))
        .into_iter()
        .chain(
            t.targets
                .iter()
                .map(|x| (x.at, x.label.clone(), false, x.lane.as_ref())),
        )
        .collect();
    marks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rows: Vec<Vec<Area>> = Vec::new();
    let mut placed = Vec::new();
    for (at, label, measured, lane) in &marks {
        let x = axis.x(*at);
        let w = width(label, *measured);
        let x0 = if x + 3.0 + w <= WIDTH {
            x + 3.0
        } else {
            (x - 3.0 - w).max(0.0)
        };
        let row = rows
            .iter()
            .position(|r| r.iter().all(|b| !(x0 < b.x1 + 4.0 && b.x0 < x0 + w + 4.0)))
            .unwrap_or(rows.len());
        if row == rows.len() {
            rows.push(Vec::new());
        }
        let y = TICKS + 4.0 + (row as f64 + 1.0) * LINE;
        let b = boxed(x0, y, label, *measured);
        rows[row].push(b);
        placed.push((x, x0, y, label.clone(), *measured, *lane));
    }
    let top = TICKS + 8.0 + rows.len() as f64 * LINE;
    let bars: usize = t.lanes.iter().map(|l| l.bars.len()).sum();
    let bottom = top + bars as f64 * ROW + t.lanes.len() as f64 * GAP;
    let height = bottom + 30.0;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"timeline of the run's steps\">"
    );

    // The axis: round ticks, then the break and the compressed zone when a target is far.
    for secs in axis.ticks() {
        let x = axis.x(secs);
        let label = if secs == 0.0 {
            "t0".to_string()
        } else {
            human(secs)
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#eaeef2\"/><text x=\"{x:.1}\" y=\"{TICKS}\" text-anchor=\"middle\">{}</text>",
            TICKS + 4.0,
            esc(&label)
        );
        let w = width(&label, false);
        boxes.push(boxed(x - w / 2.0, TICKS, &label, false));
    }
    if let Some(bx) = axis.break_x() {
        // A zigzag down through the lanes, right of the last tick and clear of its label:
        // the scale does not go on; the hatched zone after it is compressed.
        let zx = bx + 8.0;
        let mut d = format!("M{zx:.1} {top:.1}");
        let mut zy = top;
        let mut right = true;
        while zy < bottom {
            zy = (zy + 6.0).min(bottom);
            let _ = write!(
                d,
                " L{:.1} {zy:.1}",
                if right { zx + 3.0 } else { zx - 3.0 }
            );
            right = !right;
        }
        let _ = writeln!(
            out,
            "<path d=\"{d}\" stroke=\"#57606a\" stroke-width=\"1.2\" fill=\"none\"/><rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"url(#beyond)\"/>",
            bx + 14.0,
            axis.x(f64::MAX) - bx - 14.0,
            bottom - top,
        );
        out.push_str("<defs><pattern id=\"beyond\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><path d=\"M0 6 L6 0\" stroke=\"#d0d7de\" stroke-width=\"1\"/></pattern></defs>\n");
    }

    let mut y = top;
    let mut lane_spans = Vec::new();
    for lane in &t.lanes {
        let lane_top = y;
        let name = cut(&lane.name, LABEL - 8.0);
        let _ = writeln!(
            out,
            "<rect x=\"0\" y=\"{lane_top:.1}\" width=\"{WIDTH}\" height=\"{:.1}\" fill=\"#f6f8fa\" opacity=\"0.6\"/><text x=\"4\" y=\"{:.1}\" font-weight=\"600\"><title>{}</title>{}</text>",
            lane.bars.len() as f64 * ROW,
            lane_top + 13.0,
            esc(&lane.name),
            esc(&name)
        );
        boxes.push(boxed(4.0, lane_top + 13.0, &name, true));
        for bar in &lane.bars {
            let (x0, x1) = (axis.x(bar.start), axis.x(bar.end));
            let x1 = x1.max(x0 + 1.5);
            let stroke = if bar.critical {
                " stroke=\"#bf8700\" stroke-width=\"2.5\""
            } else {
                ""
            };
            // Failed steps hatched as well as red: a printer in black and white keeps it.
            let fill = match bar.outcome {
                Outcome::Failed => "url(#failed)",
                o => colour(o),
            };
            let _ = writeln!(
                out,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"2\" fill=\"{fill}\"{stroke}><title>{}: {} ({} to {})</title></rect>",
                y + 3.0,
                x1 - x0,
                ROW - 6.0,
                esc(&bar.step),
                bar.outcome.name(),
                esc(&human(bar.start)),
                esc(&human(bar.end)),
            );
            let label = if bar.outcome == Outcome::Succeeded {
                bar.step.clone()
            } else {
                format!("{} ({})", bar.step, bar.outcome.name())
            };
            let w = width(&label, false);
            let base = y + 14.0;
            let (lx, anchor_end, inside) = if x1 + 4.0 + w <= WIDTH {
                (x1 + 4.0, false, false)
            } else if x0 - 4.0 - w >= LABEL {
                (x0 - 4.0, true, false)
            } else {
                (x0 + 3.0, false, true)
            };
            let shown = if inside {
                cut(&label, (WIDTH - x0 - 6.0).max(0.0))
            } else {
                label
            };
            let _ = writeln!(
                out,
                "<text x=\"{lx:.1}\" y=\"{base:.1}\"{}{}>{}</text>",
                if anchor_end {
                    " text-anchor=\"end\""
                } else {
                    ""
                },
                if inside { " fill=\"#ffffff\"" } else { "" },
                esc(&shown)
            );
            let sw = width(&shown, false);
            boxes.push(boxed(
                if anchor_end { lx - sw } else { lx },
                base,
                &shown,
                false,
            ));
            y += ROW;
        }
        lane_spans.push((lane.name.clone(), lane_top, y));
        y += GAP;
    }
    out.push_str("<defs><pattern id=\"failed\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\"><rect width=\"6\" height=\"6\" fill=\"#cf222e\"/><path d=\"M0 6 L6 0\" stroke=\"#ffffff\" stroke-width=\"1.5\"/></pattern></defs>\n");

    // Targets dashed, through their lane (the run's through all); the measured RTO solid and
    // dark, through every lane. Each starts under the band, so that no line runs through
    // another mark's label; its own label begins (or ends) at its x.
    for (x, x0, ly, label, measured, lane) in &placed {
        let y1 = match lane {
            Some(name) => lane_spans
                .iter()
                .find(|(n, _, _)| n == *name)
                .map_or(bottom, |(_, _, b)| *b),
            None => bottom - GAP,
        };
        let (stroke, dash, colour) = if *measured {
            ("2", "", "#1b1f24")
        } else {
            ("1.5", " stroke-dasharray=\"5 3\"", "#cf222e")
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{y1:.1}\" stroke=\"{colour}\" stroke-width=\"{stroke}\"{dash}/><text x=\"{x0:.1}\" y=\"{ly:.1}\" fill=\"{colour}\"{}>{}</text>",
            top - 4.0,
            if *measured {
                " font-weight=\"600\""
            } else {
                ""
            },
            esc(label)
        );
        boxes.push(boxed(*x0, *ly, label, *measured));
    }
    let legend = match axis.break_x() {
        Some(_) => format!(
            "from t0; outlined: the critical path; dashed: targets; solid: the measured RTO; the axis is broken after {}: later targets are drawn compressed",
            human(axis.end)
        ),
        None => "from t0; outlined: the critical path; dashed: targets; solid: the measured RTO"
            .to_string(),
    };
    let _ = writeln!(
        out,
        "<text x=\"4\" y=\"{:.1}\" fill=\"#57606a\">{}</text>",
        height - 4.0,
        esc(&legend)
    );
    out.push_str("</svg>\n");
    (out, boxes)
}

fn colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Succeeded => "#2da44e",
        Outcome::Failed => "#cf222e",
        Outcome::Skipped | Outcome::Cancelled => "#8c959f",
    }
}

/// `text` cut to `room` pixels, with an ellipsis when cut.
fn cut(text: &str, room: f64) -> String {
    if width(text, true) <= room {
        return text.to_string();
    }
    let keep = ((room / 7.0).floor() as usize).saturating_sub(1);
    let mut s: String = text.chars().take(keep).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::document::{Bar, Lane, Target};

    fn bar(step: &str, start: f64, end: f64) -> Bar {
        Bar {
            step: step.to_string(),
            start,
            end,
            outcome: Outcome::Succeeded,
            critical: false,
        }
    }

    fn target(label: &str, at: f64, lane: Option<&str>) -> Target {
        Target {
            label: label.to_string(),
            at,
            lane: lane.map(str::to_string),
        }
    }

    fn no_two_overlap(boxes: &[Area]) {
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
    }

    /// A two-hour run whose targets are minutes: every label near t0, none over another.
    #[test]
    fn labels_of_a_long_run_with_near_targets_never_overlap() {
        let t = Timeline {
            lanes: vec![
                Lane {
                    name: "a-path-with-a-very-long-name-indeed".to_string(),
                    bars: vec![
                        bar("restore_the_database", 0.0, 7000.0),
                        bar("x", 7000.0, 7200.0),
                    ],
                },
                Lane {
                    name: "web".to_string(),
                    bars: vec![bar("web", 0.0, 300.0)],
                },
            ],
            targets: vec![
                target(
                    "a-path-with-a-very-long-name-indeed rto 10m00s",
                    600.0,
                    Some("a-path-with-a-very-long-name-indeed"),
                ),
                target("web rto 12m00s", 720.0, Some("web")),
                target("rto 15m00s", 900.0, None),
            ],
            measured: Some(7200.0),
            t0: chrono::DateTime::default(),
        };
        let (svg, boxes) = draw(&t);
        no_two_overlap(&boxes);
        assert!(svg.contains("measured RTO 2h00m"));
        // The step that ends at the plot's edge is labelled left of its bar, inside the page.
        assert!(
            boxes.iter().all(|b| b.x0 >= 0.0 && b.x1 <= WIDTH),
            "{boxes:?}"
        );
    }

    /// Two targets at the same time (a path's and the run's) get two rows, not one smudge.
    #[test]
    fn labels_of_targets_at_the_same_time_are_stacked() {
        let t = Timeline {
            lanes: vec![Lane {
                name: "database".to_string(),
                bars: vec![bar("db", 0.0, 800.0)],
            }],
            targets: vec![
                target("database rto 2h00m", 7200.0, Some("database")),
                target("rto 2h00m", 7200.0, None),
            ],
            measured: Some(800.0),
            t0: chrono::DateTime::default(),
        };
        let (svg, boxes) = draw(&t);
        no_two_overlap(&boxes);
        assert!(svg.contains("the axis is broken after"), "{svg}");
    }
}
