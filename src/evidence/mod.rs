//! Evidence of a run: the report model (schema `rebound.report/v1`) and its renderings.
//! Markdown, HTML, JUnit and the tamper-evident history join it here.

pub mod report;
