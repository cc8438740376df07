//! `verify`: every check on every instance (`running`, `status_ok`, `tcp:PORT`,
//! `http:PORT/PATH`, `ssm:COMMAND`); the step passes when all have passed. An `ssm:` check is
//! one command on all the instances (`action::ssm`); each instance's exit code and output are
//! kept for the report.

use std::time::Duration;

use futures::future::try_join_all;
use serde::{Deserialize, Deserializer, Serialize};
use tokio::time::Instant;

use super::Definition;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, Invocation};
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::poller::{Group, Looks, Want};
use crate::policy::builder::{Builder, literals};
use crate::runbook::expr::{Expr, Fields};
use crate::runbook::schema::{ActionSchema, Check, INSTANCES, Ty, req};

pub(crate) struct Verify;

static SCHEMA: ActionSchema = ActionSchema {
    name: "verify",
    fields: &[req("instances", INSTANCES), req("checks", Ty::Checks)],
    one_of: &[],
    outputs: &[("passed", Ty::Bool)],
};

impl Definition for Verify {
    const SCHEMA: &'static ActionSchema = &SCHEMA;
    type Inputs = Inputs;
    type Outputs = Outputs;

    #[cfg(test)]
    const EVIDENCE: &'static [&'static str] = &["commands"];

    async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, i: Inputs) -> Result<Done<Outputs>, StepError> {
        // Each check's progress as it passes (`status_ok 2/3`): a responder sees which
        // instance holds the step up.
        let passed: std::collections::HashMap<String, std::cell::Cell<usize>> = i
            .checks
            .iter()
            .map(|c| (check_name(c), std::cell::Cell::new(0)))
            .collect();
        let total = i.instances.len();
        // The step's status checks are looked at together (`Group`): it cannot pass before its
        // instance seen running last has been looked at, so the others' looks go with that
        // one's. One instance needs no group (and its waits none of the poller's upkeep).
        let group = (total > 1).then(|| ctx.pollers.instances.group());
        let mut waits = Vec::new();
        for id in &i.instances {
            for check in i.checks.iter().filter(|c| !matches!(c, Check::Ssm { .. })) {
                let passed = &passed;
                waits.push(async move {
                    let ready = verify_one(ctx, id, check, group).await?;
                    let name = check_name(check);
                    if let Some(n) = passed.get(&name) {
                        n.set(n.get() + 1);
                        (ctx.progress)(format!("{name} {}/{total}: {id} passed", n.get()));
                    }
                    Ok::<_, StepError>(ready)
                });
            }
        }
        // Each ssm: check is one command on all the instances at once.
        let commands = i.checks.iter().enumerate().filter_map(|(n, c)| match c {
            Check::Ssm { command } => Some(ssm_check(ctx, n, &i.instances, command)),
            _ => None,
        });
        let (ready, ran) =
            futures::future::try_join(try_join_all(waits), try_join_all(commands)).await?;
        let mut done = Done::default();
        // Every check but a command's runs on the instance's clock, from when it came up. A
        // command's runs from when this step sent it.
        if ran.is_empty() {
            done.counts_from.clone_from(&i.instances);
        }
        for r in ready {
            done.ready(r);
        }
        let mut commands = Vec::new();
        for (check, invocations) in ran {
            for inv in invocations {
                done.ready(inv.ended_at);
                commands.push(Ran::new(&check, inv));
            }
        }
        done.outputs = Outputs {
            passed: true,
            commands,
        };
        Ok(done)
    }

    fn statements(b: &mut Builder, fields: &Fields) {
        for check in literals(fields.get("checks")) {
            match check.map(Check::parse) {
                Some(Ok(Check::Running | Check::StatusOk)) => {
                    b.describe(&["ec2:DescribeInstanceStatus"]);
                }
                // Network checks reach the private IP, asked of EC2 when the launch did not say.
                Some(Ok(Check::Tcp { .. } | Check::Http { .. })) => {
                    b.describe(&["ec2:DescribeInstances"]);
                }
                Some(Ok(Check::Ssm { .. })) => super::ssm::statements(b),
                // The checker refuses malformed checks.
                Some(Err(_)) => {}
                None => {
                    b.describe(&["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"]);
                    super::ssm::statements(b);
                }
            }
        }
    }

    /// The slowest of the checks, each counted from the instance being `running`.
    fn expected_seconds(fields: &Fields, m: &LatencyModel) -> f64 {
        let Some(Expr::List(checks)) = fields.get("checks") else {
            return m.describe.median;
        };
        checks
            .iter()
            .filter_map(|c| Check::parse(c.as_str()?).ok())
            .map(|c| match c {
                Check::Running => m.describe.median,
                Check::StatusOk => m.status_ok.median,
                Check::Tcp { .. } | Check::Http { .. } => m.boot.median,
                Check::Ssm { .. } => super::ssm::expected_seconds(m),
            })
            .fold(m.describe.median, f64::max)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inputs {
    instances: Vec<String>,
    #[serde(deserialize_with = "checks")]
    checks: Vec<Check>,
}

/// The check strings, parsed (the checker refused malformed ones already).
fn checks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Check>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|c| Check::parse(c).map_err(serde::de::Error::custom))
        .collect()
}

#[derive(Serialize, Default)]
pub(crate) struct Outputs {
    passed: bool,
    /// Each `ssm:` check's result on each instance (report only).
    commands: Vec<Ran>,
}

/// One instance's result of a command, as the report shows it.
#[derive(Serialize)]
pub(crate) struct Ran {
    pub check: String,
    pub instance: String,
    pub status: String,
    pub exit_code: i32,
    /// At most 24,000 characters: AWS keeps no more.
    pub stdout: String,
}

impl Ran {
    pub(crate) fn new(check: &str, i: Invocation) -> Ran {
        Ran {
            check: check.to_string(),
            instance: i.instance,
            status: i.status,
            exit_code: i.exit_code,
            stdout: i.stdout,
        }
    }
}

/// One `ssm:` check on every instance: passes when the command exited 0 on each.
async fn ssm_check<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    n: usize,
    instances: &[String],
    command: &str,
) -> Result<(String, Vec<Invocation>), StepError> {
    let check = format!("ssm:{command}");
    let passed = |i: &Invocation| i.status == "Success" && i.exit_code == 0;
    let ran = super::ssm::run(ctx, &format!("check {n}"), instances, command, &passed).await?;
    let failed: Vec<String> = ran
        .iter()
        .filter(|i| !passed(i))
        .map(|i| super::ssm::failure(&check, i))
        .collect();
    if !failed.is_empty() {
        return Err(StepError::Failed(failed.join("; ")));
    }
    (ctx.progress)(format!("ssm {}/{}: passed", ran.len(), instances.len()));
    Ok((check, ran))
}

/// A check as the runbook writes it (`status_ok`, `tcp:443`), for progress lines.
fn check_name(c: &Check) -> String {
    match c {
        Check::Running => "running".to_string(),
        Check::StatusOk => "status_ok".to_string(),
        Check::Tcp { port } => format!("tcp:{port}"),
        Check::Http { port, path } => format!("http:{port}{path}"),
        Check::Ssm { .. } => "ssm".to_string(),
    }
}

/// One check of one instance; returns when it truly passed (simulator only).
async fn verify_one<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    instance: &str,
    check: &Check,
    group: Option<Group>,
) -> Result<Option<Instant>, StepError> {
    match check {
        Check::Running => Ok(ctx
            .pollers
            .instances
            .wait(instance, Want::State("running"), Looks::NOW)
            .await?
            .ready_at),
        // A verify step may start long after its instances came up: look at once, then every
        // tick.
        Check::StatusOk => Ok(ctx
            .pollers
            .instances
            .wait_in(instance, Want::StatusOk, Looks::NOW, group)
            .await?
            .status_ok_at),
        // Commands, not probes (`ssm_check`).
        Check::Ssm { .. } => Ok(None),
        Check::Tcp { .. } | Check::Http { .. } => loop {
            match ctx.api.probe(instance, check).await {
                Ok(p) if p.passed => return Ok(p.ready_at),
                Ok(_) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        },
    }
}
