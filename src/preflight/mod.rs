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

/// The references of `rb` that do not exist in `cloud`, in step order: one call per kind of
/// thing named (not one per id), through the executor's pacing and retries.
pub async fn missing<C: Cloud>(cloud: &C, rb: &Runbook) -> Result<Vec<Reference>, CloudError> {
    let refs = named::references(rb);
    let mut by_kind: BTreeMap<Named, Vec<String>> = BTreeMap::new();
    for r in &refs {
        let ids = by_kind.entry(r.kind).or_default();
        if !ids.contains(&r.id) {
            ids.push(r.id.clone());
        }
    }
    let api = Api::new(cloud);
    let mut there: Vec<(Named, String)> = Vec::new();
    for (kind, ids) in by_kind {
        there.extend(
            api.existing(kind, &ids)
                .await?
                .into_iter()
                .map(|id| (kind, id)),
        );
    }
    Ok(refs
        .into_iter()
        .filter(|r| !there.iter().any(|(k, id)| *k == r.kind && *id == r.id))
        .collect())
}
