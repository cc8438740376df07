//! What `copy_image` and `copy_snapshot` share: a copy made in the step's region of an image or
//! snapshot in `source_region` (CopyImage and CopySnapshot are called in the destination and
//! name the source), tagged with the run's tags so that a drill's teardown finds it, waited for
//! until copied; and the IAM statements for both regions.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::cloud::{Cloud, CopyRequest, Op, ResourceKind};
use crate::exec::ctx::{Ctx, StepError};
use crate::exec::model::Created;
use crate::exec::poller::{Looks, Want};
use crate::policy::builder::{ANY, Builder, Sid, literals, request_tagged};
use crate::runbook::expr::{Expr, Fields};

use super::shared::{adopt_one, tags_with};

/// The inputs of both copies: what, from where, how to encrypt and tag it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    /// The image or snapshot, in `source_region` (`image` or `snapshot` in the runbook).
    #[serde(alias = "image", alias = "snapshot")]
    pub source: String,
    pub source_region: String,
    /// The copy's name (an image's `name`) or description (a snapshot's `description`).
    #[serde(alias = "description")]
    pub name: Option<String>,
    pub kms_key: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// What differs between the two copies.
pub(crate) struct Kind {
    pub resource: ResourceKind,
    pub op: Op,
    /// The state the copy is waited for.
    pub ready: &'static str,
}

pub(crate) const IMAGE: Kind = Kind {
    resource: ResourceKind::Image,
    op: Op::CopyImage,
    ready: "available",
};

pub(crate) const SNAPSHOT: Kind = Kind {
    resource: ResourceKind::Snapshot,
    op: Op::CopySnapshot,
    ready: "completed",
};

/// Copies, at most once per run and step (CopyImage's ClientToken; for CopySnapshot, which
/// takes none, the copy a lost answer left is adopted by its tags), and waits until the copy is
/// ready; the copy's id, and when it was ready (simulator only).
pub(crate) async fn copy<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    kind: &Kind,
    i: Inputs,
) -> Result<(String, Option<tokio::time::Instant>), StepError> {
    let mut own = i.tags;
    own.insert("CreatedBy".into(), "rebound".into());
    own.insert("Source".into(), format!("{}/{}", i.source_region, i.source));
    let request = CopyRequest {
        name: i
            .name
            .unwrap_or_else(|| format!("rebound-{}-{}", ctx.step, ctx.run_id)),
        source: i.source,
        source_region: i.source_region,
        kms_key: i.kms_key,
        tags: tags_with(&ctx.tags, own),
        client_token: ctx.token("copy"),
    };
    let id = ctx
        .once(
            kind.op,
            &request.client_token,
            async || adopt_one(ctx, kind.resource).await,
            async || match kind.resource {
                ResourceKind::Image => ctx.api.copy_image(&request).await,
                _ => ctx.api.copy_snapshot(&request).await,
            },
            |id: &String| vec![Created::new(kind.resource, id, None)],
        )
        .await?;
    let (poller, expected) = match kind.resource {
        ResourceKind::Image => (&ctx.pollers.images, ctx.model.copy_image),
        _ => (&ctx.pollers.snapshots, ctx.model.copy_snapshot),
    };
    let o = poller
        .wait(&id, Want::State(kind.ready), Looks::expecting(expected))
        .await?;
    Ok((id, o.ready_at))
}

/// The statements of a copy: the call on the copy (in the step's region, tagged as the run's)
/// and on its source (in `source_region`, by id when the runbook names one), tags on create,
/// KMS for a key, and teardown of the copy.
pub(crate) fn statements(b: &mut Builder, fields: &Fields, kind: &Kind, source_field: &str) {
    let scope = b.scope().clone();
    type Names = (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    );
    let (action, create_action, describe, kinds): Names = match kind.resource {
        // A copied image's snapshots are made and tagged with it.
        ResourceKind::Image => (
            "ec2:CopyImage",
            "CopyImage",
            "ec2:DescribeImages",
            &["image", "snapshot"],
        ),
        _ => (
            "ec2:CopySnapshot",
            "CopySnapshot",
            "ec2:DescribeSnapshots",
            &["snapshot"],
        ),
    };
    // The poller waits for the copy.
    b.describe(&[describe]);
    let made: Vec<String> = kinds.iter().map(|k| scope.ec2_shared(k, ANY)).collect();
    b.allow(Sid::Copy, &[action], made.clone())
        .when(request_tagged());
    let source_region = fields
        .get("source_region")
        .and_then(Expr::as_str)
        .unwrap_or(ANY);
    let from = crate::policy::Scope {
        region: source_region.to_string(),
        ..scope.clone()
    };
    let sources: Vec<String> = literals(fields.get(source_field))
        .into_iter()
        .map(|id| from.ec2_shared(kinds[0], id.unwrap_or(ANY)))
        .collect();
    b.allow(Sid::CopySource, &[action], sources);
    b.tag_on_create(create_action, made.clone());
    if let Some(key) = fields.get("kms_key") {
        b.kms(key);
    }
    let delete: &[&'static str] = match kind.resource {
        ResourceKind::Image => &["ec2:DeleteSnapshot", "ec2:DeregisterImage"],
        _ => &["ec2:DeleteSnapshot"],
    };
    b.teardown(delete, made);
}
