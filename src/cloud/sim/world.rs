//! The simulated account's inventory before the disaster: images, snapshots, recovery points,
//! subnets and security groups. By default it is made from the runbook's own references, so
//! any runbook rehearses on a fresh machine; `--sim-world FILE` loads one instead (the JSON of
//! this type; `rebound inventory export` will write it from a real account).
//!
//! For every `find_*` the default world holds a few candidates, so that a rehearsal exercises
//! the choice: the newest Safe one (6 h old, or half the runbook's RPO if that is less), an
//! older Safe one (3 d), a newer one that is not Safe, and a newest one still pending. Instances and volumes exist only
//! once a run creates them: a literal instance or volume id fails with NotFound, as on AWS.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::cloud::{Image, RecoveryPoint, Snapshot, Tags};
use crate::runbook::Runbook;
use crate::runbook::checked::{Expr, Step};
use crate::runbook::schema::Action;

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
}

impl World {
    /// The default world of a runbook, with creation times relative to `now`.
    pub fn for_runbook(rb: &Runbook, now: DateTime<Utc>) -> World {
        let mut w = World {
            region: rb.region.clone().unwrap_or_else(|| "us-east-1".to_string()),
            ..World::default()
        };
        // The newest usable candidate is well within the runbook's RPO, so that a rehearsal
        // succeeds unless the runbook itself is wrong.
        let newest = rb
            .rpo
            .map_or(6 * 60, |rpo| (rpo.as_secs() as i64 / 120).clamp(2, 6 * 60));
        let ages = [newest, 72 * 60, newest / 2, 1.max(newest / 4)];
        for step in &rb.steps {
            w.add_step(step, now, &ages);
        }
        w
    }

    /// `ages`: minutes before `now` of the default candidates (newest usable, older usable,
    /// newer not Safe, newest pending).
    fn add_step(&mut self, step: &Step, now: DateTime<Utc>, ages: &[i64; 4]) {
        let ago =
            |hours: i64, minutes: i64| now - Duration::hours(hours) - Duration::minutes(minutes);
        match step.action {
            Action::FindImage => {
                if let Some(ids) = strings(step.field("image_ids")) {
                    for id in ids {
                        self.image(
                            &id,
                            "restore-image",
                            ago(0, ages[0]),
                            "available",
                            safe(&Tags::new(), "True"),
                        );
                    }
                    return;
                }
                let tags = map(step.field("tags"));
                let name = step.field("name").and_then(string).map_or_else(
                    || format!("{}-image", step.name),
                    |g| g.replace(['*', '?'], "x"),
                );
                // Steps that ask the same question see the same candidates.
                let question = format!("image/{tags:?}/{:?}", step.field("name").and_then(string));
                for (i, ((state, safe_value), minutes)) in CANDIDATES.iter().zip(ages).enumerate() {
                    let id = format!("ami-{}", hex_id(&question, i));
                    if !self.images.iter().any(|x| x.id == id) {
                        self.image(&id, &name, ago(0, *minutes), state, safe(&tags, safe_value));
                    }
                }
            }
            Action::FindSnapshot => {
                if let Some(ids) = strings(step.field("snapshot_ids")) {
                    for id in ids {
                        self.snapshot(&id, ago(0, ages[0]), "completed", Tags::new(), None);
                    }
                    return;
                }
                let tags = map(step.field("tags"));
                let volume = step.field("volume").and_then(string);
                let question = format!("snapshot/{tags:?}/{volume:?}");
                for (i, ((state, safe_value), minutes)) in CANDIDATES.iter().zip(ages).enumerate() {
                    let id = format!("snap-{}", hex_id(&question, i));
                    if self.snapshots.iter().any(|x| x.id == id) {
                        continue;
                    }
                    // Snapshots have no Safe tag: the newer candidate that must not be used
                    // is one whose copy failed.
                    let tags = tags.clone();
                    let state = match (*state, *safe_value) {
                        (_, "False") => "error",
                        ("available", _) => "completed",
                        (other, _) => other,
                    };
                    self.snapshot(&id, ago(0, *minutes), state, tags, volume.clone());
                }
            }
            Action::FindRecoveryPoint => {
                let vault = step.field("vault").and_then(string).unwrap_or_default();
                let ebs = step.field("resource_type").and_then(string).as_deref() == Some("EBS");
                let tags = map(step.field("tags"));
                let resource = step.field("resource").and_then(string).unwrap_or_else(|| {
                    format!(
                        "arn:aws:ec2:{}:123456789012:instance/i-{}",
                        self.region,
                        hex_id(&step.name, 9)
                    )
                });
                let points = [
                    (ages[0], "COMPLETED"),
                    (ages[1], "COMPLETED"),
                    (ages[3], "PARTIAL"),
                ];
                let question = format!("point/{vault}/{ebs}/{tags:?}/{resource}");
                for (i, (minutes, status)) in points.iter().enumerate() {
                    let age = (0, *minutes);
                    let id = hex_id(&question, i);
                    if self.recovery_points.iter().any(|p| p.arn.ends_with(&id)) {
                        continue;
                    }
                    let (arn, rtype) = if ebs {
                        let snap = format!("snap-{id}");
                        self.snapshot(&snap, ago(age.0, age.1), "completed", Tags::new(), None);
                        (
                            format!("arn:aws:ec2:{}::snapshot/{snap}", self.region),
                            "EBS",
                        )
                    } else {
                        let ami = format!("ami-{id}");
                        self.image(&ami, "backup", ago(age.0, age.1), "available", Tags::new());
                        (format!("arn:aws:ec2:{}::image/{ami}", self.region), "EC2")
                    };
                    self.recovery_points.push(RecoveryPoint {
                        arn,
                        vault: vault.clone(),
                        created: ago(age.0, age.1),
                        status: (*status).to_string(),
                        resource: resource.clone(),
                        resource_type: rtype.to_string(),
                        tags: tags.clone(),
                    });
                }
            }
            _ => {}
        }
        // Literal inventory named in any field.
        for (field, expr) in &step.fields {
            self.literals(field, expr, now, ages[0]);
        }
    }

    /// Literal inventory a step names; `minutes`: how old it is.
    fn literals(&mut self, field: &str, expr: &Expr, now: DateTime<Utc>, minutes: i64) {
        let created = now - Duration::minutes(minutes);
        match expr {
            Expr::Str(s) => match field {
                "image" if s.starts_with("ami-") && !self.images.iter().any(|i| &i.id == s) => {
                    self.image(
                        s,
                        "literal-image",
                        created,
                        "available",
                        safe(&Tags::new(), "True"),
                    );
                }
                "snapshot"
                    if s.starts_with("snap-") && !self.snapshots.iter().any(|i| &i.id == s) =>
                {
                    self.snapshot(s, created, "completed", Tags::new(), None);
                }
                "subnet" if !self.subnets.contains_key(s) => {
                    let zone =
                        format!("{}{}", self.region, ["a", "b", "c"][self.subnets.len() % 3]);
                    self.subnets.insert(s.clone(), zone);
                }
                "recovery_point" if !self.recovery_points.iter().any(|p| &p.arn == s) => {
                    self.recovery_points.push(RecoveryPoint {
                        arn: s.clone(),
                        vault: "literal".to_string(),
                        created,
                        status: "COMPLETED".to_string(),
                        resource: String::new(),
                        resource_type: "EC2".to_string(),
                        tags: Tags::new(),
                    });
                }
                "security_groups" if !self.security_groups.contains(s) => {
                    self.security_groups.push(s.clone());
                }
                _ => {}
            },
            Expr::List(items) => items
                .iter()
                .for_each(|e| self.literals(field, e, now, minutes)),
            Expr::Map(entries) if field == "volumes" => {
                entries
                    .iter()
                    .for_each(|(k, e)| self.literals(k, e, now, minutes));
            }
            _ => {}
        }
    }

    fn image(&mut self, id: &str, name: &str, created: DateTime<Utc>, state: &str, tags: Tags) {
        self.images.push(Image {
            id: id.to_string(),
            name: name.to_string(),
            created,
            state: state.to_string(),
            owner: "self".to_string(),
            tags,
        });
    }

    fn snapshot(
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

/// (state, Safe tag) of the default candidates of a `find_*`, in the order of their ages.
const CANDIDATES: [(&str, &str); 4] = [
    ("available", "True"),
    ("available", "True"),
    ("available", "False"),
    ("pending", "True"),
];

/// The query's tags with `Safe` set: a candidate that is not Safe does not match a query for
/// `Safe = "True"`, as on AWS, and is rejected by `require_safe` otherwise.
fn safe(tags: &Tags, value: &str) -> Tags {
    tagged(tags, "Safe", value)
}

fn tagged(tags: &Tags, key: &str, value: &str) -> Tags {
    let mut t = tags.clone();
    t.insert(key.to_string(), value.to_string());
    t
}

/// A stable 17-hex-digit id from a step name and an index.
fn hex_id(name: &str, i: usize) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{name}/{i}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..17].to_string()
}

fn string(e: &Expr) -> Option<String> {
    match e {
        Expr::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn strings(e: Option<&Expr>) -> Option<Vec<String>> {
    match e? {
        Expr::List(items) => Some(items.iter().filter_map(string).collect()),
        _ => None,
    }
}

fn map(e: Option<&Expr>) -> Tags {
    match e {
        Some(Expr::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), string(v)?)))
            .collect(),
        _ => Tags::new(),
    }
}
