//! A run's report as files: report.json, report.md, report.html and junit.xml, each written
//! whole or not at all, so that a reader never sees half a report; with `--sign-key`, each
//! file's minisign signature beside it (`report.json.minisig`), written after its file.

use std::path::{Path, PathBuf};

use rebound::error::Error;
use rebound::evidence::report::Report;
use rebound::evidence::signature::{SUFFIX, Signer};

/// Makes sure a run can write where it was told to, before it makes anything: `dir` is made if
/// missing and a file is written in it and removed. A recovery that finds out only at its end
/// that its report cannot be written has made resources with no end record.
pub(super) fn check_writable(flag: &str, dir: &Path) -> Result<(), Error> {
    let refused = |e: std::io::Error| {
        Error::Usage(format!(
            "{flag} {}: cannot write there ({e}); nothing was started",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(refused)?;
    let probe = dir.join(format!(".rebound-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(refused)?;
    std::fs::remove_file(&probe).map_err(refused)
}

/// Writes every rendering of `report` into `dir` (made if missing).
pub(super) fn write_report(
    dir: &PathBuf,
    report: &Report,
    signer: Option<&Signer>,
) -> Result<(), Error> {
    use rebound::evidence::{junit, markdown_and_html};
    let err = |e: std::io::Error| Error::Write {
        path: dir.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let (markdown, html) = markdown_and_html(report);
    let files = [
        ("report.json", report.to_json()),
        ("report.md", markdown),
        ("report.html", html),
        ("junit.xml", junit::render(report)),
    ];
    for (name, text) in files {
        rebound::atomic_file::write(&dir.join(name), text.as_bytes()).map_err(err)?;
        if let Some(signer) = signer {
            let trusted = rebound::evidence::history::trusted_comment(report, name);
            let sig = signer.sign(text.as_bytes(), &trusted)?;
            rebound::atomic_file::write(&dir.join(format!("{name}{SUFFIX}")), sig.as_bytes())
                .map_err(err)?;
        }
    }
    Ok(())
}
