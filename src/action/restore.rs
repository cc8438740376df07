//! `restore`: an AWS Backup restore job of a recovery point (an EC2 instance), waited for until
//! COMPLETED; its instance and the volumes attached to it are then recorded and tagged as the
//! run's (AWS Backup makes them untagged, and a volume restored with DeleteOnTermination=false
//! would outlive a drill), and the instance waited for until running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, Lookup, Op, RUN_TAG, ResourceKind, RestoreRequest, STEP_TAG, Tags};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::model::Created;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{ANY, Builder, Sid, condition, literals, passed_to, request_tagged};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{
    ActionSchema, INSTANCE, INSTANCES, Kind, SECURITY_GROUPS, STR, STR_MAP, Ty, opt, req,
};

pub(crate) struct Restore;

static SCHEMA: ActionSchema = ActionSchema {
    name: "restore",
    fields: &[
        req("recovery_point", Ty::Str(Kind::RecoveryPoint)),
        req("role", Ty::Str(Kind::Role)),
        opt("vault", STR),
        opt("subnet", Ty::Str(Kind::Subnet)),
        opt("instance_type", STR),
        opt("security_groups", SECURITY_GROUPS),
        opt("metadata", STR_MAP),
    ],
    one_of: &[],
    outputs: &[
        ("instances", INSTANCES),
        ("instance", INSTANCE),
        ("zone", Ty::Str(Kind::Zone)),
        ("job_id", STR),
    ],
};

impl Definition for Restore {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        // AWS documents a restore as: the point's own metadata (the backed-up instance's
        // configuration), then overrides. Without it AWS Backup infers defaults, which fail
        // where the default VPC was deleted. The vault is needed to ask.
        let mut metadata = match &i.vault {
            Some(vault) => ctx.api.restore_metadata(vault, &i.recovery_point).await?,
            None => Tags::new(),
        };
        let mut i = i;
        metadata.extend(std::mem::take(&mut i.metadata));
        // An isolated drill restores into its subnet with the sandbox's group only.
        if ctx.sandbox.is_some() {
            let Some(subnet) = &i.subnet else {
                return Err(StepError::Failed(
                    "the drill is isolated: a restore needs its `subnet` to be isolated there"
                        .into(),
                ));
            };
            if let Some(g) = ctx.isolated(subnet)? {
                // No public address: only RunInstances' network interface says so, and it then
                // carries the subnet and the group (the metadata's NetworkInterfaces).
                let nic = serde_json::json!([{
                    "DeviceIndex": 0,
                    "SubnetId": subnet,
                    "Groups": [g],
                    "AssociatePublicIpAddress": false,
                    "DeleteOnTermination": true,
                }]);
                metadata.insert("NetworkInterfaces".into(), nic.to_string());
                metadata.remove("SubnetId");
                metadata.remove("SecurityGroupIds");
                i.subnet = None;
                i.security_groups = Vec::new();
            }
        }
        // The original's network interfaces pin its subnet and groups; RunInstances refuses
        // them together with a subnet or groups of the request's own.
        if i.subnet.is_some() || !i.security_groups.is_empty() {
            metadata.remove("NetworkInterfaces");
        }
        if let Some(s) = i.subnet {
            metadata.insert("SubnetId".into(), s);
        }
        if let Some(t) = i.instance_type {
            metadata.insert("InstanceType".into(), t);
        }
        if !i.security_groups.is_empty() {
            metadata.insert(
                "SecurityGroupIds".into(),
                serde_json::Value::from(i.security_groups).to_string(),
            );
        }
        let request = RestoreRequest {
            recovery_point: i.recovery_point,
            role: i.role,
            metadata,
            idempotency_token: ctx.token("restore"),
        };
        // AWS Backup honours the idempotency token: a job started before an interruption is
        // found again by starting it again, while the token lasts. A resume after it has
        // expired (a crash in the night, resumed the next morning) would start a second job:
        // first the jobs of this recovery point since the run's t0 are listed, and the one
        // there is adopted. Jobs carry no tags; with several, none is taken for ours.
        let job = ctx
            .once(
                Op::StartRestoreJob,
                &request.idempotency_token,
                async || {
                    let jobs = ctx
                        .api
                        .restore_jobs(&request.recovery_point, ctx.t0)
                        .await?;
                    Ok(match jobs.as_slice() {
                        [one] => Some(one.clone()),
                        _ => None,
                    })
                },
                async || ctx.api.start_restore_job(&request).await,
                |_: &String| Vec::new(),
            )
            .await?;
        (ctx.progress)(format!("restore job {job} started"));
        let look = Looks::expecting(ctx.model.restore_job);
        let finished = ctx
            .pollers
            .jobs
            .wait(&job, Want::State("COMPLETED"), look)
            .await?;
        let instance = finished.detail.clone().ok_or_else(|| {
            StepError::Failed(format!("restore job {job} completed without an instance"))
        })?;
        // The job's instance and volumes carry none of the run's tags: they are recorded first
        // (a failed CreateTags must not leave them unaccounted for), then tagged, so that resume
        // and teardown know them as the run's.
        (ctx.created)(Created::new(ResourceKind::Instance, &instance, None));
        let volumes = ctx
            .api
            .find(ResourceKind::Volume, &Lookup::AttachedTo(instance.clone()))
            .await?;
        for v in &volumes {
            (ctx.created)(Created::new(ResourceKind::Volume, &v.id, v.zone.clone()));
        }
        ctx.api
            .tag(ResourceKind::Instance, &instance, &ctx.tags)
            .await?;
        for v in &volumes {
            ctx.api.tag(ResourceKind::Volume, &v.id, &ctx.tags).await?;
        }
        let running = ctx
            .pollers
            .instances
            .wait(&instance, Want::State("running"), Looks::NOW)
            .await?;
        (ctx.progress)(format!(
            "running: {instance} in {}",
            running.detail.as_deref().unwrap_or("its zone")
        ));
        let mut done = Done::default();
        done.ready(finished.ready_at);
        done.ready(running.ready_at);
        done.outputs = Outputs {
            instances: vec![instance.clone()],
            instance,
            zone: running.detail,
            job_id: job,
        };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        let scope = b.scope().clone();
        // The job poller, then the instance poller once the job has made its instance; a
        // resume's look for the job; the restored instance's volumes.
        b.describe(&[
            "backup:DescribeRestoreJob",
            "backup:ListRestoreJobs",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeVolumes",
        ]);
        let points = literals(fields.get("recovery_point"))
            .into_iter()
            .map(|p| p.unwrap_or(ANY).to_string());
        let restore: &[&'static str] = if fields.contains_key("vault") {
            &[
                "backup:StartRestoreJob",
                "backup:GetRecoveryPointRestoreMetadata",
            ]
        } else {
            &["backup:StartRestoreJob"]
        };
        b.allow(Sid::Restore, restore, points);
        let roles = literals(fields.get("role"))
            .into_iter()
            .map(|r| r.map_or_else(|| scope.role(ANY), str::to_string));
        b.allow(Sid::PassRoleToBackup, &["iam:PassRole"], roles)
            .when(passed_to("backup.amazonaws.com"));
        // AWS Backup makes the instance untagged; rebound tags it afterwards so that resume and
        // teardown know it as the run's. That CreateTags belongs to no create call, so
        // ec2:CreateAction cannot confine it: it is confined to writing the run's tags (the
        // runbook's, rebound:run-id and rebound:step) instead. This is the one statement that
        // can mark an existing instance as a run's, which teardown would then terminate.
        let instances = scope.ec2("instance", ANY);
        let volumes = scope.ec2("volume", ANY);
        let mut keys: Vec<String> = b.run_tag_keys().to_vec();
        keys.extend([RUN_TAG.to_string(), STEP_TAG.to_string()]);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let tagging = b.allow(
            Sid::TagRestored,
            &["ec2:CreateTags"],
            [instances.clone(), volumes.clone()],
        );
        tagging.when(request_tagged());
        tagging.when(condition("ForAllValues:StringEquals", "aws:TagKeys", &keys));
        // A restored instance keeps its original's termination protection: teardown turns it
        // off, on the run's own instances only, before it terminates them.
        b.teardown(
            &[
                "ec2:TerminateInstances",
                "ec2:ModifyInstanceAttribute",
                "ec2:DetachVolume",
                "ec2:DeleteVolume",
            ],
            [instances, volumes],
        );
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.restore_job.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    recovery_point: String,
    role: String,
    /// The point's vault: its restore metadata is read from there first.
    vault: Option<String>,
    subnet: Option<String>,
    instance_type: Option<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    /// Restore metadata as AWS Backup takes it; `subnet`, `instance_type` and
    /// `security_groups` override their keys.
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    instances: Vec<String>,
    instance: String,
    zone: Option<String>,
    job_id: String,
}
