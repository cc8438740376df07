//! `rebound fmt FILE|DIR... [--check]`: rewrite in canonical layout, or (with --check) exit 1 when the
//! file is not. The file is replaced atomically (write to a temporary file, then rename), so an
//! interrupted fmt never leaves half a runbook.

use super::RunbookPath;
use super::output;
use rebound::error::Error;
use rebound::runbook;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files, or directories of `*.runbook` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<RunbookPath>,
    /// Change nothing; exit 1 if a file is not in canonical layout.
    #[arg(long)]
    check: bool,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let mut unformatted = 0;
    let mut errors = Vec::new();
    for path in &super::files::some_runbook_files(&args.files)? {
        // A broken file is reported and left alone; the others are still formatted.
        let parsed = runbook::read(path).and_then(|source| Ok((runbook::parse(&source)?, source)));
        let (file, source) = match parsed {
            Ok(p) => p,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let formatted = runbook::fmt::format(&file);
        if formatted == source.text {
            continue;
        }
        if args.check {
            output::line(format_args!("would reformat {}", path.display()));
            unformatted += 1;
            continue;
        }
        write_atomically(path, &formatted)?;
        output::line(format_args!("formatted {}", path.display()));
    }
    Error::of_all(errors, u8::from(unformatted > 0))
}

/// `atomic_file::write`, its error naming the file.
pub(super) fn write_atomically(path: &std::path::Path, text: &str) -> Result<(), Error> {
    rebound::atomic_file::write(path, text.as_bytes()).map_err(|e| Error::Write {
        path: path.display().to_string(),
        source: e,
    })
}
