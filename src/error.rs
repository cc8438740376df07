//! The errors that end a command, as data. Each stage has its own error enum; this one wraps
//! them (`#[from]`), is what reaches `main`, renders once (`render`) and maps to README's exit
//! codes (`exit_code`). `Usage` is only for a bad command line or bad input; a failure of the
//! machine or of a store is never reported as the user's mistake.

use crate::cloud::CloudError;
use crate::evidence::history::HistoryError;
use crate::evidence::notify::WebhookError;
use crate::evidence::signature::SignatureError;
use crate::exec::journal::JournalError;
use crate::ops::export::ExportError;
use crate::runbook::diagnostic::Style;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runbook unreadable, too large, or with problems (rendered with carets).
    #[error(transparent)]
    Runbook(#[from] crate::runbook::Error),
    /// A file other than a runbook (a sim world, the daemon's memory, a directory) unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A command line that clap accepted but that makes no sense (`--set` without `=`), or an
    /// input file that is not what it should be.
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
    /// The machine refused something rebound needs (a runtime, a signal handler, a process).
    #[error("{what}: {source}")]
    System {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// A schedule that cannot be exported as asked: bad input.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A signing key or public key not usable (bad input), or a signature not made.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A `--notify` URL that is not a webhook's (bad input; the message never holds the URL).
    #[error(transparent)]
    Webhook(#[from] WebhookError),
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

    /// `what` failed on the machine: `Error::System`.
    pub fn system(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::System { what, source }
    }

    /// The error as the user sees it; `main` calls this once. Runbook problems are drawn with
    /// their source lines and carets.
    pub fn render(&self, style: Style) -> String {
        match self {
            Error::Runbook(e) => e.render(style),
            Error::Several(errors) => errors.iter().map(|e| e.render(style)).collect(),
            other => format!("error: {other}\n"),
        }
    }

    /// README's exit codes: 2 for bad input (a runbook, the command line, an input file), 1 for
    /// everything that went wrong on the machine, in a store or in the cloud.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Runbook(_)
            | Error::Read { .. }
            | Error::Usage(_)
            | Error::Export(_)
            | Error::Webhook(_) => 2,
            Error::Several(errors) => errors.iter().map(Error::exit_code).max().unwrap_or(2),
            Error::Signature(e) if e.is_input() => 2,
            Error::Signature(_)
            | Error::Write { .. }
            | Error::System { .. }
            | Error::Journal(_)
            | Error::History(_)
            | Error::Cloud(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> std::io::Error {
        std::io::Error::other("boom")
    }

    /// README's table: 2 for what the user gave, 1 for what failed on the machine or in a store.
    #[test]
    fn exit_codes_follow_the_kind_of_error() {
        let input = [
            Error::Usage("--set needs NAME=VALUE".into()),
            Error::Read {
                path: "w.json".into(),
                source: io(),
            },
            Error::Runbook(crate::runbook::Error::TooLarge {
                path: "big.runbook".into(),
                bytes: 1 << 30,
            }),
        ];
        for e in &input {
            assert_eq!(e.exit_code(), 2, "{e}");
        }
        let machine = [
            Error::system("cannot start the runtime")(io()),
            Error::Write {
                path: "out".into(),
                source: io(),
            },
            Error::Journal(JournalError::Empty {
                path: "r.journal".into(),
            }),
            Error::History(HistoryError::Store {
                place: "h.sqlite".into(),
                why: "locked".into(),
            }),
            Error::Cloud(CloudError::new("UnauthorizedOperation", "no")),
        ];
        for e in &machine {
            assert_eq!(e.exit_code(), 1, "{e}");
        }
        // Several inputs: the worst of them, bad input above a failure.
        let several = Error::Several(vec![
            Error::system("cannot start the runtime")(io()),
            Error::Usage("bad".into()),
        ]);
        assert_eq!(several.exit_code(), 2);
    }
}
