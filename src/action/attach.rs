//! `attach`: AttachVolume of a volume to an instance at a device, waited for until the volume
//! is in use. A retry or a resume first asks the volume whether it is attached already.

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, Lookup, Op, ResourceKind};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::model::Attachment;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{ANY, Builder, Sid, literals, resource_tagged};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, INSTANCE, Kind, STR, Ty, req};

pub(crate) struct Attach;

static SCHEMA: ActionSchema = ActionSchema {
    name: "attach",
    fields: &[
        req("volume", Ty::Str(Kind::Volume)),
        req("instance", INSTANCE),
        req("device", STR),
    ],
    one_of: &[],
    outputs: &[("volume", Ty::Str(Kind::Volume)), ("instance", INSTANCE)],
};

impl Definition for Attach {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let Inputs {
            volume,
            instance,
            device,
        } = i;
        let attachment = Attachment {
            volume: volume.clone(),
            instance: instance.clone(),
        };
        ctx.once(
            Op::AttachVolume,
            &ctx.token(&format!("attach/{volume}/{instance}")),
            // Attached before the interruption: the volume says to which instance.
            async || {
                let now = ctx
                    .api
                    .find(ResourceKind::Volume, &Lookup::Ids(vec![volume.clone()]))
                    .await?;
                Ok(now
                    .iter()
                    .any(|v| v.attached_to.as_deref() == Some(instance.as_str()))
                    .then(|| attachment.clone()))
            },
            async || {
                ctx.api
                    .attach_volume(&volume, &instance, &device)
                    .await
                    .map(|()| attachment.clone())
            },
            |_: &Attachment| Vec::new(),
        )
        .await?;
        let look = Looks::expecting(ctx.model.attach_volume);
        let o = ctx
            .pollers
            .volumes
            .wait(&volume, Want::State("in-use"), look)
            .await?;
        let mut done = Done::default();
        done.ready(o.ready_at);
        done.outputs = Outputs { volume, instance };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The volume poller waits for `in-use`. Only the run's own volumes and instances.
        b.describe(&["ec2:DescribeVolumes"]);
        let both = [scope.ec2("instance", ANY), scope.ec2("volume", ANY)];
        b.allow(Sid::Attach, &["ec2:AttachVolume"], both)
            .when(resource_tagged());
        // A volume or instance the runbook names by id existed before the run and carries no
        // run tag: it is allowed by its own ARN, and nothing else untagged is.
        let mut named: Vec<String> = literals(fields.get("volume"))
            .into_iter()
            .flatten()
            .map(|id| scope.ec2("volume", id))
            .collect();
        named.extend(
            literals(fields.get("instance"))
                .into_iter()
                .flatten()
                .map(|id| scope.ec2("instance", id)),
        );
        if !named.is_empty() {
            b.allow(Sid::AttachNamed, &["ec2:AttachVolume"], named);
        }
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.attach_volume.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    volume: String,
    instance: String,
    device: String,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    volume: String,
    instance: String,
}
