//! The executor: runs a checked runbook's DAG on a `Cloud`. A step starts as soon as every
//! step it waits for has finished (most expected work first when `--parallelism` is short),
//! independent branches overlap, and the shared pollers batch every wait into one Describe a
//! tick. A failed critical step skips what depends on it while independent branches finish;
//! `strategy = "first"` stops the run when the first path completes.
//!
//! Everything runs in one task on one thread (futures polled together, no spawning), so that
//! on the simulator's paused clock the same seed gives the same timeline.

pub mod api;
pub mod ctx;
pub mod event;
pub mod journal;
pub mod model;
pub mod poller;
pub mod record;
pub mod teardown;
pub mod timings;
pub mod value;

use std::cell::RefCell;
use std::collections::BinaryHeap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt as _};
use serde_json::{Map, Value};
use tokio::time::Instant;

use self::api::Api;
use self::ctx::{Approve, Ctx, Done, StepError};
pub use self::event::{Event, Outcome};
use self::journal::{Entry, Journal};
use self::poller::Pollers;
pub use self::record::{RunRecord, StepRecord};
use self::value::{Inputs, Secrets, resolve};
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, Tags};
use crate::plan::Plan;
use crate::runbook::checked::{StepId, Strategy};
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
    pub calls: api::Calls,
}

/// Runs every step of `plan` on `cloud`, telling `events` as it goes, until the strategy is
/// satisfied, a critical failure leaves nothing to do, or `stop` completes (Ctrl-C).
pub async fn execute<C: Cloud>(
    plan: &Plan<'_>,
    cloud: &C,
    opts: &Options<'_>,
    events: &dyn Fn(&Event),
    stop: impl Future<Output = ()>,
) -> RunRecord {
    let rb = plan.runbook;
    let n = rb.steps.len();
    let origin = Instant::now();
    let started = opts.prior.map_or_else(Utc::now, |p| p.started);
    let offset = opts.prior.map_or(0.0, |p| p.offset);
    let t0 = opts.t0.unwrap_or(started);
    // Run seconds: what the record and the journal count in.
    let since = move |i: Instant| offset + i.duration_since(origin).as_secs_f64();
    let at = move || since(Instant::now());
    let done_before = |id: StepId| {
        opts.prior
            .and_then(|p| p.done.get(id))
            .and_then(Option::as_ref)
    };
    let api = Api::new(cloud);
    // Every process's calls: the earlier ones' and this one's.
    let earlier_calls = opts.prior.map(|p| p.calls.clone()).unwrap_or_default();
    let run_calls = |api: &Api<'_, C>| {
        let mut total = earlier_calls.clone();
        for (op, n) in api.total() {
            *total.entry(op).or_default() += n;
        }
        total
    };
    let pollers = Pollers::new(opts.tick);
    let step_calls: RefCell<Vec<Option<std::rc::Rc<RefCell<api::Calls>>>>> =
        RefCell::new(vec![None; n]);
    let records: RefCell<Vec<StepRecord>> = RefCell::new(
        (0..n)
            .map(|id| done_before(id).cloned().unwrap_or_default())
            .collect(),
    );
    let outputs: RefCell<Vec<Option<Map<String, serde_json::Value>>>> = RefCell::new(
        (0..n)
            .map(|id| done_before(id).map(|r| r.outputs.clone()))
            .collect(),
    );
    let emit = |e: Event| events(&e);
    let journal = opts.journal;
    for (id, r) in records.borrow().iter().enumerate() {
        if r.outcome == Some(Outcome::Succeeded) {
            emit(Event::Finished {
                step: id,
                outcome: Outcome::Succeeded,
                error: None,
                at: r.finished_at.unwrap_or(0.0),
            });
        }
    }

    // Steps finished before do not count as waited for.
    let mut waiting: Vec<usize> = rb
        .steps
        .iter()
        .map(|s| s.deps.iter().filter(|&&d| done_before(d).is_none()).count())
        .collect();
    let mut dependents: Vec<Vec<StepId>> = vec![Vec::new(); n];
    for (id, s) in rb.steps.iter().enumerate() {
        for &d in &s.deps {
            dependents[d].push(id);
        }
    }
    // Most remaining expected work first: the critical path is served before the rest.
    let remaining = remaining_work(plan);
    let mut ready: BinaryHeap<(u64, std::cmp::Reverse<StepId>)> = BinaryHeap::new();
    let queue = |id: StepId, ready: &mut BinaryHeap<_>| {
        records.borrow_mut()[id].queued_at = Some(at());
        emit(Event::Queued { step: id, at: at() });
        ready.push(((remaining[id] * 1000.0) as u64, std::cmp::Reverse(id)));
    };
    for (id, _) in waiting.iter().enumerate().filter(|(_, w)| **w == 0) {
        if done_before(id).is_none() {
            queue(id, &mut ready);
        }
    }

    let mut tags: Tags = rb.tags.clone();
    tags.insert("rebound:run-id".into(), opts.run_id.clone());
    let run_step = |id: StepId| {
        let step = &rb.steps[id];
        let resolve_all = |secrets| {
            Inputs(
                step.fields
                    .iter()
                    .map(|(k, e)| (k.clone(), resolve(e, &outputs.borrow(), secrets)))
                    .collect(),
            )
        };
        // The action gets the secrets; the record (journal, report, history) never does.
        let inputs = resolve_all(Secrets::Reveal(rb));
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
        let mut tags = tags.clone();
        tags.insert("rebound:step".into(), step.name.clone());
        let api = api.for_step();
        step_calls.borrow_mut()[id] = Some(api.own_counter());
        records.borrow_mut()[id].inputs = shown.0;
        let pollers = &pollers;
        let records = &records;
        async move {
            // Recorded the moment the cloud answers, so a step that then fails or is cancelled
            // still accounts for what it made.
            let created = |c: model::Created| {
                let mut r = records.borrow_mut();
                if r[id].created.iter().any(|(have, _)| have.id == c.id) {
                    return;
                }
                if !journal.has(&c.id) {
                    journal.note(&Entry::Created {
                        step: step.name.clone(),
                        resource: c.clone(),
                        at: at(),
                    });
                }
                r[id].created.push((c, at()));
            };
            let progress = |message: String| {
                emit(Event::Progress {
                    step: id,
                    message,
                    at: at(),
                });
            };
            let mut attempt = 0;
            // `timeout` bounds the whole step, retries and their pauses included.
            let attempts = async {
                loop {
                    attempt += 1;
                    {
                        let mut r = records.borrow_mut();
                        r[id].attempts = attempt;
                        r[id].started_at.get_or_insert(at());
                    }
                    emit(Event::Started {
                        step: id,
                        attempt,
                        at: at(),
                    });
                    journal.note(&Entry::Started {
                        step: step.name.clone(),
                        attempt,
                        at: at(),
                    });
                    let ctx = Ctx {
                        api: &api,
                        pollers,
                        model: &opts.model,
                        step: &step.name,
                        run_id: &opts.run_id,
                        t0,
                        rpo: rb.rpo,
                        tags: tags.clone(),
                        approve: opts.approve,
                        progress: &progress,
                        created: &created,
                        journal,
                        at: &at,
                    };
                    match step.action.run(&ctx, inputs.0.clone()).await {
                        Err(e) if e.is_transient() && attempt <= step.retries => {
                            progress(format!("attempt {attempt} failed ({e}); retrying"));
                            tokio::time::sleep(Duration::from_secs(1 << attempt.min(5))).await;
                        }
                        other => break other,
                    }
                }
            };
            let result = match step.timeout {
                Some(limit) => tokio::time::timeout(limit, attempts)
                    .await
                    .unwrap_or(Err(StepError::Timeout(limit))),
                None => attempts.await,
            };
            (id, result)
        }
    };

    let mut running = FuturesUnordered::new();
    // Volumes still loading from their snapshots after their steps finished: watched while
    // the run lasts, never waited for.
    let mut loading = FuturesUnordered::new();
    let pollers = &pollers;
    // The journal's copy of a step's record, with the run's calls so far.
    let note_step = |id: StepId| {
        journal.note(&Entry::Step {
            step: rb.steps[id].name.clone(),
            record: Box::new(records.borrow()[id].clone()),
            run_calls: run_calls(&api),
        });
    };
    let mut stop = std::pin::pin!(stop);
    let mut interrupted = false;
    let scheduler = async {
        loop {
            while running.len() < opts.parallelism.max(1) {
                let Some((_, std::cmp::Reverse(id))) = ready.pop() else {
                    break;
                };
                running.push(run_step(id));
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                Some((id, result)) = running.next() => {
                    let finished = at();
                    if let Some(volume) = result.as_ref().ok().and_then(|d| d.loading.clone()) {
                        loading.push(async move { (id, pollers.loaded(&volume).await) });
                    }
                    let ok = finish(id, result, finished, &since, &records, &outputs, &emit);
                    tracing::info!(
                        run = %opts.run_id,
                        step = %rb.steps[id].name,
                        outcome = records.borrow()[id].outcome.map_or("none", Outcome::name),
                        at = finished,
                        "step finished"
                    );
                    note_step(id);
                    // A failed step's dependents that need its outputs cannot run; those that
                    // only wait for it (`after`) still run when it was not critical.
                    for &d in &dependents[id] {
                        let blocked = !ok && (rb.steps[id].critical || uses_outputs(&rb.steps[d], id));
                        if blocked {
                            skip(d, &dependents, &records, &emit, finished);
                            continue;
                        }
                        waiting[d] -= 1;
                        if waiting[d] == 0 && records.borrow()[d].outcome.is_none() {
                            queue(d, &mut ready);
                        }
                    }
                    if rb.strategy == Strategy::First && first_path_done(plan, &records.borrow()) {
                        emit(Event::Stopping { reason: "a path finished first (strategy \"first\")".into(), at: finished });
                        break;
                    }
                }
                Some((id, loaded)) = loading.next(), if !loading.is_empty() => {
                    // A volume whose state cannot be read stays "not known to be loaded".
                    if let Ok(o) = loaded {
                        let when = o.ready_at.map_or_else(at, since);
                        records.borrow_mut()[id].loaded_at = Some(when);
                        note_step(id);
                    }
                }
                () = &mut stop => {
                    interrupted = true;
                    emit(Event::Stopping { reason: "interrupted".into(), at: at() });
                    break;
                }
            }
        }
    };
    tokio::select! {
        () = scheduler => {}
        () = pollers.run(&api) => {}
    }
    // What is still running or waiting was cancelled by the end of the run.
    drop(running);
    let end = at();
    let mut steps = records.into_inner();
    for (r, calls) in steps.iter_mut().zip(step_calls.into_inner()) {
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
            emit(Event::Finished {
                step: id,
                outcome: Outcome::Cancelled,
                error: None,
                at: end,
            });
        }
    }
    RunRecord {
        run_id: opts.run_id.clone(),
        backend: cloud.backend(),
        started,
        t0,
        finished_at: end,
        interrupted,
        steps,
        api_calls: run_calls(&api),
    }
}

/// Records a finished step; `true` when it succeeded. What depends on a failed step is
/// skipped, critical or not: its outputs are missing.
fn finish(
    id: StepId,
    result: Result<Done, StepError>,
    finished: f64,
    since: &dyn Fn(Instant) -> f64,
    records: &RefCell<Vec<StepRecord>>,
    outputs: &RefCell<Vec<Option<Map<String, serde_json::Value>>>>,
    emit: &dyn Fn(Event),
) -> bool {
    let mut r = records.borrow_mut();
    let rec = &mut r[id];
    rec.finished_at = Some(finished);
    match result {
        Ok(done) => {
            rec.outcome = Some(Outcome::Succeeded);
            rec.ready_at = Some(done.ready_at.map_or(finished, since).min(finished));
            rec.rejected = done.rejected;
            rec.artifact_created = done.artifact_created;
            rec.approved_by = done.approved_by;
            rec.outputs = done.outputs.clone();
            outputs.borrow_mut()[id] = Some(done.outputs);
            drop(r);
            emit(Event::Finished {
                step: id,
                outcome: Outcome::Succeeded,
                error: None,
                at: finished,
            });
            true
        }
        Err(e) => {
            rec.outcome = Some(Outcome::Failed);
            let message = e.to_string();
            rec.error = Some(message.clone());
            if let StepError::NothingUsable { rejected, .. } = e {
                rec.rejected = rejected;
            }
            drop(r);
            emit(Event::Finished {
                step: id,
                outcome: Outcome::Failed,
                error: Some(message),
                at: finished,
            });
            false
        }
    }
}

/// Marks a step that cannot run, and everything downstream of it, as skipped.
fn skip(
    first: StepId,
    dependents: &[Vec<StepId>],
    records: &RefCell<Vec<StepRecord>>,
    emit: &dyn Fn(Event),
    at: f64,
) {
    let mut stack = vec![first];
    while let Some(id) = stack.pop() {
        if records.borrow()[id].outcome.is_some() {
            continue;
        }
        {
            let mut r = records.borrow_mut();
            r[id].outcome = Some(Outcome::Skipped);
            r[id].error = Some("skipped: a step it needs failed".to_string());
        }
        emit(Event::Finished {
            step: id,
            outcome: Outcome::Skipped,
            error: None,
            at,
        });
        stack.extend(dependents[id].iter().copied());
    }
}

/// Whether `step` reads an output of `dep` (rather than only waiting for it).
fn uses_outputs(step: &crate::runbook::checked::Step, dep: StepId) -> bool {
    let mut read = Vec::new();
    for e in step.fields.values() {
        e.outputs(&mut read);
    }
    read.contains(&dep)
}

/// Whether some path is done: every step of it that counts (the critical ones, or all when
/// none is) succeeded.
fn first_path_done(plan: &Plan<'_>, records: &[StepRecord]) -> bool {
    let rb = plan.runbook;
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
