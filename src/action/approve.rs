//! `approve`: a person's go-ahead before what follows (a recovery's point of no return); who
//! approved is the step's output and goes into the report.

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, STR, req};

pub(crate) struct Approve;

static SCHEMA: ActionSchema = ActionSchema {
    name: "approve",
    fields: &[req("message", STR)],
    one_of: &[],
    outputs: &[("approved_by", STR)],
};

impl Definition for Approve {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let by = (ctx.approve)(&i.message).await.map_err(StepError::Failed)?;
        Ok(Done {
            outputs: Outputs {
                approved_by: by.clone(),
            },
            approved_by: Some(by),
            approved_at: Some(chrono::Utc::now()),
            ..Done::default()
        })
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.approval.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    message: String,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    approved_by: String,
}
