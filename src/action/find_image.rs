//! `find_image`: the newest usable AMI that matches (by tags, name glob or ids), Safe=True by
//! default; the candidates passed over are rejected with their reasons.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::find::{Candidate, pick};
use super::world::{CANDIDATES, Seed, hex_id, safe};
use crate::cloud::sim::world::World;
use crate::cloud::{Cloud, ImageQuery, Tags};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, Kind, STR, STR_MAP, STRS, TIMESTAMP, Ty, opt};

pub(crate) struct FindImage;

static SCHEMA: ActionSchema = ActionSchema {
    name: "find_image",
    fields: &[
        opt("tags", STR_MAP),
        opt("name", STR),
        opt("image_ids", Ty::List(&Ty::Str(Kind::Image))).candidates(),
        opt("owners", STRS),
        opt("require_safe", Ty::Bool),
        opt("max_age", Ty::Duration),
    ],
    one_of: &["tags", "name", "image_ids"],
    outputs: &[
        ("id", Ty::Str(Kind::Image)),
        ("name", STR),
        ("created", TIMESTAMP),
        ("age", Ty::Duration),
    ],
};

impl Definition for FindImage {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        // Without `owners` (and without ids), only the account's own images: anyone may publish
        // a public AMI with any name and tags, and a find must not launch a stranger's.
        let owners = if i.owners.is_empty() && i.image_ids.is_empty() {
            vec!["self".to_string()]
        } else {
            i.owners
        };
        let q = ImageQuery {
            owners,
            tags: i.tags,
            name: i.name,
            ids: i.image_ids,
        };
        let require_safe = i.require_safe.unwrap_or(true);
        let images = ctx.api.describe_images(&q).await?;
        let candidates = images
            .iter()
            .map(|i| Candidate {
                item: i,
                id: &i.id,
                created: i.created,
                unusable: if i.state != "available" {
                    Some(format!("not available ({})", i.state))
                } else if require_safe && i.tags.get("Safe").map(String::as_str) != Some("True") {
                    Some("not Safe (no Safe=True tag)".to_string())
                } else {
                    None
                },
            })
            .collect();
        pick(ctx, candidates, "image", i.max_age, |c| Outputs {
            name: c.item.name.clone(),
            id: c.id,
            created: c.created,
            age: c.age,
        })
    }

    fn statements(b: &mut Builder, _: &Fields) {
        b.describe(&["ec2:DescribeImages"]);
    }

    fn seed(w: &mut World, step: &Seed<'_>) {
        if let Some(ids) = step.strings("image_ids") {
            for id in ids {
                let tags = safe(&Tags::new(), "True");
                w.add_image(
                    &id,
                    "restore-image",
                    step.ago(step.ages[0]),
                    "available",
                    tags,
                );
            }
            return;
        }
        let tags = step.tags("tags");
        let glob = step.str("name");
        let name = glob.map_or_else(
            || format!("{}-image", step.name),
            |g| g.replace(['*', '?'], "x"),
        );
        // Steps that ask the same question see the same candidates.
        let question = format!("image/{tags:?}/{:?}", glob.map(str::to_string));
        for (i, ((state, safe_value), minutes)) in CANDIDATES.iter().zip(step.ages).enumerate() {
            let id = format!("ami-{}", hex_id(&question, i));
            // A repeat of another step's candidate is dropped by `World::dedup`.
            let tags = safe(&tags, safe_value);
            w.add_image(&id, &name, step.ago(minutes), state, tags);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    name: Option<String>,
    #[serde(default)]
    image_ids: Vec<String>,
    #[serde(default)]
    owners: Vec<String>,
    /// Only images tagged Safe=True (rebooted or validated) unless the step says otherwise.
    require_safe: Option<bool>,
    /// Seconds: older candidates are refused (the runbook's `rpo` refuses none).
    max_age: Option<u64>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
    name: String,
    created: String,
    age: i64,
}
