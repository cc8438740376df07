//! `rebound check FILE|DIR...`: every problem in every file, then exit 0 or 2; as text for
//! people (the problems rendered once, by `main`), or as JSON or SARIF on stdout for CI
//! (`runbook::machine`).

use super::output;
use super::{RunbookPath, Sets};
use rebound::error::Error;
use rebound::runbook;
use rebound::runbook::machine::{self, FileCheck, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    /// Every file with its problems: code, message, start and end, hint.
    Json,
    /// SARIF 2.1.0, for code scanning (annotations on the runbook's lines).
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook files, or directories of `*.runbook` files.
    #[arg(required = true, value_name = "FILE|DIR")]
    files: Vec<RunbookPath>,
    #[command(flatten)]
    sets: Sets,
    /// Text on stderr for people, or JSON or SARIF on stdout (the exit code is the same).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let files = super::files::some_runbook_files(&args.files)?;
    let checks: Vec<FileCheck> = files
        .iter()
        .map(|path| FileCheck {
            file: path.display().to_string(),
            outcome: runbook::load(path, &args.sets.sets).map(|rb| Summary {
                runbook: rb.name.clone(),
                steps: rb.steps.len(),
                paths: rb.paths.len(),
            }),
        })
        .collect();
    let failed = checks.iter().any(|c| c.outcome.is_err());
    let document = match args.format {
        Format::Text => None,
        Format::Json => Some(machine::json(&checks)),
        Format::Sarif => Some(machine::sarif(&checks, env!("CARGO_PKG_VERSION"))),
    };
    if let Some(document) = document {
        // The problems are the output: nothing to render on stderr.
        output::line(format_args!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        ));
        return Ok(if failed { 2 } else { 0 });
    }
    let mut errors = Vec::new();
    for c in checks {
        match c.outcome {
            Ok(s) => output::line(format_args!(
                "ok: {} (runbook \"{}\", {} steps in {} paths)",
                c.file, s.runbook, s.steps, s.paths
            )),
            Err(e) => errors.push(e.into()),
        }
    }
    Error::of_all(errors, 0)
}
