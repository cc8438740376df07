//! One shared poller per kind of resource. Every step that waits for instances, volumes,
//! restore jobs or images registers the ids it waits for; each tick the poller makes one
//! batched Describe call for every id that is due, and wakes the steps whose resources reached
//! their state.
//!
//! When to look is the poller's economy. The first look at an id is at the 10th percentile
//! of its expected time (`Looks::expecting`, from the latency model). After that a waiter
//! looks again on its `Cadence`: a quarter of its expected time apart, at most a tick (about
//! 1 s), while the wait is young, then at most 1% of the time waited so far apart, so a
//! 5-second state change is noticed within about a second and a 20-minute restore job within
//! 12 s, at a few dozen calls instead of a thousand. Status
//! checks change only when EC2 evaluates them, once a minute from when the instance started
//! running: they are looked at once at the start of the wait (a lenient peer passes them at
//! once), unless the poller's last answer came since the grid's last minute (that answer
//! stands), then on that minute grid, anchored where this poller first saw the instance running.
//! The instances of one step wait as a `Group`: an instance's status look is put off to the
//! next look at the group's instance seen running last, while that one still waits. The step
//! cannot pass before that instance has been looked at, and the look that finds it passed
//! finds the others with it: the step passes no later, and instances on that grid cost one
//! call a minute instead of one each. A wait's first look, and a look after an answer that was
//! impaired or left the instance out, are not put off: a failure is found as soon as before.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::api::Api;
use crate::cloud::latency::Dist;
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

/// When a waiter looks first, and how far apart after that while its wait is young.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Looks {
    pub first: Duration,
    /// How far apart while the wait is within its expected time (at most the poller's tick).
    pub every: Duration,
    /// From when on the resource is late (its expected 90th percentile): a tick apart from
    /// then, as the chance that the next instant brings it falls.
    pub late: Duration,
}

/// The closest two looks at one resource come: a Describe call's own round trip.
const MIN_GAP: Duration = Duration::from_millis(250);

impl Looks {
    /// At once, then every tick: for what may be ready already (a `verify` after its launch).
    pub(crate) const NOW: Looks = Looks {
        first: Duration::ZERO,
        every: Duration::MAX,
        late: Duration::ZERO,
    };

    /// For a resource expected to take `expected`: first at its 10th percentile (`Dist::p10`),
    /// so that nine in ten are noticed within a gap of being ready without the calls that
    /// looking from half the median made (1.6 Describe calls per instance on 8 tiers); then
    /// a quarter of its median apart until its 90th percentile (a volume of 1.5 s is looked
    /// at every 0.4 s, an instance of 5 s every tick), so a short wait's lag is a fraction of
    /// its own time; a tick apart after that.
    pub(crate) fn expecting(expected: Dist) -> Looks {
        let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 365.0 * 86_400.0));
        Looks {
            first: secs(expected.p10()),
            every: secs(expected.median / 4.0).max(MIN_GAP),
            late: secs(expected.p90()),
        }
    }

    /// An instance coming up: looked at twice as often as `expecting` would. When it is first
    /// seen running anchors its status checks' minute grid, so this lag is paid twice, once
    /// by the launch and again by every `status_ok` after it.
    pub(crate) fn running(expected: Dist) -> Looks {
        let looks = Looks::expecting(expected);
        Looks {
            every: (looks.every / 2).max(MIN_GAP),
            ..looks
        }
    }
}

/// When a waiter looks again after a look that did not find what it waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cadence {
    /// `every` apart (at most a tick), or 1% of the time waited since `since` when that is
    /// longer: the lag between a resource being ready and being noticed stays under a gap or
    /// 1% of its wait.
    Elapsed {
        since: Instant,
        every: Duration,
        late: Duration,
    },
    /// On whole minutes from `anchor`, when the instance was first seen running (no earlier
    /// than when it was): an instance's status checks are evaluated once a minute from its
    /// start, and an answer cannot change between two evaluations.
    Minutely { anchor: Instant },
}

/// How many of EC2's evaluations of an instance's status checks have happened by `at`, on the
/// minute grid from `anchor`.
fn evaluations(anchor: Instant, at: Instant) -> u64 {
    at.duration_since(anchor).as_secs() / STATUS_EVERY.as_secs()
}

/// The share of the time waited so far that a waiter may go without looking.
const ELAPSED_SHARE: f64 = 0.01;

/// How often EC2 evaluates an instance's status checks.
const STATUS_EVERY: Duration = Duration::from_secs(60);

impl Cadence {
    /// The next look after one at `now`.
    fn next(self, now: Instant, tick: Duration) -> Instant {
        match self {
            Cadence::Elapsed { since, every, late } => {
                let waited = now.duration_since(since);
                let gap = if waited < late { every.min(tick) } else { tick };
                now + gap.max(waited.mul_f64(ELAPSED_SHARE))
            }
            Cadence::Minutely { anchor } => {
                let minutes = now.duration_since(anchor).as_secs() / STATUS_EVERY.as_secs();
                let next = anchor + STATUS_EVERY * u32::try_from(minutes + 1).unwrap_or(u32::MAX);
                // A round trip at least: a look just before the minute is not repeated at
                // once, and an anchor in the future never makes a busy loop.
                next.max(now + MIN_GAP)
            }
        }
    }
}

/// Waiters of one step, whose status looks go together (the module's paragraph).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Group(u64);

struct Waiter {
    id: String,
    want: Want,
    due: Instant,
    cadence: Cadence,
    group: Option<Group>,
    /// Whether an answer about it came in this wait (from a look, or the one that stands).
    answered: bool,
    /// Since when its status checks have said `impaired` (they may recover: EC2 runs them
    /// every minute).
    impaired_since: Option<Instant>,
    /// When a Describe first answered without this id, or NotFound for it (AWS is eventually
    /// consistent right after a create, so a short absence is normal: `cloud::PROPAGATION`).
    missing_since: Option<Instant>,
    /// Taken when the waiter is told how its wait ended.
    tx: Option<oneshot::Sender<Result<Observed, CloudError>>>,
}

pub(crate) struct Poller {
    kind: Polled,
    tick: Duration,
    waiters: RefCell<Vec<Waiter>>,
    /// When each instance was first seen `running` by this poller: the anchor of its status
    /// checks' minute grid.
    running_seen: RefCell<HashMap<String, Instant>>,
    /// The last answer about each resource, and when it came.
    last: RefCell<HashMap<String, (Instant, Observed)>>,
    /// The last `Group` handed out.
    groups: Cell<u64>,
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
            running_seen: RefCell::new(HashMap::new()),
            last: RefCell::new(HashMap::new()),
            groups: Cell::new(0),
            wake: Notify::new(),
        }
    }

    /// Waits until `id` is as wanted, looking as `looks` says.
    pub(crate) async fn wait(
        &self,
        id: &str,
        want: Want,
        looks: Looks,
    ) -> Result<Observed, CloudError> {
        self.wait_in(id, want, looks, None).await
    }

    /// A new group, for the waits of one step.
    pub(crate) fn group(&self) -> Group {
        self.groups.set(self.groups.get() + 1);
        Group(self.groups.get())
    }

    /// As `wait`, as one of `group`: its status looks go with the group's instance seen
    /// running last (the module's paragraph). A group's waits end together (a verify joins
    /// them): one dropped alone would hold the others' looks until its next.
    pub(crate) async fn wait_in(
        &self,
        id: &str,
        want: Want,
        looks: Looks,
        group: Option<Group>,
    ) -> Result<Observed, CloudError> {
        let (tx, rx) = oneshot::channel();
        let now = Instant::now();
        let cadence = match (&want, self.running_seen.borrow().get(id)) {
            (Want::StatusOk, Some(&anchor)) => Cadence::Minutely { anchor },
            _ => Cadence::Elapsed {
                since: now,
                every: looks.every,
                late: looks.late,
            },
        };
        let mut waiter = Waiter {
            id: id.to_string(),
            want,
            due: now + looks.first,
            cadence,
            group,
            answered: false,
            missing_since: None,
            impaired_since: None,
            tx: Some(tx),
        };
        // Status checks cannot have changed since an answer that came after EC2's last
        // evaluation of them: that answer stands (the launch's wait saw the instance running a
        // moment ago, and its checks with it), judged as a look's answer is (passed, impaired,
        // dead), and the first look is at the next evaluation. A state stands for a round
        // trip (`MIN_GAP`): a look sooner than that after the last is one no cadence makes (a
        // verify's `running` the moment its launch saw the instance running).
        let cached = self.last.borrow().get(id).cloned();
        if let Some((at, o)) = cached {
            let stands = match cadence {
                Cadence::Minutely { anchor } => evaluations(anchor, at) == evaluations(anchor, now),
                Cadence::Elapsed { .. } => now.duration_since(at) < MIN_GAP,
            };
            if stands {
                if let Some(ended) = self.answer(&mut waiter, Some(&o)) {
                    return ended;
                }
                waiter.due = match cadence {
                    Cadence::Minutely { .. } => cadence.next(now, self.tick),
                    Cadence::Elapsed { .. } => waiter.due.max(at + MIN_GAP),
                };
            }
        }
        self.waiters.borrow_mut().push(waiter);
        self.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| Err(CloudError::new("Cancelled", "the poller stopped")))
    }

    /// Polls for as long as the run lasts (the executor drops this future at the end).
    pub(crate) async fn run<C: Cloud>(&self, api: &Api<'_, C>) {
        loop {
            self.waiters
                .borrow_mut()
                .retain(|w| w.tx.as_ref().is_some_and(|tx| !tx.is_closed()));
            let next = {
                let waiters = self.waiters.borrow();
                let latest = latest_anchors(&waiters);
                waiters.iter().map(|w| looks_at(w, &latest)).min()
            };
            if !due_now(next, &self.wake).await {
                continue;
            }
            // What falls due within half a tick rides along: resources created a few
            // milliseconds apart share one call instead of one each. Not a status check due
            // on its minute: looked at early, it would miss its evaluation by a minute.
            let now = Instant::now();
            let horizon = now + self.tick / 2;
            let mut due: Vec<String> = {
                let waiters = self.waiters.borrow();
                let latest = latest_anchors(&waiters);
                waiters
                    .iter()
                    .filter(|w| {
                        let at = looks_at(w, &latest);
                        at <= now || (at <= horizon && matches!(w.cadence, Cadence::Elapsed { .. }))
                    })
                    .map(|w| w.id.clone())
                    .collect()
            };
            due.sort_unstable();
            due.dedup();
            // The batches at once: at a thousand resources, ten calls in a row would make
            // every one of them a few seconds late.
            futures::future::join_all(due.chunks(BATCH).map(|batch| self.ask(api, batch))).await;
            let now = Instant::now();
            for w in self
                .waiters
                .borrow_mut()
                .iter_mut()
                // `due` is sorted: a thousand waiters do not each scan it.
                .filter(|w| due.binary_search(&w.id).is_ok())
            {
                w.due = w.due.max(w.cadence.next(now, self.tick));
            }
        }
    }

    /// One batched Describe of `ids`, and what its answer means for their waiters.
    ///
    /// Asked by ids (instances, volume loads), one bad id (or one not yet visible) fails a
    /// batched call on AWS; volumes are asked by a filter, which leaves those out. AWS names
    /// the ids it does not know in its message ("The volume 'vol-0abc' does not exist."):
    /// those are taken out and the rest asked again at once. An error that names none of them halves the
    /// batch, both halves at once, until it reaches only the ids it is about.
    fn ask<'s, C: Cloud>(
        &'s self,
        api: &'s Api<'_, C>,
        ids: &'s [String],
    ) -> futures::future::LocalBoxFuture<'s, ()> {
        Box::pin(async move {
            let e = match api.describe(self.kind, ids).await {
                Ok(observed) => return self.deliver(ids, &observed),
                Err(e) if e.is_transient() => return,
                Err(e) => e,
            };
            if ids.len() == 1 {
                return self.failed(ids, &e);
            }
            let (named, rest): (Vec<String>, Vec<String>) =
                ids.iter().cloned().partition(|id| names(&e.message, id));
            if !named.is_empty() && !rest.is_empty() {
                self.failed(&named, &e);
                return self.ask(api, &rest).await;
            }
            let (a, b) = ids.split_at(ids.len() / 2);
            futures::future::join(self.ask(api, a), self.ask(api, b)).await;
        })
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
        let answers: HashMap<&str, &Observed> =
            observed.iter().map(|o| (o.id.as_str(), o)).collect();
        // The answer came after the cloud said `running`: now is no earlier than the start.
        let now = Instant::now();
        for o in observed.iter().filter(|o| o.state == "running") {
            self.running_seen
                .borrow_mut()
                .entry(o.id.clone())
                .or_insert(now);
        }
        if self.kind == Polled::Instance {
            let mut last = self.last.borrow_mut();
            for o in observed {
                last.insert(o.id.clone(), (now, o.clone()));
            }
        }
        // Sorted, so that a thousand waiters are each found by a binary search, not hashed.
        let mut asked: Vec<&str> = ids.iter().map(String::as_str).collect();
        asked.sort_unstable();
        self.waiters.borrow_mut().retain_mut(|w| {
            if asked.binary_search(&w.id.as_str()).is_err() {
                return true;
            }
            let Some(ended) = self.answer(w, answers.get(w.id.as_str()).copied()) else {
                return true;
            };
            if let Some(tx) = w.tx.take() {
                let _ = tx.send(ended);
            }
            false
        });
    }

    /// What an answer (`None`: not in it) means for a waiter: how its wait ended, or `None`
    /// while it waits on.
    fn answer(&self, w: &mut Waiter, o: Option<&Observed>) -> Option<Result<Observed, CloudError>> {
        // Not in the answer: normal for a moment right after a create; after that, it does
        // not exist.
        let Some(o) = o else {
            let now = Instant::now();
            let since = *w.missing_since.get_or_insert(now);
            return (now.duration_since(since) >= PROPAGATION).then(|| {
                Err(CloudError::new(
                    self.kind.not_found_code(),
                    format!("{} does not exist", w.id),
                ))
            });
        };
        w.answered = true;
        let done = match &w.want {
            Want::State(s) => o.state == *s,
            Want::StatusOk => o.status_ok,
        };
        if !o.impaired {
            w.impaired_since = None;
        }
        if done {
            Some(Ok(o.clone()))
        } else if w.want == Want::StatusOk
            && o.impaired
            && Instant::now().duration_since(*w.impaired_since.get_or_insert_with(Instant::now))
                >= IMPAIRED_GRACE
        {
            Some(Err(CloudError::new(
                "StatusCheckImpaired",
                format!(
                    "{}: a status check has been impaired for {} min (EC2 finds it broken)",
                    o.id,
                    IMPAIRED_GRACE.as_secs() / 60
                ),
            )))
        } else if is_dead(&o.state) {
            Some(Err(CloudError::new(
                "ResourceFailed",
                format!("{} is {}, waiting for {:?}", o.id, o.state, w.want),
            )))
        } else {
            None
        }
    }

    fn fail(&self, ids: &[String], e: &CloudError) {
        let mut waiters = self.waiters.borrow_mut();
        let (failed, keep): (Vec<Waiter>, Vec<Waiter>) =
            waiters.drain(..).partition(|w| ids.contains(&w.id));
        *waiters = keep;
        for tx in failed.into_iter().filter_map(|w| w.tx) {
            let _ = tx.send(Err(e.clone()));
        }
    }
}

/// Each group's latest status grid among its waiters: the anchor, and the next look on it (the
/// earliest, where two share the anchor).
fn latest_anchors(waiters: &[Waiter]) -> HashMap<Group, (Instant, Instant)> {
    let mut latest: HashMap<Group, (Instant, Instant)> = HashMap::new();
    for w in waiters {
        if let (Some(g), Cadence::Minutely { anchor }) = (w.group, w.cadence) {
            let e = latest.entry(g).or_insert((anchor, w.due));
            if (anchor, std::cmp::Reverse(w.due)) > (e.0, std::cmp::Reverse(e.1)) {
                *e = (anchor, w.due);
            }
        }
    }
    latest
}

/// When a waiter is looked at: when it is due, or, for a status check of a group with a later
/// grid, at that grid's next look, if that is later; not when a look now could find a failure
/// sooner (the module's paragraph).
fn looks_at(w: &Waiter, latest: &HashMap<Group, (Instant, Instant)>) -> Instant {
    let settled = w.answered && w.impaired_since.is_none() && w.missing_since.is_none();
    match (w.group, w.cadence) {
        (Some(g), Cadence::Minutely { anchor }) if settled => match latest.get(&g) {
            Some(&(later, due)) if later > anchor => w.due.max(due),
            _ => w.due,
        },
        _ => w.due,
    }
}

/// Whether the earliest look (`next`; `None`: nothing to look at) is due now; if not, first
/// waits until it is, or until `wake` says a new one came, and the caller looks again at what is
/// due. The loop of every poller and of teardown's watches.
pub(crate) async fn due_now(next: Option<Instant>, wake: &Notify) -> bool {
    match next {
        None => wake.notified().await,
        Some(next) if next > Instant::now() => {
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(next) => {}
                () = wake.notified() => {}
            }
        }
        Some(_) => return true,
    }
    false
}

/// Whether an error's `message` names `id` as a whole word (not as the start of a longer id).
fn names(message: &str, id: &str) -> bool {
    message.match_indices(id).any(|(at, _)| {
        let after = message[at + id.len()..].chars().next();
        let before = message[..at].chars().next_back();
        let apart = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '-');
        apart(before) && apart(after)
    })
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

/// How often loading volumes are looked at: AWS updates a volume's initialization state up to
/// five minutes late, so looking more often than a minute learns nothing sooner.
const LOAD_TICK: Duration = Duration::from_secs(60);

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
            .wait(
                volume,
                Want::State("completed"),
                Looks {
                    first: LOAD_TICK,
                    every: LOAD_TICK,
                    late: Duration::ZERO,
                },
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_young_wait_looks_a_quarter_of_its_median_apart_a_late_one_a_tick_an_old_one_one_percent() {
        let tick = secs(1.0);
        let volume = Looks::expecting(Dist::new(1.5, 4.0));
        assert!(
            (volume.first.as_secs_f64() - 0.88).abs() < 0.01,
            "{volume:?}"
        );
        assert_eq!(volume.every, secs(0.375));
        assert!(
            (volume.late.as_secs_f64() - 2.58).abs() < 0.01,
            "{volume:?}"
        );
        let since = Instant::now();
        let elapsed = Cadence::Elapsed {
            since,
            every: volume.every,
            late: volume.late,
        };
        // Within its expected time: a quarter of the median apart.
        assert_eq!(elapsed.next(since + secs(1.0), tick), since + secs(1.375));
        // Late: a tick apart.
        assert_eq!(elapsed.next(since + secs(3.0), tick), since + secs(4.0));
        // Long waited: 1% of the wait (a restore job 20 minutes in looks every 12 s).
        assert_eq!(
            elapsed.next(since + secs(1200.0), tick),
            since + secs(1212.0)
        );
        // Never closer than a Describe's round trip, never further than a tick while young.
        assert_eq!(Looks::expecting(Dist::new(0.2, 1.0)).every, MIN_GAP);
        let instance = Looks::running(Dist::new(5.0, 15.0));
        assert_eq!(instance.every, secs(0.625));
        assert_eq!(Looks::expecting(Dist::new(5.0, 15.0)).every, secs(1.25));
    }

    #[test]
    fn status_checks_are_looked_at_on_the_minutes_of_their_instance() {
        let tick = secs(1.0);
        let anchor = Instant::now();
        let minutely = Cadence::Minutely { anchor };
        // After a look at 0.4 s, at 59.9 s and at exactly a minute: the next whole minute.
        assert_eq!(minutely.next(anchor + secs(0.4), tick), anchor + secs(60.0));
        assert_eq!(
            minutely.next(anchor + secs(59.9), tick),
            anchor + secs(60.15)
        );
        assert_eq!(
            minutely.next(anchor + secs(60.0), tick),
            anchor + secs(120.0)
        );
        assert_eq!(
            minutely.next(anchor + secs(130.5), tick),
            anchor + secs(180.0)
        );
    }

    #[test]
    fn a_status_look_of_a_group_goes_with_the_groups_latest_grid() {
        let at = Instant::now();
        let waiter = |id: &str, anchor: f64, due: f64, group| Waiter {
            id: id.into(),
            want: Want::StatusOk,
            due: at + secs(due),
            cadence: Cadence::Minutely {
                anchor: at + secs(anchor),
            },
            group,
            answered: true,
            impaired_since: None,
            missing_since: None,
            tx: None,
        };
        let one = Some(Group(1));
        let waiters = [
            // Seen running at 0 s and at 9 s: the first goes with the second's minute.
            waiter("i-1", 0.0, 60.0, one),
            waiter("i-2", 9.0, 69.0, one),
            // Another step's, and one in no group: each on its own grid.
            waiter("i-3", 5.0, 65.0, Some(Group(2))),
            waiter("i-4", 1.0, 61.0, None),
        ];
        let latest = latest_anchors(&waiters);
        let looks: Vec<f64> = waiters
            .iter()
            .map(|w| looks_at(w, &latest).duration_since(at).as_secs_f64())
            .collect();
        assert_eq!(looks, [69.0, 69.0, 65.0, 61.0]);
        // Once the latest has passed (gone from the waiters), the first is on its own again.
        let alone = latest_anchors(&waiters[..1]);
        assert_eq!(looks_at(&waiters[0], &alone), at + secs(60.0));
        // Not yet answered in this wait, or last seen impaired: looked at when due, so that a
        // failure is found as soon as without the group.
        let mut first = waiter("i-1", 0.0, 60.0, one);
        first.answered = false;
        assert_eq!(looks_at(&first, &latest), at + secs(60.0));
        let mut impaired = waiter("i-1", 0.0, 60.0, one);
        impaired.impaired_since = Some(at);
        assert_eq!(looks_at(&impaired, &latest), at + secs(60.0));
    }

    #[test]
    fn a_state_stands_for_a_round_trip_after_its_answer() {
        crate::testing::paused_runtime().block_on(async {
            // No poller loop runs: a wait that would look never ends, and times out.
            let poller = Poller::new(Polled::Instance, secs(1.0));
            let running = Observed::new("i-1", "running");
            poller
                .last
                .borrow_mut()
                .insert("i-1".into(), (Instant::now(), running));
            let wait = || {
                let want = Want::State("running");
                tokio::time::timeout(secs(1.0), poller.wait("i-1", want, Looks::NOW))
            };
            // Just answered: the wait ends on that answer, without a look.
            let o = wait().await.expect("from the answer").expect("running");
            assert_eq!(o.state, "running");
            // A round trip later the answer is stale: the wait looks.
            tokio::time::advance(MIN_GAP).await;
            assert!(wait().await.is_err(), "waits for a look");
        });
    }

    #[test]
    fn a_status_wait_judges_the_answer_it_takes_from_the_launch() {
        crate::testing::paused_runtime().block_on(async {
            // No poller loop runs: a wait that would look never ends, and times out.
            let poller = Poller::new(Polled::Instance, secs(1.0));
            let at = Instant::now();
            poller.running_seen.borrow_mut().insert("i-1".into(), at);
            let seen = |o: Observed| {
                poller.last.borrow_mut().insert("i-1".into(), (at, o));
            };
            let wait = || {
                let looks = Looks::running(Dist::new(5.0, 15.0));
                tokio::time::timeout(secs(1.0), poller.wait("i-1", Want::StatusOk, looks))
            };
            // Checks passed in the last answer: the wait ends on it, without a look.
            seen(Observed {
                status_ok: true,
                ..Observed::new("i-1", "running")
            });
            let ok = wait().await.expect("from the answer").expect("passed");
            assert!(ok.status_ok);
            // Terminated in the last answer: the wait fails on it at once, not a minute on.
            seen(Observed::new("i-1", "terminated"));
            let e = wait().await.expect("from the answer").expect_err("dead");
            assert_eq!(e.code, "ResourceFailed", "{e:?}");
            // Still initializing: the wait goes on, to a look at the next evaluation.
            seen(Observed::new("i-1", "running"));
            assert!(wait().await.is_err(), "waits for a look");
            // An answer from before EC2's last evaluation does not stand: the wait looks.
            seen(Observed::new("i-1", "terminated"));
            tokio::time::advance(secs(60.0)).await;
            assert!(wait().await.is_err(), "waits for a look");
        });
    }

    #[test]
    fn an_error_names_an_id_as_a_whole_word_only() {
        let m = "The volume 'vol-0abc' does not exist.";
        assert!(names(m, "vol-0abc"));
        assert!(!names(m, "vol-0ab"));
        assert!(!names(
            "The instance IDs 'i-01234, i-05' do not exist",
            "i-0123"
        ));
        assert!(names(
            "The instance IDs 'i-01234, i-05' do not exist",
            "i-05"
        ));
    }
}
