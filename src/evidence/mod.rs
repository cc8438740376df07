//! Evidence of a run: the report model (schema `rebound.report/v1`), its renderings
//! (`report.json`, `report.md`, `report.html`, `junit.xml`, all from one `document` of what
//! an auditor sees), the tamper-evident history of runs, and what monitoring reads of it.

pub(crate) mod axis;
pub(crate) mod canonical;
pub mod document;
pub(crate) mod escape;
pub mod history;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod metrics;
pub mod notify;
pub mod report;
pub mod signature;
pub(crate) mod timeline_svg;
pub mod trend;

/// `report.md` and `report.html` of a report, both laid out from one `document::Doc` (made
/// once: at a thousand tiers it is a tenth of the run).
pub fn markdown_and_html(r: &report::Report) -> (String, String) {
    let doc = document::Doc::of(r);
    (markdown::render_doc(&doc), html::render_doc(&doc))
}
