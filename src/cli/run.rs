//! `rebound run FILE`: check, plan, execute on the chosen backend, draw progress, write the
//! report, print the summary, and exit with DESIGN.md's code (0 recovered and every target
//! met, 1 a critical step failed or the run was stopped, 3 a target was missed).

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::session::Session;
use super::{RunbookPath, Sets};
use crate::cloud::latency::LatencyModel;
use crate::cloud::sim::{Profile, World};
use crate::duration::human;
use crate::error::Error;
use crate::evidence::report::{Mode, Report};
use crate::exec::Outcome;
use crate::exec::journal::{self, Header, Journal};
use crate::runbook::{self, Runbook};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The built-in simulated AWS (no account needed).
    Sim,
    /// Real AWS through aws-sdk-ec2 and aws-sdk-backup.
    Aws,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runbook file.
    #[arg(value_name = "FILE")]
    file: RunbookPath,
    #[command(flatten)]
    sets: Sets,
    /// Where to run.
    #[arg(long, value_enum, default_value = "sim")]
    backend: Backend,
    /// A rehearsal: everything the run creates is torn down when it ends (succeeded, failed
    /// or interrupted), and each deletion verified.
    #[arg(long)]
    drill: bool,
    /// When the disaster was declared (RFC 3339): RTOs count from it.
    #[arg(long, value_name = "TIME")]
    declared_at: Option<DateTime<Utc>>,
    /// Write report.json, report.md, report.html and junit.xml here.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    #[command(flatten)]
    state: super::StateArgs,
    #[command(flatten)]
    history: super::HistoryArgs,
    /// Most steps running at once.
    #[arg(long, default_value_t = 4096, value_name = "N")]
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
    #[command(flatten)]
    aws: super::AwsArgs,
}

/// The simulator's world, profile and latency model, shared by `run` and `simulate`.
#[derive(Debug, clap::Args)]
pub(super) struct SimArgs {
    /// Simulator: the account's inventory (JSON) instead of one made from the runbook.
    #[arg(long, value_name = "FILE")]
    sim_world: Option<PathBuf>,
    /// Simulator: latencies and faults (JSON; see `cloud::sim::Profile`).
    #[arg(long, value_name = "FILE")]
    sim_profile: Option<PathBuf>,
    /// How long AWS operations take (JSON latency model, every field optional): when the
    /// pollers first look, and the simulator's latencies. Default: DESIGN.md's model.
    #[arg(long, value_name = "FILE")]
    latency: Option<PathBuf>,
}

/// What `SimArgs` name, read and validated.
pub(super) struct SimInputs {
    pub profile: Option<Profile>,
    pub latency: Option<LatencyModel>,
    pub world: Option<World>,
}

impl SimArgs {
    pub(super) fn load(&self) -> Result<SimInputs, Error> {
        let validate = |p: &PathBuf, profile: &Profile| {
            profile
                .validate()
                .map_err(|why| Error::Usage(format!("{}: {why}", p.display())))
        };
        let profile = match &self.sim_profile {
            Some(p) => {
                let profile: Profile = read_json(p, "simulator profile")?;
                validate(p, &profile)?;
                Some(profile)
            }
            None => None,
        };
        let latency = match &self.latency {
            Some(p) => {
                let profile = Profile {
                    latency: read_json(p, "latency model")?,
                    ..Profile::default()
                };
                validate(p, &profile)?;
                Some(profile.latency)
            }
            None => None,
        };
        let world = match &self.sim_world {
            Some(p) => Some(read_json::<World>(p, "simulator world")?),
            None => None,
        };
        Ok(SimInputs {
            profile,
            latency,
            world,
        })
    }
}

impl SimInputs {
    /// The profile a run uses: the given one (or the default), with `latency` over it.
    pub(super) fn effective_profile(&self) -> Profile {
        let mut profile = self.profile.clone().unwrap_or_default();
        if let Some(l) = &self.latency {
            profile.latency = l.clone();
        }
        profile
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf, what: &str) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Read {
        path: path.display().to_string(),
        source: e,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: not a valid {what}: {e}", path.display())))
}

pub fn run(args: &Args, quiet: bool) -> Result<u8, Error> {
    let mut rb = runbook::load(&args.file, &args.sets.sets)?;
    crate::runbook::secrets::read_env(&mut rb)?;
    if args.backend == Backend::Aws {
        refuse_ssm(&rb)?;
    }
    if let Some(t) = args.declared_at {
        if t > Utc::now() {
            return Err(Error::Usage(format!(
                "--declared-at {t} is in the future; it is when the disaster was declared"
            )));
        }
    }
    let sim = args.sim.load()?;
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
        sets: args.sets.sets.clone(),
        backend: match args.backend {
            Backend::Sim => "sim",
            Backend::Aws => "aws",
        }
        .to_string(),
        drill: args.drill,
        approve: args.approve,
        started_at: Utc::now(),
        declared_at: args.declared_at,
        parallelism: args.parallelism,
        seed: (args.backend == Backend::Sim).then_some(seed),
        sim_world: sim.world.as_ref().map(to_value),
        sim_profile: sim.profile.as_ref().map(to_value),
        latency: sim.latency.as_ref().map(to_value),
        aws_profile: args.aws.profile.clone(),
        aws_region: args.aws.region.clone().or_else(|| rb.region.clone()),
        aws_endpoint_url: args.aws.endpoint_url.clone(),
    };
    let dir = args.state.dir()?;
    let path = journal::path_of(&dir, &run_id);
    let journal = Journal::create(&path, &header)?;
    Session {
        rb: &rb,
        header: &header,
        journal: &journal,
        prior: None,
        attachments: Vec::new(),
        earlier: Vec::new(),
        report_dir: args.report_dir.clone(),
        history: &args.history,
        quiet,
        aws: &args.aws,
    }
    .run(args.realtime)
}

fn to_value<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_default()
}

/// The aws backend has no SSM client yet: a runbook with `ssm:` checks is refused before
/// anything starts.
pub fn refuse_ssm(rb: &Runbook) -> Result<(), Error> {
    match rb.steps.iter().find(|s| uses_ssm(s)) {
        Some(step) => Err(Error::Usage(format!(
            "step `{}` has an ssm: check, which the aws backend does not support yet",
            step.name
        ))),
        None => Ok(()),
    }
}

fn uses_ssm(step: &crate::runbook::checked::Step) -> bool {
    use crate::runbook::checked::Expr;
    matches!(step.field("checks"), Some(Expr::List(checks))
        if checks.iter().any(|c| matches!(c, Expr::Str(s) if s.starts_with("ssm:"))))
}

/// `20261122T050000Z-1a2b`: sortable, and unique enough across one team's runs.
fn run_id(seed: u64) -> String {
    let now = Utc::now();
    let salt = (now.timestamp_subsec_nanos() as u64 ^ seed) & 0xffff;
    format!("{}-{salt:04x}", now.format("%Y%m%dT%H%M%SZ"))
}

/// An `approve` step: approved in advance by `--approve`, or by a person at the terminal.
pub(super) async fn ask(
    message: &str,
    approved: bool,
    bars: Option<indicatif::MultiProgress>,
) -> Result<String, String> {
    if approved {
        return Ok("--approve".to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "needs a person to approve, and there is no terminal to ask at; \
                    run with --approve to approve in advance"
                .to_string(),
        );
    }
    let message = message.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let prompt = move || {
            eprint!("\n{message}\nApprove? [y/N] ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        };
        // The bars stay hidden while the person reads and answers.
        match bars {
            Some(bars) => bars.suspend(prompt),
            None => prompt(),
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        let user = std::env::var("USER").unwrap_or_else(|_| "terminal user".to_string());
        Ok(user)
    } else {
        Err("not approved".to_string())
    }
}

pub(super) fn write_report(dir: &PathBuf, report: &Report) -> Result<(), Error> {
    use crate::evidence::{html, junit, markdown};
    let err = |e: std::io::Error| Error::Write {
        path: dir.display().to_string(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let files = [
        ("report.json", report.to_json()),
        ("report.md", markdown::render(report)),
        ("report.html", html::render(report)),
        ("junit.xml", junit::render(report)),
    ];
    for (name, text) in files {
        // A reader never sees half a report.
        crate::atomic_file::write(&dir.join(name), text.as_bytes()).map_err(err)?;
    }
    Ok(())
}

/// The table printed at the end: each path's RTO against target, the run's RTO and RPO, the
/// critical path.
pub(super) fn summary(rb: &Runbook, r: &Report, report_dir: Option<&PathBuf>) -> String {
    let secs = |s: Option<f64>| s.map_or("-".to_string(), human);
    let target = |t: Option<u64>| t.map_or("-".to_string(), |t| human(t as f64));
    let met = |m: Option<bool>| match m {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    };
    let mut out = String::new();
    let banner = if r.simulated {
        "  [simulated: a rehearsal, not evidence of recovery]"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "\n{} ({}, {}): {}   run {}{banner}",
        rb.name,
        r.backend,
        if r.mode == Mode::Drill {
            "drill"
        } else {
            "recovery"
        },
        outcome_word(r.outcome),
        r.run_id
    );
    let width = rb
        .paths
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "\n  {:width$}  {:10} {:>8} {:>9}  met",
        "", "outcome", "target", "measured"
    );
    for p in &r.paths {
        let _ = writeln!(
            out,
            "  {:width$}  {:10} {:>8} {:>9}  {}",
            p.name,
            outcome_word(p.outcome),
            target(p.rto_target_seconds),
            secs(p.measured_seconds),
            met(p.met)
        );
    }
    let overhead = match (r.rto.measured_seconds, r.rto.bound_seconds) {
        (Some(m), Some(b)) if b > 0.0 => format!("   (cloud bound {}, x{:.3})", human(b), m / b),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {:width$}  {:10} {:>8} {:>9}  {}{overhead}",
        "RTO",
        outcome_word(r.outcome),
        target(r.rto.target_seconds),
        secs(r.rto.measured_seconds),
        met(r.rto.met)
    );
    let _ = writeln!(
        out,
        "  {:width$}  {:10} {:>8} {:>9}  {}",
        "RPO",
        "",
        target(r.rpo.target_seconds),
        secs(r.rpo.measured_seconds),
        met(r.rpo.met)
    );
    if !r.critical_path.is_empty() {
        let _ = writeln!(out, "\n  critical path: {}", r.critical_path.join(" -> "));
    }
    for s in r.steps.iter().filter(|s| s.outcome == Outcome::Failed) {
        let _ = writeln!(
            out,
            "  failed: {}: {}",
            s.name,
            s.error.clone().unwrap_or_default()
        );
    }
    let torn = |fate: &str| {
        r.resources
            .iter()
            .filter(|x| x.teardown.as_deref() == Some(fate))
            .count()
    };
    if r.mode == Mode::Drill {
        let _ = writeln!(
            out,
            "  teardown: {} verified gone, {} failed, {} skipped",
            torn("verified"),
            torn("failed"),
            torn("skipped")
        );
    } else if !r.resources.is_empty() {
        let _ = writeln!(
            out,
            "  kept (a recovery keeps what it restored): {} resources tagged rebound:run-id={}; \
             `rebound teardown {}` removes them",
            r.resources.len(),
            r.run_id,
            r.run_id
        );
    }
    let calls: u64 = r.api_calls.values().sum();
    let _ = writeln!(out, "  api calls: {calls}");
    if let Some(dir) = report_dir {
        let _ = writeln!(
            out,
            "  report: {} (and report.md, report.html, junit.xml)",
            dir.join("report.json").display()
        );
    }
    out
}

fn outcome_word(o: Outcome) -> &'static str {
    o.name()
}
