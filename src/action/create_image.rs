//! `create_image`: an AMI of an instance, rebooted by default (only a rebooted image is tagged
//! Safe=True), waited for until available.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::shared::{adopt_one, tags_with};
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, ImageRequest, Op, ResourceKind};
use crate::exec::ctx::{Ctx, Done, StepError, first_look};
use crate::exec::model::Created;
use crate::exec::poller::Want;
use crate::policy::builder::{ANY, Builder, Sid, literals, request_tagged, resource_tagged};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, INSTANCE, Kind, STR, STR_MAP, Ty, opt, req};

pub(crate) struct CreateImage;

static SCHEMA: ActionSchema = ActionSchema {
    name: "create_image",
    fields: &[
        req("instance", INSTANCE),
        opt("reboot", Ty::Bool),
        opt("name", STR),
        opt("tags", STR_MAP),
    ],
    one_of: &[],
    outputs: &[("id", Ty::Str(Kind::Image))],
};

impl Definition for CreateImage {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let reboot = i.reboot.unwrap_or(true);
        let mut own = i.tags;
        own.insert("CreatedBy".into(), "rebound".into());
        own.insert("Source".into(), i.instance.clone());
        // Only a rebooted image is consistent enough to restore from.
        own.insert("Safe".into(), if reboot { "True" } else { "False" }.into());
        let request = ImageRequest {
            name: i
                .name
                .unwrap_or_else(|| format!("rebound-{}-{}", ctx.step, ctx.run_id)),
            instance: i.instance,
            reboot,
            tags: tags_with(&ctx.tags, own),
        };
        let id = ctx
            .once(
                Op::CreateImage,
                &ctx.token("image"),
                async || adopt_one(ctx, ResourceKind::Image).await,
                async || ctx.api.create_image(&request).await,
                |id: &String| vec![Created::new(ResourceKind::Image, id, None)],
            )
            .await?;
        let look = first_look(ctx.model.create_image);
        let o = ctx
            .pollers
            .images
            .wait(&id, Want::State("available"), look)
            .await?;
        let mut done = Done::default();
        done.ready(o.ready_at);
        done.outputs = Outputs { id };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The image poller waits for `available`.
        b.describe(&["ec2:DescribeImages"]);
        let made = [
            scope.ec2_shared("image", ANY),
            scope.ec2_shared("snapshot", ANY),
        ];
        b.allow(Sid::Image, &["ec2:CreateImage"], made.clone())
            .when(request_tagged());
        // The source is an instance the run made (launched, or restored and tagged), or one the
        // runbook names by id (which carries no run tag), by its own ARN.
        b.allow(
            Sid::ImageSource,
            &["ec2:CreateImage"],
            [scope.ec2("instance", ANY)],
        )
        .when(resource_tagged());
        let named: Vec<String> = literals(fields.get("instance"))
            .into_iter()
            .flatten()
            .map(|id| scope.ec2("instance", id))
            .collect();
        if !named.is_empty() {
            b.allow(Sid::ImageSourceNamed, &["ec2:CreateImage"], named);
        }
        b.tag_on_create("CreateImage", made.clone());
        b.teardown(&["ec2:DeleteSnapshot", "ec2:DeregisterImage"], made);
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.create_image.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    instance: String,
    reboot: Option<bool>,
    name: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
}
