//! The executor's door to the cloud: paces every call with client-side copies of EC2's token
//! buckets (so a thousand steps wait their turn instead of being throttled), counts every call
//! by operation (for the run and for the step that made it), and retries throttling and server
//! errors a few times with exponential backoff, as the AWS SDK's standard retry mode does.
//! Decisions about other errors (capacity fallback, failing the step) are the actions' and the
//! scheduler's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use super::flights::{Departure, Flights};
use crate::cloud::FILTER_VALUES;
use crate::cloud::rate_limit::{Buckets, Lane};
use crate::cloud::{
    Agent, Allowed, Cloud, CloudError, CommandRequest, CopyRequest, DryRun, ExecOutput, Found,
    Image, ImageQuery, ImageRequest, Invocation, LaunchRequest, Launched, Lookup, Named, Observed,
    Op, Polled, Probe, RecoveryPoint, RecoveryPointQuery, ResourceKind, RestoreRequest,
    SandboxRequest, Snapshot, SnapshotQuery, SubnetInfo, Tags, VolumeRequest,
};
use crate::runbook::schema::Check;
use tokio::time::Instant;

/// Calls made, by operation.
pub type Calls = BTreeMap<Op, u64>;

/// Attempts of one call before a transient error is given to the step. The SDK's standard mode
/// makes 3 (and is left on under this, for what it handles below us); a recovery in a region
/// whose API is throttled at 30% must not fail for it, and 8 attempts make a call fail in a
/// 40% storm once in 1,500 instead of once in 100 with 5.
const ATTEMPTS: u32 = 8;

/// The longest pause between two attempts: backoff doubles from 0.2 s up to this, so all eight
/// attempts span about 16 s.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct Api<'c, C> {
    pub cloud: &'c C,
    total: Rc<RefCell<Calls>>,
    own: Rc<RefCell<Calls>>,
    buckets: Rc<RefCell<Buckets>>,
    finds: Rc<Finds>,
    origin: Instant,
}

/// The finds in flight in one region, shared by every step's `Api` there (`flights`).
struct Finds {
    images: Flights<ImageQuery, Vec<Image>>,
    snapshots: Flights<SnapshotQuery, Vec<Snapshot>>,
    points: Flights<RecoveryPointQuery, Vec<RecoveryPoint>>,
}

impl Finds {
    fn new() -> Rc<Finds> {
        Rc::new(Finds {
            images: Flights::new(),
            snapshots: Flights::new(),
            points: Flights::new(),
        })
    }
}

impl<'c, C: Cloud> Api<'c, C> {
    pub fn new(cloud: &'c C) -> Api<'c, C> {
        Api {
            cloud,
            total: Rc::new(RefCell::new(Calls::new())),
            own: Rc::new(RefCell::new(Calls::new())),
            buckets: Rc::new(RefCell::new(Buckets::new(0.0))),
            finds: Finds::new(),
            origin: Instant::now(),
        }
    }

    /// One `Api` per region of `regions`, in its order: each its own token buckets (EC2's are
    /// per account and region), one count of the run's calls for all.
    pub fn for_regions(regions: &'c crate::cloud::Regions<C>) -> Vec<Api<'c, C>> {
        let first = Api::new(regions.first());
        let mut apis: Vec<Api<'c, C>> = regions
            .iter()
            .skip(1)
            .map(|(_, cloud)| Api {
                cloud,
                total: Rc::clone(&first.total),
                own: Rc::new(RefCell::new(Calls::new())),
                buckets: Rc::new(RefCell::new(Buckets::new(0.0))),
                finds: Finds::new(),
                origin: first.origin,
            })
            .collect();
        apis.insert(0, first);
        apis
    }

    /// An `Api` for one step: its own count, added to the run's too.
    pub fn for_step(&self) -> Api<'c, C> {
        Api {
            cloud: self.cloud,
            total: Rc::clone(&self.total),
            own: Rc::new(RefCell::new(Calls::new())),
            buckets: Rc::clone(&self.buckets),
            finds: Rc::clone(&self.finds),
            origin: self.origin,
        }
    }

    pub fn total(&self) -> Calls {
        self.total.borrow().clone()
    }

    /// This `Api`'s own count, shared, so it outlives a step that is cancelled.
    pub fn own_counter(&self) -> Rc<RefCell<Calls>> {
        Rc::clone(&self.own)
    }

    fn count(&self, op: Op) {
        *self.total.borrow_mut().entry(op).or_default() += 1;
        *self.own.borrow_mut().entry(op).or_default() += 1;
    }

    /// Waits for the call's turn in its token bucket (`units`: instances, for RunInstances);
    /// a poller's call in the pollers' own share of the Describe bucket (`Lane::Polls`).
    async fn pace(&self, op: Op, units: u32, lane: Lane) {
        let now = Instant::now().duration_since(self.origin).as_secs_f64();
        let wait = self
            .buckets
            .borrow_mut()
            .reserve(op.limited(), units, now, lane);
        if wait > 0.0 {
            // A millisecond of margin: the server's bucket must have refilled when we arrive.
            tokio::time::sleep(Duration::from_secs_f64(wait + 0.001)).await;
        }
    }

    /// Makes a call in its turn, retrying transient errors with backoff (0.2 s, 0.4 s, ... 5 s).
    async fn retrying<T, F, Fut>(&self, op: Op, mut call: F) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        self.retrying_units(op, 0, Lane::Rest, &mut call).await
    }

    async fn retrying_units<T, F, Fut>(
        &self,
        op: Op,
        units: u32,
        lane: Lane,
        call: &mut F,
    ) -> Result<T, CloudError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(op, units, lane).await;
            self.count(op);
            // The run's calls one by one, on its own clock: where a poller's economy is read.
            tracing::trace!(
                %op,
                attempt,
                at = Instant::now().duration_since(self.origin).as_secs_f64(),
                "call"
            );
            match call().await {
                Err(e) if e.is_transient() && attempt < ATTEMPTS && op.may_resend(&e) => {
                    tracing::debug!(%op, code = %e.code, attempt, "retrying");
                    let backoff = Duration::from_millis(200 << (attempt - 1).min(10));
                    tokio::time::sleep(backoff.min(MAX_BACKOFF)).await;
                }
                other => return other,
            }
        }
    }

    // The finds: identical ones asked before the call goes share it (`flights`); the call is
    // counted once, by the step that made it. Each attempt says it is going (`departure`)
    // after its turn in the bucket.

    pub async fn describe_images(&self, q: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        let call = || self.cloud.describe_images(q);
        self.shared(&self.finds.images, q, Op::DescribeImages, call)
            .await
    }

    pub async fn describe_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, CloudError> {
        let call = || self.cloud.describe_snapshots(q);
        self.shared(&self.finds.snapshots, q, Op::DescribeSnapshots, call)
            .await
    }

    pub async fn list_recovery_points(
        &self,
        q: &RecoveryPointQuery,
    ) -> Result<Vec<RecoveryPoint>, CloudError> {
        let call = || self.cloud.list_recovery_points(q);
        let op = Op::ListRecoveryPointsByBackupVault;
        self.shared(&self.finds.points, q, op, call).await
    }

    /// A find made in its turn and retried as any call, shared with the identical finds asked
    /// before it is sent (`flights`).
    async fn shared<K, T, Fut>(
        &self,
        flights: &Flights<K, T>,
        key: &K,
        op: Op,
        call: impl Fn() -> Fut,
    ) -> Result<T, CloudError>
    where
        K: std::hash::Hash + Eq + Clone,
        T: Clone,
        Fut: std::future::Future<Output = Result<T, CloudError>>,
    {
        let sent = |departure: Departure<T>| {
            self.retrying(op, move || {
                departure.now();
                call()
            })
        };
        flights.ask(key, sent).await
    }

    pub async fn run_instances(&self, r: &LaunchRequest) -> Result<Launched, CloudError> {
        self.retrying_units(Op::RunInstances, r.count, Lane::Rest, &mut || {
            self.cloud.run_instances(r)
        })
        .await
    }

    pub async fn create_volume(&self, r: &VolumeRequest) -> Result<String, CloudError> {
        self.retrying(Op::CreateVolume, || self.cloud.create_volume(r))
            .await
    }

    pub async fn attach_volume(
        &self,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), CloudError> {
        self.retrying(Op::AttachVolume, || {
            self.cloud.attach_volume(volume, instance, device)
        })
        .await
    }

    pub async fn start_restore_job(&self, r: &RestoreRequest) -> Result<String, CloudError> {
        self.retrying(Op::StartRestoreJob, || self.cloud.start_restore_job(r))
            .await
    }

    pub async fn create_image(&self, r: &ImageRequest) -> Result<String, CloudError> {
        self.retrying(Op::CreateImage, || self.cloud.create_image(r))
            .await
    }

    pub async fn copy_image(&self, r: &CopyRequest) -> Result<String, CloudError> {
        self.retrying(Op::CopyImage, || self.cloud.copy_image(r))
            .await
    }

    pub async fn copy_snapshot(&self, r: &CopyRequest) -> Result<String, CloudError> {
        self.retrying(Op::CopySnapshot, || self.cloud.copy_snapshot(r))
            .await
    }

    pub async fn describe(
        &self,
        kind: Polled,
        ids: &[String],
    ) -> Result<Vec<Observed>, CloudError> {
        // In the pollers' lane: a thousand finds queued at a run's start must not hold up
        // noticing the first instances running (they did, by 15 s, at 200 tiers).
        self.retrying_units(kind.describe_op(), 0, Lane::Polls, &mut || {
            self.cloud.describe(kind, ids)
        })
        .await
    }

    /// What `lookup` finds, sorted by id. Ids go at most `FILTER_VALUES` a call (a filter of
    /// more values is refused): a teardown of a thousand tiers looks up thousands.
    pub async fn find(
        &self,
        kind: ResourceKind,
        lookup: &Lookup,
    ) -> Result<Vec<Found>, CloudError> {
        let Lookup::Ids(ids) = lookup else {
            return self
                .retrying(kind.describe_op(), || self.cloud.find(kind, lookup))
                .await;
        };
        let mut out = Vec::new();
        for chunk in ids.chunks(FILTER_VALUES.max(1)) {
            let part = Lookup::Ids(chunk.to_vec());
            out.extend(
                self.retrying(kind.describe_op(), || self.cloud.find(kind, &part))
                    .await?,
            );
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Which of `ids` exist, `FILTER_VALUES` ids a call (each kind is asked by a filter).
    pub async fn existing(&self, kind: Named, ids: &[String]) -> Result<Vec<String>, CloudError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(FILTER_VALUES.max(1)) {
            out.extend(
                self.retrying(kind.describe_op(), || self.cloud.existing(kind, chunk))
                    .await?,
            );
        }
        Ok(out)
    }

    pub async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), CloudError> {
        self.retrying(kind.delete_op(), || self.cloud.delete(kind, id))
            .await
    }

    pub async fn tag(&self, kind: ResourceKind, id: &str, tags: &Tags) -> Result<(), CloudError> {
        self.retrying(Op::CreateTags, || self.cloud.tag(kind, id, tags))
            .await
    }

    pub async fn restore_metadata(
        &self,
        vault: &str,
        recovery_point: &str,
    ) -> Result<Tags, CloudError> {
        self.retrying(Op::GetRecoveryPointRestoreMetadata, || {
            self.cloud.restore_metadata(vault, recovery_point)
        })
        .await
    }

    pub async fn restore_jobs(
        &self,
        recovery_point: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, CloudError> {
        self.retrying(Op::ListRestoreJobs, || {
            self.cloud.restore_jobs(recovery_point, since)
        })
        .await
    }

    pub async fn allow_termination(&self, instance: &str) -> Result<(), CloudError> {
        self.retrying(Op::ModifyInstanceAttribute, || {
            self.cloud.allow_termination(instance)
        })
        .await
    }

    pub async fn detach_volume(&self, volume: &str) -> Result<(), CloudError> {
        self.retrying(Op::DetachVolume, || self.cloud.detach_volume(volume))
            .await
    }

    pub async fn agents(&self, instances: &[String]) -> Result<Vec<Agent>, CloudError> {
        self.retrying(Op::DescribeInstanceInformation, || {
            self.cloud.agents(instances)
        })
        .await
    }

    pub async fn send_command(&self, r: &CommandRequest) -> Result<String, CloudError> {
        self.retrying(Op::SendCommand, || self.cloud.send_command(r))
            .await
    }

    pub async fn find_command(
        &self,
        comment: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, CloudError> {
        self.retrying(Op::ListCommands, || self.cloud.find_command(comment, since))
            .await
    }

    pub async fn invocations(&self, command: &str) -> Result<Vec<Invocation>, CloudError> {
        self.retrying(Op::ListCommandInvocations, || {
            self.cloud.invocations(command)
        })
        .await
    }

    pub async fn subnets(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, CloudError> {
        self.retrying(Op::DescribeSubnets, || self.cloud.subnets(ids))
            .await
    }

    pub async fn create_sandbox(&self, r: &SandboxRequest) -> Result<String, CloudError> {
        self.retrying(Op::CreateSecurityGroup, || self.cloud.create_sandbox(r))
            .await
    }

    pub async fn offered(&self, zone: &str, types: &[String]) -> Result<Vec<String>, CloudError> {
        self.retrying(Op::DescribeInstanceTypeOfferings, || {
            self.cloud.offered(zone, types)
        })
        .await
    }

    pub async fn may_pass(&self, role: &str) -> Result<Option<bool>, CloudError> {
        self.retrying(Op::SimulatePrincipalPolicy, || self.cloud.may_pass(role))
            .await
    }

    pub async fn dry_run(&self, call: &DryRun) -> Result<Allowed, CloudError> {
        self.retrying(Op::DryRun, || self.cloud.dry_run(call)).await
    }

    /// Probes are not AWS API calls and are not counted.
    pub async fn probe(&self, instance: &str, check: &Check) -> Result<Probe, CloudError> {
        self.cloud.probe(instance, check).await
    }

    pub async fn exec(&self, command: &[String], env: &Tags) -> Result<ExecOutput, CloudError> {
        self.cloud.exec(command, env).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::sim::{Profile, Sim, World};

    #[test]
    fn a_lookup_of_many_ids_goes_two_hundred_a_call_as_ec2_takes_them() {
        crate::testing::paused_runtime().block_on(async {
            let sim = Sim::new(World::default(), Profile::default(), 0);
            let ids: Vec<String> = (0..450).map(|i| format!("i-{i:017x}")).collect();
            // The simulator refuses a filter of more values, as EC2 does.
            let refused = sim
                .find(ResourceKind::Instance, &Lookup::Ids(ids.clone()))
                .await
                .expect_err("450 filter values");
            assert_eq!(refused.code, "FilterLimitExceeded");
            let api = Api::new(&sim);
            let found = api
                .find(ResourceKind::Instance, &Lookup::Ids(ids.clone()))
                .await
                .expect("asked in three calls");
            assert!(found.is_empty(), "{found:?}");
            assert_eq!(api.total().get(&Op::DescribeInstances), Some(&3));
            // Preflight's question (which of these exist) goes the same way, for resources and
            // for what the world names (subnets).
            let subnets: Vec<String> = (0..450).map(|i| format!("subnet-{i:017x}")).collect();
            let refused = sim
                .existing(Named::Subnet, &subnets)
                .await
                .expect_err("450 filter values");
            assert_eq!(refused.code, "FilterLimitExceeded");
            let api = Api::new(&sim);
            for (kind, ids) in [
                (Named::Resource(ResourceKind::Instance), &ids),
                (Named::Subnet, &subnets),
            ] {
                let there = api.existing(kind, ids).await.expect("asked in three calls");
                assert!(there.is_empty(), "{there:?}");
            }
            assert_eq!(api.total().get(&Op::DescribeInstances), Some(&3));
            assert_eq!(api.total().get(&Op::DescribeSubnets), Some(&3));
        });
    }
}
