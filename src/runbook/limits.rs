//! The limits of input, in one place, so that the errors that enforce them and the docs that
//! state them (GRAMMAR.md, "Limits") agree. Every limit is far above any real runbook and far
//! below what would make rebound slow or overflow its stack.

/// Largest runbook file read, in bytes.
pub const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;

/// Deepest nesting of `[` and `{`. pest parses recursively; this bounds its stack use.
/// A real runbook needs five (runbook, path, step, volumes list, volume map).
pub(crate) const MAX_NESTING: usize = 32;

/// Scan errors (control bytes) reported before giving up on a file that is not text.
pub const MAX_SCAN_ERRORS: usize = 20;

/// Most steps in one runbook.
pub const MAX_STEPS: usize = 20_000;

/// Most instances one `launch` may ask for.
pub const MAX_COUNT: i64 = 1_000;

/// Most retries of one step.
pub const MAX_RETRIES: i64 = 20;

/// Longest duration a runbook may write (3650 days).
pub(crate) const MAX_DURATION_SECONDS: u64 = 3650 * 86_400;

/// Longest string literal, in bytes (user data is the long one: EC2 takes 16 KiB).
pub const MAX_STRING_BYTES: usize = 64 * 1024;
