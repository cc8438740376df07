//! The runbook language: reading a file, parsing it to an AST, checking it into a `checked::Runbook`,
//! and printing it back in canonical layout. Nothing here does I/O except `read`.
//!
//! Stages, each its own type: `Source` --parse--> `ast::File` --check--> `checked::Runbook`.

pub mod ast;
pub mod check;
pub mod checked;
pub mod diagnostic;
pub(crate) mod error;
pub mod expr;
pub mod fmt;
pub mod limits;
pub mod machine;
pub mod parse;
pub mod scan;
pub mod schedule;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod suggest;

use std::path::Path;
use std::sync::Arc;

pub use checked::Runbook;
pub use diagnostic::{Code, Diagnostic};
pub use source::{Source, Span};

pub use error::Error;

/// Reads a runbook file: at most `limits::MAX_SOURCE_BYTES`, and UTF-8 (the first bad byte is
/// reported with its position).
pub fn read(path: &Path) -> Result<Arc<Source>, Error> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::Read {
        path: name.clone(),
        source: e,
    })?;
    if meta.len() > limits::MAX_SOURCE_BYTES as u64 {
        return Err(Error::TooLarge {
            path: name,
            bytes: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| Error::Read {
        path: name.clone(),
        source: e,
    })?;
    from_bytes(name, bytes)
}

/// A source from bytes read elsewhere (stdin, tests).
pub fn from_bytes(name: String, bytes: Vec<u8>) -> Result<Arc<Source>, Error> {
    if bytes.len() > limits::MAX_SOURCE_BYTES {
        return Err(Error::TooLarge {
            path: name,
            bytes: bytes.len() as u64,
        });
    }
    match String::from_utf8(bytes) {
        // Some Windows editors start UTF-8 files with a byte-order mark; it means nothing here.
        Ok(text) => Ok(Source::new(
            name,
            text.strip_prefix('\u{feff}').unwrap_or(&text),
        )),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let source = Source::new(name, String::from_utf8_lossy(e.as_bytes()).into_owned());
            // Lossy decoding keeps every valid byte before `at` where it was.
            let d = Diagnostic::new(
                Code::Unreadable,
                source.span(at, at + 1),
                "the runbook is not valid UTF-8",
            )
            .label("this byte")
            .hint("save the file as UTF-8");
            Err(Error::invalid(&source, vec![d]))
        }
    }
}

/// Parses a source into its AST: one runbook, syntactically sound (its meaning unchecked).
pub fn parse(source: &Arc<Source>) -> Result<ast::File, Error> {
    let file = parse::parse(source).map_err(|d| Error::invalid(source, d))?;
    let diagnostics = check::one_runbook(&file);
    if diagnostics.is_empty() {
        Ok(file)
    } else {
        Err(Error::invalid(source, diagnostics))
    }
}

/// Parses and checks a source with the `--set` values of this invocation.
pub fn check_source(source: &Arc<Source>, sets: &[(String, String)]) -> Result<Runbook, Error> {
    let file = parse::parse(source).map_err(|d| Error::invalid(source, d))?;
    check::check(&file, sets).map_err(|d| Error::invalid(source, d))
}

/// Reads, parses and checks a runbook file.
pub fn load(path: &Path, sets: &[(String, String)]) -> Result<Runbook, Error> {
    check_source(&read(path)?, sets)
}
