//! `rebound inventory export --out FILE`: the account's images, snapshots, recovery points,
//! subnets and security groups, written as a simulator world (JSON), so a runbook can be
//! rehearsed offline against the real inventory: `rebound run FILE --sim-world FILE`.

use super::output;
use std::path::PathBuf;

use rebound::cloud::aws::Aws;
use rebound::error::Error;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the account's inventory as a simulator world.
    #[command(
        after_help = "Examples:\n  rebound inventory export --region eu-west-1 --out world.json\n  \
                            rebound run runbooks/web-tier.runbook --sim-world world.json"
    )]
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where to write the world (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    aws: super::AwsArgs,
}

pub fn run(command: &Command) -> Result<u8, Error> {
    let Command::Export(args) = command;
    let settings = args.aws.settings(None, None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::system("cannot start the runtime"))?;
    let world = runtime.block_on(async {
        let aws = Aws::connect(&settings).await;
        let region = aws
            .configured_region()
            .unwrap_or_else(|| "us-east-1".to_string());
        aws.inventory(&region).await
    });
    let world = world?;
    let text = serde_json::to_string_pretty(&world).unwrap_or_default();
    std::fs::write(&args.out, text + "\n").map_err(|e| Error::Write {
        path: args.out.display().to_string(),
        source: e,
    })?;
    output::line(format_args!(
        "wrote {}: {} images, {} snapshots, {} recovery points, {} subnets",
        args.out.display(),
        world.images.len(),
        world.snapshots.len(),
        world.recovery_points.len(),
        world.subnets.len()
    ));
    Ok(0)
}
