//! Teardown's looks at what it deleted, shared: every resource of a kind that is due for a look
//! is described in one call, as the pollers (`poller`) do for a run's waits. A drill that
//! terminates three instances at once looks at the three together, a few times in the minute
//! they take to go, instead of once each every few seconds.
//!
//! A look is asked for with the wait before it (`Watch::look`); looks due within half a tick
//! of each other ride in one call. What each look found, or the error the call answered, is
//! the asker's to judge: teardown decides, per resource, when it is gone and when to give up.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::api::Api;
use super::poller::due_now;
use crate::cloud::{Cloud, CloudError, Found, Lookup, ResourceKind};

/// What one look saw of a resource: its description, or none (not described: gone, or not yet
/// visible), or the error the call answered.
pub(crate) type Seen = Result<Option<Found>, CloudError>;

struct Asker {
    id: String,
    due: Instant,
    tx: oneshot::Sender<Seen>,
}

/// The shared looks at one kind of resource in one region.
pub(crate) struct Watch {
    kind: ResourceKind,
    tick: Duration,
    askers: RefCell<Vec<Asker>>,
    wake: Notify,
}

impl Watch {
    fn new(kind: ResourceKind, tick: Duration) -> Watch {
        Watch {
            kind,
            tick,
            askers: RefCell::new(Vec::new()),
            wake: Notify::new(),
        }
    }

    /// Looks at `id` after `wait`, in the same call as every other look due by then.
    pub(crate) async fn look(&self, id: &str, wait: Duration) -> Seen {
        let (tx, rx) = oneshot::channel();
        self.askers.borrow_mut().push(Asker {
            id: id.to_string(),
            due: Instant::now() + wait,
            tx,
        });
        self.wake.notify_one();
        rx.await
            .unwrap_or_else(|_| Err(CloudError::new("Cancelled", "teardown stopped")))
    }

    /// Answers looks for as long as the teardown lasts (it drops this future when it ends).
    async fn run<C: Cloud>(&self, api: &Api<'_, C>) -> Infallible {
        loop {
            self.askers.borrow_mut().retain(|a| !a.tx.is_closed());
            let next = self.askers.borrow().iter().map(|a| a.due).min();
            if !due_now(next, &self.wake).await {
                continue;
            }
            let horizon = Instant::now() + self.tick / 2;
            let (due, later): (Vec<Asker>, Vec<Asker>) = self
                .askers
                .borrow_mut()
                .drain(..)
                .partition(|a| a.due <= horizon);
            *self.askers.borrow_mut() = later;
            let mut ids: Vec<String> = due.iter().map(|a| a.id.clone()).collect();
            ids.sort_unstable();
            ids.dedup();
            let answer = api.find(self.kind, &Lookup::Ids(ids)).await;
            for a in due {
                let seen = match &answer {
                    Ok(found) => Ok(found.iter().find(|f| f.id == a.id).cloned()),
                    Err(e) => Err(e.clone()),
                };
                let _ = a.tx.send(seen);
            }
        }
    }
}

/// A `Watch` for each kind of resource, in one region.
pub(crate) struct Watches(BTreeMap<ResourceKind, Watch>);

impl Watches {
    pub(crate) fn new(tick: Duration) -> Watches {
        Watches(
            ResourceKind::ALL
                .into_iter()
                .map(|kind| (kind, Watch::new(kind, tick)))
                .collect(),
        )
    }

    pub(crate) fn of(&self, kind: ResourceKind) -> &Watch {
        // `new` made one of every kind.
        &self.0[&kind]
    }

    /// Runs every watch until the future is dropped: it never ends of itself.
    pub(crate) async fn run<C: Cloud>(&self, api: &Api<'_, C>) -> Infallible {
        let all = futures::future::join_all(self.0.values().map(|w| w.run(api)));
        match all.await.into_iter().next() {
            Some(never) => never,
            None => std::future::pending().await,
        }
    }
}
