//! The default simulated world of a runbook: made from the runbook's own references, so that any
//! runbook rehearses on a fresh machine. Each action seeds what its steps will look for (the
//! `find_*` actions: a few candidates, so that a rehearsal exercises the choice); every literal
//! image, snapshot, subnet, security group, key pair, instance profile and recovery point a
//! step names is added as it is.
//! Instances and volumes exist only once a run creates them: a literal instance or volume id
//! fails with NotFound, as on AWS.

use chrono::{DateTime, Duration, Utc};

use crate::cloud::sim::world::World;
use crate::cloud::{RecoveryPoint, Tags};
use crate::runbook::checked::Runbook;
use crate::runbook::expr::{Expr, Fields};

/// What an action's `seed` is told of its step.
pub(crate) struct Seed<'a> {
    pub name: &'a str,
    pub fields: &'a Fields,
    pub now: DateTime<Utc>,
    /// Minutes before `now` of the default candidates: the newest usable one, an older usable
    /// one, a newer one that is not Safe, and a newest one still pending.
    pub ages: [i64; 4],
}

impl Seed<'_> {
    /// `minutes` before now.
    pub(crate) fn ago(&self, minutes: i64) -> DateTime<Utc> {
        self.now - Duration::minutes(minutes)
    }

    /// A literal string field.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Expr::as_str)
    }

    /// A list field's literal strings; `None` when the step does not give the list.
    pub(crate) fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.fields.get(name).and_then(Expr::strings)
    }

    /// A map field's literal entries (`tags`); empty when the step does not give it.
    pub(crate) fn tags(&self, name: &str) -> Tags {
        self.fields.get(name).map(Expr::str_map).unwrap_or_default()
    }
}

/// (state, Safe tag) of the default candidates of a `find_*`, in the order of `Seed::ages`.
pub(crate) const CANDIDATES: [(&str, &str); 4] = [
    ("available", "True"),
    ("available", "True"),
    ("available", "False"),
    ("pending", "True"),
];

/// The default world of a runbook, with creation times relative to `now`.
pub fn default_world(rb: &Runbook, now: DateTime<Utc>) -> World {
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
        let seed = Seed {
            name: &step.name,
            fields: &step.fields,
            now,
            ages,
        };
        // What a step looks for is in its own region; what a copy copies, in its source's.
        let here = step.region.as_deref().or(rb.region.as_deref());
        step.action.seed(w.region_mut(here), &seed);
        for (field, expr) in &step.fields {
            let region = match step.action.schema().field(field).and_then(|f| f.region_of) {
                Some(of) => step.field(of).and_then(Expr::as_str),
                None => here,
            };
            literals(w.region_mut(region), field, expr, seed.ago(ages[0]));
        }
    }
    // Steps that ask the same question, or name the same literal, added it each: the first
    // stays.
    w.dedup();
    w
}

/// The query's tags with `Safe` set: a candidate that is not Safe does not match a query for
/// `Safe = "True"`, as on AWS, and is rejected by `require_safe` otherwise.
pub(crate) fn safe(tags: &Tags, value: &str) -> Tags {
    let mut t = tags.clone();
    t.insert("Safe".to_string(), value.to_string());
    t
}

/// A stable 17-hex-digit id from a question and an index: steps that ask the same question see
/// the same candidates.
pub(crate) fn hex_id(name: &str, i: usize) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(format!("{name}/{i}").as_bytes());
    // The first 17 hex digits: 9 bytes' worth, written in place (seeding a 1,000-tier world
    // makes thousands of these).
    let mut hex = String::with_capacity(18);
    for b in &digest[..9] {
        let _ = write!(hex, "{b:02x}");
    }
    hex.truncate(17);
    hex
}

/// Adds `name` to a list the world models once a runbook names one.
fn named(list: &mut Option<Vec<String>>, name: &str) {
    let list = list.get_or_insert_default();
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// Literal inventory a step names, created at `created`.
fn literals(w: &mut World, field: &str, expr: &Expr, created: DateTime<Utc>) {
    match expr {
        Expr::Str(s) => match field {
            "image" if s.starts_with("ami-") => {
                let tags = safe(&Tags::new(), "True");
                w.add_image(s, "literal-image", created, "available", tags);
            }
            "snapshot" if s.starts_with("snap-") => {
                w.add_snapshot(s, created, "completed", Tags::new(), None);
            }
            "subnet" if !w.subnets.contains_key(s) => {
                let zone = format!("{}{}", w.region, ["a", "b", "c"][w.subnets.len() % 3]);
                w.subnets.insert(s.clone(), zone);
            }
            "recovery_point" => {
                w.recovery_points.push(RecoveryPoint {
                    arn: s.clone(),
                    vault: "literal".to_string(),
                    created,
                    status: "COMPLETED".to_string(),
                    resource: String::new(),
                    resource_type: "EC2".to_string(),
                    termination_protection: false,
                    restore_metadata: Tags::new(),
                });
            }
            "security_groups" if !w.security_groups.contains(s) => {
                w.security_groups.push(s.clone());
            }
            "key_name" => named(&mut w.key_pairs, s),
            "instance_profile" => {
                named(
                    &mut w.instance_profiles,
                    crate::cloud::instance_profile_name(s),
                );
            }
            _ => {}
        },
        Expr::List(items) => items.iter().for_each(|e| literals(w, field, e, created)),
        Expr::Map(entries) if field == "volumes" => {
            entries.iter().for_each(|(k, e)| literals(w, k, e, created));
        }
        _ => {}
    }
}
