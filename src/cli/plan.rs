//! `rebound plan FILE --format text|dot|mermaid|json`.

use super::output;
use super::{RunbookPath, Sets};
use rebound::cloud::latency::LatencyModel;
use rebound::error::Error;
use rebound::plan::{self, Plan};
use rebound::runbook;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Mermaid,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook file.
    #[arg(value_name = "FILE")]
    file: RunbookPath,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    sets: Sets,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let rb = runbook::load(&args.file, &args.sets.sets)?;
    let plan = Plan::new(&rb, &LatencyModel::default());
    let out = match args.format {
        Format::Text => plan::text::render(&plan),
        Format::Dot => plan::dot::render(&plan),
        Format::Mermaid => plan::mermaid::render(&plan),
        Format::Json => plan::json::render(&plan),
    };
    output::text(format_args!("{out}"));
    Ok(0)
}
