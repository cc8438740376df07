//! `rebound check FILE...`: every problem in every file, then exit 0 or 2.

use super::output;
use super::{RunbookPath, Sets};
use rebound::error::Error;
use rebound::runbook;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<RunbookPath>,
    #[command(flatten)]
    sets: Sets,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let mut errors = Vec::new();
    for path in &args.files {
        match runbook::load(path, &args.sets.sets) {
            Ok(rb) => output::line(format_args!(
                "ok: {} (runbook \"{}\", {} steps in {} paths)",
                path.display(),
                rb.name,
                rb.steps.len(),
                rb.paths.len()
            )),
            Err(e) => errors.push(e.into()),
        }
    }
    Error::of_all(errors, 0)
}
