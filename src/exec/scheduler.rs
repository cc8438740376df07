//! The scheduler: runs a checked runbook's DAG on a `Cloud`. A step starts as soon as every
//! step it waits for has finished (most expected work first when `--parallelism` is short),
//! independent branches overlap, and the shared pollers batch every wait into one Describe a
//! tick. A failed critical step skips what depends on it while independent branches finish;
//! `strategy = "first"` stops the run when the first path completes.
//!
//! Everything runs in one task on one thread (futures polled together, no spawning), so that
//! on the simulator's paused clock the same seed gives the same timeline. `Scheduler` holds one
//! run's state; its methods are the moves of a run: queue, start, finish, release what waited,
//! skip, end.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt as _};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::api::{Api, Calls};
use super::ctx::{Approve, Ctx, Done, StepError, Thaw};
use super::event::{Event, Outcome};
use super::journal::{Entry, Journal};
use super::model::Created;
use super::poller::Pollers;
use super::record::{RunRecord, StepRecord};
use super::value::{Inputs, Secrets, resolve};
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, RUN_TAG, Regions, STEP_TAG, Tags};
use crate::plan::Plan;
use crate::runbook::checked::{Runbook, Step, StepId, Strategy};
use crate::runbook::schema::Secrecy;

/// How to run.
pub struct Options<'a> {
    pub run_id: String,
    /// When the disaster was declared; the run's start when not given.
    pub t0: Option<DateTime<Utc>>,
    /// Most steps running at once.
    pub parallelism: usize,
    /// What the pollers expect of AWS: when they first look.
    pub model: LatencyModel,
    /// How often a poller looks again.
    pub tick: Duration,
    pub approve: &'a Approve,
    /// Where intents, answers, resources and step records go (`Journal::memory()` for none).
    pub journal: &'a Journal,
    /// What an earlier process of this run finished (`rebound resume`).
    pub prior: Option<&'a Prior>,
    /// An isolated drill's groups, made before the run (`exec::sandbox`).
    pub sandbox: Option<&'a super::ctx::Sandbox>,
}

/// The part of a run an earlier process finished: succeeded steps are not run again, their
/// outputs feed the rest, and the run's clock continues where it stopped.
#[derive(Debug, Clone)]
pub struct Prior {
    /// When the run first started.
    pub started: DateTime<Utc>,
    /// Run seconds at which this process takes over.
    pub offset: f64,
    /// By step id: the record of each step that succeeded.
    pub done: Vec<Option<StepRecord>>,
    /// The API calls earlier processes made (up to their last step record).
    pub calls: Calls,
}

/// Runs every step of `plan` in its region of `clouds`, telling `events` as it goes, until
/// the strategy is satisfied, a critical failure leaves nothing to do, or `stop` completes
/// (Ctrl-C).
pub async fn execute<C: Cloud>(
    plan: &Plan<'_>,
    clouds: &Regions<C>,
    opts: &Options<'_>,
    events: &dyn Fn(&Event),
    stop: impl Future<Output = ()>,
) -> RunRecord {
    let scheduler = Scheduler::new(plan, clouds, opts, events);
    let pollers = scheduler
        .pollers
        .iter()
        .zip(&scheduler.apis)
        .map(|(p, api)| p.run(api));
    // `biased`: the steps, then the pollers, in that order at every wake. An unbiased select
    // polls its branches in a random order, and which of them calls the cloud first decides
    // the simulator's draws: seed 1 of 200 tiers gave an RTO of 403 s, 458 s or 516 s.
    let interrupted = tokio::select! {
        biased;
        interrupted = scheduler.drive(stop) => interrupted,
        _ = futures::future::join_all(pollers) => false,
    };
    // An interrupted step may have left a filesystem frozen.
    scheduler.thaw_left(None).await;
    scheduler.end(interrupted)
}

/// One run's state while it goes: what each step waits for, what is ready, the records, the
/// outputs that feed later steps, and the run's clock.
struct Scheduler<'a, 'c, C> {
    rb: &'a Runbook,
    clouds: &'c Regions<C>,
    opts: &'a Options<'a>,
    events: &'a dyn Fn(&Event),
    /// By region, in the order of `clouds`: the paced door to it, and its pollers.
    apis: Vec<Api<'c, C>>,
    pollers: Vec<Pollers>,
    /// Each step's region, as an index into `apis`.
    region: Vec<usize>,
    /// When this process started the run, on tokio's clock, and the run seconds it took over
    /// at (a resume continues the earlier processes' clock).
    origin: Instant,
    offset: f64,
    started: DateTime<Utc>,
    t0: DateTime<Utc>,
    /// The runbook's tags and the run's id: what every step's creations carry.
    tags: Tags,
    records: RefCell<Vec<StepRecord>>,
    outputs: RefCell<Vec<Option<Map<String, Value>>>>,
    /// Each started step's own call counter.
    step_calls: RefCell<Vec<Option<Rc<RefCell<Calls>>>>>,
    /// How many unfinished steps each step still waits for.
    waiting: RefCell<Vec<usize>>,
    dependents: Vec<Vec<StepId>>,
    /// Expected seconds from each step to the end of the longest chain after it: the ready
    /// queue's priority, so the critical path is served first.
    remaining: Vec<f64>,
    ready: RefCell<BinaryHeap<(u64, Reverse<StepId>)>>,
    /// By step: freezes not yet thawed (`Thaw`).
    thaws: Vec<RefCell<Vec<Thaw>>>,
}

impl<'a, 'c, C: Cloud> Scheduler<'a, 'c, C> {
    fn new(
        plan: &'a Plan<'a>,
        clouds: &'c Regions<C>,
        opts: &'a Options<'a>,
        events: &'a dyn Fn(&Event),
    ) -> Scheduler<'a, 'c, C> {
        let rb = plan.runbook;
        let n = rb.steps.len();
        let done_before = |id: StepId| {
            opts.prior
                .and_then(|p| p.done.get(id))
                .and_then(Option::as_ref)
        };
        let started = opts.prior.map_or_else(Utc::now, |p| p.started);
        let mut dependents: Vec<Vec<StepId>> = vec![Vec::new(); n];
        for (id, s) in rb.steps.iter().enumerate() {
            for &d in &s.deps {
                dependents[d].push(id);
            }
        }
        let mut tags: Tags = rb.tags.clone();
        tags.insert(RUN_TAG.into(), opts.run_id.clone());
        Scheduler {
            rb,
            clouds,
            opts,
            events,
            apis: Api::for_regions(clouds),
            pollers: (0..clouds.len()).map(|_| Pollers::new(opts.tick)).collect(),
            region: rb
                .steps
                .iter()
                .map(|s| clouds.index(s.region.as_deref()))
                .collect(),
            origin: Instant::now(),
            offset: opts.prior.map_or(0.0, |p| p.offset),
            started,
            t0: opts.t0.unwrap_or(started),
            tags,
            records: RefCell::new(
                (0..n)
                    .map(|id| done_before(id).cloned().unwrap_or_default())
                    .collect(),
            ),
            outputs: RefCell::new(
                (0..n)
                    .map(|id| done_before(id).map(|r| r.outputs.clone()))
                    .collect(),
            ),
            step_calls: RefCell::new(vec![None; n]),
            // Steps finished before do not count as waited for.
            waiting: RefCell::new(
                rb.steps
                    .iter()
                    .map(|s| s.deps.iter().filter(|&&d| done_before(d).is_none()).count())
                    .collect(),
            ),
            dependents,
            remaining: remaining_work(plan),
            ready: RefCell::new(BinaryHeap::new()),
            thaws: rb.steps.iter().map(|_| RefCell::new(Vec::new())).collect(),
        }
    }

    /// Run seconds at `i`: what the record and the journal count in.
    fn since(&self, i: Instant) -> f64 {
        self.offset + i.duration_since(self.origin).as_secs_f64()
    }

    /// Run seconds now.
    fn at(&self) -> f64 {
        self.since(Instant::now())
    }

    fn emit(&self, e: Event) {
        (self.events)(&e);
    }

    /// Every process's calls: the earlier ones' and this one's.
    fn run_calls(&self) -> Calls {
        let mut total = self.opts.prior.map(|p| p.calls.clone()).unwrap_or_default();
        for (op, n) in self.apis[0].total() {
            *total.entry(op).or_default() += n;
        }
        total
    }

    /// The journal's copy of a step's record, with the run's calls so far.
    fn note_step(&self, id: StepId) {
        self.opts.journal.note(&Entry::Step {
            step: self.rb.steps[id].name.clone(),
            record: Box::new(self.records.borrow()[id].clone()),
            run_calls: self.run_calls(),
        });
    }

    /// Puts a step whose dependencies are done in the ready queue.
    fn queue(&self, id: StepId) {
        let at = self.at();
        self.records.borrow_mut()[id].queued_at = Some(at);
        self.emit(Event::Queued { step: id, at });
        let priority = (self.remaining[id] * 1000.0) as u64;
        self.ready.borrow_mut().push((priority, Reverse(id)));
    }

    /// Runs until the strategy is satisfied, nothing is left to run, or `stop`; `true` when
    /// stopped by `stop`.
    async fn drive(&self, stop: impl Future<Output = ()>) -> bool {
        // What earlier processes finished is told as finished, and is not run again.
        for (id, r) in self.records.borrow().iter().enumerate() {
            if r.outcome == Some(Outcome::Succeeded) {
                self.emit(Event::Finished {
                    step: id,
                    outcome: Outcome::Succeeded,
                    error: None,
                    at: r.finished_at.unwrap_or(0.0),
                });
            }
        }
        let first: Vec<StepId> = (0..self.rb.steps.len())
            .filter(|&id| self.waiting.borrow()[id] == 0 && !self.done_before(id))
            .collect();
        for id in first {
            self.queue(id);
        }
        let mut running = FuturesUnordered::new();
        // Volumes still loading from their snapshots after their steps finished: watched while
        // the run lasts, never waited for.
        let mut loading = FuturesUnordered::new();
        let mut stop = std::pin::pin!(stop);
        loop {
            while running.len() < self.opts.parallelism.max(1) {
                let Some((_, Reverse(id))) = self.ready.borrow_mut().pop() else {
                    break;
                };
                running.push(self.start(id));
            }
            if running.is_empty() {
                return false;
            }
            // `biased`, in this order: an interrupt first, so that a step finishing at the same
            // wake starts nothing after it; then finished steps; then volume loads.
            tokio::select! {
                biased;
                () = &mut stop => {
                    self.emit(Event::Stopping { reason: "interrupted".into(), at: self.at() });
                    return true;
                }
                Some((id, result)) = running.next() => {
                    let finished = self.at();
                    if let Some(volume) = result.as_ref().ok().and_then(|d| d.loading.clone()) {
                        let pollers = &self.pollers[self.region[id]];
                        loading.push(async move { (id, pollers.loaded(&volume).await) });
                    }
                    let ok = self.finish(id, result, finished);
                    self.release_dependents(id, ok, finished);
                    if self.rb.strategy == Strategy::First && self.first_path_done() {
                        let reason = "a path finished first (strategy \"first\")".into();
                        self.emit(Event::Stopping { reason, at: finished });
                        return false;
                    }
                }
                Some((id, loaded)) = loading.next(), if !loading.is_empty() => {
                    // A volume whose state cannot be read stays "not known to be loaded".
                    if let Ok(o) = loaded {
                        let when = o.ready_at.map_or_else(|| self.at(), |i| self.since(i));
                        self.records.borrow_mut()[id].loaded_at = Some(when);
                        self.note_step(id);
                    }
                }
            }
        }
    }

    fn done_before(&self, id: StepId) -> bool {
        self.opts
            .prior
            .and_then(|p| p.done.get(id))
            .is_some_and(Option::is_some)
    }

    /// The step's fields resolved from the outputs so far: with the secrets for the action,
    /// with placeholders for the record (journal, report, history), which never gets them.
    fn inputs(&self, id: StepId) -> (Inputs, Inputs) {
        let step = &self.rb.steps[id];
        let resolve_all = |secrets| {
            Inputs(
                step.fields
                    .iter()
                    .map(|(k, e)| (k.clone(), resolve(e, &self.outputs.borrow(), secrets)))
                    .collect(),
            )
        };
        let inputs = resolve_all(Secrets::Reveal(self.rb));
        let mut shown = resolve_all(Secrets::Hide);
        // Fields secret whatever they hold (user data): hidden in the record, and their value
        // registered, so that no log line shows it either.
        let always = step.action.schema().fields.iter();
        for f in always.filter(|f| f.secrecy == Secrecy::Always) {
            if let Some(v) = shown.0.get_mut(f.name) {
                *v = Value::from(crate::secret::PLACEHOLDER);
            }
            if let Some(text) = inputs.str(f.name) {
                crate::secret::register(&text);
            }
        }
        (inputs, shown)
    }

    /// Starts a step: its attempts (a step's `retries` retry transient errors), bounded as a
    /// whole by its `timeout`.
    fn start(&self, id: StepId) -> impl Future<Output = (StepId, Result<Done, StepError>)> + '_ {
        let step = &self.rb.steps[id];
        let (inputs, shown) = self.inputs(id);
        let mut tags = self.tags.clone();
        tags.insert(STEP_TAG.into(), step.name.clone());
        let here = self.region[id];
        let api = self.apis[here].for_step();
        self.step_calls.borrow_mut()[id] = Some(api.own_counter());
        self.records.borrow_mut()[id].inputs = shown.0;
        async move {
            let created = |c: Created| self.created(id, c);
            let progress = |message: String| {
                self.emit(Event::Progress {
                    step: id,
                    message,
                    at: self.at(),
                });
            };
            let at = || self.at();
            let ctx = Ctx {
                api: &api,
                pollers: &self.pollers[here],
                region: (here > 0).then(|| self.clouds.name(here)),
                model: &self.opts.model,
                step: &step.name,
                run_id: &self.opts.run_id,
                t0: self.t0,
                rpo: self.rb.rpo,
                tags,
                approve: self.opts.approve,
                progress: &progress,
                created: &created,
                journal: self.opts.journal,
                thaws: &self.thaws[id],
                sandbox: self.opts.sandbox,
                at: &at,
            };
            let attempts = self.attempts(id, &ctx, &inputs);
            let result = match step.timeout {
                Some(limit) => tokio::time::timeout(limit, attempts)
                    .await
                    .unwrap_or(Err(StepError::Timeout(limit))),
                None => attempts.await,
            };
            // A step that timed out may have left a filesystem frozen.
            self.thaw_left(Some(id)).await;
            (id, result)
        }
    }

    /// Thaws what step `only` (every step, for `None`) froze and did not thaw; a thaw that
    /// fails is said in the step's progress (the watchdog on the instance thaws in the end).
    async fn thaw_left(&self, only: Option<StepId>) {
        // Called as every step ends: that step's list only, not a scan of every step's.
        let ids = match only {
            Some(id) => id..id + 1,
            None => 0..self.thaws.len(),
        };
        for id in ids {
            let thaws = &self.thaws[id];
            if thaws.borrow().is_empty() {
                continue;
            }
            let left = thaws.borrow().clone();
            let api = &self.apis[self.region[id]];
            for t in left {
                let thawed = crate::action::thaw(api, &t).await;
                // Only once thawed: an interruption mid-thaw leaves it for the run's end.
                thaws.borrow_mut().retain(|have| have != &t);
                let (paths, on) = (t.paths.join(", "), &t.instance);
                let said = match thawed {
                    Ok(true) => format!("thawed {paths} on {on} (left frozen)"),
                    Ok(false) => format!("{paths} on {on} was already thawed (by its watchdog)"),
                    Err(e) => format!("the thaw of {paths} on {on} failed: {e}"),
                };
                self.emit(Event::Progress {
                    step: id,
                    message: said,
                    at: self.at(),
                });
            }
        }
    }

    /// A step's attempts until one succeeds, fails for good, or its retries are used up.
    async fn attempts(
        &self,
        id: StepId,
        ctx: &Ctx<'_, 'c, C>,
        inputs: &Inputs,
    ) -> Result<Done, StepError> {
        let step = &self.rb.steps[id];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let at = self.at();
            {
                let mut r = self.records.borrow_mut();
                r[id].attempts = attempt;
                r[id].started_at.get_or_insert(at);
            }
            self.emit(Event::Started {
                step: id,
                attempt,
                at,
            });
            self.opts.journal.note(&Entry::Started {
                step: step.name.clone(),
                attempt,
                at,
            });
            match step.action.run(ctx, inputs.0.clone()).await {
                Err(e) if e.is_transient() && attempt <= step.retries => {
                    (ctx.progress)(format!("attempt {attempt} failed ({e}); retrying"));
                    tokio::time::sleep(Duration::from_secs(1 << attempt.min(5))).await;
                }
                other => return other,
            }
        }
    }

    /// Records a resource the moment the cloud answers, so that a step that then fails or is
    /// cancelled still accounts for what it made.
    fn created(&self, id: StepId, c: Created) {
        // A resource outside the run's own region says where it is: teardown goes there.
        let here = self.region[id];
        let c = if here == 0 {
            c
        } else {
            c.in_region(self.clouds.name(here))
        };
        let mut r = self.records.borrow_mut();
        if r[id].created.iter().any(|(have, _)| have.id == c.id) {
            return;
        }
        let at = self.at();
        if !self.opts.journal.has(&c.id) {
            self.opts.journal.note(&Entry::Created {
                step: self.rb.steps[id].name.clone(),
                resource: c.clone(),
                at,
            });
        }
        r[id].created.push((c, at));
    }

    /// Records a finished step; `true` when it succeeded.
    fn finish(&self, id: StepId, result: Result<Done, StepError>, finished: f64) -> bool {
        let (outcome, error) = {
            let mut r = self.records.borrow_mut();
            let rec = &mut r[id];
            rec.finished_at = Some(finished);
            match result {
                Ok(done) => {
                    rec.outcome = Some(Outcome::Succeeded);
                    let ready = done.ready_at.map_or(finished, |i| self.since(i));
                    rec.ready_at = Some(ready.min(finished));
                    rec.counts_from = done.counts_from;
                    rec.rejected = done.rejected;
                    rec.artifact_created = done.artifact_created;
                    rec.approved_by = done.approved_by;
                    rec.approved_at = done.approved_at;
                    rec.outputs = done.outputs.clone();
                    self.outputs.borrow_mut()[id] = Some(done.outputs);
                    (Outcome::Succeeded, None)
                }
                Err(e) => {
                    rec.outcome = Some(Outcome::Failed);
                    let message = e.to_string();
                    rec.error = Some(message.clone());
                    if let StepError::NothingUsable { rejected, .. } = e {
                        rec.rejected = rejected;
                    }
                    (Outcome::Failed, Some(message))
                }
            }
        };
        self.emit(Event::Finished {
            step: id,
            outcome,
            error,
            at: finished,
        });
        tracing::info!(
            run = %self.opts.run_id,
            step = %self.rb.steps[id].name,
            outcome = outcome.name(),
            at = finished,
            "step finished"
        );
        self.note_step(id);
        outcome == Outcome::Succeeded
    }

    /// What a finished step lets run. A failed step's dependents that need its outputs cannot
    /// run; those that only wait for it (`after`) still run when it was not critical.
    fn release_dependents(&self, id: StepId, ok: bool, finished: f64) {
        for &d in &self.dependents[id] {
            let steps = &self.rb.steps;
            if !ok && (steps[id].critical || uses_outputs(&steps[d], id)) {
                self.skip(d, finished);
                continue;
            }
            let now_ready = {
                let mut waiting = self.waiting.borrow_mut();
                waiting[d] -= 1;
                waiting[d] == 0
            };
            if now_ready && self.records.borrow()[d].outcome.is_none() {
                self.queue(d);
            }
        }
    }

    /// Marks a step that cannot run, and everything downstream of it, as skipped.
    fn skip(&self, first: StepId, at: f64) {
        let mut stack = vec![first];
        while let Some(id) = stack.pop() {
            if self.records.borrow()[id].outcome.is_some() {
                continue;
            }
            {
                let mut r = self.records.borrow_mut();
                r[id].outcome = Some(Outcome::Skipped);
                r[id].error = Some("skipped: a step it needs failed".to_string());
            }
            self.emit(Event::Finished {
                step: id,
                outcome: Outcome::Skipped,
                error: None,
                at,
            });
            stack.extend(self.dependents[id].iter().copied());
        }
    }

    /// Whether some path is done: every step of it that counts (the critical ones, or all when
    /// none is) succeeded.
    fn first_path_done(&self) -> bool {
        let rb = self.rb;
        let records = self.records.borrow();
        (0..rb.paths.len()).any(|p| {
            let members: Vec<StepId> = rb.path_steps(p).collect();
            let critical: Vec<StepId> = members
                .iter()
                .copied()
                .filter(|&s| rb.steps[s].critical)
                .collect();
            let counting = if critical.is_empty() {
                members
            } else {
                critical
            };
            !counting.is_empty()
                && counting
                    .iter()
                    .all(|&s| records[s].outcome == Some(Outcome::Succeeded))
        })
    }

    /// The run's record: what is still running or waiting was cancelled by the end of the run.
    fn end(self, interrupted: bool) -> RunRecord {
        let end = self.at();
        let run_calls = self.run_calls();
        let mut steps = self.records.into_inner();
        for (r, calls) in steps.iter_mut().zip(self.step_calls.into_inner()) {
            if let Some(calls) = calls {
                r.api_calls = calls.borrow().clone();
            }
        }
        for (id, r) in steps.iter_mut().enumerate() {
            if r.outcome.is_none() {
                r.outcome = Some(Outcome::Cancelled);
                if r.started_at.is_some() {
                    r.finished_at = Some(end);
                }
                (self.events)(&Event::Finished {
                    step: id,
                    outcome: Outcome::Cancelled,
                    error: None,
                    at: end,
                });
            }
        }
        RunRecord {
            run_id: self.opts.run_id.clone(),
            backend: self.clouds.first().backend(),
            started: self.started,
            t0: self.t0,
            finished_at: end,
            interrupted,
            steps,
            api_calls: run_calls,
        }
    }
}

/// Whether `step` reads an output of `dep` (rather than only waiting for it).
fn uses_outputs(step: &Step, dep: StepId) -> bool {
    let mut read = Vec::new();
    for e in step.fields.values() {
        e.outputs(&mut read);
    }
    read.contains(&dep)
}

/// Expected seconds from a step's start to the end of the longest chain after it.
fn remaining_work(plan: &Plan<'_>) -> Vec<f64> {
    let steps = &plan.runbook.steps;
    let mut dependents: Vec<Vec<StepId>> = vec![Vec::new(); steps.len()];
    for (id, s) in steps.iter().enumerate() {
        for &d in &s.deps {
            dependents[d].push(id);
        }
    }
    let mut rest = vec![0.0f64; steps.len()];
    for &id in plan.order.iter().rev() {
        let after = dependents[id].iter().map(|&d| rest[d]).fold(0.0, f64::max);
        rest[id] = plan.expected[id] + after;
    }
    rest
}
