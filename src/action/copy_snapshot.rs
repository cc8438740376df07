//! `copy_snapshot`: an EBS snapshot copied into the step's region from another
//! (CopySnapshot), for a recovery into another region while the source still answers (drills,
//! planned moves). Waited for until completed; the copy carries the run's tags, so a drill's
//! teardown deletes it. A `kms_key` re-encrypts it with a key of the destination region.

use serde::Serialize;

use super::Definition;
use super::copy::{self, Inputs, SNAPSHOT};
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, KMS_KEY, Kind, STR, STR_MAP, Ty, opt, req};

pub(crate) struct CopySnapshot;

static SCHEMA: ActionSchema = ActionSchema {
    name: "copy_snapshot",
    fields: &[
        req("snapshot", Ty::Str(Kind::Snapshot)).in_region_of("source_region"),
        req("source_region", Ty::Str(Kind::Region)),
        opt("description", STR),
        opt("kms_key", KMS_KEY),
        opt("tags", STR_MAP),
    ],
    one_of: &[],
    outputs: &[("id", Ty::Str(Kind::Snapshot))],
};

impl Definition for CopySnapshot {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let (id, ready) = copy::copy(ctx, &SNAPSHOT, i).await?;
        let mut done = Done::default();
        done.ready(ready);
        done.outputs = Outputs { id };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        copy::statements(b, fields, &SNAPSHOT, "snapshot");
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.copy_snapshot.median
    }
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    id: String,
}
