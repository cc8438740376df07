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
