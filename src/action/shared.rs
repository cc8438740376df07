//! What several actions do alike: the tags of what a step creates, and the adoption of the one
//! resource an interrupted create made (found by the step's own tags).

use crate::cloud::{Cloud, CloudError, ResourceKind, Tags};
use crate::exec::ctx::Ctx;

/// Tags for what a step creates: the step's own (`tags = { ... }`), then the runbook's and
/// rebound's, which win.
pub(crate) fn tags_with(run_tags: &Tags, own: Tags) -> Tags {
    let mut t = own;
    t.extend(run_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    t
}

/// The one resource of `kind` this step made before an interruption, if any.
pub(crate) async fn adopt_one<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    kind: ResourceKind,
) -> Result<Option<String>, CloudError> {
    Ok(ctx
        .api
        .find(kind, &ctx.mine())
        .await?
        .into_iter()
        .find(|f| !f.gone())
        .map(|f| f.id))
}
