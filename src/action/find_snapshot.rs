//! `find_snapshot`: the newest completed EBS snapshot that matches (by tags, source volume or
//! ids).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::find::{Candidate, pick};
use super::world::{CANDIDATES, Seed, hex_id};
use crate::cloud::sim::world::World;
use crate::cloud::{Cloud, SnapshotQuery, Tags};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, Kind, POSITIVE, STR_MAP, STRS, TIMESTAMP, Ty, opt};

pub(crate) struct FindSnapshot;

static SCHEMA: ActionSchema = ActionSchema {
    name: "find_snapshot",
    fields: &[
        opt("tags", STR_MAP),
        opt("volume", Ty::Str(Kind::Volume)).candidates(),
        opt("snapshot_ids", Ty::List(&Ty::Str(Kind::Snapshot))).candidates(),
        opt("owners", STRS),
        opt("max_age", Ty::Duration),
    ],
    one_of: &["tags", "volume", "snapshot_ids"],
    outputs: &[
        ("id", Ty::Str(Kind::Snapshot)),
        ("created", TIMESTAMP),
        ("size_gib", POSITIVE),
        ("age", Ty::Duration),
    ],
};

impl Definition for FindSnapshot {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let q = SnapshotQuery {
            owners: i.owners,
            tags: i.tags,
            volume: i.volume,
            ids: i.snapshot_ids,
        };
        let snapshots = ctx.api.describe_snapshots(&q).await?;
        let candidates = snapshots
            .iter()
            .map(|s| Candidate {
                item: s,
                id: &s.id,
                created: s.created,
                unusable: (s.state != "completed").then(|| format!("not completed ({})", s.state)),
            })
            .collect();
        pick(ctx, candidates, "snapshot", i.max_age, |c| Outputs {
            size_gib: c.item.size_gib,
            id: c.id,
            created: c.created,
            age: c.age,
        })
    }

    fn statements(b: &mut Builder, _: &Fields) {
        b.describe(&["ec2:DescribeSnapshots"]);
    }

    fn seed(w: &mut World, step: &Seed<'_>) {
        if let Some(ids) = step.strings("snapshot_ids") {
            for id in ids {
                w.add_snapshot(&id, step.ago(step.ages[0]), "completed", Tags::new(), None);
            }
            return;
        }
        let tags = step.tags("tags");
        let volume = step.str("volume").map(str::to_string);
        let question = format!("snapshot/{tags:?}/{volume:?}");
        for (i, ((state, safe_value), minutes)) in CANDIDATES.iter().zip(step.ages).enumerate() {
            let id = format!("snap-{}", hex_id(&question, i));
            // A repeat of another step's candidate is dropped by `World::dedup`.
            // Snapshots have no Safe tag: the newer candidate that must not be used is one
            // whose copy failed.
            let state = match (*state, *safe_value) {
                (_, "False") => "error",
                ("available", _) => "completed",
                (other, _) => other,
            };
            w.add_snapshot(&id, step.ago(minutes), state, tags.clone(), volume.clone());
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    volume: Option<String>,
    #[serde(default)]
    snapshot_ids: Vec<String>,
    #[serde(default)]
    owners: Vec<String>,
    /// Seconds: older candidates are refused (the runbook's `rpo` refuses none).
    max_age: Option<u64>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
    created: String,
    size_gib: u32,
    age: i64,
}
