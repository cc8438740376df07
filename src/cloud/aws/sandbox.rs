//! An isolated drill's security group on EC2: CreateSecurityGroup (tagged as the run's in the
//! same call), the default allow-all egress revoked, ingress from the runner's address on the
//! checks' ports, egress to the named prefix lists or groups on 443 (the VPC endpoints SSM
//! needs); and the groups a run made, found by its tags.

use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, UserIdGroupPair,
};

use super::convert::{all_pages, cloud_error};
use super::{Aws, found, tag_spec, unit};
use crate::cloud::{CloudError, Found, SandboxRequest};

impl Aws {
    pub(super) async fn make_sandbox(&self, r: &SandboxRequest) -> Result<String, CloudError> {
        let made = self
            .ec2
            .create_security_group()
            .group_name(&r.name)
            .description("rebound: an isolated drill's instances, and nothing else")
            .vpc_id(&r.vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, &r.tags))
            .send()
            .await
            .map_err(cloud_error)?;
        let id = super::answered(made.group_id(), "CreateSecurityGroup", "group id")?;
        // A new group allows all egress (IPv4, and IPv6 in a VPC that has it): revoked.
        let all = |v6: bool| {
            let p = IpPermission::builder().ip_protocol("-1");
            if v6 {
                p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6("::/0").build())
                    .build()
            } else {
                p.ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build()
            }
        };
        unit(
            self.ec2
                .revoke_security_group_egress()
                .group_id(&id)
                .ip_permissions(all(false))
                .send()
                .await,
        )?;
        match unit(
            self.ec2
                .revoke_security_group_egress()
                .group_id(&id)
                .ip_permissions(all(true))
                .send()
                .await,
        ) {
            // No IPv6 rule in a VPC without IPv6.
            Err(e) if e.code != "InvalidPermission.NotFound" => return Err(e),
            _ => {}
        }
        if let Some(from) = &r.ingress_from {
            let rules: Vec<IpPermission> = r
                .ports
                .iter()
                .map(|port| {
                    IpPermission::builder()
                        .ip_protocol("tcp")
                        .from_port(i32::from(*port))
                        .to_port(i32::from(*port))
                        .ip_ranges(
                            IpRange::builder()
                                .cidr_ip(from)
                                .description("the host running rebound")
                                .build(),
                        )
                        .build()
                })
                .collect();
            if !rules.is_empty() {
                unit(
                    self.ec2
                        .authorize_security_group_ingress()
                        .group_id(&id)
                        .set_ip_permissions(Some(rules))
                        .send()
                        .await,
                )?;
            }
        }
        if !r.egress.is_empty() {
            let mut rule = IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443);
            for to in &r.egress {
                rule = if to.starts_with("pl-") {
                    rule.prefix_list_ids(PrefixListId::builder().prefix_list_id(to).build())
                } else {
                    rule.user_id_group_pairs(UserIdGroupPair::builder().group_id(to).build())
                };
            }
            unit(
                self.ec2
                    .authorize_security_group_egress()
                    .group_id(&id)
                    .ip_permissions(rule.build())
                    .send()
                    .await,
            )?;
        }
        Ok(id)
    }

    pub(super) async fn find_groups(&self, filters: Vec<Filter>) -> Result<Vec<Found>, CloudError> {
        all_pages!(
            self.ec2
                .describe_security_groups()
                .set_filters(Some(filters))
                .into_paginator()
                .page_size(1000),
            |p| {
                p.security_groups()
                    .iter()
                    .filter_map(|g| {
                        Some(found(
                            g.group_id()?,
                            "available",
                            super::convert::tags_of(g.tags()),
                        ))
                    })
                    .collect()
            }
        )
    }
}
