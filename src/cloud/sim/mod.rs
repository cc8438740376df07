//! The simulated AWS account: the embedded default backend, so `rebound run` works on a fresh
//! machine with no account. It keeps inventory and created resources in memory and answers
//! the `Cloud` trait as EC2 and AWS Backup would: API latencies and state transitions drawn
//! from the latency model, EC2's token buckets (`RequestLimitExceeded` when empty), ClientToken
//! idempotency, NotFound for what does not exist, and faults from a seed.
//!
//! Time is tokio's clock. The executor pauses it, so waiting costs no wall time: a 20-minute
//! drill runs in milliseconds, and the same seed gives the same timeline. The simulator knows
//! when each resource truly reached its state and says so (`Observed::ready_at`), which is how
//! a report gives the RTO bound that no orchestrator could beat.

mod index;
pub(crate) mod profile;
pub(crate) mod world;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

pub use profile::{Faults, Profile};
pub use world::World;

use self::index::Index;
use super::latency::Dist;
use super::rate_limit::Buckets;
use super::{
    Agent, Allowed, Cloud, CloudError, CommandRequest, CopyRequest, DryRun, ExecOutput, Found,
    Image, ImageQuery, ImageRequest, Invocation, LaunchRequest, Launched, Lookup,
    MAX_COMMAND_TARGETS, Named, Observed, Op, Polled, Probe, RecoveryPoint, RecoveryPointQuery,
    ResourceKind, RestoreRequest, SandboxRequest, Snapshot, SnapshotQuery, SubnetInfo, Tags,
    VolumeRequest,
};
use crate::runbook::schema::Check;

/// Items in one page of a listing: the MaxResults the AWS backend asks for (DescribeVolumes
/// takes at most 500).
const PAGE: usize = 1000;

/// The VPC of a simulated subnet the world does not place in one (`World::vpcs`).
const SIM_VPC: &str = "vpc-0000000000000051";

/// Simulated ids count up from here (`i-00000000d15a57e0001`).
const ID_BASE: u64 = 0x0d15_a57e_0000;

/// The simulated account in one region. Its regions share the profile, the random draws and
/// the id counter (ids are unique across regions, as AWS's are in practice), and each has its
/// own inventory, resources, tokens and token buckets, as AWS's regions do.
pub struct Sim {
    profile: Rc<Profile>,
    origin: Instant,
    rng: Rc<RefCell<ChaCha8Rng>>,
    account: Rc<Account>,
    here: Rc<Regional>,
}

/// What the regions of the simulated account share.
struct Account {
    /// The last id handed out.
    next: Cell<u64>,
    regions: RefCell<BTreeMap<String, Rc<Regional>>>,
    /// The world's inventories of regions not yet asked for (`World::regions`).
    worlds: RefCell<BTreeMap<String, World>>,
}

/// One region of the simulated account.
struct Regional {
    state: RefCell<State>,
    buckets: RefCell<Buckets>,
}

impl Regional {
    fn new(world: World) -> Rc<Regional> {
        Rc::new(Regional {
            state: RefCell::new(State {
                world,
                ..State::default()
            }),
            buckets: RefCell::new(Buckets::new(0.0)),
        })
    }
}

#[derive(Default)]
struct State {
    world: World,
    instances: HashMap<String, Instance>,
    volumes: HashMap<String, Volume>,
    jobs: HashMap<String, Job>,
    /// Images being created or copied: ready time.
    new_images: HashMap<String, Instant>,
    /// Snapshots being copied: ready time.
    new_snapshots: HashMap<String, Instant>,
    /// ClientToken / IdempotencyToken to what the first call created.
    launches: HashMap<String, Launched>,
    created_volumes: HashMap<String, String>,
    started_jobs: HashMap<String, String>,
    copied_images: HashMap<String, String>,
    /// SSM commands by id.
    commands: HashMap<String, Command>,
    /// Isolated drills' security groups: their tags, and whether they were deleted. A group
    /// still used by an instance that is not terminated cannot be deleted
    /// (`DependencyViolation`).
    sandboxes: HashMap<String, (Tags, bool)>,
    /// Delete calls answered so far (the `failed_deletes` fault).
    deletes: u32,
    /// `world.images` and `world.snapshots` by id and by tag, built when a Describe needs
    /// them. Every change to either list (a push, a delete, new tags) drops its index.
    image_index: Option<Index>,
    snapshot_index: Option<Index>,
}

impl State {
    /// The images, to change: their index is dropped.
    fn images_mut(&mut self) -> &mut Vec<Image> {
        self.image_index = None;
        &mut self.world.images
    }

    /// The snapshots, to change: their index is dropped.
    fn snapshots_mut(&mut self) -> &mut Vec<Snapshot> {
        self.snapshot_index = None;
        &mut self.world.snapshots
    }

    /// The snapshot `id`, found through the index.
    fn snapshot(&mut self, id: &str) -> Option<&Snapshot> {
        let snapshots = &self.world.snapshots;
        let index = self
            .snapshot_index
            .get_or_insert_with(|| Index::of(snapshots));
        index.position(id).and_then(|at| snapshots.get(at))
    }
}

struct Instance {
    zone: String,
    instance_type: String,
    private_ip: String,
    tags: Tags,
    /// When a terminate call takes effect.
    terminated_at: Option<Instant>,
    /// A `fail_steps` fault: terminated instead of running.
    failing: bool,
    /// An `impaired_steps` fault: status checks end `impaired`, at `status_ok_at`.
    impaired: bool,
    running_at: Instant,
    status_ok_at: Instant,
    boot_at: Instant,
    ssm_at: Instant,
    /// Until then a call naming it answers NotFound and filters leave it out.
    visible_at: Instant,
    /// Termination protection (a restored instance's original had it).
    protected: bool,
    /// The security groups it was launched with.
    groups: Vec<String>,
    /// Launched with a public address.
    public_ip: bool,
}

/// A command sent through SSM Run Command.
struct Command {
    comment: String,
    /// Until then ListCommandInvocations does not know it (SSM is eventually consistent).
    visible_at: Instant,
    /// Each instance's run: when it ends, its exit code and output.
    runs: Vec<(String, Instant, i32, String)>,
}

struct Volume {
    zone: String,
    tags: Tags,
    /// Made by a launch's block-device mapping: deleted with its instance.
    delete_on_termination: bool,
    deleted_at: Option<Instant>,
    /// A `fail_steps` fault: `error` instead of `available`.
    failing: bool,
    available_at: Instant,
    loaded_at: Instant,
    attached: Option<(String, Instant)>,
    /// As an instance's.
    visible_at: Instant,
}

impl Instance {
    fn state(&self, now: Instant) -> &'static str {
        match self.terminated_at {
            Some(t) if t <= now => "terminated",
            Some(_) => "shutting-down",
            None if self.running_at > now => "pending",
            // A `fail_steps` instance dies as it boots.
            None if self.failing => "terminated",
            None => "running",
        }
    }
}

impl Volume {
    fn deleted(&self, now: Instant) -> bool {
        self.deleted_at.is_some_and(|t| t <= now)
    }

    /// EC2's state name, and since when it holds (for `available` and `in-use`).
    fn state(&self, now: Instant) -> (&'static str, Option<Instant>) {
        match &self.attached {
            _ if self.deleted_at.is_some() => ("deleting", None),
            Some((_, at)) if *at <= now => ("in-use", Some(*at)),
            Some(_) => ("attaching", None),
            None if self.available_at <= now && self.failing => ("error", None),
            None if self.available_at <= now => ("available", Some(self.available_at)),
            None => ("creating", None),
        }
    }
}

struct Job {
    done_at: Instant,
    instance: String,
    recovery_point: String,
    started: chrono::DateTime<chrono::Utc>,
}

impl Sim {
    /// The account in the world's region; its other regions (`World::regions`) are had through
    /// `Cloud::in_region`.
    pub fn new(mut world: World, profile: Profile, seed: u64) -> Sim {
        let origin = Instant::now();
        let worlds = std::mem::take(&mut world.regions);
        let region = world.region.clone();
        let here = Regional::new(world);
        Sim {
            profile: Rc::new(profile),
            origin,
            rng: Rc::new(RefCell::new(ChaCha8Rng::seed_from_u64(seed))),
            account: Rc::new(Account {
                next: Cell::new(0),
                regions: RefCell::new(BTreeMap::from([(region, Rc::clone(&here))])),
                worlds: RefCell::new(worlds),
            }),
            here,
        }
    }

    /// The state of another region of the account (made on first use).
    fn regional(&self, region: &str) -> Rc<Regional> {
        let mut regions = self.account.regions.borrow_mut();
        let made = regions.entry(region.to_string()).or_insert_with(|| {
            let world = self
                .account
                .worlds
                .borrow_mut()
                .remove(region)
                .unwrap_or_else(|| World {
                    region: region.to_string(),
                    ..World::default()
                });
            Regional::new(World {
                region: region.to_string(),
                ..world
            })
        });
        Rc::clone(made)
    }

    fn draw(&self, d: Dist) -> Duration {
        // Clamped to a year: a profile is validated, but a far tail must not overflow.
        Duration::from_secs_f64(
            d.sample(&mut *self.rng.borrow_mut())
                .clamp(0.0, 365.0 * 86_400.0),
        )
    }

    /// When, after `running`, both status checks are first seen to pass: EC2 evaluates them
    /// once a minute, so what is drawn is rounded up to the next whole minute of the instance's
    /// life (at least the first).
    fn status_checked(&self, d: Dist) -> Duration {
        let drawn = self.draw(d).as_secs_f64();
        Duration::from_secs_f64((drawn / 60.0).ceil().max(1.0) * 60.0)
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.borrow_mut().random::<f64>() < p
    }

    /// One API call: faults, the token bucket, then the call's latency.
    async fn call(&self, op: Op, instances: u32, latency: Dist) -> Result<(), CloudError> {
        let op = op.limited();
        let now = Instant::now().duration_since(self.origin).as_secs_f64();
        let faults = &self.profile.faults;
        if self.chance(faults.throttle_rate)
            || !self.here.buckets.borrow_mut().try_call(op, instances, now)
        {
            tokio::time::sleep(self.draw(self.profile.latency.describe)).await;
            return Err(CloudError::new(
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ));
        }
        if self.chance(faults.server_error_rate) {
            tokio::time::sleep(self.draw(latency)).await;
            return Err(CloudError::new(
                "InternalError",
                "An internal error has occurred.",
            ));
        }
        tokio::time::sleep(self.draw(latency)).await;
        Ok(())
    }

    /// The pages after the first of a listing of `n` items, `per_page` a page: each one more
    /// call, with its latency and its token, as the backend's paginator makes them.
    async fn pages(&self, op: Op, n: usize, per_page: usize) -> Result<(), CloudError> {
        for _ in 1..n.div_ceil(per_page) {
            self.call(op, 0, self.profile.latency.describe).await?;
        }
        Ok(())
    }

    /// The `lost_answer_rate` fault, after a create (or an attachment) took effect.
    fn lose_answer(&self) -> Result<(), CloudError> {
        if self.chance(self.profile.faults.lost_answer_rate) {
            return Err(CloudError::new(
                "InternalError",
                "An internal error has occurred (after the request took effect).",
            ));
        }
        Ok(())
    }

    fn id(&self, prefix: &str) -> String {
        let next = self.account.next.get() + 1;
        self.account.next.set(next);
        format!("{prefix}-{:017x}", ID_BASE + next)
    }

    /// A new instance in `zone`, pending now.
    fn new_instance(
        &self,
        zone: &str,
        instance_type: &str,
        now: Instant,
        failing: bool,
        tags: &Tags,
    ) -> String {
        let m = &self.profile.latency;
        let running_at = now + self.draw(m.pending_to_running);
        let n = self.account.next.get() + 1;
        let instance = Instance {
            zone: zone.to_string(),
            instance_type: instance_type.to_string(),
            private_ip: format!("10.0.{}.{}", (n / 250) % 250, n % 250 + 4),
            tags: tags.clone(),
            terminated_at: None,
            failing,
            impaired: tags
                .get("rebound:step")
                .is_some_and(|s| self.profile.faults.impaired_steps.contains(s)),
            running_at,
            status_ok_at: running_at + self.status_checked(m.status_ok),
            boot_at: running_at + self.draw(m.boot),
            ssm_at: running_at + self.draw(m.ssm_ready),
            visible_at: now + self.draw(m.propagation),
            protected: false,
            groups: Vec::new(),
            public_ip: true,
        };
        let id = self.id("i");
        self.here
            .state
            .borrow_mut()
            .instances
            .insert(id.clone(), instance);
        id
    }

    /// Whether an instance never registers with SSM (`unmanaged_steps`).
    fn unmanaged(&self, i: &Instance) -> bool {
        i.tags
            .get("rebound:step")
            .is_some_and(|s| self.profile.faults.unmanaged_steps.contains(s))
    }

    /// Whether what this request creates is to fail (`fail_steps`).
    fn failing(&self, tags: &Tags) -> bool {
        tags.get("rebound:step")
            .is_some_and(|s| self.profile.faults.fail_steps.contains(s))
    }

    fn new_volume(
        &self,
        zone: &str,
        size_gib: u32,
        rate: Option<u32>,
        now: Instant,
        failing: bool,
        tags: &Tags,
    ) -> String {
        let available_at = now + self.draw(self.profile.latency.create_volume);
        // Without a provisioned initialization rate, EBS loads blocks lazily; model it as the
        // low end of the provisioned range.
        let rate_mib = f64::from(rate.unwrap_or(100));
        let loaded_at =
            available_at + Duration::from_secs_f64(f64::from(size_gib) * 1024.0 / rate_mib);
        let id = self.id("vol");
        let visible_at = now + self.draw(self.profile.latency.propagation);
        self.here.state.borrow_mut().volumes.insert(
            id.clone(),
            Volume {
                zone: zone.to_string(),
                tags: tags.clone(),
                delete_on_termination: false,
                deleted_at: None,
                failing,
                available_at,
                loaded_at,
                attached: None,
                visible_at,
            },
        );
        id
    }

    /// Puts back a resource an earlier process of the same run created (the simulated account
    /// lives in memory): an instance running, a volume available, an image available. Resume
    /// and teardown of a simulated run use it; the real account needs nothing of the kind.
    /// `age`: how long before this process's start the resource was created (run seconds), so
    /// that an instance still booting when its run was interrupted goes on booting: a resumed
    /// rehearsal waits out what was in flight, as the real account would.
    pub fn restore(
        &self,
        kind: ResourceKind,
        id: &str,
        zone: Option<&str>,
        tags: &Tags,
        age: std::time::Duration,
    ) {
        let now = Instant::now();
        // An instance's timeline from its creation; one made longer ago than the clock reaches
        // back is long ready.
        let timeline = || match now.checked_sub(age) {
            Some(created) => {
                let m = &self.profile.latency;
                let running_at = created + self.draw(m.pending_to_running);
                (
                    running_at,
                    running_at + self.status_checked(m.status_ok),
                    running_at + self.draw(m.boot),
                    running_at + self.draw(m.ssm_ready),
                    // Shown since it was made, not since this process started: a resumed
                    // verify's checks stay on the instance's own clock (the bound).
                    created,
                )
            }
            None => (now, now, now, now, now),
        };
        let mut st = self.here.state.borrow_mut();
        let zone = zone.map_or_else(|| format!("{}a", st.world.region), str::to_string);
        // New ids must not collide with the restored ones.
        if let Some(n) = id
            .rsplit_once('-')
            .and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok())
        {
            let next = &self.account.next;
            next.set(next.get().max(n.saturating_sub(ID_BASE)));
        }
        match kind {
            ResourceKind::Instance => {
                drop(st);
                let (running_at, status_ok_at, boot_at, ssm_at, visible_at) = timeline();
                let mut st = self.here.state.borrow_mut();
                st.instances.insert(
                    id.to_string(),
                    Instance {
                        zone,
                        instance_type: String::new(),
                        private_ip: String::new(),
                        tags: tags.clone(),
                        terminated_at: None,
                        failing: false,
                        impaired: false,
                        running_at,
                        status_ok_at,
                        boot_at,
                        ssm_at,
                        visible_at,
                        protected: false,
                        groups: Vec::new(),
                        public_ip: false,
                    },
                );
            }
            ResourceKind::Volume => {
                st.volumes.insert(
                    id.to_string(),
                    Volume {
                        zone,
                        tags: tags.clone(),
                        delete_on_termination: false,
                        deleted_at: None,
                        failing: false,
                        available_at: now,
                        loaded_at: now,
                        attached: None,
                        visible_at: now,
                    },
                );
            }
            ResourceKind::Image => st.images_mut().push(Image {
                id: id.to_string(),
                name: id.to_string(),
                created: chrono::Utc::now(),
                state: "available".to_string(),
                owner: "self".to_string(),
                tags: tags.clone(),
            }),
            ResourceKind::Snapshot => st.snapshots_mut().push(Snapshot {
                id: id.to_string(),
                created: chrono::Utc::now(),
                state: "completed".to_string(),
                size_gib: 8,
                volume: None,
                owner: "self".to_string(),
                tags: tags.clone(),
            }),
            ResourceKind::SecurityGroup => {
                st.world.security_groups.push(id.to_string());
                st.sandboxes.insert(id.to_string(), (tags.clone(), false));
            }
        }
    }

    /// Puts back an attachment an earlier process made.
    pub fn restore_attachment(&self, volume: &str, instance: &str) {
        let now = Instant::now();
        if let Some(v) = self.here.state.borrow_mut().volumes.get_mut(volume) {
            v.attached = Some((instance.to_string(), now));
        }
    }

    /// The zone a launch lands in: its subnet's, once everything it names exists.
    fn launch_zone(&self, r: &LaunchRequest) -> Result<String, CloudError> {
        let st = self.here.state.borrow();
        let world = &st.world;
        if !world
            .images
            .iter()
            .any(|i| i.id == r.image && i.state == "available")
        {
            return Err(Self::not_found("InvalidAMIID.NotFound", &r.image));
        }
        if let Some(sg) = r
            .security_groups
            .iter()
            .find(|g| !world.security_groups.contains(g))
        {
            return Err(Self::not_found("InvalidGroup.NotFound", sg));
        }
        if let Some(key) = r
            .key_name
            .as_ref()
            .filter(|k| !world.has(Named::KeyPair, k))
        {
            return Err(CloudError::new(
                "InvalidKeyPair.NotFound",
                format!("The key pair '{key}' does not exist"),
            ));
        }
        if let Some(p) = r
            .instance_profile
            .as_ref()
            .filter(|p| !world.has(Named::InstanceProfile, p))
        {
            return Err(CloudError::new(
                "InvalidParameterValue",
                format!(
                    "Value ({p}) for parameter iamInstanceProfile.name is invalid. \
                     Invalid IAM Instance Profile name"
                ),
            ));
        }
        if let Some(v) = r
            .volumes
            .iter()
            .find(|v| !world.snapshots.iter().any(|s| s.id == v.snapshot))
        {
            return Err(Self::not_found("InvalidSnapshot.NotFound", &v.snapshot));
        }
        match world.subnets.get(&r.subnet) {
            Some(z) => Ok(z.clone()),
            None => Err(Self::not_found("InvalidSubnetID.NotFound", &r.subnet)),
        }
    }

    /// The profile's capacity fault for an instance type: EC2's answer when a zone has none.
    fn capacity(&self, instance_type: &str, zone: &str) -> Result<(), CloudError> {
        let p = self
            .profile
            .faults
            .capacity
            .get(instance_type)
            .copied()
            .unwrap_or(0.0);
        if self.chance(p) {
            return Err(CloudError::new(
                "InsufficientInstanceCapacity",
                format!("We currently do not have sufficient {instance_type} capacity in {zone}."),
            ));
        }
        Ok(())
    }

    /// One instance of a launch, with the volumes of its `volumes` attached from the moment it
    /// runs: its id and private IP.
    fn launch_one(&self, r: &LaunchRequest, zone: &str, now: Instant) -> (String, String) {
        let failing = self.failing(&r.tags);
        let id = self.new_instance(zone, &r.instance_type, now, failing, &r.tags);
        let (running_at, ip) = match self.here.state.borrow_mut().instances.get_mut(&id) {
            Some(i) => {
                i.groups.clone_from(&r.security_groups);
                i.public_ip = r.public_ip;
                (i.running_at, i.private_ip.clone())
            }
            None => (now, String::new()),
        };
        for v in &r.volumes {
            let size = v.size_gib.unwrap_or(100);
            let vol = self.new_volume(zone, size, None, now, false, &r.tags);
            if let Some(volume) = self.here.state.borrow_mut().volumes.get_mut(&vol) {
                volume.attached = Some((id.clone(), running_at));
                volume.delete_on_termination = true;
            }
        }
        (id, ip)
    }

    /// AMI names are unique per account and region.
    fn unique_name(&self, name: &str) -> Result<(), CloudError> {
        let st = self.here.state.borrow();
        if st
            .world
            .images
            .iter()
            .any(|i| i.name == name && i.owner == "self")
        {
            return Err(CloudError::new(
                "InvalidAMIName.Duplicate",
                format!("AMI name {name} is already in use by an AMI of this account"),
            ));
        }
        Ok(())
    }

    /// An image of the account made (or copied) now, `pending` until `ready`.
    fn new_image(
        &self,
        name: &str,
        created: chrono::DateTime<chrono::Utc>,
        tags: &Tags,
        ready: Instant,
    ) -> String {
        let id = self.id("ami");
        let mut st = self.here.state.borrow_mut();
        st.new_images.insert(id.clone(), ready);
        st.images_mut().push(Image {
            id: id.clone(),
            name: name.to_string(),
            created,
            state: "available".to_string(),
            owner: "self".to_string(),
            tags: tags.clone(),
        });
        id
    }

    fn not_found(code: &str, id: &str) -> CloudError {
        CloudError::new(code, format!("The ID '{id}' does not exist"))
    }
}

fn matches_tags(have: &Tags, want: &Tags) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// `*` and `?` globs, as EC2's name filter takes them.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

impl Cloud for Sim {
    fn backend(&self) -> crate::cloud::Backend {
        crate::cloud::Backend::Sim
    }

    fn region(&self) -> String {
        self.here.state.borrow().world.region.clone()
    }

    fn in_region(&self, region: &str) -> Sim {
        Sim {
            profile: Rc::clone(&self.profile),
            origin: self.origin,
            rng: Rc::clone(&self.rng),
            account: Rc::clone(&self.account),
            here: self.regional(region),
        }
    }

    async fn describe_images(&self, q: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        self.call(Op::DescribeImages, 0, self.profile.latency.describe)
            .await?;
        let now = Instant::now();
        let out: Vec<Image> = {
            let mut st = self.here.state.borrow_mut();
            let st = &mut *st;
            let images = &st.world.images;
            let index = st.image_index.get_or_insert_with(|| Index::of(images));
            index
                .candidates(&q.ids, &q.tags)
                .unwrap_or_else(|| (0..images.len()).collect())
                .into_iter()
                .filter_map(|at| images.get(at))
                .filter(|i| q.ids.is_empty() || q.ids.contains(&i.id))
                // `Owners`, as EC2 reads it: `self` is the account's own, which an image of a world
                // file with no `owner` is.
                .filter(|i| {
                    let owner = if i.owner.is_empty() { "self" } else { &i.owner };
                    q.owners.is_empty() || q.owners.iter().any(|o| o == owner)
                })
                .filter(|i| matches_tags(&i.tags, &q.tags))
                .filter(|i| q.name.as_ref().is_none_or(|g| glob(g, &i.name)))
                .map(|i| {
                    let mut i = i.clone();
                    if st.new_images.get(&i.id).is_some_and(|t| *t > now) {
                        i.state = "pending".to_string();
                    }
                    i
                })
                .collect()
        };
        self.pages(Op::DescribeImages, out.len(), PAGE).await?;
        Ok(out)
    }

    async fn describe_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, CloudError> {
        self.call(Op::DescribeSnapshots, 0, self.profile.latency.describe)
            .await?;
        let now = Instant::now();
        let out: Vec<Snapshot> = {
            let mut st = self.here.state.borrow_mut();
            let st = &mut *st;
            let snapshots = &st.world.snapshots;
            let index = st
                .snapshot_index
                .get_or_insert_with(|| Index::of(snapshots));
            index
                .candidates(&q.ids, &q.tags)
                .unwrap_or_else(|| (0..snapshots.len()).collect())
                .into_iter()
                .filter_map(|at| snapshots.get(at))
                .filter(|s| q.ids.is_empty() || q.ids.contains(&s.id))
                .filter(|s| matches_tags(&s.tags, &q.tags))
                .filter(|s| q.volume.is_none() || s.volume == q.volume)
                .map(|s| {
                    let mut s = s.clone();
                    if st.new_snapshots.get(&s.id).is_some_and(|t| *t > now) {
                        s.state = "pending".to_string();
                    }
                    s
                })
                .collect()
        };
        self.pages(Op::DescribeSnapshots, out.len(), PAGE).await?;
        Ok(out)
    }

    async fn list_recovery_points(
        &self,
        q: &RecoveryPointQuery,
    ) -> Result<Vec<RecoveryPoint>, CloudError> {
        self.call(
            Op::ListRecoveryPointsByBackupVault,
            0,
            self.profile.latency.describe,
        )
        .await?;
        let out: Vec<RecoveryPoint> = {
            let st = self.here.state.borrow();
            if !st.world.recovery_points.iter().any(|p| p.vault == q.vault) {
                return Err(CloudError::new(
                    "ResourceNotFoundException",
                    format!("Backup vault {} does not exist", q.vault),
                ));
            }
            st.world
                .recovery_points
                .iter()
                .filter(|p| p.vault == q.vault)
                .filter(|p| q.resource.as_ref().is_none_or(|r| &p.resource == r))
                .filter(|p| {
                    q.resource_type
                        .as_ref()
                        .is_none_or(|t| &p.resource_type == t)
                })
                .cloned()
                .collect()
        };
        self.pages(Op::ListRecoveryPointsByBackupVault, out.len(), PAGE)
            .await?;
        Ok(out)
    }

    async fn run_instances(&self, r: &LaunchRequest) -> Result<Launched, CloudError> {
        self.call(
            Op::RunInstances,
            r.count,
            self.profile.latency.run_instances,
        )
        .await?;
        if let Some(done) = self.here.state.borrow().launches.get(&r.client_token) {
            return Ok(done.clone());
        }
        let zone = self.launch_zone(r)?;
        self.capacity(&r.instance_type, &zone)?;
        let now = Instant::now();
        let (instances, private_ips) = (0..r.count).map(|_| self.launch_one(r, &zone, now)).unzip();
        let launched = Launched {
            instances,
            zone,
            private_ips,
            instance_type: r.instance_type.clone(),
        };
        self.here
            .state
            .borrow_mut()
            .launches
            .insert(r.client_token.clone(), launched.clone());
        self.lose_answer()?;
        Ok(launched)
    }

    async fn create_volume(&self, r: &VolumeRequest) -> Result<String, CloudError> {
        self.call(Op::CreateVolume, 0, self.profile.latency.describe)
            .await?;
        if let Some(id) = self
            .here
            .state
            .borrow()
            .created_volumes
            .get(&r.client_token)
        {
            return Ok(id.clone());
        }
        let size = {
            let mut st = self.here.state.borrow_mut();
            let in_region = r.zone.starts_with(&st.world.region);
            let Some(snap) = st.snapshot(&r.snapshot) else {
                return Err(Self::not_found("InvalidSnapshot.NotFound", &r.snapshot));
            };
            if snap.state != "completed" {
                return Err(CloudError::new(
                    "IncorrectState",
                    format!(
                        "Snapshot '{}' is not 'completed' but '{}'",
                        snap.id, snap.state
                    ),
                ));
            }
            if r.size_gib.is_some_and(|s| s < snap.size_gib) {
                return Err(CloudError::new(
                    "InvalidParameterValue",
                    format!(
                        "The volume size is smaller than the snapshot size: {} GiB",
                        snap.size_gib
                    ),
                ));
            }
            if !in_region {
                return Err(CloudError::new(
                    "InvalidParameterValue",
                    format!("Invalid availability zone: [{}]", r.zone),
                ));
            }
            r.size_gib.unwrap_or(snap.size_gib)
        };
        let failing = self.failing(&r.tags);
        let id = self.new_volume(
            &r.zone,
            size,
            r.initialization_rate,
            Instant::now(),
            failing,
            &r.tags,
        );
        self.here
            .state
            .borrow_mut()
            .created_volumes
            .insert(r.client_token.clone(), id.clone());
        self.lose_answer()?;
        Ok(id)
    }

    async fn attach_volume(
        &self,
        volume: &str,
        instance: &str,
        _device: &str,
    ) -> Result<(), CloudError> {
        self.call(Op::AttachVolume, 0, self.profile.latency.describe)
            .await?;
        let now = Instant::now();
        let in_use_at = now + self.draw(self.profile.latency.attach_volume);
        let mut st = self.here.state.borrow_mut();
        let Some(inst) = st.instances.get(instance).filter(|i| i.visible_at <= now) else {
            return Err(Self::not_found("InvalidInstanceID.NotFound", instance));
        };
        let (inst_zone, running) = (inst.zone.clone(), inst.running_at <= now);
        if inst.state(now) != "running" && inst.state(now) != "pending" {
            return Err(CloudError::new(
                "IncorrectInstanceState",
                format!("The instance '{instance}' is not 'running'"),
            ));
        }
        let Some(vol) = st
            .volumes
            .get_mut(volume)
            .filter(|v| v.deleted_at.is_none() && v.visible_at <= now)
        else {
            return Err(Self::not_found("InvalidVolume.NotFound", volume));
        };
        if vol.zone != inst_zone {
            return Err(CloudError::new(
                "InvalidVolume.ZoneMismatch",
                format!(
                    "The volume '{volume}' is not in the same availability zone as instance '{instance}'"
                ),
            ));
        }
        // Attached already, to this instance or another: EC2 refuses a second attach.
        if vol.attached.is_some() {
            return Err(CloudError::new(
                "VolumeInUse",
                format!("{volume} is already attached to an instance"),
            ));
        }
        if vol.available_at > now || !running {
            return Err(CloudError::new(
                "IncorrectState",
                format!("The volume or instance is not ready: {volume}, {instance}"),
            ));
        }
        vol.attached = Some((instance.to_string(), in_use_at));
        drop(st);
        // AttachVolume takes no ClientToken: a lost answer is resent blind.
        self.lose_answer()
    }

    async fn start_restore_job(&self, r: &RestoreRequest) -> Result<String, CloudError> {
        self.call(Op::StartRestoreJob, 0, self.profile.latency.describe)
            .await?;
        if let Some(id) = self
            .here
            .state
            .borrow()
            .started_jobs
            .get(&r.idempotency_token)
        {
            return Ok(id.clone());
        }
        let (zone, protected) = {
            let st = self.here.state.borrow();
            let Some(point) = st
                .world
                .recovery_points
                .iter()
                .find(|p| p.arn == r.recovery_point)
            else {
                return Err(CloudError::new(
                    "ResourceNotFoundException",
                    format!("Recovery point {} not found", r.recovery_point),
                ));
            };
            let protected = point.termination_protection;
            let subnet = r.metadata.get("SubnetId");
            let zone = match subnet {
                Some(s) => match st.world.subnets.get(s) {
                    Some(z) => z.clone(),
                    None => return Err(Self::not_found("InvalidSubnetID.NotFound", s)),
                },
                None => format!("{}a", st.world.region),
            };
            (zone, protected)
        };
        let now = Instant::now();
        let done_at = now + self.draw(self.profile.latency.restore_job);
        // The restored instance starts its life when the job completes, untagged, with its
        // original's termination protection, and with a root volume AWS Backup restores with
        // DeleteOnTermination false: it outlives its instance unless deleted itself.
        let instance = self.new_instance(&zone, "", done_at, false, &Tags::new());
        let root = self.new_volume(&zone, 8, None, now, false, &Tags::new());
        {
            let mut st = self.here.state.borrow_mut();
            if let Some(v) = st.volumes.get_mut(&root) {
                v.attached = Some((instance.clone(), done_at));
            }
            if let Some(i) = st.instances.get_mut(&instance) {
                i.protected = protected;
            }
        }
        let id = self
            .id("restore-job")
            .to_uppercase()
            .replace("RESTORE-JOB-", "");
        let mut st = self.here.state.borrow_mut();
        st.jobs.insert(
            id.clone(),
            Job {
                done_at,
                instance,
                recovery_point: r.recovery_point.clone(),
                started: chrono::Utc::now(),
            },
        );
        st.started_jobs
            .insert(r.idempotency_token.clone(), id.clone());
        Ok(id)
    }

    async fn create_image(&self, r: &ImageRequest) -> Result<String, CloudError> {
        self.call(Op::CreateImage, 0, self.profile.latency.describe)
            .await?;
        if !self.here.state.borrow().instances.contains_key(&r.instance) {
            return Err(Self::not_found("InvalidInstanceID.NotFound", &r.instance));
        }
        self.unique_name(&r.name)?;
        let ready = Instant::now() + self.draw(self.profile.latency.create_image);
        let id = self.new_image(&r.name, chrono::Utc::now(), &r.tags, ready);
        // CreateImage takes no ClientToken either.
        self.lose_answer()?;
        Ok(id)
    }

    async fn copy_image(&self, r: &CopyRequest) -> Result<String, CloudError> {
        self.call(Op::CopyImage, 0, self.profile.latency.describe)
            .await?;
        if let Some(id) = self.here.state.borrow().copied_images.get(&r.client_token) {
            return Ok(id.clone());
        }
        let source = self.regional(&r.source_region);
        let image = {
            let st = source.state.borrow();
            let pending = st
                .new_images
                .get(&r.source)
                .is_some_and(|t| *t > Instant::now());
            match st.world.images.iter().find(|i| i.id == r.source) {
                None => return Err(Self::not_found("InvalidAMIID.NotFound", &r.source)),
                Some(i) if pending || i.state != "available" => {
                    return Err(CloudError::new(
                        "IncorrectState",
                        format!("Image {} in {} is not available", r.source, r.source_region),
                    ));
                }
                Some(i) => i.clone(),
            }
        };
        self.unique_name(&r.name)?;
        let ready = Instant::now() + self.draw(self.profile.latency.copy_image);
        let id = self.new_image(&r.name, image.created, &r.tags, ready);
        self.here
            .state
            .borrow_mut()
            .copied_images
            .insert(r.client_token.clone(), id.clone());
        self.lose_answer()?;
        Ok(id)
    }

    async fn copy_snapshot(&self, r: &CopyRequest) -> Result<String, CloudError> {
        self.call(Op::CopySnapshot, 0, self.profile.latency.describe)
            .await?;
        let source = self.regional(&r.source_region);
        let snapshot = {
            let st = source.state.borrow();
            let pending = st
                .new_snapshots
                .get(&r.source)
                .is_some_and(|t| *t > Instant::now());
            match st.world.snapshots.iter().find(|s| s.id == r.source) {
                None => return Err(Self::not_found("InvalidSnapshot.NotFound", &r.source)),
                Some(s) if pending || s.state != "completed" => {
                    return Err(CloudError::new(
                        "IncorrectState",
                        format!(
                            "Snapshot {} in {} is not completed",
                            r.source, r.source_region
                        ),
                    ));
                }
                Some(s) => s.clone(),
            }
        };
        let ready = Instant::now() + self.draw(self.profile.latency.copy_snapshot);
        let id = self.id("snap");
        let mut st = self.here.state.borrow_mut();
        st.new_snapshots.insert(id.clone(), ready);
        st.snapshots_mut().push(Snapshot {
            id: id.clone(),
            state: "completed".to_string(),
            // A copy's volume id is arbitrary (EC2's reference says not to use it).
            volume: None,
            owner: "self".to_string(),
            tags: r.tags.clone(),
            ..snapshot
        });
        drop(st);
        // CopySnapshot takes no ClientToken: a lost answer leaves a copy the step must adopt.
        self.lose_answer()?;
        Ok(id)
    }

    async fn describe(&self, kind: Polled, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        self.call(kind.describe_op(), 0, self.profile.latency.describe)
            .await?;
        let now = Instant::now();
        let st = self.here.state.borrow();
        // A call naming ids fails as a whole on the first one EC2 cannot see: one not made, one
        // deleted, or one made a moment ago that has not propagated yet. Volumes are asked by
        // a `volume-id` filter, which leaves out what it cannot see instead.
        let volume = |id: &str| {
            st.volumes
                .get(id)
                .filter(|v| v.visible_at <= now && !v.deleted(now))
        };
        let seen = |id: &str| match kind {
            Polled::Instance => st.instances.get(id).is_some_and(|i| i.visible_at <= now),
            Polled::VolumeLoad => volume(id).is_some(),
            Polled::Volume | Polled::RestoreJob | Polled::Image | Polled::Snapshot => true,
        };
        let unseen = ids.iter().find(|id| !seen(id));
        if let Some(id) = unseen {
            return Err(Self::not_found(kind.not_found_code(), id));
        }
        let observed = Observed::new;
        let out = ids
            .iter()
            .filter_map(|id| match kind {
                Polled::Instance => st.instances.get(id).map(|i| {
                    let state = i.state(now);
                    if state != "running" {
                        return observed(id, state);
                    }
                    // The checks are decided at `status_ok_at`: ok, or impaired.
                    let checked = i.status_ok_at <= now;
                    Observed {
                        detail: Some(i.zone.clone()),
                        status_ok: checked && !i.impaired,
                        impaired: checked && i.impaired,
                        // Not before EC2 showed it (`visible_at`): no poller could have
                        // seen it sooner.
                        ready_at: Some(i.running_at.max(i.visible_at)),
                        status_ok_at: (checked && !i.impaired)
                            .then_some(i.status_ok_at.max(i.visible_at)),
                        ..observed(id, state)
                    }
                }),
                Polled::Volume => volume(id).map(|v| {
                    let (state, ready) = v.state(now);
                    Observed {
                        // Not before EC2 showed it: no poller could have seen it sooner.
                        ready_at: ready.map(|r| r.max(v.visible_at)),
                        ..observed(id, state)
                    }
                }),
                // AWS reports the initialization of available volumes only.
                Polled::VolumeLoad => st
                    .volumes
                    .get(id)
                    .filter(|v| matches!(v.state(now).0, "available" | "attaching" | "in-use"))
                    .map(|v| {
                        let loaded = v.loaded_at <= now;
                        Observed {
                            // Not before EC2 showed the volume, as its state.
                            ready_at: loaded.then_some(v.loaded_at.max(v.visible_at)),
                            ..observed(id, if loaded { "completed" } else { "initializing" })
                        }
                    }),
                Polled::RestoreJob => st.jobs.get(id).map(|j| {
                    let done = j.done_at <= now;
                    Observed {
                        detail: done.then(|| j.instance.clone()),
                        ready_at: done.then_some(j.done_at),
                        ..observed(id, if done { "COMPLETED" } else { "RUNNING" })
                    }
                }),
                Polled::Image => st.world.images.iter().find(|i| &i.id == id).map(|i| {
                    let ready = st.new_images.get(id).copied();
                    let pending = ready.is_some_and(|t| t > now);
                    Observed {
                        ready_at: if pending { None } else { ready },
                        ..observed(id, if pending { "pending" } else { &i.state })
                    }
                }),
                Polled::Snapshot => st.world.snapshots.iter().find(|s| &s.id == id).map(|s| {
                    let ready = st.new_snapshots.get(id).copied();
                    let pending = ready.is_some_and(|t| t > now);
                    Observed {
                        ready_at: if pending { None } else { ready },
                        ..observed(id, if pending { "pending" } else { &s.state })
                    }
                }),
            })
            .collect();
        Ok(out)
    }

    async fn probe(&self, instance: &str, _check: &Check) -> Result<Probe, CloudError> {
        // A probe is a network round trip from the runner, not an API call.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = Instant::now();
        let st = self.here.state.borrow();
        let Some(i) = st.instances.get(instance) else {
            return Err(Self::not_found("InvalidInstanceID.NotFound", instance));
        };
        // `ssm:` checks are commands (`send_command`), never probes.
        let at = i.boot_at;
        Ok(Probe {
            passed: at <= now,
            ready_at: Some(at),
        })
    }

    async fn agents(&self, instances: &[String]) -> Result<Vec<Agent>, CloudError> {
        self.call(
            Op::DescribeInstanceInformation,
            0,
            self.profile.latency.describe,
        )
        .await?;
        let now = Instant::now();
        let st = self.here.state.borrow();
        Ok(instances
            .iter()
            .filter_map(|id| {
                let i = st.instances.get(id)?;
                if self.unmanaged(i) || i.ssm_at > now {
                    return None;
                }
                let ping = if i.state(now) == "running" {
                    "Online"
                } else {
                    "ConnectionLost"
                };
                Some(Agent {
                    instance: id.clone(),
                    ping: ping.to_string(),
                    online_at: Some(i.ssm_at),
                })
            })
            .collect())
    }

    async fn send_command(&self, r: &CommandRequest) -> Result<String, CloudError> {
        self.call(Op::SendCommand, 0, self.profile.latency.describe)
            .await?;
        if r.instances.is_empty() || r.instances.len() > MAX_COMMAND_TARGETS {
            return Err(CloudError::new(
                "ValidationException",
                "InstanceIds must hold 1 to 50 ids",
            ));
        }
        let now = Instant::now();
        let script = r.commands.join("\n");
        let failed = self
            .profile
            .faults
            .failed_commands
            .iter()
            .find(|(key, _)| script.contains(key.as_str()));
        let mut runs = Vec::new();
        {
            let st = self.here.state.borrow();
            for id in &r.instances {
                // SendCommand names an instance SSM does not manage: InvalidInstanceId, as AWS.
                let managed = st.instances.get(id).is_some_and(|i| {
                    !self.unmanaged(i) && i.ssm_at <= now && i.state(now) == "running"
                });
                if !managed {
                    return Err(CloudError::new(
                        "InvalidInstanceId",
                        format!("Instances [[{id}]] not in a valid state for account"),
                    ));
                }
            }
        }
        for id in &r.instances {
            let ends = now + self.draw(self.profile.latency.command);
            let (code, out) = match failed {
                Some((key, code)) => (*code, format!("(simulated: `{key}` failed)\n")),
                None => (0, "(simulated: not run)\n".to_string()),
            };
            runs.push((id.clone(), ends, code, out));
        }
        let id = format!(
            "{:08x}-sim0-4000-8000-{:012x}",
            self.account.next.get(),
            ID_BASE
        );
        self.account.next.set(self.account.next.get() + 1);
        let visible_at = now
            + self
                .draw(self.profile.latency.propagation)
                .min(Duration::from_secs(5));
        self.here.state.borrow_mut().commands.insert(
            id.clone(),
            Command {
                comment: r.comment.clone(),
                visible_at,
                runs,
            },
        );
        // SendCommand takes no token: an answer lost after it acted is found by its comment.
        self.lose_answer()?;
        Ok(id)
    }

    async fn find_command(
        &self,
        comment: &str,
        _since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, CloudError> {
        self.call(Op::ListCommands, 0, self.profile.latency.describe)
            .await?;
        // As eventually consistent as ListCommandInvocations.
        let now = Instant::now();
        let st = self.here.state.borrow();
        Ok(st
            .commands
            .iter()
            .find(|(_, c)| c.comment == comment && c.visible_at <= now)
            .map(|(id, _)| id.clone()))
    }

    async fn invocations(&self, command: &str) -> Result<Vec<Invocation>, CloudError> {
        self.call(Op::ListCommandInvocations, 0, self.profile.latency.describe)
            .await?;
        let now = Instant::now();
        let st = self.here.state.borrow();
        let Some(c) = st.commands.get(command).filter(|c| c.visible_at <= now) else {
            return Err(CloudError::new(
                "InvalidCommandId",
                format!("The command {command} does not exist"),
            ));
        };
        Ok(c.runs
            .iter()
            .map(|(instance, ends, code, out)| {
                let done = *ends <= now;
                Invocation {
                    instance: instance.clone(),
                    status: match (done, *code) {
                        (false, _) => "InProgress",
                        (true, 0) => "Success",
                        (true, _) => "Failed",
                    }
                    .to_string(),
                    exit_code: if done { *code } else { -1 },
                    stdout: if done { out.clone() } else { String::new() },
                    ended_at: done.then_some(*ends),
                }
            })
            .collect())
    }

    async fn subnets(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, CloudError> {
        self.call(Op::DescribeSubnets, 0, self.profile.latency.describe)
            .await?;
        let st = self.here.state.borrow();
        let w = &st.world;
        Ok(ids
            .iter()
            .filter_map(|id| {
                Some(SubnetInfo {
                    id: id.clone(),
                    zone: w.subnets.get(id)?.clone(),
                    free_addresses: w.free_addresses.get(id).copied().unwrap_or(250),
                    vpc: Some(
                        w.vpcs
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| SIM_VPC.to_string()),
                    ),
                    cidr: Some("10.0.0.0/16".to_string()),
                })
            })
            .collect())
    }

    async fn create_sandbox(&self, r: &SandboxRequest) -> Result<String, CloudError> {
        self.call(Op::CreateSecurityGroup, 0, self.profile.latency.describe)
            .await?;
        if self
            .here
            .state
            .borrow()
            .world
            .denied
            .iter()
            .any(|a| a == "ec2:CreateSecurityGroup")
        {
            return Err(CloudError::new(
                "UnauthorizedOperation",
                "You are not authorized to perform this operation. User is not authorized to \
                 perform: ec2:CreateSecurityGroup",
            ));
        }
        let id = self.id("sg");
        let mut st = self.here.state.borrow_mut();
        st.world.security_groups.push(id.clone());
        st.sandboxes.insert(id.clone(), (r.tags.clone(), false));
        Ok(id)
    }

    async fn offered(&self, zone: &str, types: &[String]) -> Result<Vec<String>, CloudError> {
        self.call(
            Op::DescribeInstanceTypeOfferings,
            0,
            self.profile.latency.describe,
        )
        .await?;
        let st = self.here.state.borrow();
        Ok(match &st.world.offerings {
            None => types.to_vec(),
            Some(by_zone) => {
                let here = by_zone.get(zone).map(Vec::as_slice).unwrap_or_default();
                types.iter().filter(|t| here.contains(t)).cloned().collect()
            }
        })
    }

    async fn may_pass(&self, _role: &str) -> Result<Option<bool>, CloudError> {
        self.call(
            Op::SimulatePrincipalPolicy,
            0,
            self.profile.latency.describe,
        )
        .await?;
        let st = self.here.state.borrow();
        Ok(Some(!st.world.denied.iter().any(|a| a == "iam:PassRole")))
    }

    async fn dry_run(&self, call: &DryRun) -> Result<Allowed, CloudError> {
        self.call(Op::DryRun, 0, self.profile.latency.describe)
            .await?;
        let st = self.here.state.borrow();
        if st.world.denied.iter().any(|a| a == call.action()) {
            return Ok(Allowed::No(format!(
                "You are not authorized to perform this operation. User is not authorized to \
                 perform: {}",
                call.action()
            )));
        }
        Ok(Allowed::Yes)
    }

    async fn exec(&self, _command: &[String], _env: &Tags) -> Result<ExecOutput, CloudError> {
        tokio::time::sleep(self.draw(self.profile.latency.exec)).await;
        Ok(ExecOutput {
            exit_code: 0,
            stdout: "(simulated: not run)".to_string(),
        })
    }

    async fn find(&self, kind: ResourceKind, lookup: &Lookup) -> Result<Vec<Found>, CloudError> {
        self.call(kind.describe_op(), 0, self.profile.latency.describe)
            .await?;
        if let Lookup::Ids(ids) = lookup {
            filter_values(ids)?;
        }
        let now = Instant::now();
        let out = {
            let st = self.here.state.borrow();
            let wanted = |id: &str, tags: &Tags| match lookup {
                Lookup::Ids(ids) => ids.iter().any(|i| i == id),
                Lookup::Tags(want) => matches_tags(tags, want),
                Lookup::AttachedTo(_) => false,
            };
            let on = |v: &Volume| match lookup {
                Lookup::AttachedTo(i) => v.attached.as_ref().is_some_and(|(a, _)| a == i),
                _ => false,
            };
            let found = |id: &str, state: &str, tags: &Tags| Found {
                id: id.to_string(),
                state: state.to_string(),
                tags: tags.clone(),
                zone: None,
                private_ip: None,
                instance_type: None,
                attached_to: None,
            };
            let mut out: Vec<Found> = match kind {
                // Filters leave out what has not propagated yet.
                ResourceKind::Instance => st
                    .instances
                    .iter()
                    .filter(|(id, i)| i.visible_at <= now && wanted(id, &i.tags))
                    .map(|(id, i)| Found {
                        zone: Some(i.zone.clone()),
                        private_ip: Some(i.private_ip.clone()),
                        instance_type: Some(i.instance_type.clone()),
                        ..found(id, i.state(now), &i.tags)
                    })
                    .collect(),
                ResourceKind::Volume => st
                    .volumes
                    .iter()
                    .filter(|(id, v)| {
                        v.visible_at <= now && !v.deleted(now) && (wanted(id, &v.tags) || on(v))
                    })
                    .map(|(id, v)| Found {
                        zone: Some(v.zone.clone()),
                        attached_to: v.attached.as_ref().map(|(i, _)| i.clone()),
                        ..found(id, v.state(now).0, &v.tags)
                    })
                    .collect(),
                ResourceKind::Image => st
                    .world
                    .images
                    .iter()
                    .filter(|i| wanted(&i.id, &i.tags))
                    .map(|i| found(&i.id, &i.state, &i.tags))
                    .collect(),
                ResourceKind::Snapshot => st
                    .world
                    .snapshots
                    .iter()
                    .filter(|s| wanted(&s.id, &s.tags))
                    .map(|s| found(&s.id, &s.state, &s.tags))
                    .collect(),
                ResourceKind::SecurityGroup => st
                    .sandboxes
                    .iter()
                    .filter(|(id, (tags, deleted))| !deleted && wanted(id, tags))
                    .map(|(id, (tags, _))| found(id, "available", tags))
                    .collect(),
            };
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out
        };
        let per_page = if kind == ResourceKind::Volume {
            500
        } else {
            PAGE
        };
        self.pages(kind.describe_op(), out.len(), per_page).await?;
        Ok(out)
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), CloudError> {
        self.call(kind.delete_op(), 0, self.profile.latency.describe)
            .await?;
        let mut st = self.here.state.borrow_mut();
        st.deletes += 1;
        if st.deletes <= self.profile.faults.failed_deletes {
            return Err(CloudError::new(
                "IncorrectState",
                format!("{id} cannot be deleted right now (a simulated fault)"),
            ));
        }
        let now = Instant::now();
        match kind {
            ResourceKind::Instance => {
                let gone_at = now + self.draw(self.profile.latency.pending_to_running);
                let Some(i) = st.instances.get_mut(id).filter(|i| i.visible_at <= now) else {
                    return Err(Self::not_found("InvalidInstanceID.NotFound", id));
                };
                if i.protected {
                    return Err(CloudError::new(
                        "OperationNotPermitted",
                        format!(
                            "The instance '{id}' may not be terminated. Modify its \
                             'disableApiTermination' instance attribute and try again."
                        ),
                    ));
                }
                i.terminated_at.get_or_insert(gone_at);
                // Its volumes come off as it stops; those it was launched with go with it.
                for v in st.volumes.values_mut() {
                    if v.attached.as_ref().is_some_and(|(i, _)| i == id) {
                        v.attached = None;
                        if v.delete_on_termination {
                            v.deleted_at.get_or_insert(gone_at);
                        }
                    }
                }
                Ok(())
            }
            ResourceKind::Volume => {
                let Some(v) = st
                    .volumes
                    .get_mut(id)
                    .filter(|v| v.deleted_at.is_none() && v.visible_at <= now)
                else {
                    return Err(Self::not_found("InvalidVolume.NotFound", id));
                };
                if v.attached.is_some() {
                    return Err(CloudError::new(
                        "VolumeInUse",
                        format!("Volume {id} is currently attached"),
                    ));
                }
                v.deleted_at = Some(now + self.draw(self.profile.latency.describe));
                Ok(())
            }
            ResourceKind::Image => {
                let before = st.world.images.len();
                st.images_mut().retain(|i| i.id != id);
                if st.world.images.len() == before {
                    return Err(Self::not_found("InvalidAMIID.NotFound", id));
                }
                Ok(())
            }
            ResourceKind::Snapshot => {
                let before = st.world.snapshots.len();
                st.snapshots_mut().retain(|s| s.id != id);
                if st.world.snapshots.len() == before {
                    return Err(Self::not_found("InvalidSnapshot.NotFound", id));
                }
                Ok(())
            }
            ResourceKind::SecurityGroup => {
                // In use by an instance not yet terminated: AWS refuses, as here.
                let in_use = st
                    .instances
                    .values()
                    .any(|i| i.groups.iter().any(|g| g == id) && i.state(now) != "terminated");
                if in_use {
                    return Err(CloudError::new(
                        "DependencyViolation",
                        format!("resource {id} has a dependent object"),
                    ));
                }
                match st.sandboxes.get_mut(id).filter(|(_, deleted)| !deleted) {
                    Some(group) => {
                        group.1 = true;
                        st.world.security_groups.retain(|g| g != id);
                        Ok(())
                    }
                    None => Err(Self::not_found("InvalidGroup.NotFound", id)),
                }
            }
        }
    }

    async fn restore_metadata(
        &self,
        vault: &str,
        recovery_point: &str,
    ) -> Result<Tags, CloudError> {
        self.call(
            Op::GetRecoveryPointRestoreMetadata,
            0,
            self.profile.latency.describe,
        )
        .await?;
        let st = self.here.state.borrow();
        st.world
            .recovery_points
            .iter()
            .find(|p| p.arn == recovery_point && p.vault == vault)
            .map(|p| p.restore_metadata.clone())
            .ok_or_else(|| {
                CloudError::new(
                    "ResourceNotFoundException",
                    format!("Recovery point {recovery_point} not found in vault {vault}"),
                )
            })
    }

    async fn restore_jobs(
        &self,
        recovery_point: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, CloudError> {
        self.call(Op::ListRestoreJobs, 0, self.profile.latency.describe)
            .await?;
        let st = self.here.state.borrow();
        let mut jobs: Vec<(&String, &Job)> = st
            .jobs
            .iter()
            .filter(|(_, j)| j.recovery_point == recovery_point && j.started >= since)
            .collect();
        jobs.sort_by(|a, b| b.1.started.cmp(&a.1.started).then(b.0.cmp(a.0)));
        Ok(jobs.into_iter().map(|(id, _)| id.clone()).collect())
    }

    async fn allow_termination(&self, instance: &str) -> Result<(), CloudError> {
        self.call(
            Op::ModifyInstanceAttribute,
            0,
            self.profile.latency.describe,
        )
        .await?;
        match self.here.state.borrow_mut().instances.get_mut(instance) {
            Some(i) => {
                i.protected = false;
                Ok(())
            }
            None => Err(Self::not_found("InvalidInstanceID.NotFound", instance)),
        }
    }

    async fn tag(&self, kind: ResourceKind, id: &str, tags: &Tags) -> Result<(), CloudError> {
        self.call(Op::CreateTags, 0, self.profile.latency.describe)
            .await?;
        let mut st = self.here.state.borrow_mut();
        let st = &mut *st;
        let have = match kind {
            ResourceKind::Instance => st.instances.get_mut(id).map(|i| &mut i.tags),
            ResourceKind::Volume => st.volumes.get_mut(id).map(|v| &mut v.tags),
            ResourceKind::Image => st
                .images_mut()
                .iter_mut()
                .find(|i| i.id == id)
                .map(|i| &mut i.tags),
            ResourceKind::Snapshot => st
                .snapshots_mut()
                .iter_mut()
                .find(|s| s.id == id)
                .map(|s| &mut s.tags),
            ResourceKind::SecurityGroup => st.sandboxes.get_mut(id).map(|(t, _)| t),
        };
        match have {
            Some(have) => {
                have.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(())
            }
            None => Err(Self::not_found("InvalidID", id)),
        }
    }

    async fn existing(&self, kind: Named, ids: &[String]) -> Result<Vec<String>, CloudError> {
        if let Named::Resource(kind) = kind {
            let found = self.find(kind, &Lookup::Ids(ids.to_vec())).await?;
            return Ok(super::live_ids(&found, ids));
        }
        self.call(kind.describe_op(), 0, self.profile.latency.describe)
            .await?;
        // EC2 looks these up by a filter (IAM and KMS by name, without that limit).
        if matches!(kind, Named::Subnet | Named::SecurityGroup | Named::KeyPair) {
            filter_values(ids)?;
        }
        let st = self.here.state.borrow();
        let w = &st.world;
        Ok(ids.iter().filter(|id| w.has(kind, id)).cloned().collect())
    }

    async fn detach_volume(&self, volume: &str) -> Result<(), CloudError> {
        self.call(Op::DetachVolume, 0, self.profile.latency.describe)
            .await?;
        let mut st = self.here.state.borrow_mut();
        match st
            .volumes
            .get_mut(volume)
            .filter(|v| v.deleted_at.is_none())
        {
            Some(v) => {
                v.attached = None;
                Ok(())
            }
            None => Err(Self::not_found("InvalidVolume.NotFound", volume)),
        }
    }
}

/// EC2 takes at most `FILTER_VALUES` values in one call's filters, and refuses more.
fn filter_values(ids: &[String]) -> Result<(), CloudError> {
    if ids.len() <= crate::cloud::FILTER_VALUES {
        return Ok(());
    }
    Err(CloudError::new(
        "FilterLimitExceeded",
        format!(
            "The maximum number of filter values specified on a single call is {}",
            crate::cloud::FILTER_VALUES
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_ec2_name_filters() {
        assert!(glob("web-*", "web-2026-11-01"));
        assert!(glob("web-??", "web-01"));
        assert!(!glob("web-??", "web-1"));
        assert!(glob("*", ""));
        assert!(!glob("db-*", "web-1"));
    }
}
