//! `rebound preflight FILE`: would the runbook recover now? Asked of the account, creating
//! nothing (`rebound::preflight::readiness`); each finding on a line, or `--format json`. Exit
//! 0 ready, 3 ready with warnings, 1 not ready, 2 bad input.

use super::output;
use rebound::cloud::Regions;
use rebound::cloud::latency::LatencyModel;
use rebound::error::Error;
use rebound::preflight::readiness::{self, Finding, Level, Readiness};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    runbook: super::RunbookArgs,
    /// Where to ask: the simulator (its world: `--sim-world`, else one made from the runbook),
    /// or AWS.
    #[arg(long, value_enum, default_value = "sim")]
    backend: super::run::Backend,
    /// Simulator: the account's inventory (JSON) instead of one made from the runbook.
    #[arg(long, value_name = "FILE")]
    sim_world: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Keep the findings in the history as a readiness check (never as evidence of recovery):
    /// `rebound report` says what changed since the runbook was last ready.
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    history: super::HistoryArgs,
    #[command(flatten)]
    aws: super::AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: &Args) -> Result<u8, Error> {
    let rb = args.runbook.load()?;
    let readiness = match args.backend {
        super::run::Backend::Aws => on_aws(&rb, &args.aws)?,
        super::run::Backend::Sim => on_sim(&rb, args.sim_world.as_deref())?,
    };
    match args.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&readiness).map_err(|e| Error::System {
                what: "cannot write the findings as JSON".into(),
                source: e.into(),
            })?;
            output::line(format_args!("{json}"));
        }
        Format::Text => text(&readiness),
    }
    if args.record {
        args.history.readiness()?.record_readiness(&readiness)?;
    }
    Ok(readiness.exit_code())
}

fn on_aws(rb: &rebound::runbook::Runbook, aws: &super::AwsArgs) -> Result<Readiness, Error> {
    let settings = aws.settings(rb.region.clone(), rb.role.clone());
    super::runtime()?.block_on(async {
        let cloud = rebound::cloud::aws::Aws::connect(&settings).await;
        let region = cloud.configured_region();
        let mut findings = Vec::new();
        match cloud.identity().await {
            Ok((account, arn)) => findings.push(Finding::new(
                Level::Ok,
                "identity",
                None,
                format!("{arn} in account {account}"),
            )),
            Err(e) => {
                // Nothing else can be asked without it.
                findings.push(Finding::new(
                    Level::Error,
                    "identity",
                    None,
                    format!(
                        "STS GetCallerIdentity failed: {e}; check the credentials (--profile, \
                         AWS_PROFILE, the environment, SSO login) and --region/--endpoint-url"
                    ),
                ));
                return Ok(readiness(
                    rb,
                    rebound::cloud::Backend::Aws,
                    region,
                    findings,
                ));
            }
        }
        let clouds = Regions::new(cloud, &rb.regions());
        findings.extend(readiness::assess(&clouds, rb, &LatencyModel::default()).await);
        Ok(readiness(
            rb,
            rebound::cloud::Backend::Aws,
            region,
            findings,
        ))
    })
}

fn on_sim(
    rb: &rebound::runbook::Runbook,
    world: Option<&std::path::Path>,
) -> Result<Readiness, Error> {
    use rebound::cloud::sim::{Profile, Sim, World};
    let world: World = match world {
        Some(p) => super::sim_inputs::read_world(p)?,
        None => rebound::action::world::default_world(rb, chrono::Utc::now()),
    };
    let region = Some(world.region.clone());
    super::runtime_on(true)?.block_on(async {
        // The world only, without faults: preflight asks, it does not rehearse.
        let sims = Regions::new(Sim::new(world, Profile::default(), 0), &rb.regions());
        let mut findings = vec![Finding::new(
            Level::Ok,
            "identity",
            None,
            "the simulated account".into(),
        )];
        findings.extend(readiness::assess(&sims, rb, &LatencyModel::default()).await);
        Ok(readiness(
            rb,
            rebound::cloud::Backend::Sim,
            region,
            findings,
        ))
    })
}

fn readiness(
    rb: &rebound::runbook::Runbook,
    backend: rebound::cloud::Backend,
    region: Option<String>,
    findings: Vec<Finding>,
) -> Readiness {
    Readiness {
        runbook: rb.name.clone(),
        backend,
        region: region.or_else(|| rb.region.clone()),
        at: chrono::Utc::now(),
        findings,
    }
}

fn text(r: &Readiness) {
    let region = r.region.as_deref().unwrap_or("the default region");
    output::line(format_args!(
        "preflight of {} on {} in {region}:",
        r.runbook, r.backend
    ));
    for f in &r.findings {
        let step = f
            .step
            .as_deref()
            .map(|s| format!("{s}: "))
            .unwrap_or_default();
        output::line(format_args!(
            "  {:<8} {:<14} {step}{}",
            f.level.name(),
            f.check,
            f.message
        ));
    }
    let (errors, warnings) = (r.count(Level::Error), r.count(Level::Warning));
    output::line(format_args!(
        "{}",
        match r.level() {
            Level::Info | Level::Ok => "ready".to_string(),
            Level::Warning => format!("ready with {warnings} warning(s)"),
            Level::Error => format!("not ready: {errors} error(s), {warnings} warning(s)"),
        }
    ));
}
