//! `copy_image`: an AMI copied into the step's region from another (CopyImage), for a recovery
//! into another region while the source still answers (drills, planned moves). Waited for
//! until available; the copy and its snapshots carry the run's tags, so a drill's teardown
//! deregisters it and deletes them.

use serde::Serialize;

use super::Definition;
use super::copy::{self, IMAGE, Inputs};
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, KMS_KEY, Kind, STR, STR_MAP, Ty, opt, req};

pub(crate) struct CopyImage;

static SCHEMA: ActionSchema = ActionSchema {
    name: "copy_image",
    fields: &[
        req("image", Ty::Str(Kind::Image)).in_region_of("source_region"),
        req("source_region", Ty::Str(Kind::Region)),
        opt("name", STR),
        opt("kms_key", KMS_KEY),
        opt("tags", STR_MAP),
    ],
    one_of: &[],
    outputs: &[("id", Ty::Str(Kind::Image))],
};

impl Definition for CopyImage {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let (id, ready) = copy::copy(ctx, &IMAGE, i).await?;
        let mut done = Done::default();
        done.ready(ready);
        done.outputs = Outputs { id };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        copy::statements(b, fields, &IMAGE, "image");
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.copy_image.median
    }
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
}
