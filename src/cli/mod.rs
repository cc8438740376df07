//! The command line: clap definitions and one module per subcommand. Each subcommand returns
//! an exit code or an `Error`; none prints an error itself (`main` renders errors once).

mod check;
mod daemon;
mod files;
mod fmt;
mod history;
mod inventory;
mod live;
pub mod output;
mod plan;
mod policy;
mod progress;
mod readiness;
mod report;
mod report_files;
mod resume;
mod run;
mod runs;
mod schedule;
mod schedule_export;
mod session;
mod signals;
mod sim_inputs;
mod simulate;
mod summary;
mod teardown;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use rebound::error::Error;

/// rebound: disaster-recovery restore orchestrator for AWS EC2.
///
/// A runbook describes how to bring a system back: which backup to restore from, where to
/// launch it, what to attach, how to prove it works, and how fast that must happen. rebound
/// checks it, plans it as a DAG and runs it in parallel, measuring the RTO of every step.
#[derive(Debug, Parser)]
#[command(
    name = "rebound",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log lines on stderr as text, or as one JSON object per line (for log shippers).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        global = true,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check runbooks and report every problem found (exit 0 when clean, 2 otherwise).
    #[command(
        after_help = "Examples:\n  rebound check runbooks/\n  rebound check web.runbook --set tier=web\n  rebound check runbooks/ --format sarif > check.sarif   # code scanning"
    )]
    Check(check::Args),
    /// Show the plan: steps by level, paths, params, local commands, expected critical path.
    #[command(after_help = "Examples:\n  rebound plan runbooks/web-tier.runbook\n  \
                            rebound plan runbooks/web-tier.runbook --format dot | dot -Tsvg > plan.svg\n  \
                            rebound plan runbooks/web-tier.runbook --format mermaid")]
    Plan(plan::Args),
    /// Rewrite a runbook in canonical layout, keeping comments (--check: only report).
    #[command(after_help = "Examples:\n  rebound fmt runbooks/web-tier.runbook\n  \
                            rebound fmt --check runbooks/   # exit 1 if a file would change")]
    Fmt(fmt::Args),
    /// Run a runbook: on the built-in simulator by default, or on AWS.
    #[command(
        after_help = "Examples:\n  rebound run runbooks/web-tier.runbook --drill\n  \
                            rebound run runbooks/web-tier.runbook --drill --seed 7 --report-dir out/\n  \
                            rebound run runbooks/region-recovery.runbook --approve --declared-at 2026-12-01T03:00:00Z   # t0: when it was declared"
    )]
    Run(run::Args),
    /// Continue a run that crashed or was interrupted, from its journal: finished steps are
    /// not redone, calls in flight are reconciled before anything is re-issued.
    #[command(
        after_help = "Examples:\n  rebound runs\n  rebound resume 20261122T050000Z-1a2b\n  \
                            rebound resume 20261122T050000Z-1a2b --report-dir out/"
    )]
    Resume(resume::Args),
    /// Delete everything a run created (tagged with its run id) and verify it is gone (exit
    /// 4 when anything is left).
    #[command(after_help = "Examples:\n  rebound teardown 20261122T050000Z-1a2b")]
    Teardown(teardown::Args),
    /// List journaled runs, newest first: id, runbook, state, start time.
    #[command(after_help = "Examples:\n  rebound runs\n  rebound runs --format json")]
    Runs(runs::Args),
    /// Each runbook's next drill times; `schedule export` turns the schedules into systemd
    /// timers, a crontab or Kubernetes CronJobs.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "Examples:\n  rebound schedule runbooks/\n  \
                            rebound schedule runbooks/web-tier.runbook --count 5 --format json\n  \
                            rebound schedule export runbooks/ --format systemd --out units/"
    )]
    Schedule(schedule::Args),
    /// Would the runbook recover now? Asks the account, creating nothing: every find_*
    /// resolved (its age against the RPO), everything named exists, instance types offered,
    /// free addresses, permissions (DryRun). Exit 0 ready, 3 with warnings, 1 not ready.
    #[command(
        after_help = "Examples:\n  rebound preflight runbooks/web-tier.runbook\n  \
                            rebound preflight runbooks/web-tier.runbook --backend aws --format json"
    )]
    Preflight(readiness::Args),
    /// The least-privilege IAM policy (JSON) for the AWS calls a run of a runbook, and a
    /// drill's teardown, can make.
    #[command(
        after_help = "Examples:\n  rebound policy runbooks/web-tier.runbook > policy.json\n  \
                            rebound policy runbooks/backup-restore.runbook --account 123456789012 --region eu-west-1"
    )]
    Policy(policy::Args),
    /// Run each runbook of a directory as a drill at its schedule: never two drills of one
    /// runbook at once, missed times run once (or skipped), SIGTERM tears down what is in
    /// flight and exits cleanly.
    #[command(after_help = "Examples:\n  rebound daemon /etc/rebound/runbooks\n  \
                            rebound daemon runbooks/ --missed skip --report-dir /var/lib/rebound/reports\n  \
                            rebound daemon runbooks/ --history s3://dr-evidence/rebound -- --backend aws\n  \
                            rebound daemon runbooks/ --metrics-file /var/lib/node_exporter/textfile/rebound.prom")]
    Daemon(daemon::Args),
    /// Predict a runbook's RTO from many simulated runs: p50/p95/p99 per path and for the
    /// run, the chance of meeting each target, the steps most often on the critical path.
    #[command(
        after_help = "Examples:\n  rebound simulate runbooks/web-tier.runbook --runs 1000\n  \
                            rebound simulate runbooks/web-tier.runbook --runs 500 --seed 7 --format json\n  \
                            rebound simulate runbooks/web-tier.runbook --sim-world world.json --latency slow.json"
    )]
    Simulate(simulate::Args),
    /// The tamper-evident history of runs: list it, or verify its hash chain.
    #[command(
        after_help = "Examples:\n  rebound history\n  rebound history verify\n  \
                            rebound history --history /srv/dr/history.sqlite --format json"
    )]
    History(history::Args),
    /// One run's report, or the trend per runbook, from the history (md, html or json); the
    /// metrics monitoring reads (prometheus, emf); or which runbooks have no recent passing
    /// drill (--stale AGE: exit 1 naming them).
    #[command(
        after_help = "Examples:\n  rebound report 20261122T050000Z-1a2b --format html > run.html\n  \
                            rebound report --since 90d --format md\n  \
                            rebound report --since 30d --runbook web-tier --format json\n  \
                            rebound report --format prometheus > r.prom.tmp && mv r.prom.tmp rebound.prom\n  \
                            rebound report --format emf | nc -q0 127.0.0.1 25888   # the CloudWatch agent\n  \
                            rebound report --stale 36h --runbooks runbooks/   # exit 1 naming stale runbooks"
    )]
    Report(report::Args),
    /// The AWS account's inventory (images, snapshots, recovery points) as a simulator world.
    #[command(subcommand)]
    Inventory(inventory::Command),
    /// A shell completion script on stdout.
    #[command(
        after_help = "Examples:\n  rebound completions bash > ~/.local/share/bash-completion/completions/rebound\n  \
                            rebound completions zsh > ~/.zfunc/_rebound\n  \
                            rebound completions fish > ~/.config/fish/completions/rebound.fish"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the history of runs is kept, shared by `run`, `resume`, `history` and `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// The history: a SQLite file, or s3://BUCKET/PREFIX (a bucket with Object Lock; every
    /// record locked in compliance mode). Default: history.sqlite in the per-user data
    /// directory, ~/.local/share/rebound on Linux.
    #[arg(
        long = "history",
        value_name = "DB",
        env = "REBOUND_HISTORY",
        global = true
    )]
    pub path: Option<String>,
    /// S3 history: how long each record stays locked (no one can delete it before).
    #[arg(long, value_name = "AGE", default_value = "2557d", value_parser = parse_age, global = true)]
    pub retention: u64,
}

impl HistoryArgs {
    /// Opens the store; an S3 one through `aws`'s profile, region and endpoint.
    pub async fn open(&self, aws: &AwsArgs) -> Result<rebound::evidence::history::Store, Error> {
        let place = match &self.path {
            Some(p) => p.clone(),
            None => rebound::evidence::history::default_path()
                .ok_or_else(|| {
                    Error::Usage("no home directory to keep the history in; give --history".into())
                })?
                .display()
                .to_string(),
        };
        let retention =
            chrono::TimeDelta::try_seconds(i64::try_from(self.retention).unwrap_or(i64::MAX))
                .unwrap_or(chrono::TimeDelta::MAX);
        rebound::evidence::history::open(&place, &aws.settings(None, None), retention)
            .await
            .map_err(Error::from)
    }
}

impl HistoryArgs {
    /// Where readiness checks are kept: the history when it is a SQLite file, else (an S3
    /// history, whose records are evidence under Object Lock) the default local file.
    pub fn readiness(&self) -> Result<rebound::evidence::history::sqlite::Sqlite, Error> {
        Ok(rebound::evidence::history::sqlite::Sqlite::open(
            &self.readiness_path()?,
        )?)
    }

    /// The readiness checks kept so far, oldest first; none when nothing was ever kept (the
    /// file is not made by reading).
    pub fn readiness_checks(&self) -> Result<Vec<rebound::preflight::readiness::Readiness>, Error> {
        match self.readiness_path() {
            Ok(path) if path.exists() => Ok(self.readiness()?.readiness()?),
            _ => Ok(Vec::new()),
        }
    }

    fn readiness_path(&self) -> Result<PathBuf, Error> {
        match &self.path {
            Some(p) if !p.starts_with("s3://") => Ok(PathBuf::from(p)),
            _ => rebound::evidence::history::default_path().ok_or_else(|| {
                Error::Usage("no home directory to keep readiness checks in; give --history".into())
            }),
        }
    }

    /// Every record of the store, in chain order, and where the store is.
    pub fn read(
        &self,
        aws: &AwsArgs,
    ) -> Result<(String, Vec<rebound::evidence::history::Stored>), Error> {
        runtime()?.block_on(self.records(aws))
    }

    /// `read`, for a caller already on a runtime (the daemon).
    pub async fn records(
        &self,
        aws: &AwsArgs,
    ) -> Result<(String, Vec<rebound::evidence::history::Stored>), Error> {
        use rebound::evidence::history::History as _;
        let store = self.open(aws).await?;
        let records = store.records().await?;
        Ok((store.place(), records))
    }

    /// Every report of the store, in chain order, and where the store is.
    pub async fn reports(
        &self,
        aws: &AwsArgs,
    ) -> Result<(String, Vec<rebound::evidence::report::Report>), Error> {
        let (place, records) = self.records(aws).await?;
        let reports = records
            .iter()
            .map(rebound::evidence::history::Stored::report)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((place, reports))
    }
}

/// An age in the runbook language's duration syntax (90d, 12h, 2d12h).
pub fn parse_age(s: &str) -> Result<u64, String> {
    match rebound::runbook::parse::parse_set_value(s) {
        rebound::runbook::ast::ValueKind::Duration { seconds, .. } => Ok(seconds),
        _ => Err(format!("`{s}` is not a duration such as 90d, 12h or 30m")),
    }
}

/// How long teardown keeps at a resource, shared by `run`, `resume` and `teardown`.
#[derive(Debug, Clone, clap::Args)]
pub struct TeardownArgs {
    /// Give up on a resource still there after this long (deleting, then seeing it gone);
    /// what is left is reported and the command exits 4.
    #[arg(long, value_name = "AGE", default_value = "10m", value_parser = parse_age)]
    pub teardown_timeout: u64,
}

impl TeardownArgs {
    pub fn limits(&self) -> rebound::exec::teardown::Limits {
        rebound::exec::teardown::Limits {
            deadline: std::time::Duration::from_secs(self.teardown_timeout),
            ..rebound::exec::teardown::Limits::default()
        }
    }
}

/// How list commands (`runs`, `history`, `schedule`) print: a table for people, or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

impl ListFormat {
    /// Prints `rows` as pretty JSON, or the text `table` makes of them.
    pub fn print<T: serde::Serialize>(self, rows: &T, table: impl FnOnce() -> String) {
        match self {
            ListFormat::Json => {
                output::line(format_args!(
                    "{}",
                    serde_json::to_string_pretty(rows).unwrap_or_default()
                ));
            }
            ListFormat::Text => output::text(format_args!("{}", table())),
        }
    }
}

/// A one-thread runtime for commands that only wait on I/O (the history's S3 store).
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    runtime_on(false)
}

/// A one-thread runtime; `virtual_clock` for the simulator: the clock is paused and jumps to
/// the next timer, so simulated minutes take no wall time.
pub fn runtime_on(virtual_clock: bool) -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(virtual_clock)
        .build()
        .map_err(Error::system("cannot start the runtime"))
}

/// What `run` and `resume` both take: where the report, the journal and the history go, how
/// long a drill's teardown keeps at it, and where on AWS.
#[derive(Debug, clap::Args)]
pub struct SessionArgs {
    /// Write report.json, report.md, report.html and junit.xml here.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Sign the run's evidence with this minisign secret key (as `minisign -G` writes it):
    /// FILE.minisig beside each report file and the record's signature in the history. A key
    /// with a password takes it from REBOUND_SIGN_KEY_PASSWORD.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// When the run ends, post its verdict, targets and report's place to this webhook (a
    /// Slack or Teams incoming webhook, or any URL taking JSON): 3 tries of at most 10 s (50 s in all),
    /// never failing the run. The URL is a secret: prefer REBOUND_NOTIFY_URL to the flag,
    /// which other users can read in `ps`.
    #[arg(
        long,
        value_name = "URL",
        env = "REBOUND_NOTIFY_URL",
        hide_env_values = true
    )]
    pub notify: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
    #[command(flatten)]
    pub teardown: TeardownArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where a run's end goes, made ready before anything starts (`SessionArgs::outputs`): a
/// report directory that cannot be written, a key that cannot sign or a URL that is no webhook
/// is found now, not after a recovery, and is bad input (exit 2).
#[derive(Default)]
pub struct Outputs {
    pub report_dir: Option<PathBuf>,
    pub signer: Option<rebound::evidence::signature::Signer>,
    pub notify: Option<rebound::evidence::notify::Webhook>,
}

impl SessionArgs {
    pub fn outputs(&self) -> Result<Outputs, Error> {
        use rebound::evidence::notify::Webhook;
        use rebound::evidence::signature::Signer;
        if let Some(reports) = &self.report_dir {
            report_files::check_writable("--report-dir", reports)?;
        }
        let signer = match &self.sign_key {
            Some(path) => Some(Signer::load(path, Signer::password_from_env())?),
            None => None,
        };
        let notify = match self.notify.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => Some(Webhook::parse(url)?),
            None => None,
        };
        Ok(Outputs {
            report_dir: self.report_dir.clone(),
            signer,
            notify,
        })
    }
}

/// Where journals live, shared by `run`, `runs`, `resume` and `teardown`.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Where run journals are kept (default: the per-user state directory,
    /// ~/.local/state/rebound on Linux).
    #[arg(long, value_name = "DIR", env = "REBOUND_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateArgs {
    pub fn dir(&self) -> Result<PathBuf, Error> {
        match &self.state_dir {
            Some(d) => Ok(d.clone()),
            None => rebound::exec::journal::default_dir().ok_or_else(|| {
                Error::Usage("no home directory to keep journals in; give --state-dir".into())
            }),
        }
    }
}

/// `--set NAME=VALUE`, shared by every command that reads a runbook.
#[derive(Debug, Clone, clap::Args)]
pub struct Sets {
    /// Give a param a value (repeatable): NAME=VALUE. VALUE is read as a runbook value when
    /// it is one (3, true, 15m, "text", [..]), else as plain text.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, String)>,
}

/// Where and as whom to call AWS, shared by every command that does.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// AWS: the named profile of ~/.aws/config to use.
    #[arg(long, value_name = "P", global = true)]
    pub profile: Option<String>,
    /// AWS: the region (for `run`, default: the runbook's `region`, then the default chain's).
    #[arg(long, value_name = "R", global = true)]
    pub region: Option<String>,
    /// AWS: another endpoint for every service (a test peer such as moto, a VPC endpoint).
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint_url: Option<String>,
}

impl AwsArgs {
    /// The backend settings, with a region to fall back on and a role to assume.
    pub fn settings(
        &self,
        region: Option<String>,
        role: Option<String>,
    ) -> rebound::cloud::aws::Settings {
        rebound::cloud::aws::Settings {
            profile: self.profile.clone(),
            region: self.region.clone().or(region),
            endpoint_url: self.endpoint_url.clone(),
            role,
        }
    }
}

/// Where preflight asks: AWS as these settings reach it, or the simulator's world.
pub enum Preflight<'a> {
    Aws(&'a rebound::cloud::aws::Settings),
    Sim(Box<rebound::cloud::sim::World>),
}

/// Before a run makes anything (`run`, `resume`): on AWS the credentials resolve and STS
/// answers who they are; on either backend every subnet, security group, key pair, instance
/// profile and literal id the runbook names exists. One line each, exit 2, in seconds, instead
/// of a step failing after other paths have made their instances.
pub fn preflight(rb: &rebound::runbook::Runbook, on: Preflight<'_>) -> Result<(), Error> {
    use rebound::cloud::sim::{Profile, Sim};
    let (findings, region) = match on {
        Preflight::Aws(settings) => runtime()?.block_on(async {
            let cloud = rebound::cloud::aws::Aws::connect(settings).await;
            match cloud.identity().await {
                Ok((account, arn)) => tracing::info!(%account, %arn, "acting as"),
                Err(e) => {
                    return Err(Error::Usage(format!(
                        "AWS: cannot find out who the calls would be made as (STS \
                         GetCallerIdentity): {}; check the credentials (--profile, AWS_PROFILE, \
                         the environment, SSO login) and --region/--endpoint-url; nothing was \
                         started",
                        one_line(&e.to_string())
                    )));
                }
            }
            let region = cloud.configured_region();
            let clouds = rebound::cloud::Regions::new(cloud, &rb.regions());
            Ok((rebound::preflight::check(&clouds, rb).await, region))
        })?,
        Preflight::Sim(world) => runtime_on(true)?.block_on(async {
            let region = Some(world.region.clone());
            // The world only, without the profile's faults: preflight asks, it does not rehearse.
            let sims = rebound::cloud::Regions::new(
                Sim::new(*world, Profile::default(), 0),
                &rb.regions(),
            );
            (rebound::preflight::check(&sims, rb).await, region)
        }),
    };
    for (kind, e) in &findings.unasked {
        output::note(format_args!(
            "warning: cannot check that the {kind}s the runbook names exist ({}: {}); going on \
             (`rebound policy` allows the question)",
            kind.describe_op(),
            one_line(&e.to_string())
        ));
    }
    let file = &rb.source.name;
    let problems = findings
        .missing
        .iter()
        .map(|r| {
            Error::Usage(format!(
                "{}; nothing was started",
                r.problem(file, region.as_deref())
            ))
        })
        .collect();
    Error::of_all(problems, 0).map(|_| ())
}

/// AWS's own words on one line: the SDK's chain of causes can run to kilobytes.
fn one_line(said: &str) -> String {
    said.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(400)
        .collect()
}

/// `--parallelism N` of `run` and `resume`: at least one step at a time.
pub fn parse_parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "expected a number of steps, 1 or more, found `{s}`"
        )),
    }
}

fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, found `{s}`")),
    }
}

/// A runbook file argument.
pub type RunbookPath = PathBuf;

/// One runbook and the `--set` values to check it with: what `run`, `policy` and `simulate`
/// take.
#[derive(Debug, clap::Args)]
pub struct RunbookArgs {
    /// Runbook file.
    #[arg(value_name = "FILE")]
    pub file: RunbookPath,
    #[command(flatten)]
    pub sets: Sets,
}

impl RunbookArgs {
    /// The runbook, read and checked with the `--set` values.
    pub fn load(&self) -> Result<rebound::runbook::Runbook, Error> {
        Ok(rebound::runbook::load(&self.file, &self.sets.sets)?)
    }
}

/// Runs a parsed command line; the exit code on success, or the error to render.
pub fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Run(args) => run::run(&args, cli.quiet),
        Command::Resume(args) => resume::run(&args, cli.quiet),
        Command::Teardown(args) => teardown::run(&args, cli.quiet),
        Command::Runs(args) => runs::run(&args),
        Command::Schedule(args) => schedule::run(&args),
        Command::Policy(args) => policy::run(&args, cli.quiet),
        Command::Preflight(args) => readiness::run(&args),
        Command::Daemon(args) => daemon::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::History(args) => history::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Inventory(command) => inventory::run(&command),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "rebound", &mut output::stdout());
            Ok(0)
        }
    }
}
