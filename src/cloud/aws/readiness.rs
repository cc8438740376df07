//! What preflight asks of EC2 beyond existence: a subnet's zone and free addresses
//! (DescribeSubnets), the instance types a zone offers (DescribeInstanceTypeOfferings), and
//! whether the caller may make a call (the call itself with DryRun=true; an
//! `UnauthorizedOperation`'s encoded message is decoded through STS where the caller may).

use aws_sdk_ec2::types::LocationType;

#[cfg(test)]
mod tests;

use super::convert::{all_pages, cloud_error};
use super::{Aws, filter};
use crate::cloud::{Allowed, CloudError, DryRun, ResourceKind, SubnetInfo};

impl Aws {
    pub(super) async fn subnet_infos(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        all_pages!(
            self.ec2
                .describe_subnets()
                .filters(filter("subnet-id", ids.iter().cloned()))
                .into_paginator()
                .page_size(1000),
            |p| {
                p.subnets()
                    .iter()
                    .filter_map(|s| {
                        Some(SubnetInfo {
                            id: s.subnet_id()?.to_string(),
                            zone: s.availability_zone().unwrap_or_default().to_string(),
                            free_addresses: i64::from(s.available_ip_address_count().unwrap_or(0)),
                            vpc: s.vpc_id().map(str::to_string),
                            cidr: s.cidr_block().map(str::to_string),
                        })
                    })
                    .collect()
            }
        )
    }

    pub(super) async fn offerings(
        &self,
        zone: &str,
        types: &[String],
    ) -> Result<Vec<String>, CloudError> {
        let offered: Vec<String> = all_pages!(
            self.ec2
                .describe_instance_type_offerings()
                .location_type(LocationType::AvailabilityZone)
                .filters(filter("location", [zone.to_string()]))
                .filters(filter("instance-type", types.iter().cloned()))
                .into_paginator()
                .page_size(1000),
            |p| {
                p.instance_type_offerings()
                    .iter()
                    .filter_map(|o| o.instance_type().map(|t| t.as_str().to_string()))
                    .collect()
            }
        )?;
        Ok(types
            .iter()
            .filter(|t| offered.contains(t))
            .cloned()
            .collect())
    }

    pub(super) async fn try_dry(&self, call: &DryRun) -> Result<Allowed, CloudError> {
        // The run's own request, with DryRun: what the policy allows of it is what it allows
        // of the run. An endpoint that ignores DryRun makes the resource: it is deleted at
        // once, and the answer says the permission is not known.
        let made: Result<Vec<(ResourceKind, String)>, CloudError> = match call {
            DryRun::RunInstances(r) => self
                .launch_call(r)
                .dry_run(true)
                .send()
                .await
                .map(|out| {
                    out.instances()
                        .iter()
                        .filter_map(|i| i.instance_id())
                        .map(|id| (ResourceKind::Instance, id.to_string()))
                        .collect()
                })
                .map_err(cloud_error),
            DryRun::CreateVolume(r) => self
                .volume_call(r)
                .dry_run(true)
                .send()
                .await
                .map(|out| {
                    out.volume_id()
                        .map(|id| (ResourceKind::Volume, id.to_string()))
                        .into_iter()
                        .collect()
                })
                .map_err(cloud_error),
        };
        Ok(match made {
            Ok(made) => {
                let mut left = Vec::new();
                for (kind, id) in &made {
                    if crate::cloud::Cloud::delete(self, *kind, id).await.is_err() {
                        left.push(id.as_str());
                    }
                }
                let ids: Vec<&str> = made.iter().map(|(_, id)| id.as_str()).collect();
                Allowed::Unknown(CloudError::new(
                    "DryRunIgnored",
                    if left.is_empty() {
                        format!(
                            "the endpoint made {} although DryRun was set; deleted",
                            ids.join(", ")
                        )
                    } else {
                        format!(
                            "the endpoint made {} although DryRun was set; {} could not be deleted: delete it by hand",
                            ids.join(", "),
                            left.join(", ")
                        )
                    },
                ))
            }
            Err(e) if e.code == "DryRunOperation" => Allowed::Yes,
            Err(e) if e.code == "UnauthorizedOperation" => {
                Allowed::No(self.decoded(&e.message).await)
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => Allowed::Unknown(e),
        })
    }

    /// IAM's policy simulator on the caller's own principal: may it pass `role`? The caller
    /// as STS names it; an assumed role is simulated as its role (GetRole gives its ARN, path
    /// included). `None` without STS or IAM (mocked clients).
    pub(super) async fn simulate_pass(&self, role: &str) -> Result<Option<bool>, CloudError> {
        let (Some(iam), Some(_)) = (&self.iam, &self.sts) else {
            return Ok(None);
        };
        let (_, caller) = self.identity().await?;
        let principal = match caller.split_once(":assumed-role/") {
            Some((_, rest)) => {
                let name = rest.split('/').next().unwrap_or(rest);
                let got = iam
                    .get_role()
                    .role_name(name)
                    .send()
                    .await
                    .map_err(cloud_error)?;
                got.role()
                    .map(|r| r.arn().to_string())
                    .unwrap_or(caller.clone())
            }
            None => caller.clone(),
        };
        let answer = iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .action_names("iam:PassRole")
            .resource_arns(role)
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(Some(answer.evaluation_results().iter().all(|r| {
            r.eval_decision() == &aws_sdk_iam::types::PolicyEvaluationDecisionType::Allowed
        })))
    }

    /// AWS's message, with its encoded part decoded into the action and resource refused
    /// (sts:DecodeAuthorizationMessage) when the caller may; as AWS said it otherwise.
    async fn decoded(&self, message: &str) -> String {
        const MARK: &str = "Encoded authorization failure message: ";
        let Some(at) = message.find(MARK) else {
            return message.to_string();
        };
        let encoded = message[at + MARK.len()..].trim();
        let plain = message[..at].trim();
        let answer = match self.sts.as_ref() {
            Some(sts) => sts
                .decode_authorization_message()
                .encoded_message(encoded)
                .send()
                .await
                .map_err(cloud_error),
            None => Err(CloudError::new("NoSts", "no STS client")),
        };
        let why = match &answer {
            Err(e) if e.code == "AccessDenied" || e.code == "NoSts" => {
                "the caller lacks sts:DecodeAuthorizationMessage".to_string()
            }
            Err(e) => format!("STS answered {e}"),
            Ok(_) => "STS answered no message".to_string(),
        };
        match answer
            .ok()
            .and_then(|a| a.decoded_message().map(str::to_string))
        {
            Some(json) => {
                let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                let action = v["context"]["action"].as_str().unwrap_or("?");
                let resource = v["context"]["resource"].as_str().unwrap_or("?");
                format!("{plain} (decoded: {action} on {resource} is not allowed)")
            }
            None => format!("{plain} (the encoded message could not be decoded: {why})"),
        }
    }
}
