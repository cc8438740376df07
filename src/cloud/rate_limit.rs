//! EC2's API rate limits as token buckets, per account and region. The simulator enforces them
//! (an empty bucket answers `RequestLimitExceeded`, as EC2 does); the executor paces every call
//! with the same buckets (`exec::api`), so that it rarely hears that answer at all.
//!
//! Time is a plain number of seconds from any origin, so the same buckets work on the
//! simulator's virtual clock and on the wall clock.

use std::collections::HashMap;

/// The EC2 operations that have a bucket of their own, and the two Describe classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Limited {
    /// RunInstances counts twice: once per request and once per instance launched.
    RunInstances,
    TerminateInstances,
    CreateVolume,
    DeleteVolume,
    CreateSnapshot,
    AttachVolume,
    DetachVolume,
    CreateTags,
    CopyImage,
    /// SSM's Run Command calls. SSM's throttle is its own, per account and region, and AWS
    /// publishes no figure for these calls: a bucket as large as EC2's mutating ones, refilled
    /// at 10 a second.
    Ssm,
    /// A Describe* call with filters or pagination.
    DescribeFiltered,
    /// A Describe* call with neither. rebound makes none (each of its Describes names ids or
    /// filters); the bucket is kept so that the table is EC2's whole.
    #[expect(
        dead_code,
        reason = "EC2's table, whole; rebound's own Describes always filter"
    )]
    DescribeUnfiltered,
}

/// Whose turn a client-side reservation of a filtered Describe takes: the pollers watching
/// what is in flight keep a share of the bucket of their own, so that a queue of other
/// Describes (every tier's `find_*` at a run's start) never delays them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Polls,
    Rest,
}

/// The pollers' share of the filtered Describe bucket: 8 calls a second of EC2's 20, and 40
/// of its 100 at once (measured on 200 tiers: a fifth still left instances seen running a few
/// seconds late at a run's start). A poller call carries up to 100 ids.
const POLL_SHARE: f64 = 0.4;

/// A bucket's size and refill rate (tokens per second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub capacity: f64,
    pub refill: f64,
}

impl Limited {
    /// EC2's default buckets (README's "The simulator's model of AWS"): (bucket, refill per
    /// second).
    pub(crate) fn rate(self) -> Rate {
        let (capacity, refill) = match self {
            Limited::RunInstances => (5.0, 2.0),
            Limited::TerminateInstances
            | Limited::CreateVolume
            | Limited::DeleteVolume
            | Limited::CreateSnapshot => (100.0, 5.0),
            Limited::AttachVolume | Limited::DetachVolume => (50.0, 5.0),
            Limited::CreateTags | Limited::Ssm => (100.0, 10.0),
            Limited::CopyImage => (100.0, 1.0),
            Limited::DescribeFiltered => (100.0, 20.0),
            Limited::DescribeUnfiltered => (50.0, 10.0),
        };
        Rate { capacity, refill }
    }
}

/// RunInstances' second bucket: instances launched (1000, refilled at 2 per second).
pub(crate) const RUN_INSTANCES_PER_INSTANCE: Rate = Rate {
    capacity: 1000.0,
    refill: 2.0,
};

/// One token bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    rate: Rate,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: f64,
}

impl Bucket {
    /// A full bucket at time `now`.
    pub(crate) fn new(rate: Rate, now: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate.capacity,
            at: now,
        }
    }

    fn refill(&mut self, now: f64) {
        if now > self.at {
            self.tokens =
                (self.tokens + (now - self.at) * self.rate.refill).min(self.rate.capacity);
            self.at = now;
        }
    }

    /// Seconds from `now` until `n` tokens are there (0 when they are now).
    pub(crate) fn wait_for(&mut self, n: f64, now: f64) -> f64 {
        self.refill(now);
        // A hair of tolerance: refills summed in floating point land a whisker short.
        if self.tokens + 1e-9 >= n {
            0.0
        } else {
            (n - self.tokens) / self.rate.refill
        }
    }

    /// Takes `n` tokens now, going into debt if they are not there: the caller waits the
    /// returned seconds before calling, so callers are served in arrival order at exactly the
    /// refill rate (a client-side reservation, O(1) however many wait).
    pub(crate) fn reserve(&mut self, n: f64, now: f64) -> f64 {
        self.refill(now);
        self.tokens -= n;
        if self.tokens >= 0.0 {
            0.0
        } else {
            -self.tokens / self.rate.refill
        }
    }

    /// Takes `n` tokens if they are there.
    pub(crate) fn try_take(&mut self, n: f64, now: f64) -> bool {
        if self.wait_for(n, now) > 0.0 {
            return false;
        }
        self.tokens -= n;
        true
    }
}

/// Every bucket of one account and region.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    buckets: HashMap<Limited, Bucket>,
    instances: Bucket,
    /// The client's split of the filtered Describe bucket: the pollers' share, and the rest.
    polls: Bucket,
    rest: Bucket,
}

impl Buckets {
    /// Full buckets at time `now`.
    pub(crate) fn new(now: f64) -> Buckets {
        let describe = Limited::DescribeFiltered.rate();
        let share = |f: f64| Rate {
            capacity: describe.capacity * f,
            refill: describe.refill * f,
        };
        Buckets {
            buckets: HashMap::new(),
            instances: Bucket::new(RUN_INSTANCES_PER_INSTANCE, now),
            polls: Bucket::new(share(POLL_SHARE), now),
            rest: Bucket::new(share(1.0 - POLL_SHARE), now),
        }
    }

    fn bucket(&mut self, op: Limited, now: f64) -> &mut Bucket {
        self.buckets
            .entry(op)
            .or_insert_with(|| Bucket::new(op.rate(), now))
    }

    /// Seconds until a call of `op` (launching `instances`, for RunInstances) would be let
    /// through.
    pub(crate) fn wait_for(&mut self, op: Limited, instances: u32, now: f64) -> f64 {
        let call = self.bucket(op, now).wait_for(1.0, now);
        if op == Limited::RunInstances {
            call.max(self.instances.wait_for(f64::from(instances), now))
        } else {
            call
        }
    }

    /// Reserves a call of `op` in `lane`: seconds to wait before making it. The two lanes'
    /// shares of the filtered Describe bucket add up to EC2's bucket, so that the pacing stays
    /// within what EC2 lets through.
    pub(crate) fn reserve(&mut self, op: Limited, instances: u32, now: f64, lane: Lane) -> f64 {
        let call = match (op, lane) {
            (Limited::DescribeFiltered, Lane::Polls) => self.polls.reserve(1.0, now),
            (Limited::DescribeFiltered, Lane::Rest) => self.rest.reserve(1.0, now),
            _ => self.bucket(op, now).reserve(1.0, now),
        };
        if op == Limited::RunInstances {
            call.max(self.instances.reserve(f64::from(instances), now))
        } else {
            call
        }
    }

    /// Lets a call through and takes its tokens, or refuses it (`RequestLimitExceeded`) and
    /// takes nothing.
    pub(crate) fn try_call(&mut self, op: Limited, instances: u32, now: f64) -> bool {
        if self.wait_for(op, instances, now) > 0.0 {
            return false;
        }
        self.bucket(op, now).try_take(1.0, now);
        if op == Limited::RunInstances {
            self.instances.try_take(f64::from(instances), now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_its_capacity_through_then_refuses() {
        let mut b = Buckets::new(0.0);
        for i in 0..50 {
            assert!(b.try_call(Limited::AttachVolume, 0, 0.0), "call {i}");
        }
        assert!(!b.try_call(Limited::AttachVolume, 0, 0.0));
        // 5 per second: one token after 0.2 s.
        assert!((b.wait_for(Limited::AttachVolume, 0, 0.0) - 0.2).abs() < 1e-9);
        assert!(!b.try_call(Limited::AttachVolume, 0, 0.1));
        assert!(b.try_call(Limited::AttachVolume, 0, 0.2));
        // Other operations have buckets of their own.
        assert!(b.try_call(Limited::CreateVolume, 0, 0.2));
    }

    #[test]
    fn run_instances_counts_requests_and_instances() {
        let mut b = Buckets::new(0.0);
        // 5 requests of 200 instances empty both buckets at once.
        for _ in 0..5 {
            assert!(b.try_call(Limited::RunInstances, 200, 0.0));
        }
        assert!(!b.try_call(Limited::RunInstances, 1, 0.0));
        // After 1 s: 2 request tokens and 2 instance tokens.
        assert!(!b.try_call(Limited::RunInstances, 3, 1.0));
        assert!(b.try_call(Limited::RunInstances, 2, 1.0));
        // Waiting for 100 instances takes 50 s of instance refill.
        assert!((b.wait_for(Limited::RunInstances, 100, 1.0) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn reservations_pace_callers_at_the_refill_rate() {
        let mut client = Buckets::new(0.0);
        let mut server = Buckets::new(0.0);
        // 300 callers at once: the first 60 go now, the rest 1/12 s apart, in their share.
        let mut delays: Vec<f64> = (0..300)
            .map(|_| client.reserve(Limited::DescribeFiltered, 0, 0.0, Lane::Rest))
            .collect();
        assert_eq!(delays[59], 0.0);
        assert!((delays[60] - 1.0 / 12.0).abs() < 1e-9);
        assert!((delays[299] - 20.0).abs() < 1e-9);
        // A poller behind them waits for none of them: the pollers' share is apart.
        assert_eq!(
            client.reserve(Limited::DescribeFiltered, 0, 0.0, Lane::Polls),
            0.0
        );
        delays.push(0.0);
        delays.extend(
            (0..40).map(|_| client.reserve(Limited::DescribeFiltered, 0, 0.0, Lane::Polls)),
        );
        delays.sort_by(f64::total_cmp);
        // A server with EC2's one bucket refuses none of them: the shares add up to it.
        for d in delays {
            assert!(
                server.try_call(Limited::DescribeFiltered, 0, d + 1e-6),
                "refused at {d}"
            );
        }
    }

    #[test]
    fn buckets_never_fill_past_capacity() {
        let mut bucket = Bucket::new(Limited::CopyImage.rate(), 0.0);
        assert_eq!(bucket.wait_for(100.0, 1e6), 0.0);
        assert!(bucket.try_take(100.0, 1e6));
        assert!(!bucket.try_take(1.0, 1e6));
    }
}
