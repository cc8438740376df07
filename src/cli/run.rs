//! `rebound run FILE`: check, plan, execute on the chosen backend, draw progress, write the
//! report, print the summary, and exit with README's code (0 recovered and every target
//! met, 1 a critical step failed or the run was stopped, 3 a target was missed).
use chrono::{DateTime, Utc};

use super::session::Session;
use super::sim_inputs::SimArgs;
use rebound::error::Error;
use rebound::exec::journal::{self, Header, Journal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The built-in simulated AWS (no account needed).
    Sim,
    /// Real AWS through aws-sdk-ec2 and aws-sdk-backup.
    Aws,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    runbook: super::RunbookArgs,
    /// Where to run.
    #[arg(long, value_enum, default_value = "sim")]
    backend: Backend,
    /// A rehearsal: everything the run creates is torn down when it ends (succeeded, failed
    /// or interrupted), and each deletion verified.
    #[arg(long)]
    drill: bool,
    /// A drill that cannot touch production: its instances in a security group of the run's
    /// own, admitting only this host on the checks' ports, with no egress but the runbook's
    /// `isolation_egress` and no public address (as the runbook's `isolation = "sandbox"`).
    #[arg(long, requires = "drill")]
    isolate: bool,
    /// When the disaster was declared (RFC 3339): RTOs count from it.
    #[arg(long, value_name = "TIME")]
    declared_at: Option<DateTime<Utc>>,
    #[command(flatten)]
    session: super::SessionArgs,
    /// Most steps running at once.
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = super::parse_parallelism)]
    parallelism: usize,
    /// Approve every `approve` step in advance (recorded in the report).
    #[arg(long)]
    approve: bool,
    /// Simulator: the seed of latencies and faults (same seed, same timeline).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Simulator: run on the wall clock instead of the virtual one (for demos).
    #[arg(long)]
    realtime: bool,
    #[command(flatten)]
    sim: SimArgs,
}

pub fn run(args: &Args, quiet: bool) -> Result<u8, Error> {
    let mut rb = args.runbook.load()?;
    rebound::runbook::secrets::read_env(&mut rb)?;
    if let Some(t) = args.declared_at
        && t > Utc::now()
    {
        return Err(Error::Usage(format!(
            "--declared-at {t} is in the future; it is when the disaster was declared"
        )));
    }
    // The checker compared what steps in other regions use against the runbook's region: a run
    // in another would break what it passed.
    if let (Some(given), Some(own)) = (&args.session.aws.region, &rb.region)
        && given != own
        && !rb.regions().is_empty()
    {
        return Err(Error::Usage(format!(
            "--region {given} is not the runbook's region ({own}), and its steps name regions of \
             their own: the checker matched them against {own}; run without --region, or change \
             the runbook's region"
        )));
    }
    if args.backend == Backend::Aws {
        let settings = args
            .session
            .aws
            .settings(rb.region.clone(), rb.role.clone());
        super::preflight(&rb, super::Preflight::Aws(&settings))?;
    }
    let sim = args.sim.load()?;
    if args.backend == Backend::Sim {
        let world = sim.world.clone().unwrap_or_else(|| {
            rebound::action::world::default_world(&rb, args.declared_at.unwrap_or_else(Utc::now))
        });
        super::preflight(&rb, super::Preflight::Sim(Box::new(world)))?;
    }
    let dir = args.session.state.dir()?;
    super::report_files::check_writable("--state-dir", &dir)?;
    let outputs = args.session.outputs()?;
    let seed = args
        .seed
        .unwrap_or_else(|| Utc::now().timestamp_micros().unsigned_abs());
    let run_id = run_id(seed);
    let header = Header {
        run_id: run_id.clone(),
        rebound_version: env!("CARGO_PKG_VERSION").to_string(),
        runbook_file: rb.source.name.clone(),
        runbook: rb.name.clone(),
        runbook_text: rb.source.text.clone(),
        sets: args.runbook.sets.sets.clone(),
        backend: match args.backend {
            Backend::Sim => rebound::cloud::Backend::Sim,
            Backend::Aws => rebound::cloud::Backend::Aws,
        },
        drill: args.drill,
        approve: args.approve,
        started_by: Some(rebound::identity::user_at_host()),
        started_at: Utc::now(),
        declared_at: args.declared_at,
        parallelism: args.parallelism,
        seed: (args.backend == Backend::Sim).then_some(seed),
        sim_world: sim.world.as_ref().map(to_value),
        sim_profile: sim.profile.as_ref().map(to_value),
        latency: sim.latency.as_ref().map(to_value),
        aws_profile: args.session.aws.profile.clone(),
        aws_region: args
            .session
            .aws
            .region
            .clone()
            .or_else(|| rb.region.clone()),
        aws_endpoint_url: args.session.aws.endpoint_url.clone(),
        // A recovery is never isolated: it must serve.
        isolated: args.drill && (args.isolate || rb.isolation),
    };
    let path = journal::path_of(&dir, &run_id);
    // Listening for Ctrl-C and SIGTERM before the journal exists: a signal from here on stops
    // the run cleanly, never leaves a journal with a header only.
    let start = super::signals::Start::new(args.backend == Backend::Sim && !args.realtime)?;
    let journal = Journal::create(&path, &header)?;
    Session {
        rb: &rb,
        header: &header,
        journal: &journal,
        prior: None,
        attachments: Vec::new(),
        earlier: Vec::new(),
        outputs: &outputs,
        history: &args.session.history,
        quiet,
        aws: &args.session.aws,
        teardown: args.session.teardown.limits(),
        attempt: 1,
        approve: args
            .approve
            .then(|| super::output::given_by(&rebound::identity::user_at_host())),
    }
    .run(start)
}

fn to_value<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_default()
}

/// `20261122T050000Z-1a2b`: sortable, and unique enough across one team's runs.
fn run_id(seed: u64) -> String {
    let now = Utc::now();
    let salt = (now.timestamp_subsec_nanos() as u64 ^ seed) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}
