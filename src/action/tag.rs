//! `tag`: tags put on images or snapshots the run did not make (a validated image earns
//! `Safe=True`). The run's id is not among them (`rebound:` keys are refused by the checker),
//! so teardown never takes a tagged artifact for the run's; the step's record, journaled and in
//! the report, says what was tagged with what, and `rebound:validated-by` and
//! `rebound:validated-at` on the artifact name the run that vouched for it and when. CreateTags
//! sets the same tags again harmlessly: a retry or a resume may repeat it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, ResourceKind, Tags};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::{ANY, Builder, Sid, condition, literals};
use crate::runbook::expr::{Expr, Fields};
use crate::runbook::schema::{ActionSchema, Kind, STR_MAP, STRS, Ty, opt, req};

pub(crate) struct Tag;

/// The tag that names the run that tagged (vouched for) an artifact: not `rebound:run-id`,
/// which would hand the artifact to the run's teardown.
pub(crate) const VALIDATED_BY: &str = "rebound:validated-by";
/// When it did (RFC 3339, UTC).
pub(crate) const VALIDATED_AT: &str = "rebound:validated-at";

const IMAGES: Ty = Ty::List(&Ty::Str(Kind::Image));
const SNAPSHOTS: Ty = Ty::List(&Ty::Str(Kind::Snapshot));

static SCHEMA: ActionSchema = ActionSchema {
    name: "tag",
    fields: &[
        opt("images", IMAGES),
        opt("snapshots", SNAPSHOTS),
        req("tags", STR_MAP),
    ],
    one_of: &["images", "snapshots"],
    outputs: &[("tagged", STRS)],
};

impl Definition for Tag {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let mut tags: Tags = i.tags;
        tags.insert(VALIDATED_BY.to_string(), ctx.run_id.to_string());
        tags.insert(
            VALIDATED_AT.to_string(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let all = i
            .images
            .iter()
            .map(|id| (ResourceKind::Image, id))
            .chain(i.snapshots.iter().map(|id| (ResourceKind::Snapshot, id)));
        let mut tagged = Vec::new();
        for (kind, id) in all {
            ctx.api.tag(kind, id, &tags).await?;
            (ctx.progress)(format!("tagged {kind} {id}"));
            tagged.push(id.clone());
        }
        Ok(Done {
            outputs: Outputs { tagged },
            ..Done::default()
        })
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        let mut arns = Vec::new();
        for (field, kind) in [("images", "image"), ("snapshots", "snapshot")] {
            arns.extend(
                literals(fields.get(field))
                    .into_iter()
                    .map(|id| scope.ec2_shared(kind, id.unwrap_or(ANY))),
            );
        }
        // Only the keys the step names, and the run's mark: never `rebound:run-id`.
        let mut keys: Vec<String> = fields
            .get("tags")
            .map(Expr::str_map)
            .unwrap_or_default()
            .into_keys()
            .collect();
        keys.push(VALIDATED_BY.to_string());
        keys.push(VALIDATED_AT.to_string());
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        b.allow(Sid::TagArtifacts, &["ec2:CreateTags"], arns)
            .when(condition("ForAllValues:StringEquals", "aws:TagKeys", &keys));
    }

    fn expected_seconds(fields: &Fields, m: &LatencyModel) -> f64 {
        let count = |f: &str| fields.get(f).and_then(Expr::strings).map_or(1, |v| v.len());
        (count("images") + count("snapshots")) as f64 * m.describe.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    #[serde(default)]
    images: Vec<String>,
    #[serde(default)]
    snapshots: Vec<String>,
    tags: BTreeMap<String, String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    tagged: Vec<String>,
}
