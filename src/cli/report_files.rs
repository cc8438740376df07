//! A run's report as files: report.json, report.md, report.html and junit.xml, each written
//! whole or not at all, so that a reader never sees half a report.

use std::path::PathBuf;

use rebound::error::Error;
use rebound::evidence::report::Report;

/// Writes every rendering of `report` into `dir` (made if missing).
pub(super) fn write_report(dir: &PathBuf, report: &Report) -> Result<(), Error> {
    use rebound::evidence::{html, junit, markdown};
    let err = |e: std::io::Error| Error::Write {
        path: dir.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let files = [
        ("report.json", report.to_json()),
        ("report.md", markdown::render(report)),
        ("report.html", html::render(report)),
        ("junit.xml", junit::render(report)),
    ];
    for (name, text) in files {
        rebound::atomic_file::write(&dir.join(name), text.as_bytes()).map_err(err)?;
    }
    Ok(())
}
