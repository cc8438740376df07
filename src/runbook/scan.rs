//! A first pass over the raw text that catches what the pest parser explains badly or must not
//! see: NUL and other control bytes, strings left open, and bracket nesting deep enough to
//! overflow pest's recursive descent. It also records where the comments are, for `fmt`.
//!
//! It runs before the parser; when it reports anything, the parser does not run, so a user sees
//! "unterminated string" once rather than a cascade of syntax errors after it.

use super::diagnostic::{Code, Diagnostic};
use super::limits;
use super::source::{Source, Span};

/// What the scan learnt about a source that parses further.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Every `# ...` comment, without its newline.
    pub comments: Vec<Span>,
}

pub(crate) fn scan(source: &Source) -> Result<Scan, Vec<Diagnostic>> {
    let bytes = source.text.as_bytes();
    let mut errors = Vec::new();
    let mut comments = Vec::new();
    let mut depth = 0usize;
    let mut too_deep_reported = false;
    let mut cr_reported = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                let end = memchr_newline(bytes, i);
                comments.push(source.span(i, end));
                i = end;
                continue;
            }
            b'"' => match string_end(bytes, i) {
                Ok(end) => {
                    check_escapes(source, i, end, &mut errors);
                    i = end;
                    continue;
                }
                Err(stop) => {
                    errors.push(
                        Diagnostic::new(
                            Code::UnterminatedString,
                            source.span(i, i + 1),
                            "unterminated string",
                        )
                        .label("this string is not closed before the end of the line")
                        .hint("close it with `\"`; write a newline inside a string as `\\n`"),
                    );
                    i = stop;
                    continue;
                }
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > limits::MAX_NESTING && !too_deep_reported {
                    too_deep_reported = true;
                    errors.push(
                        Diagnostic::new(
                            Code::TooDeep,
                            source.span(i, i + 1),
                            format!("brackets nest deeper than {} levels", limits::MAX_NESTING),
                        )
                        .label("too deep")
                        .hint(
                            "a runbook needs a handful of levels; check for a missing `]` or `}`",
                        ),
                    );
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            // Reported once: a file with old Mac line ends has one on every line.
            b'\r' if bytes.get(i + 1) != Some(&b'\n') && !cr_reported => {
                cr_reported = true;
                errors.push(
                    Diagnostic::new(
                        Code::Unreadable,
                        source.span(i, i + 1),
                        "a carriage return without a newline",
                    )
                    .label("here")
                    .hint("save the file with LF or CRLF line endings"),
                );
            }
            b'\t' | b'\n' | b'\r' => {}
            b if b < 0x20 || b == 0x7f => {
                let what = if b == 0 {
                    "a NUL byte".to_string()
                } else {
                    format!("control byte 0x{b:02x}")
                };
                errors.push(
                    Diagnostic::new(
                        Code::Unreadable,
                        source.span(i, i + 1),
                        format!("{what} in the runbook"),
                    )
                    .label("here")
                    .hint("a runbook is plain text; is this a binary file?"),
                );
                if errors.len() >= limits::MAX_SCAN_ERRORS {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if errors.is_empty() {
        Ok(Scan { comments })
    } else {
        Err(errors)
    }
}

/// Reports escapes other than the four the language has.
fn check_escapes(source: &Source, open: usize, end: usize, errors: &mut Vec<Diagnostic>) {
    let bytes = source.text.as_bytes();
    let mut i = open + 1;
    while i + 1 < end {
        if bytes[i] == b'\\' {
            if !matches!(bytes[i + 1], b'"' | b'\\' | b'n' | b't') {
                let next = source.text[i + 1..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                errors.push(
                    Diagnostic::new(
                        Code::Syntax,
                        source.span(i, i + 1 + next),
                        "unknown escape in string",
                    )
                    .label("not an escape the language knows")
                    .hint("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`"),
                );
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// Offset of the newline that ends the line containing `from` (or the end of the text).
fn memchr_newline(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |p| from + p)
}

/// Offset just past the closing quote of the string opening at `open`, or `Err(offset)` of
/// the newline or end of text that came first.
fn string_end(bytes: &[u8], open: usize) -> Result<usize, usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return Ok(i + 1),
            b'\\' if i + 1 < bytes.len() && bytes[i + 1] != b'\n' => i += 2,
            b'\n' | b'\r' => return Err(i),
            _ => i += 1,
        }
    }
    Err(bytes.len())
}
