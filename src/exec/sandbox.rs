//! An isolated drill's security groups, made before the first step: one for each VPC the
//! runbook launches or restores into, admitting only the host running rebound on the ports
//! its checks use, allowing egress only to the prefix lists or groups the runbook names (the
//! VPC endpoints SSM needs), tagged and journaled as the run's, so that teardown deletes them
//! after the instances. A resume finds the groups made before by their tags.
//!
//! A drill that cannot isolate does not start: a subnet known only during the run, a subnet
//! with no VPC, a group AWS refuses to make are each an error, and whatever groups were made
//! by then are deleted again.

use std::collections::BTreeMap;

use super::api::Api;
use super::ctx::Sandbox;
use super::journal::{Entry, Journal};
use super::model::Created;
use crate::action::Action;
use crate::cloud::{
    Cloud, CloudError, Lookup, RUN_TAG, Regions, ResourceKind, STEP_TAG, SandboxRequest, Tags,
};
use crate::runbook::checked::{Expr, Runbook};
use crate::runbook::schema::Check;

/// The step name the groups are journaled and tagged under.
pub const STEP: &str = "isolation";

/// The tag that says which VPC a group is for: a resume adopts it by that.
const VPC_TAG: &str = "rebound:vpc";

/// The groups of the run `run_id`, made now or found from before; by subnet.
pub async fn prepare<C: Cloud>(
    clouds: &Regions<C>,
    rb: &Runbook,
    run_id: &str,
    journal: &Journal,
) -> Result<Sandbox, String> {
    let apis = Api::for_regions(clouds);
    let mut subnets: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for step in &rb.steps {
        if !matches!(step.action, Action::Launch | Action::Restore) {
            continue;
        }
        match step.field("subnet") {
            Some(Expr::Str(s)) => {
                let here = subnets
                    .entry(clouds.index(step.region.as_deref()))
                    .or_default();
                if !here.contains(s) {
                    here.push(s.clone());
                }
            }
            Some(_) => {
                return Err(format!(
                    "step `{}`'s subnet is known only during the run: an isolated drill needs \
                     each subnet before it starts",
                    step.name
                ));
            }
            None => {
                return Err(format!(
                    "step `{}` names no subnet: an isolated drill restores into a subnet it names",
                    step.name
                ));
            }
        }
    }
    let ports = ports(rb);
    let mut made: Vec<(usize, String)> = Vec::new();
    let mut sandbox = Sandbox::new();
    let result = async {
        for (region, ids) in &subnets {
            let api = &apis[*region];
            let infos = api
                .subnets(ids)
                .await
                .map_err(|e| format!("cannot describe the subnets {}: {e}", ids.join(", ")))?;
            let mut groups: BTreeMap<String, String> = BTreeMap::new();
            for id in ids {
                let Some(info) = infos.iter().find(|s| &s.id == id) else {
                    return Err(format!("subnet {id} does not exist"));
                };
                let Some(vpc) = info.vpc.clone() else {
                    return Err(format!(
                        "subnet {id} is in no VPC: there is nothing to isolate it in"
                    ));
                };
                if let Some(g) = groups.get(&vpc) {
                    sandbox.insert(id.clone(), g.clone());
                    continue;
                }
                let group = if let Some(g) = adopt(api, run_id, &vpc).await {
                    g
                } else {
                    let request = SandboxRequest {
                        vpc: vpc.clone(),
                        name: format!("rebound-sandbox-{run_id}-{vpc}"),
                        tags: tags(rb, run_id, &vpc),
                        ingress_from: info.cidr.as_deref().and_then(runner_address),
                        ports: ports.clone(),
                        egress: rb.isolation_egress.clone(),
                    };
                    let g = create(api, &request).await.map_err(|e| {
                        format!("cannot make the drill's security group in {vpc}: {e}")
                    })?;
                    let mut c = Created::new(ResourceKind::SecurityGroup, &g, None);
                    if *region > 0 {
                        c = c.in_region(clouds.name(*region));
                    }
                    journal.note(&Entry::Created {
                        step: STEP.to_string(),
                        resource: c,
                        at: 0.0,
                    });
                    made.push((*region, g.clone()));
                    g
                };
                groups.insert(vpc, group.clone());
                sandbox.insert(id.clone(), group);
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(sandbox),
        Err(e) => {
            // Nothing starts open, and nothing is left: the groups made are deleted again.
            for (region, g) in made {
                let _ = apis[region].delete(ResourceKind::SecurityGroup, &g).await;
            }
            Err(e)
        }
    }
}

/// The ports the runbook's network checks reach (`tcp:PORT`, `http:PORT/...`): the only ones
/// the runner is admitted on.
fn ports(rb: &Runbook) -> Vec<u16> {
    let mut out: Vec<u16> = Vec::new();
    for step in rb.steps.iter().filter(|s| s.action == Action::Verify) {
        let Some(Expr::List(checks)) = step.field("checks") else {
            continue;
        };
        for c in checks.iter().filter_map(Expr::as_str) {
            let Ok(Check::Tcp { port } | Check::Http { port, .. }) = Check::parse(c) else {
                continue;
            };
            if !out.contains(&port) {
                out.push(port);
            }
        }
    }
    out
}

fn tags(rb: &Runbook, run_id: &str, vpc: &str) -> Tags {
    let mut t = rb.tags.clone();
    t.insert(RUN_TAG.into(), run_id.into());
    t.insert(STEP_TAG.into(), STEP.into());
    t.insert(VPC_TAG.into(), vpc.into());
    t
}

/// The group an earlier process of this run made for `vpc`.
async fn adopt<C: Cloud>(api: &Api<'_, C>, run_id: &str, vpc: &str) -> Option<String> {
    let want: Tags = [
        (RUN_TAG.to_string(), run_id.to_string()),
        (VPC_TAG.to_string(), vpc.to_string()),
    ]
    .into();
    let found = api
        .find(ResourceKind::SecurityGroup, &Lookup::Tags(want))
        .await
        .ok()?;
    found.into_iter().map(|f| f.id).next()
}

async fn create<C: Cloud>(api: &Api<'_, C>, r: &SandboxRequest) -> Result<String, CloudError> {
    api.create_sandbox(r).await
}

/// The address this host reaches `cidr` from, as a /32: the local address the kernel picks
/// for a route there (a UDP socket connects without sending anything). `None` without a route:
/// the group then admits no one.
fn runner_address(cidr: &str) -> Option<String> {
    let network: std::net::Ipv4Addr = cidr.split('/').next()?.parse().ok()?;
    let host = std::net::Ipv4Addr::from(u32::from(network).wrapping_add(4));
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect((host, 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(format!("{ip}/32")),
        _ => None,
    }
}
