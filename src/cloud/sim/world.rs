//! The simulated account's inventory before the disaster: images, snapshots, recovery points,
//! subnets, security groups, and (when given) key pairs and instance profiles. By default it is made from the runbook's own references
//! (`crate::action::world::default_world`: for every `find_*` the newest Safe candidate, 6 h
//! old or half the runbook's RPO if that is less, an older Safe one of 3 d, a newer one that is
//! not Safe and a newest one still pending); `--sim-world FILE` loads one instead (the JSON of
//! this type, as `rebound inventory export` writes it from a real account).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cloud::{Image, Named, RecoveryPoint, Snapshot, Tags};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct World {
    pub region: String,
    pub images: Vec<Image>,
    pub snapshots: Vec<Snapshot>,
    pub recovery_points: Vec<RecoveryPoint>,
    /// Subnet id to availability zone.
    pub subnets: BTreeMap<String, String>,
    pub security_groups: Vec<String>,
    /// Key pair names; absent (`null`), the world does not model them and every name exists.
    pub key_pairs: Option<Vec<String>>,
    /// Instance profile names; absent, every name exists (as `key_pairs`).
    pub instance_profiles: Option<Vec<String>>,
    /// Enabled KMS keys, as a runbook names them (id, ARN or alias); absent, every key exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_keys: Option<Vec<String>>,
    /// Each subnet's VPC; a subnet not listed is in one simulated VPC.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub vpcs: BTreeMap<String, String>,
    /// Free addresses by subnet (AvailableIpAddressCount); a subnet not listed has 250.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub free_addresses: BTreeMap<String, i64>,
    /// The instance types each zone offers; absent, every zone offers every type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offerings: Option<BTreeMap<String, Vec<String>>>,
    /// IAM actions the caller is denied (`ec2:RunInstances`): a DryRun of one answers
    /// `UnauthorizedOperation`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// The inventories of the account's other regions, by region: a runbook whose steps name
    /// another region finds (and copies from) what is there. Each is a world of its own; its
    /// `regions` are not read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, World>,
}

impl World {
    /// The inventory of `region` (this world's own for `None` or its own region), made empty
    /// on first use.
    pub(crate) fn region_mut(&mut self, region: Option<&str>) -> &mut World {
        match region {
            Some(r) if r != self.region => {
                self.regions.entry(r.to_string()).or_insert_with(|| World {
                    region: r.to_string(),
                    ..World::default()
                })
            }
            _ => self,
        }
    }

    /// Keeps the first of each image, snapshot and recovery point by id, here and in every
    /// region. Seeding adds what each step asks for and drops the repeats once at the end:
    /// checking each addition against everything added before was quadratic, a tenth of a
    /// 1,000-tier run's time (issue 20, measured with perf).
    pub(crate) fn dedup(&mut self) {
        fn first<T>(items: &mut Vec<T>, id: impl Fn(&T) -> &str) {
            let mut seen = std::collections::HashSet::new();
            items.retain(|x| seen.insert(id(x).to_string()));
        }
        first(&mut self.images, |i| &i.id);
        first(&mut self.snapshots, |s| &s.id);
        first(&mut self.recovery_points, |p| &p.arn);
        self.regions.values_mut().for_each(World::dedup);
    }

    /// The first id listed twice among the images, snapshots or recovery points, here or in a
    /// region, with what it names: an account's ids are unique, and a `--sim-world` file that
    /// repeats one describes no account (the simulator's indexes answer one of each id).
    pub fn repeated(&self) -> Option<(&'static str, &str)> {
        fn twice<'w, T>(items: &'w [T], id: impl Fn(&'w T) -> &'w str) -> Option<&'w str> {
            let mut seen = std::collections::HashSet::new();
            items.iter().map(id).find(|i| !seen.insert(*i))
        }
        twice(&self.images, |i| &i.id)
            .map(|id| ("image", id))
            .or_else(|| twice(&self.snapshots, |s| &s.id).map(|id| ("snapshot", id)))
            .or_else(|| twice(&self.recovery_points, |p| &p.arn).map(|id| ("recovery point", id)))
            .or_else(|| self.regions.values().find_map(World::repeated))
    }

    /// Whether the world holds the subnet, group, key pair or instance profile `id` (a name or
    /// ARN for a profile). Resources (instances, volumes, images, snapshots) are the
    /// simulator's state, not asked here.
    pub(crate) fn has(&self, kind: Named, id: &str) -> bool {
        let listed = |names: &Option<Vec<String>>, id: &str| {
            names.as_ref().is_none_or(|n| n.iter().any(|x| x == id))
        };
        match kind {
            Named::Subnet => self.subnets.contains_key(id),
            Named::SecurityGroup => self.security_groups.iter().any(|g| g == id),
            Named::KeyPair => listed(&self.key_pairs, id),
            Named::InstanceProfile => listed(
                &self.instance_profiles,
                crate::cloud::instance_profile_name(id),
            ),
            Named::KmsKey => listed(&self.kms_keys, id),
            Named::Resource(_) => false,
        }
    }

    /// Adds an image owned by the account.
    pub(crate) fn add_image(
        &mut self,
        id: &str,
        name: &str,
        created: DateTime<Utc>,
        state: &str,
        tags: Tags,
    ) {
        self.images.push(Image {
            id: id.to_string(),
            name: name.to_string(),
            created,
            state: state.to_string(),
            owner: "self".to_string(),
            tags,
        });
    }

    /// Adds a 100 GiB snapshot owned by the account.
    pub(crate) fn add_snapshot(
        &mut self,
        id: &str,
        created: DateTime<Utc>,
        state: &str,
        tags: Tags,
        volume: Option<String>,
    ) {
        self.snapshots.push(Snapshot {
            id: id.to_string(),
            created,
            state: state.to_string(),
            size_gib: 100,
            volume,
            owner: "self".to_string(),
            tags,
        });
    }
}
