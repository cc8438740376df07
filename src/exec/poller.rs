//! One shared poller per kind of resource. Every step that waits for instances, volumes,
//! restore jobs or images registers the ids it waits for; each tick the poller makes one
//! batched Describe call for every id that is due, and wakes the steps whose resources reached
//! their state. The first look at an id is at the 10th percentile of its expected time, then
//! every tick (about 1 s): a 5-second state change is noticed within about a second, where the
//! AWS CLI's waiters poll every 15 s.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::api::Api;
use crate::cloud::{Cloud, CloudError, Observed, PROPAGATION, Polled};

/// What a waiter waits for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Want {
    /// The resource's state is this (`running`, `available`, `in-use`, `COMPLETED`).
    State(&'static str),
    /// An instance's two status checks pass.
    StatusOk,
}

/// The states from which a resource will never get where it was wanted.
fn is_dead(state: &str) -> bool {
    matches!(
        state,
        "terminated"
            | "shutting-down"
            | "stopped"
            | "error"
            | "failed"
            | "deleted"
            | "FAILED"
            | "ABORTED"
            | "EXPIRED"
    )
}

struct Waiter {
    id: String,
    want: Want,
    due: Instant,
    /// Since when its status checks have said `impaired` (they may recover: EC2 runs them
    /// every minute).
    impaired_since: Option<Instant>,
    /// When a Describe first answered without this id, or NotFound for it (AWS is eventually
    /// consistent right after a create, so a short absence is normal: `cloud::PROPAGATION`).
    missing_since: Option<Instant>,
    tx: oneshot::Sender<Result<Observed, CloudError>>,
}

pub(crate) struct Poller {
    kind: Polled,
    tick: Duration,
    waiters: RefCell<Vec<Waiter>>,
    wake: Notify,
}

/// How long a status check may stay `impaired` before a wait for both to pass fails: three of
/// EC2's one-minute evaluations, room for one that recovers.
const IMPAIRED_GRACE: Duration = Duration::from_secs(180);

/// Ids per Describe call: DescribeInstanceStatus takes at most 100 explicit ids.
const BATCH: usize = 100;

impl Poller {
    pub(crate) fn new(kind: Polled, tick: Duration) -> Poller {
        Poller {
            kind,
            tick,
            waiters: RefCell::new(Vec::new()),
            wake: Notify::new(),
        }
    }

    /// Waits until `id` is as wanted; the first look is `first_look` from now.
    pub(crate) async fn wait(
        &self,
        id: &str,
        want: Want,
        first_look: Duration,
    ) -> Result<Observed, CloudError> {
        let (tx, rx) = oneshot::channel();
        self.waiters.borrow_mut().push(Waiter {
            id: id.to_string(),
            want,
            due: Instant::now() + first_look,
            missing_since: None,
            impaired_since: None,
            tx,
        });
        self.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| Err(CloudError::new("Cancelled", "the poller stopped")))
    }

    /// Polls for as long as the run lasts (the executor drops this future at the end).
    pub(crate) async fn run<C: Cloud>(&self, api: &Api<'_, C>) {
        loop {
            self.waiters.borrow_mut().retain(|w| !w.tx.is_closed());
            let next = self.waiters.borrow().iter().map(|w| w.due).min();
            let Some(next) = next else {
                self.wake.notified().await;
                continue;
            };
            if next > Instant::now() {
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = self.wake.notified() => {}
                }
                continue;
            }
            // What falls due within half a tick rides along: resources created a few
            // milliseconds apart share one call instead of one each.
            let horizon = Instant::now() + self.tick / 2;
            let mut due: Vec<String> = self
                .waiters
                .borrow()
                .iter()
                .filter(|w| w.due <= horizon)
                .map(|w| w.id.clone())
                .collect();
            due.sort_unstable();
            due.dedup();
            let mut batches: Vec<&[String]> = due.chunks(BATCH).collect();
            while let Some(batch) = batches.pop() {
                match api.describe(self.kind, batch).await {
                    Ok(observed) => self.deliver(batch, &observed),
                    Err(e) if e.is_transient() => {}
                    // One bad id (or one not yet visible) fails a batched call on AWS: the
                    // batch is halved until the error reaches only the ids it is about, a few
                    // calls for one such id among a hundred, not a hundred.
                    Err(_) if batch.len() > 1 => {
                        let (a, b) = batch.split_at(batch.len() / 2);
                        batches.push(a);
                        batches.push(b);
                    }
                    Err(e) => self.failed(batch, &e),
                }
            }
            let next_due = Instant::now() + self.tick;
            for w in self
                .waiters
                .borrow_mut()
                .iter_mut()
                // `due` is sorted: a thousand waiters do not each scan it.
                .filter(|w| due.binary_search(&w.id).is_ok())
            {
                w.due = w.due.max(next_due);
            }
        }
    }

    /// A Describe of `ids` failed: transient errors wait for the next tick; NotFound for an id
    /// just made is an absence (counted against `PROPAGATION`, as an id missing from an
    /// answer); anything else fails their waits.
    fn failed(&self, ids: &[String], e: &CloudError) {
        if e.is_transient() {
            return;
        }
        if e.code == self.kind.not_found_code() {
            self.deliver(ids, &[]);
            return;
        }
        self.fail(ids, e);
    }

    fn deliver(&self, ids: &[String], observed: &[Observed]) {
        let asked: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let answers: HashMap<&str, &Observed> =
            observed.iter().map(|o| (o.id.as_str(), o)).collect();
        let mut waiters = self.waiters.borrow_mut();
        let mut keep = Vec::with_capacity(waiters.len());
        for mut w in waiters.drain(..) {
            if !asked.contains(w.id.as_str()) {
                keep.push(w);
                continue;
            }
            // Not in the answer: normal for a moment right after a create; after that, it does
            // not exist.
            let Some(o) = answers.get(w.id.as_str()).copied() else {
                let now = Instant::now();
                let since = *w.missing_since.get_or_insert(now);
                if now.duration_since(since) >= PROPAGATION {
                    let _ = w.tx.send(Err(CloudError::new(
                        self.kind.not_found_code(),
                        format!("{} does not exist", w.id),
                    )));
                } else {
                    keep.push(w);
                }
                continue;
            };
            let done = match &w.want {
                Want::State(s) => o.state == *s,
                Want::StatusOk => o.status_ok,
            };
            if !o.impaired {
                w.impaired_since = None;
            }
            if done {
                let _ = w.tx.send(Ok(o.clone()));
            } else if w.want == Want::StatusOk
                && o.impaired
                && Instant::now().duration_since(*w.impaired_since.get_or_insert_with(Instant::now))
                    >= IMPAIRED_GRACE
            {
                let _ = w.tx.send(Err(CloudError::new(
                    "StatusCheckImpaired",
                    format!(
                        "{}: a status check has been impaired for {} min (EC2 finds it broken)",
                        o.id,
                        IMPAIRED_GRACE.as_secs() / 60
                    ),
                )));
            } else if is_dead(&o.state) {
                let _ = w.tx.send(Err(CloudError::new(
                    "ResourceFailed",
                    format!("{} is {}, waiting for {:?}", o.id, o.state, w.want),
                )));
            } else {
                keep.push(w);
            }
        }
        *waiters = keep;
    }

    fn fail(&self, ids: &[String], e: &CloudError) {
        let mut waiters = self.waiters.borrow_mut();
        let (failed, keep): (Vec<Waiter>, Vec<Waiter>) =
            waiters.drain(..).partition(|w| ids.contains(&w.id));
        *waiters = keep;
        for w in failed {
            let _ = w.tx.send(Err(e.clone()));
        }
    }
}

/// The shared pollers, one per kind of resource.
pub(crate) struct Pollers {
    pub instances: Poller,
    pub volumes: Poller,
    pub jobs: Poller,
    pub images: Poller,
    pub snapshots: Poller,
    /// Volumes loading from their snapshots: watched after their steps finished, slowly (AWS
    /// updates the state up to five minutes late), for as long as the run lasts.
    pub loads: Poller,
}

/// How often loading volumes are looked at.
const LOAD_TICK: Duration = Duration::from_secs(15);

impl Pollers {
    pub(crate) fn new(tick: Duration) -> Pollers {
        Pollers {
            instances: Poller::new(Polled::Instance, tick),
            volumes: Poller::new(Polled::Volume, tick),
            jobs: Poller::new(Polled::RestoreJob, tick),
            images: Poller::new(Polled::Image, tick),
            snapshots: Poller::new(Polled::Snapshot, tick),
            loads: Poller::new(Polled::VolumeLoad, tick.max(LOAD_TICK)),
        }
    }

    /// Waits until `volume` is fully loaded from its snapshot.
    pub(crate) async fn loaded(&self, volume: &str) -> Result<Observed, CloudError> {
        self.loads
            .wait(volume, Want::State("completed"), LOAD_TICK)
            .await
    }

    /// Runs every poller until the future is dropped.
    pub(crate) async fn run<C: Cloud>(&self, api: &Api<'_, C>) {
        futures::join!(
            self.instances.run(api),
            self.volumes.run(api),
            self.jobs.run(api),
            self.images.run(api),
            self.snapshots.run(api),
            self.loads.run(api)
        );
    }
}
