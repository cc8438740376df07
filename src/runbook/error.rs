//! Why a runbook could not be had: its file unreadable or too large, or its text with problems
//! (every diagnostic the stage found). The runbook stage's own error, so that the language does
//! not depend on the application's `crate::Error`, which wraps it.

use std::sync::Arc;

use super::diagnostic::{self, Diagnostic, Style};
use super::limits;
use super::source::Source;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runbook with problems: rendered with carets by `runbook::diagnostic::render`.
    #[error("{} problem(s) in {}", diagnostics.len(), file.name)]
    Invalid {
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
        limits::MAX_SOURCE_BYTES
    )]
    TooLarge { path: String, bytes: u64 },
}

impl Error {
    /// Problems found in `file`.
    pub(crate) fn invalid(file: &Arc<Source>, diagnostics: Vec<Diagnostic>) -> Error {
        Error::Invalid {
            file: Arc::clone(file),
            diagnostics,
        }
    }

    /// The error as the user sees it: problems drawn with their source lines and carets
    /// (`diagnostic::render`), anything else on one line. `crate::Error::render` defers to it.
    pub fn render(&self, style: Style) -> String {
        match self {
            Error::Invalid { file, diagnostics } => diagnostic::render(file, diagnostics, style),
            other => format!("error: {other}\n"),
        }
    }
}
