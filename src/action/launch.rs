//! `launch`: RunInstances from an image into a subnet, falling back through `instance_types` on
//! capacity errors (each type given up is recorded with AWS's answer), then waits until every
//! instance is running. Volumes given in `volumes` are made from their snapshots with the
//! instances, in the same call.

use std::collections::BTreeMap;

use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Definition;
use super::shared::tags_with;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, CloudError, LaunchRequest, LaunchVolume, Launched, Op, ResourceKind};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::model::Created;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{ANY, Builder, Sid, arns, literals, passed_to, request_tagged};
use crate::runbook::expr::{Expr, Fields};
use crate::runbook::limits;
use crate::runbook::schema::{
    ActionSchema, INSTANCE, INSTANCES, Kind, SECURITY_GROUPS, STR, STR_MAP, STRS, Secrecy, Ty, opt,
    req,
};

pub(crate) struct Launch;

static SCHEMA: ActionSchema = ActionSchema {
    name: "launch",
    fields: &[
        req("image", Ty::Str(Kind::Image)),
        req("subnet", Ty::Str(Kind::Subnet)),
        req("instance_types", STRS),
        opt(
            "count",
            Ty::Int {
                min: 1,
                max: limits::MAX_COUNT,
            },
        ),
        opt("security_groups", SECURITY_GROUPS),
        opt("key_name", Ty::Str(Kind::KeyPair)),
        opt("instance_profile", Ty::Str(Kind::InstanceProfile)),
        opt("user_data", STR).secret(Secrecy::Always),
        opt("tags", STR_MAP),
        opt("volumes", Ty::Volumes),
    ],
    one_of: &[],
    outputs: &[
        ("instances", INSTANCES),
        ("instance", INSTANCE),
        ("zone", Ty::Str(Kind::Zone)),
        ("private_ips", STRS),
    ],
};

impl Definition for Launch {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;
    #[cfg(test)]
    const EVIDENCE: &'static [&'static str] = &["instance_type", "fallbacks"];

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let types = i.instance_types;
        let volumes = i
            .volumes
            .into_iter()
            .map(|v| LaunchVolume {
                snapshot: v.snapshot,
                device: v.device,
                volume_type: v.volume_type,
                size_gib: v.size_gib,
                iops: v.iops,
                throughput: v.throughput,
                kms_key: v.kms_key,
            })
            .collect();
        // An isolated drill's instances get only the sandbox's group and no public address.
        let sandbox = ctx.isolated(&i.subnet)?;
        let public_ip = sandbox.is_none();
        let security_groups = sandbox.map_or(i.security_groups, |g| vec![g]);
        let mut request = LaunchRequest {
            image: i.image,
            subnet: i.subnet,
            instance_type: String::new(),
            count: i.count.unwrap_or(1),
            security_groups,
            public_ip,
            key_name: i.key_name,
            instance_profile: i.instance_profile,
            user_data: i.user_data,
            tags: tags_with(&ctx.tags, i.tags),
            volumes,
            client_token: String::new(),
        };
        let mut last = None;
        let mut launched = None;
        let mut fallbacks = Vec::new();
        for (n, t) in types.iter().enumerate() {
            request.instance_type = t.clone();
            request.client_token = ctx.token(t);
            let result = ctx
                .once(
                    Op::RunInstances,
                    &request.client_token,
                    async || adopt_instances(ctx).await,
                    async || ctx.api.run_instances(&request).await,
                    made,
                )
                .await;
            match result {
                Ok(l) => {
                    launched = Some(l);
                    break;
                }
                Err(StepError::Cloud(e)) if e.is_capacity() && n + 1 < types.len() => {
                    (ctx.progress)(format!("{t}: {}; falling back to {}", e.code, types[n + 1]));
                    fallbacks
                        .push(json!({ "instance_type": t, "code": e.code, "message": e.message }));
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let Some(l) = launched else {
            return Err(last.map_or_else(
                || StepError::Failed("no instance type to launch".into()),
                StepError::from,
            ));
        };
        let mut done = Done::default();
        let look = Looks::running(ctx.model.pending_to_running);
        let observed = try_join_all(
            l.instances
                .iter()
                .map(|id| ctx.pollers.instances.wait(id, Want::State("running"), look)),
        )
        .await?;
        for o in &observed {
            done.ready(o.ready_at);
        }
        // What a responder needs next: which instances, at which addresses.
        let at: Vec<String> = l
            .instances
            .iter()
            .zip(
                l.private_ips
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::repeat("")),
            )
            .map(|(id, ip)| {
                if ip.is_empty() {
                    id.clone()
                } else {
                    format!("{id} {ip}")
                }
            })
            .collect();
        (ctx.progress)(format!("running in {}: {}", l.zone, at.join(", ")));
        done.outputs = Outputs {
            instance: l.instances.first().cloned(),
            instances: l.instances,
            zone: l.zone,
            private_ips: l.private_ips,
            instance_type: l.instance_type,
            fallbacks,
        };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The instance poller, and the lookup by tag that adopts a launch a crash interrupted.
        b.describe(&["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"]);
        // What RunInstances creates must be tagged as rebound's in the same request.
        let created = [scope.ec2("instance", ANY), scope.ec2("volume", ANY)];
        b.allow(Sid::Launch, &["ec2:RunInstances"], created.clone())
            .when(request_tagged());
        // What it uses, by ARN where the runbook names it. Its network interface is created
        // untagged, so it goes with these, without the tag condition.
        let mut used = vec![scope.ec2("network-interface", ANY)];
        let image = |id: &str| scope.ec2_shared("image", id);
        used.extend(arns(literals(fields.get("image")), image));
        used.extend(arns(literals(fields.get("subnet")), |id| {
            scope.ec2("subnet", id)
        }));
        let mut groups = literals(fields.get("security_groups"));
        if groups.is_empty() {
            // Without groups, the instance joins its VPC's default group, which has no name
            // here.
            groups.push(None);
        }
        used.extend(arns(groups, |id| scope.ec2("security-group", id)));
        let key_pair = |name: &str| scope.ec2("key-pair", name);
        used.extend(arns(literals(fields.get("key_name")), key_pair));
        let snapshot = |id: &str| scope.ec2_shared("snapshot", id);
        used.extend(arns(volume_snapshots(fields), snapshot));
        b.allow(Sid::LaunchReferences, &["ec2:RunInstances"], used);
        b.tag_on_create("RunInstances", created.clone());
        if let Some(profile) = fields.get("instance_profile") {
            // EC2 checks PassRole on the profile's role, which the runbook does not name: this
            // assumes the role has the profile's name, as the IAM console makes them.
            let roles = arns(literals(Some(profile)), |p| {
                scope.role(crate::cloud::instance_profile_name(p))
            });
            b.allow(Sid::PassRoleToEc2, &["iam:PassRole"], roles)
                .when(passed_to("ec2.amazonaws.com"));
        }
        // Root volumes carry the run's tags too, so teardown finds and deletes them (detaching
        // one still attached) as well as the instances.
        let deletes = [
            "ec2:DeleteVolume",
            "ec2:DetachVolume",
            "ec2:TerminateInstances",
        ];
        b.teardown(&deletes, created);
        // A `volumes` entry with a `kms_key` is encrypted with it at launch.
        if let Some(Expr::List(items)) = fields.get("volumes") {
            for v in items {
                if let Expr::Map(m) = v
                    && let Some(key) = m.get("kms_key")
                {
                    b.kms(key);
                }
            }
        }
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.run_instances.median + m.pending_to_running.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    image: String,
    subnet: String,
    instance_types: Vec<String>,
    count: Option<u32>,
    #[serde(default)]
    security_groups: Vec<String>,
    key_name: Option<String>,
    instance_profile: Option<String>,
    user_data: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    volumes: Vec<Volume>,
}

/// One map of `volumes` (the checker checked its keys against `VOLUME_FIELDS`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Volume {
    snapshot: String,
    device: String,
    #[serde(rename = "type")]
    volume_type: Option<String>,
    size_gib: Option<u32>,
    iops: Option<u32>,
    throughput: Option<u32>,
    kms_key: Option<String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    instances: Vec<String>,
    instance: Option<String>,
    zone: String,
    private_ips: Vec<String>,
    /// The type launched.
    instance_type: String,
    /// The evidence of a capacity shortage: each type given up, with AWS's answer.
    fallbacks: Vec<Value>,
}

/// The resources in a launch's answer: its instances, in their zone.
fn made(l: &Launched) -> Vec<Created> {
    l.instances
        .iter()
        .map(|id| Created::new(ResourceKind::Instance, id, Some(l.zone.clone())))
        .collect()
}

/// The instances a launch of this step made before an interruption, if any.
async fn adopt_instances<C: Cloud>(ctx: &Ctx<'_, '_, C>) -> Result<Option<Launched>, CloudError> {
    let found: Vec<_> = ctx
        .api
        .find(ResourceKind::Instance, &ctx.mine())
        .await?
        .into_iter()
        .filter(|f| !f.gone() && f.state != "shutting-down")
        .collect();
    let Some(first) = found.first() else {
        return Ok(None);
    };
    Ok(Some(Launched {
        zone: first.zone.clone().unwrap_or_default(),
        instance_type: first.instance_type.clone().unwrap_or_default(),
        private_ips: found
            .iter()
            .map(|f| f.private_ip.clone().unwrap_or_default())
            .collect(),
        instances: found.into_iter().map(|f| f.id).collect(),
    }))
}

/// The snapshots of `volumes`, literal or known only at run time.
fn volume_snapshots(fields: &Fields) -> Vec<Option<&str>> {
    match fields.get("volumes") {
        None => Vec::new(),
        Some(Expr::List(items)) => items
            .iter()
            .flat_map(|v| match v {
                Expr::Map(m) => literals(m.get("snapshot")),
                _ => vec![None],
            })
            .collect(),
        Some(_) => vec![None],
    }
}
