//! `create_volume`: an EBS volume from a snapshot in a zone, waited for until available; its
//! loading from the snapshot is then watched for the rest of the run (never waited for).

use serde::{Deserialize, Serialize};

use super::Definition;
use super::shared::adopt_one;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, Op, ResourceKind, VolumeRequest};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::model::Created;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{ANY, Builder, Sid, arns, literals, request_tagged};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, KMS_KEY, Kind, POSITIVE, Ty, VOLUME_TYPES, opt, req};

pub(crate) struct CreateVolume;

static SCHEMA: ActionSchema = ActionSchema {
    name: "create_volume",
    fields: &[
        req("snapshot", Ty::Str(Kind::Snapshot)),
        req("zone", Ty::Str(Kind::Zone)),
        opt("type", Ty::OneOf(VOLUME_TYPES)),
        opt("size_gib", POSITIVE),
        opt("iops", POSITIVE),
        opt("throughput", POSITIVE),
        opt("kms_key", KMS_KEY),
        // MiB/s of a provisioned volume initialization rate: EBS takes 100 to 300.
        opt("initialization_rate", Ty::Int { min: 100, max: 300 }),
    ],
    one_of: &[],
    outputs: &[("id", Ty::Str(Kind::Volume))],
};

impl Definition for CreateVolume {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let request = VolumeRequest {
            snapshot: i.snapshot,
            zone: i.zone,
            volume_type: i.volume_type,
            size_gib: i.size_gib,
            iops: i.iops,
            throughput: i.throughput,
            kms_key: i.kms_key,
            initialization_rate: i.initialization_rate,
            tags: ctx.tags.clone(),
            client_token: ctx.token("volume"),
        };
        let id = ctx
            .once(
                Op::CreateVolume,
                &request.client_token,
                async || adopt_one(ctx, ResourceKind::Volume).await,
                async || ctx.api.create_volume(&request).await,
                |id: &String| {
                    vec![Created::new(
                        ResourceKind::Volume,
                        id,
                        Some(request.zone.clone()),
                    )]
                },
            )
            .await?;
        let look = Looks::expecting(ctx.model.create_volume);
        let o = ctx
            .pollers
            .volumes
            .wait(&id, Want::State("available"), look)
            .await?;
        let mut done = Done {
            loading: Some(id.clone()),
            ..Done::default()
        };
        done.ready(o.ready_at);
        done.outputs = Outputs { id };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The volume poller, and the watch of the volume's loading from its snapshot.
        b.describe(&["ec2:DescribeVolumeStatus", "ec2:DescribeVolumes"]);
        let volumes = scope.ec2("volume", ANY);
        b.allow(Sid::Volumes, &["ec2:CreateVolume"], [volumes.clone()])
            .when(request_tagged());
        // The snapshot is read, not created: the request's tags are not its own.
        let snapshot = |id: &str| scope.ec2_shared("snapshot", id);
        let snapshots = arns(literals(fields.get("snapshot")), snapshot);
        b.allow(Sid::VolumeSources, &["ec2:CreateVolume"], snapshots);
        b.tag_on_create("CreateVolume", [volumes.clone()]);
        if let Some(key) = fields.get("kms_key") {
            b.kms(key);
        }
        // A volume still attached is detached (from its instance) before it is deleted.
        let deletes = ["ec2:DeleteVolume", "ec2:DetachVolume"];
        b.teardown(&deletes, [volumes, scope.ec2("instance", ANY)]);
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.create_volume.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    snapshot: String,
    zone: String,
    #[serde(rename = "type")]
    volume_type: Option<String>,
    size_gib: Option<u32>,
    iops: Option<u32>,
    throughput: Option<u32>,
    kms_key: Option<String>,
    initialization_rate: Option<u32>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
}
