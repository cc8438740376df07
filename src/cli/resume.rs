//! `rebound resume RUN`: a run an earlier process left (a crash, a kill, a second Ctrl-C) goes
//! on from its journal. The runbook is the journal's copy, checked again with the journal's
//! `--set` values; steps that succeeded keep their records and outputs; a call with an intent
//! but no answer is looked up by tag and adopted before it is re-issued with the same token.
//! Steps that failed, were skipped or were cancelled run again. The report covers the whole
//! run.

use super::output;
use chrono::Utc;

use super::session::Session;
use rebound::cloud::Backend;
use rebound::error::Error;
use rebound::exec::journal::{Journal, Locked, Replay, RunState};
use rebound::exec::{Outcome, Prior};
use rebound::runbook::{self, Runbook};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's id (`rebound runs` lists them).
    #[arg(value_name = "RUN")]
    run: String,
    /// Approve every `approve` step in advance (recorded in the report, with who gave it).
    /// A run started with `--approve` stays approved.
    #[arg(long)]
    approve: bool,
    /// Simulator: go on on the wall clock instead of the virtual one (for demos). The seed,
    /// world and profile are the run's, from its journal: a resumed rehearsal replays the
    /// same account.
    #[arg(long)]
    realtime: bool,
    /// How many steps may run at once in this attempt (default: the run's).
    #[arg(long, value_name = "N", value_parser = super::parse_parallelism)]
    parallelism: Option<usize>,
    #[command(flatten)]
    fixed: Fixed,
    #[command(flatten)]
    session: super::SessionArgs,
}

/// Flags of `run` that a resume cannot change, accepted only to say why (clap's "unexpected
/// argument" would not): the run keeps what its journal says.
#[derive(Debug, clap::Args)]
struct Fixed {
    #[arg(long, hide = true)]
    seed: Option<String>,
    #[arg(long, hide = true)]
    sim_world: Option<String>,
    #[arg(long, hide = true)]
    sim_profile: Option<String>,
    #[arg(long, hide = true)]
    latency: Option<String>,
    #[arg(long, hide = true)]
    drill: bool,
    #[arg(long, hide = true)]
    declared_at: Option<String>,
    #[arg(long = "set", hide = true)]
    sets: Vec<String>,
    #[arg(long, hide = true)]
    backend: Option<String>,
}

impl Fixed {
    /// Each flag given that would change what the run's journal says, with why a resume keeps
    /// the run's own (`--drill` of a drill, `--backend` of its backend, change nothing).
    fn refused(&self, run: &str, header: &rebound::exec::journal::Header) -> Vec<Error> {
        let rehearsal = "a resumed rehearsal replays the account of its journal: the seed, \
                         world, profile and latency model stay the run's";
        [
            (self.seed.is_some(), "--seed", rehearsal),
            (self.sim_world.is_some(), "--sim-world", rehearsal),
            (self.sim_profile.is_some(), "--sim-profile", rehearsal),
            (self.latency.is_some(), "--latency", rehearsal),
            (
                self.drill && !header.drill,
                "--drill",
                "a run is a drill or a recovery from its start; `rebound teardown RUN` removes \
                 what a recovery made",
            ),
            (
                self.declared_at.is_some(),
                "--declared-at",
                "t0 is the run's: its RTO counts from when the disaster was declared, once",
            ),
            (
                !self.sets.is_empty(),
                "--set",
                "the runbook and its --set values are the journal's copy: a run restores one \
                 thing",
            ),
            (
                self.backend
                    .as_deref()
                    .is_some_and(|b| b != header.backend.to_string()),
                "--backend",
                "the backend (sim or aws) is the run's, from its journal",
            ),
        ]
        .into_iter()
        .filter(|(given, _, _)| *given)
        .map(|(_, flag, why)| {
            Error::Usage(format!(
                "resume {run}: {flag} cannot change on a resume: {why}"
            ))
        })
        .collect()
    }
}

/// The journal of `run` in `state`, locked for `command` (a live run is refused) and read
/// under the lock.
pub(super) fn open(
    state: &super::StateArgs,
    run: &str,
    command: &str,
) -> Result<(Locked, Replay), Error> {
    if !rebound::exec::journal::is_run_id(run) {
        return Err(Error::Usage(format!(
            "no run `{run}`: not a run id (YYYYMMDDTHHMMSSZ-xxxx, as `rebound runs` lists them)"
        )));
    }
    let dir = state.dir()?;
    let path = rebound::exec::journal::path_of(&dir, run);
    if !path.exists() {
        return Err(Error::Usage(format!(
            "no run `{run}` in {} (`rebound runs` lists the runs there)",
            dir.display()
        )));
    }
    let locked = Locked::take(&path, run, command)?;
    let replay = Replay::read(&path)?;
    if let Some((line, len)) = replay.torn {
        output::note(format_args!(
            "note: {}:{line}: the last record was torn ({len} bytes, a crash mid-write); ignored",
            path.display()
        ));
    }
    Ok((locked, replay))
}

/// The journal's runbook, checked again exactly as the run had it.
pub(super) fn runbook_of(replay: &Replay) -> Result<Runbook, Error> {
    let h = &replay.header;
    let source = runbook::from_bytes(h.runbook_file.clone(), h.runbook_text.clone().into_bytes())?;
    Ok(runbook::check_source(&source, &h.sets)?)
}

/// Where the run's clock stands for a process taking it over: on AWS the wall time since it
/// started (the outage went on while nothing ran), on the simulator's virtual clock where the
/// journal stopped.
pub(super) fn clock(replay: &Replay) -> f64 {
    let h = &replay.header;
    if h.backend == Backend::Aws {
        ((Utc::now() - h.started_at).num_milliseconds() as f64 / 1000.0).max(replay.last_at)
    } else {
        replay.last_at
    }
}

pub fn run(args: &Args, quiet: bool) -> Result<u8, Error> {
    let outputs = args.session.outputs()?;
    let (locked, replay) = open(&args.session.state, &args.run, "resume")?;
    Error::of_all(args.fixed.refused(&args.run, &replay.header), 0)?;
    match replay.state {
        RunState::Running | RunState::Failed | RunState::Interrupted => {}
        done => {
            return Err(Error::Usage(format!(
                "run {} is {}: nothing to resume",
                args.run,
                done.name()
            )));
        }
    }
    let mut rb = runbook_of(&replay)?;
    // The journal never holds secrets: a resume reads them from the environment again.
    rebound::runbook::secrets::read_env(&mut rb)?;
    if replay.header.backend == Backend::Aws {
        let settings = super::session::settings(&args.session.aws, &replay.header, rb.role.clone());
        super::preflight(&rb, super::Preflight::Aws(&settings))?;
    }
    let mut header = replay.header.clone();
    if let Some(n) = args.parallelism {
        header.parallelism = n;
    }
    let h = &header;
    let offset = clock(&replay);
    let prior = Prior {
        started: h.started_at,
        offset,
        done: rb
            .steps
            .iter()
            .map(|s| {
                replay
                    .steps
                    .get(&s.name)
                    .filter(|r| r.outcome == Some(Outcome::Succeeded))
                    .cloned()
            })
            .collect(),
        calls: replay.calls.clone(),
    };
    let start = super::signals::Start::new(h.backend == Backend::Sim && !args.realtime)?;
    let journal = Journal::reopen(locked, &replay, "resume")?;
    Session {
        rb: &rb,
        header: h,
        journal: &journal,
        prior: Some(prior),
        attachments: replay.attachments(),
        earlier: replay.created.clone(),
        outputs: &outputs,
        history: &args.session.history,
        quiet,
        aws: &args.session.aws,
        teardown: args.session.teardown.limits(),
        attempt: replay.next_attempt(),
        approve: if args.approve {
            Some(super::output::given_by(&rebound::identity::user_at_host()))
        } else if h.approve {
            // Inherited: the person who started the run gave it, not whoever resumes.
            Some(super::output::inherited_from(h.started_by.as_deref()))
        } else {
            None
        },
    }
    .run(start)
}
