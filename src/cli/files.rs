//! The runbook files a command is given: a file as named, a directory as its `*.runbook`
//! files in name order. One rule for every command that takes `FILE|DIR` (`schedule`,
//! `schedule export`, `daemon`).

use std::path::PathBuf;

use rebound::error::Error;

/// The runbook files named: files as given, directories' `*.runbook` files sorted.
pub fn runbook_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| Error::Read {
                path: p.display().to_string(),
                source: e,
            })?;
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "runbook"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}
