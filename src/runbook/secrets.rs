//! The values of a runbook's `param NAME secret`s, read from the environment
//! (`REBOUND_SECRET_NAME`) by `run` and `resume` only; every other command works without them.
//! The one place in the language stage that reads the process's environment. What a secret is,
//! and how it is kept out of text, is `crate::secret`'s.

use super::checked::Runbook;
use super::diagnostic::{Code, Diagnostic};
use super::error::Error;
use super::limits;
use crate::secret::{MIN_LEN, Secret, env_var};

/// Reads every secret param's value from the environment. `run` and `resume` call it before
/// anything is created, so a missing secret stops a run with nothing done; every other command
/// works without the values.
pub fn read_env(rb: &mut Runbook) -> Result<(), Error> {
    let mut diagnostics = Vec::new();
    for s in &mut rb.secrets {
        let var = env_var(&s.name);
        match std::env::var(&var) {
            Ok(v) if v.len() > limits::MAX_STRING_BYTES => diagnostics.push(
                Diagnostic::new(
                    Code::Secret,
                    s.span,
                    format!(
                        "secret param `{}` is longer than {} bytes",
                        s.name,
                        limits::MAX_STRING_BYTES
                    ),
                )
                .label(format!("read from {var}"))
                .hint("the limit of every string in a runbook (GRAMMAR.md, Limits)"),
            ),
            Ok(v) if v.len() >= MIN_LEN => s.value = Some(Secret::new(v)),
            Ok(_) => diagnostics.push(
                Diagnostic::new(
                    Code::Secret,
                    s.span,
                    format!("secret param `{}` is shorter than {MIN_LEN} bytes", s.name),
                )
                .label(format!("read from {var}"))
                .hint("a value that short cannot be kept out of the logs; use a real secret"),
            ),
            Err(_) => diagnostics.push(
                Diagnostic::new(
                    Code::MissingParamValue,
                    s.span,
                    format!("secret param `{}` has no value", s.name),
                )
                .label(format!("read from {var}, which is not set"))
                .hint(format!("export {var}=... before the run")),
            ),
        }
    }
    if diagnostics.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(&rb.source, diagnostics))
    }
}
