//! `run_command`: a shell script on instances through SSM Run Command, for the validations of a
//! restored image (`xfs_repair -n`, `systemctl --failed`) and for application checks (a
//! database that answers a query). The step fails when an instance's exit code is not among
//! `exit_codes` (default: 0 only); each instance's exit code and output are its outputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Definition;
use super::ssm;
use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, INSTANCES, STR, Ty, opt, req};

pub(crate) struct RunCommand;

const EXIT_CODE: Ty = Ty::Int { min: 0, max: 255 };

static SCHEMA: ActionSchema = ActionSchema {
    name: "run_command",
    fields: &[
        req("instances", INSTANCES),
        req("command", STR),
        opt("exit_codes", Ty::List(&EXIT_CODE)),
    ],
    one_of: &[],
    outputs: &[
        ("exit_code", Ty::Map(&Ty::Int { min: -1, max: 255 })),
        ("stdout", Ty::Map(&STR)),
    ],
};

impl Definition for RunCommand {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        let pass = i.exit_codes.unwrap_or_else(|| vec![0]);
        // It ran to its end (`Failed` is a non-zero exit) with an exit code that passes.
        let passed = |inv: &crate::cloud::Invocation| {
            matches!(inv.status.as_str(), "Success" | "Failed") && pass.contains(&inv.exit_code)
        };
        let ran = ssm::run(ctx, "run", &i.instances, &i.command, &passed).await?;
        let mut done: Done<Outputs> = Done::default();
        let mut failed = Vec::new();
        for inv in ran {
            done.ready(inv.ended_at);
            if !passed(&inv) {
                failed.push(ssm::failure("run_command", &inv));
            }
            if ssm::cut(&inv.stdout) {
                (ctx.progress)(format!(
                    "{}: output cut by AWS at 24,000 characters",
                    inv.instance
                ));
            }
            done.outputs
                .exit_code
                .insert(inv.instance.clone(), inv.exit_code);
            done.outputs.stdout.insert(inv.instance, inv.stdout);
        }
        if !failed.is_empty() {
            return Err(StepError::Failed(failed.join("; ")));
        }
        Ok(done)
    }

    fn statements(b: &mut Builder, _: &Fields) {
        ssm::statements(b);
    }

    fn expected_seconds(_: &Fields, m: &LatencyModel) -> f64 {
        ssm::expected_seconds(m)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    instances: Vec<String>,
    command: String,
    exit_codes: Option<Vec<i32>>,
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    /// By instance id.
    exit_code: BTreeMap<String, i32>,
    stdout: BTreeMap<String, String>,
}
