//! `rebound inventory export --out FILE`: the account's images, snapshots, recovery points,
//! subnets and security groups, written as a simulator world (JSON), so a runbook can be
//! rehearsed offline against the real inventory: `rebound run FILE --sim-world FILE`. With
//! `--also-region`, other regions' inventories go into the world's `regions`, for a runbook
//! whose steps run there.

use super::output;
use std::path::PathBuf;

use rebound::cloud::aws::Aws;
use rebound::error::Error;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write the account's inventory as a simulator world.
    #[command(
        after_help = "Examples:\n  rebound inventory export --region eu-west-1 --out world.json\n  \
                            rebound inventory export --region us-west-2 --also-region us-east-1 --out world.json\n  \
                            rebound run runbooks/web-tier.runbook --sim-world world.json"
    )]
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where to write the world (JSON).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Another region to export too (repeatable), into the world's `regions`.
    #[arg(long, value_name = "REGION", value_parser = super::policy::parse_region)]
    also_region: Vec<String>,
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
        let mut world = aws.inventory(&region).await?;
        for other in args.also_region.iter().filter(|r| **r != region) {
            let there = rebound::cloud::Cloud::in_region(&aws, other);
            world
                .regions
                .insert(other.clone(), there.inventory(other).await?);
        }
        Ok::<_, rebound::cloud::CloudError>(world)
    });
    let world = world?;
    let text = serde_json::to_string_pretty(&world).unwrap_or_default();
    std::fs::write(&args.out, text + "\n").map_err(|e| Error::Write {
        path: args.out.display().to_string(),
        source: e,
    })?;
    for (region, w) in std::iter::once((&world.region, &world)).chain(&world.regions) {
        output::line(format_args!(
            "wrote {} ({region}): {} images, {} snapshots, {} recovery points, {} subnets",
            args.out.display(),
            w.images.len(),
            w.snapshots.len(),
            w.recovery_points.len(),
            w.subnets.len()
        ));
    }
    Ok(0)
}
