//! Text made safe for report.html, its content and attribute values alike, and for the SVG
//! inside it: one escape for the page and the timeline, so that a runbook's or a step's name
//! can never open markup in either.

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
