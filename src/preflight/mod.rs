//! Before a run makes anything: does what the runbook names exist? A subnet deleted since the
//! last drill, a renamed key pair or a mistyped security group would otherwise be found by the
//! step that uses it, after the other paths have made their instances; here each is one line,
//! before anything is made, on AWS and on the simulator alike.
//!
//! Asked (`named`): every literal id or name in a field of a kind that a run uses and does not
//! make: subnets, security groups, key pairs, instance profiles, and images, snapshots, volumes
//! and instances named by id.

pub mod named;

use std::collections::BTreeMap;

pub use named::Reference;

use crate::cloud::{Cloud, CloudError, Named};
use crate::exec::api::Api;
use crate::runbook::checked::Runbook;

/// What preflight found: the references that do not exist, and the kinds it could not ask
/// about (a policy without `ec2:DescribeKeyPairs`, say), with why.
#[derive(Debug, Default)]
pub struct Findings {
    pub missing: Vec<Reference>,
    pub unasked: Vec<(Named, CloudError)>,
}

/// What of `rb`'s references `cloud` lacks, in step order: one call per kind of thing named
/// (not one per id), through the executor's pacing and retries. A kind that cannot be asked
/// about is not a missing resource: it is reported apart, and the run may go on.
pub async fn check<C: Cloud>(cloud: &C, rb: &Runbook) -> Findings {
    let refs = named::references(rb);
    let mut by_kind: BTreeMap<Named, Vec<String>> = BTreeMap::new();
    for r in &refs {
        let ids = by_kind.entry(r.kind).or_default();
        if !ids.contains(&r.id) {
            ids.push(r.id.clone());
        }
    }
    let api = Api::new(cloud);
    let mut findings = Findings::default();
    let mut there: Vec<(Named, String)> = Vec::new();
    for (kind, ids) in by_kind {
        match api.existing(kind, &ids).await {
            Ok(found) => there.extend(found.into_iter().map(|id| (kind, id))),
            Err(e) => findings.unasked.push((kind, e)),
        }
    }
    findings.missing = refs
        .into_iter()
        .filter(|r| {
            !findings.unasked.iter().any(|(k, _)| *k == r.kind)
                && !there.iter().any(|(k, id)| *k == r.kind && *id == r.id)
        })
        .collect();
    findings
}
