//! `wait`: a pause of a fixed duration (DNS TTLs, a replica catching up).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::runbook::expr::{Expr, Fields};
use crate::runbook::schema::{ActionSchema, Ty, req};

pub(crate) struct Wait;

static SCHEMA: ActionSchema = ActionSchema {
    name: "wait",
    fields: &[req("duration", Ty::Duration)],
    one_of: &[],
    outputs: &[],
};

impl Definition for Wait {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(_: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        tokio::time::sleep(Duration::from_secs(i.duration)).await;
        Ok(Done::default())
    }

    fn expected_seconds(fields: &Fields, _: &LatencyModel) -> f64 {
        match fields.get("duration") {
            Some(Expr::Duration(d)) => d.as_secs_f64(),
            _ => 0.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    /// Seconds, as a resolved duration is.
    duration: u64,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {}
