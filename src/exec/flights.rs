//! Identical questions asked at one moment share one call. A runbook of 200 tiers that each
//! find "the newest Safe base image" asks EC2 the same question 200 times at its start; in the
//! Describe bucket (20 a second, per account) those calls queued for 10 s ahead of the
//! questions that differ. A find asked while the identical find waits for its turn in the
//! bucket, or at the very moment it is sent, takes that call's answer: asked at the same
//! moment, AWS answers both alike. Once a call has gone, a question asked after it is asked
//! again, so a step that follows another (its `after`) never gets an answer from before the
//! step it waited for. Only reads are shared. A shared answer that is a transient error
//! (throttled to the end of the call's retries) is not taken: the follower asks for itself,
//! with retries of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cloud::CloudError;

type Answer<T> = Result<T, CloudError>;

/// One call of a question: when it was sent (`None`: still waiting for its turn), and who else
/// waits on its answer.
struct Entry<T> {
    sent: Option<Instant>,
    waiting: Vec<oneshot::Sender<Answer<T>>>,
}

/// The newest call of each question, by what it asks.
pub(crate) struct Flights<K, T> {
    calls: RefCell<HashMap<K, Rc<RefCell<Entry<T>>>>>,
}

/// Handed to a call: `now()` just before it is sent, after which only a question asked at
/// that same instant may still take its answer.
pub(crate) struct Departure<T> {
    entry: Rc<RefCell<Entry<T>>>,
}

impl<T> Departure<T> {
    pub(crate) fn now(&self) {
        self.entry
            .borrow_mut()
            .sent
            .get_or_insert_with(Instant::now);
    }
}

impl<K: Hash + Eq + Clone, T: Clone> Flights<K, T> {
    pub(crate) fn new() -> Flights<K, T> {
        Flights {
            calls: RefCell::new(HashMap::new()),
        }
    }

    /// The answer to `key`: that of the identical call not yet sent (or sent this instant),
    /// else `call`'s, given to every identical question that joins it meanwhile.
    pub(crate) async fn ask<F: Future<Output = Answer<T>>>(
        &self,
        key: &K,
        call: impl FnOnce(Departure<T>) -> F,
    ) -> Answer<T> {
        if let Some(rx) = self.join(key) {
            match rx.await {
                Ok(Err(e)) if e.is_transient() => {}
                Ok(answer) => return answer,
                // The call's own step was cancelled before its answer.
                Err(_) => {}
            }
        }
        let entry = Rc::new(RefCell::new(Entry {
            sent: None,
            waiting: Vec::new(),
        }));
        self.calls
            .borrow_mut()
            .insert(key.clone(), Rc::clone(&entry));
        let flight = Flight {
            flights: self,
            key,
            entry: Rc::clone(&entry),
        };
        let answer = call(Departure { entry }).await;
        for tx in flight.land() {
            let _ = tx.send(answer.clone());
        }
        answer
    }

    /// Waits on the call of `key` if it may still be joined.
    fn join(&self, key: &K) -> Option<oneshot::Receiver<Answer<T>>> {
        let calls = self.calls.borrow();
        let mut entry = calls.get(key)?.borrow_mut();
        if entry.sent.is_some_and(|sent| sent != Instant::now()) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        entry.waiting.push(tx);
        Some(rx)
    }
}

/// One call in flight. Landed, it hands over those waiting on it; dropped before (its step
/// cancelled), it drops them, and they ask for themselves. Either way the question is taken
/// out of `calls` unless a newer call of it took its place.
struct Flight<'f, K: Hash + Eq, T> {
    flights: &'f Flights<K, T>,
    key: &'f K,
    entry: Rc<RefCell<Entry<T>>>,
}

impl<K: Hash + Eq, T> Flight<'_, K, T> {
    fn land(self) -> Vec<oneshot::Sender<Answer<T>>> {
        std::mem::take(&mut self.entry.borrow_mut().waiting)
    }
}

impl<K: Hash + Eq, T> Drop for Flight<'_, K, T> {
    fn drop(&mut self) {
        let mut calls = self.flights.calls.borrow_mut();
        if calls
            .get(self.key)
            .is_some_and(|e| Rc::ptr_eq(e, &self.entry))
        {
            calls.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::future::LocalBoxFuture;

    use super::*;

    /// A call that waits `queue` seconds for its turn, is sent, and answers a second later:
    /// the number of calls made so far, or a throttling error.
    fn call<'c>(
        calls: &'c RefCell<u32>,
        queue: u64,
        throttled: bool,
    ) -> impl FnOnce(Departure<u32>) -> LocalBoxFuture<'c, Answer<u32>> {
        move |departure| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(queue)).await;
                departure.now();
                *calls.borrow_mut() += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                if throttled {
                    return Err(CloudError::new("Throttling", "Rate exceeded"));
                }
                Ok(*calls.borrow())
            })
        }
    }

    async fn after<F: Future>(secs: u64, f: F) -> F::Output {
        tokio::time::sleep(Duration::from_secs(secs)).await;
        f.await
    }

    #[test]
    fn questions_asked_before_or_as_the_call_goes_share_it_and_later_ones_ask_again() {
        crate::testing::paused_runtime().block_on(async {
            let flights: Flights<&str, u32> = Flights::new();
            let calls = RefCell::new(0);
            let (queued, joined, same_instant, other) = tokio::join!(
                // Waits 2 s for its turn in the bucket.
                flights.ask(&"base", call(&calls, 2, false)),
                // Asked while it waits: takes its answer.
                after(1, flights.ask(&"base", call(&calls, 0, false))),
                // Asked as it is sent, at the same instant: takes its answer too.
                after(2, flights.ask(&"base", call(&calls, 0, false))),
                flights.ask(&"data", call(&calls, 0, false)),
            );
            assert_eq!(*calls.borrow(), 2, "base once, data once");
            let base = queued.expect("base");
            assert_eq!(joined.expect("joined"), base);
            assert_eq!(same_instant.expect("same instant"), base);
            assert!(other.is_ok());
            // Asked after the call went (a step that waited for another): asked again.
            let (_, later) = tokio::join!(flights.ask(&"base", call(&calls, 0, false)), async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                flights.ask(&"base", call(&calls, 0, false)).await
            },);
            assert!(later.is_ok());
            assert_eq!(*calls.borrow(), 4);
        });
    }

    #[test]
    fn a_throttled_answer_is_not_shared_the_follower_asks_for_itself() {
        crate::testing::paused_runtime().block_on(async {
            let flights: Flights<&str, u32> = Flights::new();
            let calls = RefCell::new(0);
            let (leader, follower) = tokio::join!(
                flights.ask(&"base", call(&calls, 1, true)),
                flights.ask(&"base", call(&calls, 0, false)),
            );
            assert!(leader.is_err());
            assert!(follower.is_ok(), "its own call, not the throttled answer");
            assert_eq!(*calls.borrow(), 2);
        });
    }

    #[test]
    fn a_cancelled_call_leaves_its_followers_to_ask_for_themselves() {
        crate::testing::paused_runtime().block_on(async {
            let flights: Flights<&str, u32> = Flights::new();
            let calls = RefCell::new(0);
            let mut leader = Box::pin(flights.ask(&"base", call(&calls, 10, false)));
            let mut follower = Box::pin(flights.ask(&"base", call(&calls, 0, false)));
            // The leader takes the question; the follower waits on it.
            assert!(futures::poll!(leader.as_mut()).is_pending());
            assert!(futures::poll!(follower.as_mut()).is_pending());
            // The leader's step is cancelled: the follower makes its own call.
            drop(leader);
            assert_eq!(follower.await.expect("asked itself"), 1);
            assert!(flights.calls.borrow().is_empty());
        });
    }
}
