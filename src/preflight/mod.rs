//! Before a run makes anything: does what the runbook names exist? A subnet deleted since the
//! last drill, a renamed key pair or a mistyped security group would otherwise be found by the
//! step that uses it, after the other paths have made their instances; here each is one line,
//! before anything is made, on AWS and on the simulator alike.
//!
//! Asked (`named`): every literal id or name in a field of a kind that a run uses and does not
//! make: subnets, security groups, key pairs, instance profiles, and images, snapshots, volumes
//! and instances named by id.

pub mod named;
pub mod readiness;

use std::collections::BTreeMap;

pub use named::Reference;

use crate::cloud::{Cloud, CloudError, Named, Regions};
use crate::exec::api::Api;
use crate::runbook::checked::Runbook;

/// What preflight found: the references that do not exist, and the kinds it could not ask
/// about (a policy without `ec2:DescribeKeyPairs`, say), with why.
#[derive(Debug, Default)]
pub struct Findings {
    pub missing: Vec<Reference>,
    pub unasked: Vec<(Named, CloudError)>,
}

/// What of `rb`'s references the account lacks, in step order: each asked in its region, one
/// call per region and kind of thing named (not one per id), through the executor's pacing and
/// retries. A kind that cannot be asked about is not a missing resource: it is reported apart,
/// and the run may go on.
pub async fn check<C: Cloud>(clouds: &Regions<C>, rb: &Runbook) -> Findings {
    let refs = named::references(rb);
    let place = |r: &Reference| (clouds.index(r.region.as_deref()), r.kind);
    let mut asked: BTreeMap<(usize, Named), Vec<String>> = BTreeMap::new();
    for r in &refs {
        let ids = asked.entry(place(r)).or_default();
        if !ids.contains(&r.id) {
            ids.push(r.id.clone());
        }
    }
    let apis = Api::for_regions(clouds);
    let mut findings = Findings::default();
    let mut unasked: Vec<(usize, Named)> = Vec::new();
    let mut there: Vec<((usize, Named), String)> = Vec::new();
    for ((region, kind), ids) in asked {
        match apis[region].existing(kind, &ids).await {
            Ok(found) => there.extend(found.into_iter().map(|id| ((region, kind), id))),
            Err(e) => {
                unasked.push((region, kind));
                if !findings.unasked.iter().any(|(k, _)| *k == kind) {
                    findings.unasked.push((kind, e));
                }
            }
        }
    }
    findings.missing = refs
        .into_iter()
        .filter(|r| {
            !unasked.contains(&place(r))
                && !there.iter().any(|(p, id)| *p == place(r) && *id == r.id)
        })
        .collect();
    findings
}
