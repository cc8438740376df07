//! What preflight asks of EC2 beyond existence: a subnet's zone and free addresses
//! (DescribeSubnets), the instance types a zone offers (DescribeInstanceTypeOfferings), and
//! whether the caller may make a call (the call itself with DryRun=true; an
//! `UnauthorizedOperation`'s encoded message is decoded through STS where the caller may).

use aws_sdk_ec2::types::LocationType;

#[cfg(test)]
mod tests;

use super::convert::{cloud_error, paged};
use super::{Aws, filter};
use crate::cloud::{Allowed, CloudError, DryRun, SubnetInfo};

impl Aws {
    pub(super) async fn subnet_infos(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pages = self
            .ec2
            .describe_subnets()
            .filters(filter("subnet-id", ids.iter().cloned()))
            .into_paginator()
            .page_size(1000)
            .send()
            .collect::<Vec<_>>()
            .await;
        paged(pages, |p| {
            p.subnets()
                .iter()
                .filter_map(|s| {
                    Some(SubnetInfo {
                        id: s.subnet_id()?.to_string(),
                        zone: s.availability_zone().unwrap_or_default().to_string(),
                        free_addresses: i64::from(s.available_ip_address_count().unwrap_or(0)),
                    })
                })
                .collect()
        })
    }

    pub(super) async fn offerings(
        &self,
        zone: &str,
        types: &[String],
    ) -> Result<Vec<String>, CloudError> {
        let pages = self
            .ec2
            .describe_instance_type_offerings()
            .location_type(LocationType::AvailabilityZone)
            .filters(filter("location", [zone.to_string()]))
            .filters(filter("instance-type", types.iter().cloned()))
            .into_paginator()
            .page_size(1000)
            .send()
            .collect::<Vec<_>>()
            .await;
        let offered: Vec<String> = paged(pages, |p| {
            p.instance_type_offerings()
                .iter()
                .filter_map(|o| o.instance_type().map(|t| t.as_str().to_string()))
                .collect()
        })?;
        Ok(types
            .iter()
            .filter(|t| offered.contains(t))
            .cloned()
            .collect())
    }

    pub(super) async fn try_dry(&self, call: &DryRun) -> Result<Allowed, CloudError> {
        let said = match call {
            DryRun::RunInstances {
                image,
                subnet,
                instance_type,
                security_groups,
                instance_profile,
            } => {
                let mut r = self
                    .ec2
                    .run_instances()
                    .dry_run(true)
                    .image_id(image)
                    .subnet_id(subnet)
                    .instance_type(instance_type.as_str().into())
                    .set_security_group_ids(
                        (!security_groups.is_empty()).then(|| security_groups.clone()),
                    )
                    .min_count(1)
                    .max_count(1);
                if let Some(p) = instance_profile {
                    r = r.iam_instance_profile(super::profile_spec(p));
                }
                r.send().await.map(|_| ()).map_err(cloud_error)
            }
            DryRun::CreateVolume { zone, snapshot } => self
                .ec2
                .create_volume()
                .dry_run(true)
                .availability_zone(zone)
                .set_snapshot_id(snapshot.clone())
                .set_size(snapshot.is_none().then_some(1))
                .send()
                .await
                .map(|_| ())
                .map_err(cloud_error),
            DryRun::AttachVolume { volume, instance } => self
                .ec2
                .attach_volume()
                .dry_run(true)
                .volume_id(volume)
                .instance_id(instance)
                .device("/dev/sdf")
                .send()
                .await
                .map(|_| ())
                .map_err(cloud_error),
        };
        Ok(match said {
            // A peer that ignores DryRun made the call: it was allowed.
            Ok(()) => Allowed::Yes,
            Err(e) if e.code == "DryRunOperation" => Allowed::Yes,
            Err(e) if e.code == "UnauthorizedOperation" => {
                Allowed::No(self.decoded(&e.message).await)
            }
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => Allowed::Unknown(e),
        })
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
                .ok(),
            None => None,
        };
        match answer.and_then(|a| a.decoded_message().map(str::to_string)) {
            Some(json) => {
                let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                let action = v["context"]["action"].as_str().unwrap_or("?");
                let resource = v["context"]["resource"].as_str().unwrap_or("?");
                format!("{plain} (decoded: {action} on {resource} is not allowed)")
            }
            None => format!(
                "{plain} (the encoded message could not be decoded: the caller lacks \
                 sts:DecodeAuthorizationMessage)"
            ),
        }
    }
}
