//! Identical questions in flight share one call. A runbook of 200 tiers that each find "the
//! newest Safe base image" asks EC2 the same question 200 times at its start; in the
//! Describe bucket (20 a second, per account) those calls queued for 10 s ahead of the
//! questions that differ. A find asked while the same find is in flight (waiting for its
//! turn in the bucket or for its answer) takes that call's answer: asked at the same moment,
//! AWS answers both alike. Only reads are shared, and only while in flight: a question asked
//! after the answer came is asked again, so a later find still sees a newer image.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;

use tokio::sync::oneshot;

use crate::cloud::CloudError;

type Answer<T> = Result<T, CloudError>;

/// The questions of one kind in flight, by what they ask, with who else waits on each.
pub(crate) struct Flights<K, T> {
    waiting: RefCell<HashMap<K, Vec<oneshot::Sender<Answer<T>>>>>,
}

impl<K: Hash + Eq + Clone, T: Clone> Flights<K, T> {
    pub(crate) fn new() -> Flights<K, T> {
        Flights {
            waiting: RefCell::new(HashMap::new()),
        }
    }

    /// The answer to `key`: the answer of the identical call in flight, else `call`'s, given
    /// to every identical question asked meanwhile.
    pub(crate) async fn ask<F: Future<Output = Answer<T>>>(
        &self,
        key: &K,
        call: impl FnOnce() -> F,
    ) -> Answer<T> {
        loop {
            let rx = match self.waiting.borrow_mut().get_mut(key) {
                Some(others) => {
                    let (tx, rx) = oneshot::channel();
                    others.push(tx);
                    rx
                }
                None => break,
            };
            // The call's own step was cancelled before its answer: ask for ourselves.
            if let Ok(answer) = rx.await {
                return answer;
            }
        }
        self.waiting.borrow_mut().insert(key.clone(), Vec::new());
        let flight = Flight { flights: self, key };
        let answer = call().await;
        for tx in flight.land() {
            let _ = tx.send(answer.clone());
        }
        answer
    }
}

/// The one call in flight for a key. Dropped before it lands (its step cancelled), it takes
/// the key out, and those waiting on it ask for themselves.
struct Flight<'f, K: Hash + Eq, T> {
    flights: &'f Flights<K, T>,
    key: &'f K,
}

impl<K: Hash + Eq, T> Flight<'_, K, T> {
    /// Those who waited on this call's answer (the key is out when this returns: `drop` then
    /// finds nothing to take out).
    fn land(self) -> Vec<oneshot::Sender<Answer<T>>> {
        let waiting = self.flights.waiting.borrow_mut().remove(self.key);
        waiting.unwrap_or_default()
    }
}

impl<K: Hash + Eq, T> Drop for Flight<'_, K, T> {
    fn drop(&mut self) {
        self.flights.waiting.borrow_mut().remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn identical_questions_in_flight_share_one_call_and_later_ones_ask_again() {
        crate::testing::paused_runtime().block_on(async {
            let flights: Flights<&str, u32> = Flights::new();
            let calls = RefCell::new(0);
            let call = || async {
                *calls.borrow_mut() += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(*calls.borrow())
            };
            let (a, b, c) = tokio::join!(
                flights.ask(&"base", call),
                flights.ask(&"base", call),
                flights.ask(&"data", call),
            );
            // "base" twice in one call, "data" in its own.
            assert_eq!(*calls.borrow(), 2);
            assert_eq!(a.expect("a"), b.expect("b"));
            assert!(c.is_ok());
            // Asked after the answer came: asked again.
            flights.ask(&"base", call).await.expect("again");
            assert_eq!(*calls.borrow(), 3);
        });
    }

    #[test]
    fn a_cancelled_call_leaves_its_followers_to_ask_for_themselves() {
        crate::testing::paused_runtime().block_on(async {
            let flights: Flights<&str, u32> = Flights::new();
            let slow = || async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(1)
            };
            let fast = || async { Ok(2) };
            let mut leader = Box::pin(flights.ask(&"base", slow));
            let mut follower = Box::pin(flights.ask(&"base", fast));
            // The leader takes the flight; the follower waits on it.
            assert!(futures::poll!(leader.as_mut()).is_pending());
            assert!(futures::poll!(follower.as_mut()).is_pending());
            // The leader's step is cancelled: the follower makes its own call.
            drop(leader);
            assert_eq!(follower.await.expect("asked itself"), 2);
            assert!(flights.waiting.borrow().is_empty());
        });
    }
}
