//! One process's part of a run, shared by `run` (a new run), `resume` (a run an earlier
//! process left) and `teardown` (a run's leftovers): the backend as the journal's header
//! describes it, Ctrl-C handling, execution, a drill's teardown, the report, the summary, the
//! journal's end record and the exit code.

use super::output;
use std::time::Duration;

use futures::FutureExt as _;

use super::progress::Progress;
use super::signals::{Signals, Start};
use super::{AwsArgs, Outputs};
use rebound::cloud::Cloud;
use rebound::cloud::aws;
use rebound::cloud::latency::LatencyModel;
use rebound::cloud::sim::{Profile, Sim, World};
use rebound::cloud::{Backend, RUN_TAG, Regions, STEP_TAG};
use rebound::error::Error;
use rebound::evidence::history::History as _;
use rebound::evidence::notify::{self, Delivery, Notice, Webhook};
use rebound::evidence::report::{AwsTarget, Mode, Report};
use rebound::exec::api::Api;
use rebound::exec::journal::{Entry, Header, Journal, RunState};
use rebound::exec::model::{Attachment, Created};
use rebound::exec::model::{Fate, TornDown};
use rebound::exec::teardown;
use rebound::exec::{self, Options, Outcome, Prior, RunRecord, timings};
use rebound::plan::Plan;
use rebound::runbook::Runbook;

/// The longest a simulated run may take, in virtual time.
const SIM_HORIZON: Duration = Duration::from_secs(7 * 86_400);

/// Exit code: teardown left resources behind (README's exit codes).
pub const LEFT_BEHIND: u8 = 4;

/// What this process is to do with the run.
pub struct Session<'a> {
    pub rb: &'a Runbook,
    pub header: &'a Header,
    pub journal: &'a Journal,
    /// Resuming: what earlier processes finished.
    pub prior: Option<Prior>,
    /// Resources earlier processes created, with when (run seconds): the simulator puts them
    /// back; teardown counts them.
    pub earlier: Vec<(String, Created, f64)>,
    /// Attachments earlier processes made (the simulator puts them back).
    pub attachments: Vec<Attachment>,
    /// The report's directory, the key signing it and the history record (`--sign-key`), the
    /// webhook told how the run ended (`--notify`).
    pub outputs: &'a super::Outputs,
    /// Where the finished run is recorded.
    pub history: &'a super::HistoryArgs,
    pub quiet: bool,
    /// Backend flags of this invocation; the header's where not given.
    pub aws: &'a AwsArgs,
    /// How long teardown keeps at each resource.
    pub teardown: teardown::Limits,
    /// Which process of the run this is (1: `run`; each `resume` one more).
    pub attempt: u32,
    /// Approved in advance (`--approve`, this command line's or the run's): whose, as the
    /// report records it.
    pub approve: Option<String>,
}

/// Where and as whom a run on AWS calls: this command line's flags, else the journal's.
pub(super) fn settings(aws: &super::AwsArgs, h: &Header, role: Option<String>) -> aws::Settings {
    let mut s = aws.settings(h.aws_region.clone(), role);
    s.profile = s.profile.or_else(|| h.aws_profile.clone());
    s.endpoint_url = s.endpoint_url.or_else(|| h.aws_endpoint_url.clone());
    s
}

impl Session<'_> {
    /// The simulator's profile: the header's, with `latency` over it.
    fn profile(&self) -> Result<Profile, Error> {
        let profile = match &self.header.sim_profile {
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::Usage(format!("the journal's simulator profile: {e}")))?,
            ),
            None => None,
        };
        let latency = match &self.header.latency {
            Some(v) => Some(
                serde_json::from_value::<LatencyModel>(v.clone())
                    .map_err(|e| Error::Usage(format!("the journal's latency model: {e}")))?,
            ),
            None => None,
        };
        let inputs = super::sim_inputs::SimInputs {
            profile,
            latency,
            world: None,
        };
        Ok(inputs.effective_profile())
    }

    fn world(&self) -> Result<World, Error> {
        match &self.header.sim_world {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| Error::Usage(format!("the journal's simulator world: {e}"))),
            None => Ok(rebound::action::world::default_world(
                self.rb,
                self.header.declared_at.unwrap_or(self.header.started_at),
            )),
        }
    }

    fn settings(&self) -> aws::Settings {
        settings(self.aws, self.header, self.rb.role.clone())
    }

    /// Runs (or resumes) the run to its end on `start`'s runtime, made (with its signal
    /// listeners) before the journal was, then notifies (`--notify`); the exit code.
    pub fn run(self, start: Start) -> Result<u8, Error> {
        let Ended { code, notice } = self.execute(start)?;
        if let (Some(hook), Some(notice)) = (&self.outputs.notify, &notice) {
            tell(hook, notice);
        }
        Ok(code)
    }

    /// The run to its end, its evidence written.
    fn execute(&self, start: Start) -> Result<Ended, Error> {
        let profile = self.profile()?;
        let world = self.world()?;
        let seed = self.header.seed.unwrap_or(0);
        let Start {
            runtime,
            signals,
            virtual_clock,
        } = start;
        runtime.block_on(async {
            // The first thing the runtime does: a signal while the AWS configuration loads (SSO,
            // an assumed role), or one kept from before, stops the run cleanly.
            let interrupted = interrupts(self.header.drill, &self.header.run_id, signals);
            if self.header.backend == Backend::Aws {
                let cloud = aws::Aws::connect(&self.settings()).await;
                let (account, principal) = match cloud.identity().await {
                    Ok((account, arn)) => (Some(account), Some(arn)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot ask STS who the calls are made as");
                        (None, None)
                    }
                };
                let target = AwsTarget {
                    account,
                    region: cloud.configured_region(),
                    principal,
                };
                let clouds = Regions::new(cloud, &self.regions(&[]));
                self.go(
                    &clouds,
                    &profile.latency,
                    Some(target),
                    interrupted,
                    virtual_clock,
                )
                .await
            } else {
                let sims = Regions::new(Sim::new(world, profile.clone(), seed), &self.regions(&[]));
                self.put_back(&sims);
                self.go(&sims, &profile.latency, None, interrupted, virtual_clock)
                    .await
            }
        })
    }

    /// Tears down what the run left; the exit code (0, or 4 when anything is left).
    pub fn teardown(self, known: &[(String, Created)], offset: f64) -> Result<u8, Error> {
        let profile = self.profile()?;
        let world = self.world()?;
        let runtime = super::runtime_on(self.header.backend == Backend::Sim)?;
        let seed = self.header.seed.unwrap_or(0);
        let fates = runtime.block_on(async {
            if self.header.backend == Backend::Aws {
                let cloud = aws::Aws::connect(&self.settings()).await;
                let clouds = Regions::new(cloud, &self.regions(known));
                self.tear(&clouds, known, offset).await.0
            } else {
                let sim = Sim::new(world, profile.clone(), seed);
                let sims = Regions::new(sim, &self.regions(known));
                self.put_back(&sims);
                self.tear(&sims, known, offset).await.0
            }
        });
        output::text(super::summary::teardown_table(&fates));
        let left = fates.iter().any(|t| t.outcome != Fate::Verified);
        self.journal.note(&Entry::End {
            state: if left {
                RunState::TeardownIncomplete
            } else {
                RunState::TornDown
            },
            at: 0.0,
        });
        Ok(if left { LEFT_BEHIND } else { 0 })
    }

    /// Every region the run acts in beyond its own: those its steps name, and any a resource
    /// of the run (earlier processes', or `known`) is in.
    fn regions(&self, known: &[(String, Created)]) -> Vec<String> {
        let mut regions = self.rb.regions();
        let resources = self.earlier.iter().map(|(_, c, _)| c);
        for r in resources
            .chain(known.iter().map(|(_, c)| c))
            .filter_map(|c| c.region.as_ref())
        {
            if !regions.contains(r) {
                regions.push(r.clone());
            }
        }
        regions
    }

    /// The simulated account lives in memory: what earlier processes of the run created is put
    /// back, each in its region, before this one goes on.
    fn put_back(&self, sims: &Regions<Sim>) {
        let mut tags = self.rb.tags.clone();
        tags.insert(RUN_TAG.into(), self.header.run_id.clone());
        // This process's clock starts where the run's last record left it.
        let now = self.prior.as_ref().map_or(0.0, |p| p.offset);
        for (step, c, at) in &self.earlier {
            let mut tags = tags.clone();
            tags.insert(STEP_TAG.into(), step.clone());
            let age = std::time::Duration::from_secs_f64((now - at).clamp(0.0, 1e9));
            let sim = sims.get(sims.index(c.region.as_deref()));
            sim.restore(c.kind, &c.id, c.zone.as_deref(), &tags, age);
        }
        // An attachment is within one region: its volume's.
        for a in &self.attachments {
            for (_, sim) in sims.iter() {
                sim.restore_attachment(&a.volume, &a.instance);
            }
        }
    }

    /// Teardown on `cloud`, told as it goes, its times counted from `offset` run seconds;
    /// the fates and the calls it made.
    async fn tear<C: Cloud>(
        &self,
        clouds: &Regions<C>,
        known: &[(String, Created)],
        offset: f64,
    ) -> (Vec<TornDown>, exec::api::Calls) {
        let apis = Api::for_regions(clouds);
        let origin = tokio::time::Instant::now();
        let at = move || offset + origin.elapsed().as_secs_f64();
        let quiet = self.quiet;
        let told = move |t: &TornDown| {
            if !quiet {
                output::note(format_args!("teardown: {t}"));
            }
        };
        let fates = teardown::teardown(
            &apis,
            teardown::Whose {
                run_id: &self.header.run_id,
                isolated: self.header.isolated,
            },
            known,
            self.teardown,
            self.journal,
            &at,
            &told,
        )
        .await;
        (fates, apis[0].total())
    }

    async fn go<C: Cloud>(
        &self,
        clouds: &Regions<C>,
        model: &LatencyModel,
        target: Option<AwsTarget>,
        interrupted: impl std::future::Future<Output = ()>,
        virtual_clock: bool,
    ) -> Result<Ended, Error> {
        let rb = self.rb;
        let plan = Plan::new(rb, model);
        let t0_offset = self.header.declared_at.map_or(0.0, |t0| {
            (self.header.started_at - t0).num_milliseconds() as f64 / 1000.0
        });
        let progress = Progress::new(rb, self.quiet, t0_offset, self.header.parallelism);
        let approve_flag = self.approve.clone();
        let bars = progress.bars();
        let approve = move |message: &str| {
            let message = message.to_string();
            let bars = bars.clone();
            let approve_flag = approve_flag.clone();
            async move { super::output::ask(&message, approve_flag, bars).await }.boxed_local()
        };
        // An isolated drill's groups, made (or found again, on a resume) before any step: a
        // drill that cannot isolate does not start.
        let sandbox = if self.header.isolated {
            match rebound::exec::sandbox::prepare(clouds, rb, &self.header.run_id, self.journal)
                .await
            {
                Ok(s) => {
                    let groups: std::collections::BTreeSet<&String> = s.values().collect();
                    let groups: Vec<&str> = groups.into_iter().map(String::as_str).collect();
                    output::note(format_args!(
                        "isolated: security group {}",
                        groups.join(", ")
                    ));
                    if rb.runs_ssm() && rb.isolation_egress.is_empty() {
                        output::note(
                            "warning: the drill is isolated and its runbook names no \
                             isolation_egress: its SSM commands cannot reach the ssm, ssmmessages \
                             and ec2messages endpoints (name their VPC endpoints' security group)",
                        );
                    }
                    Some(s)
                }
                Err(e) => {
                    self.journal.note(&Entry::End {
                        state: RunState::Failed,
                        at: 0.0,
                    });
                    return Err(Error::Usage(format!(
                        "cannot isolate the drill: {e}; nothing was started"
                    )));
                }
            }
        } else {
            None
        };
        let opts = Options {
            run_id: self.header.run_id.clone(),
            t0: self.header.declared_at,
            parallelism: self.header.parallelism,
            model: model.clone(),
            tick: Duration::from_secs(1),
            approve: &approve,
            journal: self.journal,
            prior: self.prior.as_ref(),
            sandbox: sandbox.as_ref(),
        };
        let simulated = clouds.first().backend() == Backend::Sim;
        // On the simulator's virtual clock a step that waits for what never happens would spin
        // at full speed for ever: past a horizon no real recovery reaches, the run stops.
        let horizon = async move {
            if !simulated {
                return std::future::pending().await;
            }
            tokio::time::sleep(SIM_HORIZON).await;
            output::note(format_args!(
                "stopped: the simulated run passed {} days of virtual time \
                 (a step waits for something that never happens)",
                SIM_HORIZON.as_secs() / 86_400
            ));
        };
        let stop = async move {
            tokio::select! {
                () = interrupted => {}
                () = horizon => {}
            }
        };
        let draw = |e: &exec::Event| progress.event(e);
        // On the wall clock the elapsed times move between events too; on the virtual clock a
        // tick would only cost (a simulated hour passes in milliseconds).
        let offset = self.prior.as_ref().map_or(0.0, |p| p.offset);
        let origin = tokio::time::Instant::now();
        let ticking = async {
            if virtual_clock {
                return std::future::pending().await;
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress.tick(offset + origin.elapsed().as_secs_f64());
            }
        };
        let mut record = tokio::select! {
            record = exec::execute(&plan, clouds, &opts, &draw, stop) => record,
            () = ticking => unreachable!("the ticker never ends"),
        };
        progress.finish();

        let fates = if self.header.drill {
            let mut known: Vec<(String, Created)> = self
                .earlier
                .iter()
                .map(|(s, c, _)| (s.clone(), c.clone()))
                .collect();
            for (s, r) in rb.steps.iter().zip(&record.steps) {
                for (c, _) in &r.created {
                    if !known.iter().any(|(_, k)| k.id == c.id) {
                        known.push((s.name.clone(), c.clone()));
                    }
                }
            }
            let (fates, calls) = self.tear(clouds, &known, record.finished_at).await;
            for (op, n) in calls {
                *record.api_calls.entry(op).or_default() += n;
            }
            Some(fates)
        } else {
            None
        };
        self.finish(&record, fates.as_deref(), target).await
    }

    /// The report, the summary, the journal's end; the exit code and what to notify.
    async fn finish(
        &self,
        record: &RunRecord,
        fates: Option<&[TornDown]>,
        target: Option<AwsTarget>,
    ) -> Result<Ended, Error> {
        let rb = self.rb;
        let timings = timings::compute(rb, record);
        let mode = if self.header.drill {
            Mode::Drill
        } else {
            Mode::Recovery
        };
        let mut report = Report::new(rb, record, &timings, mode, self.approve.is_some());
        report.attempt = self.attempt;
        report.isolated = self.header.isolated;
        report.seed = (record.backend == Backend::Sim)
            .then_some(self.header.seed)
            .flatten();
        if let Some(fates) = fates {
            report.apply_teardown(fates, |at| record.wall(at));
        }
        report.aws = target;
        // Chained into the history first (which takes the digest), so the files carry the
        // chained digest; a report the history could not take is digested as it stands (with
        // the `previous_digest` of the attempt, if it got that far).
        let recorded = async {
            let mut h = self.history.open(self.aws).await?;
            let stored = h.append(&mut report, self.outputs.signer.as_ref()).await?;
            Ok::<_, Error>((stored.seq, h.place()))
        }
        .await;
        if recorded.is_err() || report.digest.is_none() {
            report.digest = Some(report.compute_digest());
        }
        let place = match &recorded {
            Ok((seq, place)) => Some(format!("record {seq} in {place}")),
            Err(_) => None,
        };
        let Outputs {
            report_dir, signer, ..
        } = self.outputs;
        if let Some(dir) = report_dir {
            super::report_files::write_report(dir, &report, signer.as_ref())?;
        }
        output::text(format_args!(
            "{}",
            super::summary::summary(rb, &report, report_dir.as_ref(), signer.is_some())
        ));
        let recorded = match recorded {
            Ok(_) => {
                output::line(format_args!(
                    "  history: {}",
                    place.as_deref().unwrap_or("")
                ));
                true
            }
            Err(e) => {
                output::note(format_args!("error: the run is not in the history: {e}"));
                false
            }
        };
        if let Some(e) = self.journal.failed() {
            output::note(format_args!(
                "warning: the journal is incomplete (a write failed: {e})"
            ));
        }
        let left = fates.is_some_and(|f| f.iter().any(|t| t.outcome != Fate::Verified));
        let state = match (fates, timings.outcome) {
            (Some(_), _) if left => RunState::TeardownIncomplete,
            (Some(_), _) => RunState::TornDown,
            _ if record.interrupted => RunState::Interrupted,
            (None, Outcome::Succeeded) => RunState::Succeeded,
            _ => RunState::Failed,
        };
        self.journal.note(&Entry::End {
            state,
            at: record.finished_at,
        });
        let code = match timings.outcome {
            _ if left => LEFT_BEHIND,
            // Evidence that was not kept is a failure to report, whatever the run did.
            _ if !recorded => 1,
            Outcome::Succeeded if timings.targets_met() => 0,
            Outcome::Succeeded => 3,
            _ => 1,
        };
        // The report's place as a reader elsewhere finds it: absolute.
        let dir = report_dir
            .as_ref()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .map(|d| d.display().to_string());
        Ok(Ended {
            code,
            // Made only to be sent: its document is a tenth of a 1,000-tier run's time.
            notice: self
                .outputs
                .notify
                .is_some()
                .then(|| Notice::of(&report, dir, place)),
        })
    }
}

/// How a process's part of a run ended: its exit code, and what `--notify` posts (with it).
struct Ended {
    code: u8,
    notice: Option<Notice>,
}

/// Posts `notice` to `hook` on a runtime of its own: the run's may be the simulator's, whose
/// paused clock would fire every timeout at once. Ctrl-C or SIGTERM gives up at once (the run's
/// signal handlers are gone with its runtime, and the signals would otherwise be ignored), and
/// a lookup still running on a blocking thread does not hold the process. Said on stderr
/// either way; never an error.
fn tell(hook: &Webhook, notice: &Notice) {
    let delivery = match super::runtime() {
        Ok(rt) => {
            let delivery = rt.block_on(async {
                tokio::select! {
                    d = notify::deliver(hook, notice, notify::Policy::STANDARD) => d,
                    () = stopped() => Delivery::Failed {
                        why: "interrupted".to_string(),
                        attempts: 0,
                    },
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
            delivery
        }
        Err(e) => Delivery::Failed {
            why: e.to_string(),
            attempts: 0,
        },
    };
    match delivery {
        Delivery::Delivered { status, attempt } => output::note(format_args!(
            "  notified {hook} (HTTP {status}{})",
            if attempt > 1 {
                format!(", attempt {attempt}")
            } else {
                String::new()
            }
        )),
        Delivery::Failed { why, attempts } => output::note(format_args!(
            "warning: could not notify {hook} ({why}{}); the run's outcome stands",
            match attempts {
                0 => String::new(),
                1 => ", after 1 attempt".to_string(),
                n => format!(", after {n} attempts"),
            }
        )),
    }
}

/// The first Ctrl-C or SIGTERM; never, when neither can be listened for.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The first Ctrl-C (or SIGTERM) stops new work, and the caller tears a drill down; a second
/// exits at once, the journal consistent (every record is written whole), for `rebound
/// resume` or `rebound teardown` to finish.
fn interrupts(
    drill: bool,
    run_id: &str,
    mut signals: Signals,
) -> impl std::future::Future<Output = ()> + use<> {
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    let run_id = run_id.to_string();
    tokio::spawn(async move {
        signals.next().await;
        let _ = tx.send(true);
        output::note(format_args!(
            "\ninterrupted: no new steps will start{}. Interrupt again to exit at once.",
            if drill { "; tearing down" } else { "" }
        ));
        signals.next().await;
        output::note(format_args!(
            "exiting now. The journal is consistent: `rebound resume {run_id}` continues, \
             `rebound teardown {run_id}` removes what the run made."
        ));
        std::process::exit(130);
    });
    async move {
        if rx.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
