//! `exec`: a program on the machine running rebound (a DNS switch, a load-balancer change, a
//! smoke test); a non-zero exit fails the step. Its stdout is the step's output, scrubbed of
//! secrets by the backend.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, STR, STR_MAP, STRS, Secrecy, Ty, opt, req};

pub(crate) struct Exec;

static SCHEMA: ActionSchema = ActionSchema {
    name: "exec",
    fields: &[
        req("command", STRS),
        opt("env", STR_MAP).secret(Secrecy::Takes),
    ],
    one_of: &[],
    outputs: &[
        ("stdout", STR),
        (
            "exit_code",
            Ty::Int {
                min: i64::MIN,
                max: i64::MAX,
            },
        ),
    ],
};

impl Definition for Exec {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let out = ctx.api.exec(&i.command, &i.env).await?;
        if out.exit_code != 0 {
            return Err(StepError::Failed(format!(
                "{} exited with {}",
                i.command.join(" "),
                out.exit_code
            )));
        }
        Ok(Done {
            // The backend scrubbed the output of secrets (crate::secret::scrub).
            outputs: Outputs {
                stdout: out.stdout,
                exit_code: out.exit_code,
            },
            ..Done::default()
        })
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        m.exec.median
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    stdout: String,
    exit_code: i32,
}
