//! The errors that end a command, as data. Each stage has its own diagnostics; this enum is
//! what reaches `main`, which renders it once and maps it to an exit code.

use std::sync::Arc;

use crate::runbook::diagnostic::{self, Style};
use crate::runbook::{Diagnostic, Source};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runbook with problems: rendered with carets by `runbook::diagnostic::render`.
    #[error("{} problem(s) in {}", diagnostics.len(), file.name)]
    Runbook {
        file: Arc<Source>,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: {bytes} bytes; a runbook is at most {} bytes",
        crate::runbook::limits::MAX_SOURCE_BYTES
    )]
    TooLarge { path: String, bytes: u64 },
    /// A command line that clap accepted but that makes no sense (`--set` without `=`).
    #[error("{0}")]
    Usage(String),
    /// Errors of several inputs (`check a b c`), each rendered in turn.
    #[error("{} inputs have problems", .0.len())]
    Several(Vec<Error>),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// What a command that read several inputs ends with: `Ok(code)` when none failed, the one
    /// error, or all of them.
    pub fn of_all(mut errors: Vec<Error>, code: u8) -> Result<u8, Error> {
        match errors.len() {
            0 => Ok(code),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Several(errors)),
        }
    }

    /// The error as the user sees it; `main` calls this once. Runbook problems are drawn with
    /// their source lines and carets.
    pub fn render(&self, style: Style) -> String {
        match self {
            Error::Runbook { file, diagnostics } => diagnostic::render(file, diagnostics, style),
            Error::Several(errors) => errors.iter().map(|e| e.render(style)).collect(),
            other => format!("error: {other}\n"),
        }
    }

    /// The exit code of DESIGN.md: 2 for bad input (runbook or command line).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Runbook { .. }
            | Error::Read { .. }
            | Error::TooLarge { .. }
            | Error::Usage(_) => 2,
            Error::Several(errors) => errors.iter().map(Error::exit_code).max().unwrap_or(2),
            Error::Write { .. } => 1,
        }
    }
}
