//! `find_recovery_point`: the newest COMPLETED AWS Backup recovery point in a vault, for a
//! resource or a resource type, with the tags asked for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::find::{Candidate, pick};
use super::world::{Seed, hex_id};
use crate::cloud::latency::LatencyModel;
use crate::cloud::sim::world::World;
use crate::cloud::{Cloud, ImageQuery, RecoveryPoint, RecoveryPointQuery, SnapshotQuery, Tags};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::{Builder, Sid, arns, literals};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, Kind, STR, STR_MAP, TIMESTAMP, Ty, opt, req};

pub(crate) struct FindRecoveryPoint;

static SCHEMA: ActionSchema = ActionSchema {
    name: "find_recovery_point",
    fields: &[
        req("vault", STR),
        opt("resource", STR),
        opt("resource_type", Ty::OneOf(&["EC2", "EBS"])),
        opt("tags", STR_MAP),
        opt("max_age", Ty::Duration),
    ],
    one_of: &[],
    outputs: &[
        ("arn", Ty::Str(Kind::RecoveryPoint)),
        ("vault", STR),
        ("created", TIMESTAMP),
        ("resource", STR),
        ("image_id", Ty::Str(Kind::Image)),
        ("snapshot_id", Ty::Str(Kind::Snapshot)),
        ("age", Ty::Duration),
    ],
};

impl Definition for FindRecoveryPoint {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let q = RecoveryPointQuery {
            vault: i.vault,
            resource: i.resource,
            resource_type: i.resource_type,
        };
        let points = ctx.api.list_recovery_points(&q).await?;
        let points = with_tags(ctx, points, &i.tags).await?;
        let candidates = points
            .iter()
            .map(|p| Candidate {
                item: p,
                id: &p.arn,
                created: p.created,
                unusable: (p.status != "COMPLETED")
                    .then(|| format!("not COMPLETED ({})", p.status)),
            })
            .collect();
        pick(ctx, candidates, "recovery point", i.max_age, |c| Outputs {
            resource: c.item.resource.clone(),
            vault: c.item.vault.clone(),
            image_id: c.item.artifact("image"),
            snapshot_id: c.item.artifact("snapshot"),
            arn: c.id,
            created: c.created,
            age: c.age,
        })
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        // Tags are asked of the points' images and snapshots: DescribeImages and
        // DescribeSnapshots, which every run may call (teardown's lookups).
        let scope = b.scope().clone();
        let vaults = arns(literals(fields.get("vault")), |v| scope.vault(v));
        let list = &["backup:ListRecoveryPointsByBackupVault"];
        b.allow(Sid::RecoveryPoints, list, vaults);
    }

    fn seed(w: &mut World, step: &Seed<'_>) {
        let vault = step.str("vault").unwrap_or_default();
        let ebs = step.str("resource_type") == Some("EBS");
        let tags = step.tags("tags");
        let resource = step.str("resource").map_or_else(
            || {
                format!(
                    "arn:aws:ec2:{}:123456789012:instance/i-{}",
                    w.region,
                    hex_id(step.name, 9)
                )
            },
            str::to_string,
        );
        let points = [
            (step.ages[0], "COMPLETED"),
            (step.ages[1], "COMPLETED"),
            (step.ages[3], "PARTIAL"),
        ];
        let question = format!("point/{vault}/{ebs}/{tags:?}/{resource}");
        for (i, (minutes, status)) in points.into_iter().enumerate() {
            let id = hex_id(&question, i);
            if w.recovery_points.iter().any(|p| p.arn.ends_with(&id)) {
                continue;
            }
            let created = step.ago(minutes);
            let (arn, rtype) = if ebs {
                let snap = format!("snap-{id}");
                w.add_snapshot(&snap, created, "completed", tags.clone(), None);
                (format!("arn:aws:ec2:{}::snapshot/{snap}", w.region), "EBS")
            } else {
                let ami = format!("ami-{id}");
                w.add_image(&ami, "backup", created, "available", tags.clone());
                (format!("arn:aws:ec2:{}::image/{ami}", w.region), "EC2")
            };
            w.recovery_points.push(RecoveryPoint {
                arn,
                vault: vault.to_string(),
                created,
                status: status.to_string(),
                resource: resource.clone(),
                resource_type: rtype.to_string(),
                termination_protection: false,
                restore_metadata: Tags::new(),
            });
        }
    }

    /// List the vault's points, then (with `tags`) describe their images or snapshots.
    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        2.0 * m.describe.median
    }
}

/// The points whose image (EC2) or snapshot (EBS) carries every one of `tags`: a listing of a
/// vault has no tags, and the tags a backup rule gives its recovery points are on the AMI or
/// snapshot it made. One DescribeImages and one DescribeSnapshots by id, only when tags are
/// asked for.
async fn with_tags<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    points: Vec<RecoveryPoint>,
    tags: &Tags,
) -> Result<Vec<RecoveryPoint>, StepError> {
    if tags.is_empty() {
        return Ok(points);
    }
    let ids =
        |kind: &str| -> Vec<String> { points.iter().filter_map(|p| p.artifact(kind)).collect() };
    let (images, snapshots) = (ids("image"), ids("snapshot"));
    let mut tagged: BTreeMap<String, Tags> = BTreeMap::new();
    if !images.is_empty() {
        let q = ImageQuery {
            ids: images,
            ..ImageQuery::default()
        };
        tagged.extend(
            ctx.api
                .describe_images(&q)
                .await?
                .into_iter()
                .map(|i| (i.id, i.tags)),
        );
    }
    if !snapshots.is_empty() {
        let q = SnapshotQuery {
            ids: snapshots,
            ..SnapshotQuery::default()
        };
        tagged.extend(
            ctx.api
                .describe_snapshots(&q)
                .await?
                .into_iter()
                .map(|s| (s.id, s.tags)),
        );
    }
    let matches = |p: &RecoveryPoint| {
        let artifact = p.artifact("image").or_else(|| p.artifact("snapshot"));
        let have = artifact.and_then(|a| tagged.get(&a));
        have.is_some_and(|have| tags.iter().all(|(k, v)| have.get(k) == Some(v)))
    };
    Ok(points.into_iter().filter(matches).collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    vault: String,
    resource: Option<String>,
    resource_type: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// Seconds: older candidates are refused (the runbook's `rpo` refuses none).
    max_age: Option<u64>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    arn: String,
    /// The vault it is in: `restore` reads the point's restore metadata from it.
    vault: String,
    created: String,
    resource: String,
    /// The AMI an EC2 recovery point is (none for EBS).
    image_id: Option<String>,
    /// The snapshot an EBS recovery point is (none for EC2).
    snapshot_id: Option<String>,
    age: i64,
}
