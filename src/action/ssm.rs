//! Scripts on instances through SSM Run Command, for `run_command`, `verify`'s `ssm:` checks and
//! `create_image`'s freeze: wait until every instance's agent is online, send the script (at
//! most 50 instances a SendCommand), then follow every instance's result with one
//! ListCommandInvocations per command until all have ended.
//!
//! SendCommand takes no idempotency token. Each call carries its token as the command's
//! comment and goes through `Ctx::once`: the journal keeps the CommandId, so a step's retry or
//! a resume follows the command already sent instead of running the script again, and a call
//! whose answer was lost is found by its comment (ListCommands, looked at for half a minute:
//! it is eventually consistent). A command that ended and failed is sent again on a resume
//! (a new generation of its token): a responder resumes after fixing the cause.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::cloud::latency::LatencyModel;
use crate::cloud::{
    Agent, Cloud, CloudError, CommandRequest, Invocation, MAX_COMMAND_TARGETS, MAX_OUTPUT, Op,
    PROPAGATION,
};
use crate::exec::api::Api;
use crate::exec::ctx::{Ctx, StepError};
use crate::exec::journal::Call;
use crate::policy::builder::{Builder, Sid, resource_tagged};

/// How long an instance's agent may take to come online before the step gives up on it: AWS's
/// own guidance is minutes after launch; ten is far in the tail of the latency model.
pub(crate) const ONLINE_WITHIN: Duration = Duration::from_secs(600);

/// How long the script may run on an instance (AWS-RunShellScript's `executionTimeout`, whose
/// default this is). A step's `timeout` bounds the whole step.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(3600);

/// The pause between two looks at the agents or at a command's results, once the first look
/// found them not there yet.
const TICK: Duration = Duration::from_secs(5);

/// Runs `script` on `instances`; `passed` says which results pass (a resume sends again a
/// command whose results did not). `label` is unique within the step (`run`, `check 2`): the
/// calls' tokens are made from it.
pub(crate) async fn run<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    label: &str,
    instances: &[String],
    script: &str,
    passed: &dyn Fn(&Invocation) -> bool,
) -> Result<Vec<Invocation>, StepError> {
    online(ctx.api, instances, ctx.progress).await?;
    let commands = lines(script);
    let mut out = Vec::new();
    let mut sent = Vec::new();
    'chunks: for (n, chunk) in instances.chunks(MAX_COMMAND_TARGETS).enumerate() {
        let mut generation = 0;
        let token = loop {
            let token = ctx.token(&format!("ssm/{label}/{n}/{generation}"));
            // Sent by an earlier attempt or process: followed; sent again only if it failed.
            let Some(Call::Answered(answer)) = ctx.journal.call(&token) else {
                break token;
            };
            let Some(id) = answer.as_str() else {
                break token;
            };
            let ran = results(ctx.api, id, chunk).await?;
            if ran.iter().all(passed) {
                out.extend(ran);
                continue 'chunks;
            }
            generation += 1;
        };
        let request = CommandRequest {
            instances: chunk.to_vec(),
            commands: commands.clone(),
            execution_timeout: EXECUTION_TIMEOUT,
            delivery_timeout: None,
            comment: token.clone(),
        };
        let since = ctx.t0 - chrono::Duration::minutes(5);
        let id = ctx
            .once(
                Op::SendCommand,
                &token,
                async || find_patiently(ctx.api, &token, since).await,
                async || ctx.api.send_command(&request).await,
                |_: &String| Vec::new(),
            )
            .await?;
        (ctx.progress)(format!(
            "{label}: command {id} on {} instances",
            chunk.len()
        ));
        sent.push((id, chunk));
    }
    for (id, chunk) in sent {
        out.extend(results(ctx.api, &id, chunk).await?);
    }
    Ok(out)
}

/// Looks for the command whose comment is `comment` for half a minute before saying there is
/// none: ListCommands is eventually consistent, and a script must not run twice because a
/// command just sent was not listed yet.
async fn find_patiently<C: Cloud>(
    api: &Api<'_, C>,
    comment: &str,
    since: chrono::DateTime<Utc>,
) -> Result<Option<String>, CloudError> {
    const LOOKS: u32 = 6;
    for look in 1..=LOOKS {
        if let Some(id) = api.find_command(comment, since).await? {
            return Ok(Some(id));
        }
        if look < LOOKS {
            tokio::time::sleep(TICK).await;
        }
    }
    Ok(None)
}

/// How long SSM may hold a freeze or a thaw for an agent that does not take it (SendCommand's
/// TimeoutSeconds, at its least): a freeze delivered long after rebound moved on would stop a
/// production host's writes.
const URGENT: Duration = Duration::from_secs(30);

/// Sends a script and waits for its results, unjournaled: a freeze and its thaw must run each
/// time they are asked for, never be taken for an earlier attempt's. Delivered within `URGENT`
/// or not at all. A SendCommand whose answer was lost is found by its comment before it is
/// sent again.
pub(crate) async fn run_now<C: Cloud>(
    api: &Api<'_, C>,
    comment: &str,
    instances: &[String],
    commands: Vec<String>,
) -> Result<Vec<Invocation>, CloudError> {
    let request = CommandRequest {
        instances: instances.to_vec(),
        commands,
        execution_timeout: EXECUTION_TIMEOUT,
        delivery_timeout: Some(URGENT),
        comment: comment.to_string(),
    };
    let since = Utc::now() - chrono::Duration::minutes(5);
    let mut attempt = 0;
    let id = loop {
        attempt += 1;
        match api.send_command(&request).await {
            Ok(id) => break id,
            Err(e) if e.is_transient() && attempt < 4 => {
                if let Some(id) = find_patiently(api, comment, since).await? {
                    break id;
                }
            }
            Err(e) => return Err(e),
        }
    };
    results(api, &id, instances).await.map_err(|e| match e {
        StepError::Cloud(e) => e,
        other => CloudError::new("CommandFailed", other.to_string()),
    })
}

/// The script's lines, as AWS-RunShellScript's `commands` takes them.
pub(crate) fn lines(script: &str) -> Vec<String> {
    script.lines().map(str::to_string).collect()
}

/// Waits until SSM has every instance's agent online (DescribeInstanceInformation, 50 ids a
/// call); after `ONLINE_WITHIN`, fails naming what is missing.
pub(crate) async fn online<C: Cloud>(
    api: &Api<'_, C>,
    instances: &[String],
    progress: &dyn Fn(String),
) -> Result<(), StepError> {
    let start = Instant::now();
    let mut waiting: Vec<String> = instances.to_vec();
    let mut told = false;
    loop {
        let mut seen = Vec::new();
        for chunk in waiting.chunks(MAX_COMMAND_TARGETS) {
            match api.agents(chunk).await {
                Ok(agents) => seen.extend(agents),
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(e.into()),
            }
        }
        waiting.retain(|id| !seen.iter().any(|a| &a.instance == id && a.ping == "Online"));
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= ONLINE_WITHIN {
            return Err(StepError::Failed(never_online(&waiting, &seen)));
        }
        if !told {
            progress(format!(
                "waiting for SSM to have {} of {} agents online",
                waiting.len(),
                instances.len()
            ));
            told = true;
        }
        tokio::time::sleep(TICK).await;
    }
}

/// What is missing when agents never came online: SSM's view of each instance says which.
fn never_online(waiting: &[String], seen: &[Agent]) -> String {
    let (lost, unknown): (Vec<&String>, Vec<&String>) = waiting
        .iter()
        .partition(|id| seen.iter().any(|a| &a.instance == *id));
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!(
            "{} never registered with SSM: the SSM agent must run on the image, the instance \
             profile must grant AmazonSSMManagedInstanceCore (launch's `instance_profile`), and \
             the subnet must reach the ssm, ssmmessages and ec2messages endpoints (a NAT gateway \
             or VPC endpoints)",
            join(&unknown)
        ));
    }
    if !lost.is_empty() {
        let how: Vec<String> = lost
            .iter()
            .map(|id| {
                let ping = seen
                    .iter()
                    .find(|a| &a.instance == *id)
                    .map_or("", |a| a.ping.as_str());
                format!("{id} ({ping})")
            })
            .collect();
        parts.push(format!(
            "{} registered but are not online: their agents lost the ssm, ssmmessages and \
             ec2messages endpoints, or stopped",
            how.join(", ")
        ));
    }
    format!(
        "no SSM agent online after {}m: {}",
        ONLINE_WITHIN.as_secs() / 60,
        parts.join("; ")
    )
}

fn join(ids: &[&String]) -> String {
    ids.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Follows one command until every instance's invocation has ended: one listing a look.
/// A command or invocation SSM does not know yet (`InvalidCommandId`,
/// `InvocationDoesNotExist`, or an instance missing from the listing) is looked for again
/// for `PROPAGATION`, as SSM is eventually consistent after SendCommand.
async fn results<C: Cloud>(
    api: &Api<'_, C>,
    command: &str,
    instances: &[String],
) -> Result<Vec<Invocation>, StepError> {
    let start = Instant::now();
    let mut pause = Duration::from_secs(1);
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(TICK);
        let listed = match api.invocations(command).await {
            Ok(l) => l,
            Err(e) if e.is_transient() || unknown_yet(&e) && start.elapsed() < PROPAGATION => {
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mine: Vec<&Invocation> = instances
            .iter()
            .filter_map(|id| listed.iter().find(|i| &i.instance == id))
            .collect();
        if mine.len() < instances.len() && start.elapsed() >= PROPAGATION {
            let missing: Vec<&String> = instances
                .iter()
                .filter(|id| !listed.iter().any(|i| &i.instance == *id))
                .collect();
            return Err(StepError::Failed(format!(
                "SSM made no invocation of command {command} for {} in {}s",
                join(&missing),
                PROPAGATION.as_secs()
            )));
        }
        if mine.len() == instances.len() && mine.iter().all(|i| i.finished()) {
            return Ok(mine
                .into_iter()
                .map(|i| {
                    let mut i = i.clone();
                    i.stdout = crate::secret::scrub(&i.stdout).into_owned();
                    i
                })
                .collect());
        }
    }
}

/// SSM's answers for a command or an invocation it does not know yet.
fn unknown_yet(e: &CloudError) -> bool {
    matches!(
        e.code.as_str(),
        "InvocationDoesNotExist" | "InvalidCommandId"
    )
}

/// One instance's result in words, for a failed step: its status, exit code and the end of its
/// output.
pub(crate) fn failure(check: &str, i: &Invocation) -> String {
    let tail: String = {
        let out = i.stdout.trim_end();
        let start = out.char_indices().rev().nth(199).map_or(0, |(at, _)| at);
        out[start..].replace('\n', " | ")
    };
    let said = if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    };
    match i.status.as_str() {
        "Success" | "Failed" => format!("{check} on {}: exit {}{said}", i.instance, i.exit_code),
        status => format!("{check} on {}: {status}{said}", i.instance),
    }
}

/// Whether AWS cut the output (it keeps `MAX_OUTPUT` characters).
pub(crate) fn cut(stdout: &str) -> bool {
    stdout.chars().count() >= MAX_OUTPUT
}

/// The statements a step that runs scripts needs: SendCommand with AWS-RunShellScript on the
/// run's own instances, and the reads that follow the command.
pub(crate) fn statements(b: &mut Builder) {
    let scope = b.scope().clone();
    b.allow(
        Sid::RunCommand,
        &["ssm:SendCommand"],
        [format!(
            "arn:aws:ssm:{}::document/AWS-RunShellScript",
            scope.region
        )],
    );
    b.allow(
        Sid::RunCommandOn,
        &["ssm:SendCommand"],
        [scope.ec2("instance", "*")],
    )
    .when(resource_tagged());
    b.describe(&[
        "ssm:DescribeInstanceInformation",
        "ssm:ListCommands",
        "ssm:ListCommandInvocations",
        "ssm:GetCommandInvocation",
    ]);
}

/// Expected seconds of a script on instances that just came up: the agent coming online, then
/// the script.
pub(crate) fn expected_seconds(m: &LatencyModel) -> f64 {
    m.ssm_ready.median + m.command.median
}
