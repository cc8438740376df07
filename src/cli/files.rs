//! The runbook files a command is given: a file as named, a directory as its `*.runbook`
//! files in name order. One rule for every command that takes `FILE|DIR` (`check`, `fmt`,
//! `simulate`, `schedule`, `schedule export`, `daemon`, `report --runbooks`).

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

/// `runbook_files`, for a command with nothing to do without one: naming no runbook at all
/// (an empty directory, a directory of other files) is bad input.
pub fn some_runbook_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let files = runbook_files(paths)?;
    if files.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Usage(format!(
            "no `*.runbook` file in {}",
            named.join(", ")
        )));
    }
    Ok(files)
}

/// The names of the runbooks in the files named (as `runbook_files` finds them), read and
/// parsed but not checked: a runbook whose params need values still has a name.
pub fn runbook_names(paths: &[PathBuf]) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    for file in runbook_files(paths)? {
        let source = rebound::runbook::read(&file)?;
        let parsed = rebound::runbook::parse(&source)?;
        names.extend(parsed.runbooks.into_iter().map(|r| r.name.value));
    }
    Ok(names)
}
