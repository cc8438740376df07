//! `rebound fmt FILE [--check]`: rewrite in canonical layout, or (with --check) exit 1 when the
//! file is not. The file is replaced atomically (write to a temporary file, then rename), so an
//! interrupted fmt never leaves half a runbook.

use std::io::Write as _;

use super::RunbookPath;
use crate::error::Error;
use crate::runbook;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<RunbookPath>,
    /// Change nothing; exit 1 if a file is not in canonical layout.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let mut unformatted = 0;
    let mut errors = Vec::new();
    for path in &args.files {
        // A broken file is reported and left alone; the others are still formatted.
        let parsed = runbook::read(path).and_then(|source| Ok((runbook::parse(&source)?, source)));
        let (file, source) = match parsed {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let formatted = runbook::fmt::format(&file);
        if formatted == source.text {
            continue;
        }
        if args.check {
            println!("would reformat {}", path.display());
            unformatted += 1;
            continue;
        }
        write_atomically(path, &formatted)?;
        println!("formatted {}", path.display());
    }
    match errors.len() {
        0 => Ok(if unformatted > 0 { 1 } else { 0 }),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Several(errors)),
    }
}

pub(super) fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let err = |e: std::io::Error| Error::Write {
        path: path.display().to_string(),
        source: e,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.rebound-fmt.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(err)
}
