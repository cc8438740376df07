//! `rebound preflight`: would the runbook recover now? Asked of the account, creating nothing:
//! every `find_*` resolved as a run would resolve it, with its age against the RPO; everything
//! the runbook names exists; each launch's instance types are offered in its subnet's zone, and
//! the subnet has an address for every instance; and the calls a run makes are allowed (each
//! made with DryRun=true). A recovery plan rots between drills; this finds out before the
//! outage does.
//!
//! Each answer is a `Finding`: `ok`, a `warning` (the run would go, not as written: an older
//! backup than the RPO, a fallback instance type) or an `error` (the run would fail).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::action::Action;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Allowed, Cloud, DryRun, Regions};
use crate::exec::api::Api;
use crate::exec::journal::Journal;
use crate::exec::{self, Options};
use crate::plan::Plan;
use crate::runbook::checked::{Runbook, Step, StepId};
use crate::runbook::expr::Expr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A question that could not be asked before a run (a value only a run knows): not a
    /// problem.
    Info,
    Ok,
    Warning,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One answer of preflight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub level: Level,
    /// What was asked: `identity`, `find`, `exists`, `instance-type`, `addresses`,
    /// `permission`.
    pub check: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(level: Level, check: &str, step: Option<&str>, message: String) -> Self {
        Finding {
            level,
            check: check.to_string(),
            step: step.map(str::to_string),
            message,
        }
    }
}

/// Everything preflight found, for the terminal, `--format json` and the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    pub runbook: String,
    pub backend: crate::cloud::Backend,
    pub region: Option<String>,
    pub at: DateTime<Utc>,
    pub findings: Vec<Finding>,
}

impl Readiness {
    /// The worst finding's level.
    pub fn level(&self) -> Level {
        self.findings
            .iter()
            .map(|f| f.level)
            .max()
            .unwrap_or(Level::Ok)
    }

    /// 0 ready, 3 ready with warnings, 1 not ready.
    pub fn exit_code(&self) -> u8 {
        match self.level() {
            Level::Info | Level::Ok => 0,
            Level::Warning => 3,
            Level::Error => 1,
        }
    }

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

/// What changed since a runbook was last ready (with warnings or without): the latest check's
/// problems that the last ready check did not have (all of them when it was never ready), with
/// when it was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes<'r> {
    pub latest: &'r Readiness,
    /// The last check that found the runbook ready (`latest` itself when it did).
    pub last_ready: Option<&'r Readiness>,
    /// The last ready check before `latest`: what `new` is new against.
    pub baseline: Option<&'r Readiness>,
    /// The first check after `last_ready` that did not.
    pub not_ready_since: Option<DateTime<Utc>>,
    pub new: Vec<&'r Finding>,
}

/// `records`, one runbook's checks oldest first, read as what changed; `None` for none.
pub fn changes(records: &[Readiness]) -> Option<Changes<'_>> {
    let latest = records.last()?;
    // Ready with warnings is ready (exit 3): the run would go.
    let ready = |r: &Readiness| r.level() < Level::Error;
    let before = &records[..records.len() - 1];
    // What is new is said against the last ready check before this one.
    let baseline = before.iter().rev().find(|r| ready(r));
    let last_ready = if ready(latest) {
        Some(latest)
    } else {
        baseline
    };
    let not_ready_since = if ready(latest) {
        None
    } else {
        let after = match baseline {
            Some(l) => records
                .iter()
                .position(|r| std::ptr::eq(r, l))
                .map_or(0, |i| i + 1),
            None => 0,
        };
        records.get(after).map(|r| r.at)
    };
    // A problem of the same check, step and level is the same problem, whatever its words
    // (a backup's age, a count of addresses, change from check to check).
    let seen = |f: &Finding| {
        baseline.is_some_and(|l| {
            l.findings
                .iter()
                .any(|g| g.check == f.check && g.step == f.step && g.level == f.level)
        })
    };
    let new = latest
        .findings
        .iter()
        .filter(|f| f.level >= Level::Warning && !seen(f))
        .collect();
    Some(Changes {
        latest,
        last_ready,
        baseline,
        not_ready_since,
        new,
    })
}

/// Every finding about `rb` on `clouds`, in the order a responder reads them: what the
/// runbook names, its backups, its launches, its permissions.
pub async fn assess<C: Cloud>(
    clouds: &Regions<C>,
    rb: &Runbook,
    model: &LatencyModel,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let named = super::check(clouds, rb).await;
    let home = clouds.home().to_string();
    for r in &named.missing {
        out.push(Finding::new(
            Level::Error,
            "exists",
            Some(&r.step),
            r.problem(&rb.source.name, Some(&home)),
        ));
    }
    for (kind, e) in &named.unasked {
        out.push(Finding::new(
            Level::Warning,
            "exists",
            None,
            format!("cannot ask whether the {kind}s named exist: {e}"),
        ));
    }
    if named.missing.is_empty() && named.unasked.is_empty() {
        out.push(Finding::new(
            Level::Ok,
            "exists",
            None,
            format!(
                "everything the runbook names exists ({} references)",
                super::named::references(rb).len()
            ),
        ));
    }
    let mut known = finds(clouds, rb, model, &mut out).await;
    let apis = Api::for_regions(clouds);
    launches(&apis, clouds, rb, &mut known, &mut out).await;
    permissions(&apis, clouds, rb, &known, &mut out).await;
    out
}

fn is_find(action: Action) -> bool {
    matches!(
        action,
        Action::FindImage | Action::FindSnapshot | Action::FindRecoveryPoint
    )
}

/// Each `find_*` run as a run would run it (on the executor, with a memory journal: finds make
/// nothing), its choice and its age against the runbook's RPO; the outputs of those that chose,
/// by step, for the questions after.
async fn finds<C: Cloud>(
    clouds: &Regions<C>,
    rb: &Runbook,
    model: &LatencyModel,
    out: &mut Vec<Finding>,
) -> HashMap<StepId, Map<String, Value>> {
    let ids: Vec<StepId> = (0..rb.steps.len())
        .filter(|&i| is_find(rb.steps[i].action) && rb.steps[i].deps.is_empty())
        .collect();
    for s in rb
        .steps
        .iter()
        .filter(|s| is_find(s.action) && !s.deps.is_empty())
    {
        out.push(Finding::new(
            Level::Info,
            "find",
            Some(&s.name),
            "not resolved: it waits for other steps, so only a run can".into(),
        ));
    }
    let mut known = HashMap::new();
    if ids.is_empty() {
        return known;
    }
    let mut only = rb.clone();
    only.paths.clear();
    only.steps = ids
        .iter()
        .map(|&i| {
            let mut s = rb.steps[i].clone();
            s.path = None;
            s.timeout = Some(s.timeout.unwrap_or(Duration::from_secs(300)));
            s
        })
        .collect();
    let plan = Plan::new(&only, model);
    let journal = Journal::memory();
    let approve = |_: &str| async { Err("preflight approves nothing".to_string()) }.boxed_local();
    let opts = Options {
        run_id: "preflight".into(),
        t0: None,
        parallelism: 16,
        model: model.clone(),
        tick: Duration::from_secs(1),
        approve: &approve,
        journal: &journal,
        prior: None,
        sandbox: None,
    };
    let record = exec::execute(&plan, clouds, &opts, &|_| {}, std::future::pending()).await;
    for (k, &id) in ids.iter().enumerate() {
        let step = &rb.steps[id];
        let r = &record.steps[k];
        let Some(error) = &r.error else {
            let chosen = ["id", "arn"]
                .iter()
                .find_map(|k| r.outputs.get(*k).and_then(Value::as_str))
                .unwrap_or("?")
                .to_string();
            let age = r
                .artifact_created
                .map(|c| (Utc::now() - c).num_seconds().max(0) as f64);
            let aged = age.map(|a| format!(", {} old", crate::duration::human(a)));
            let over = match (age, rb.rpo) {
                (Some(a), Some(rpo)) if a > rpo.as_secs_f64() => Some(rpo),
                _ => None,
            };
            let said = format!("{chosen}{}", aged.unwrap_or_default());
            out.push(match over {
                Some(rpo) => Finding::new(
                    Level::Warning,
                    "find",
                    Some(&step.name),
                    format!(
                        "{said}: older than the rpo of {}; a recovery now would lose more",
                        crate::duration::human(rpo.as_secs_f64())
                    ),
                ),
                None => Finding::new(Level::Ok, "find", Some(&step.name), said),
            });
            known.insert(id, r.outputs.clone());
            continue;
        };
        out.push(Finding::new(
            Level::Error,
            "find",
            Some(&step.name),
            error.clone(),
        ));
    }
    known
}

/// A string field's value: a literal, or an output of a step preflight knows.
fn value(step: &Step, field: &str, known: &HashMap<StepId, Map<String, Value>>) -> Option<String> {
    match step.field(field)? {
        Expr::Str(s) => Some(s.clone()),
        Expr::Output { step, output } => known.get(step)?.get(output)?.as_str().map(str::to_string),
        _ => None,
    }
}

fn strings(step: &Step, field: &str) -> Vec<String> {
    step.field(field)
        .and_then(Expr::strings)
        .unwrap_or_default()
}

/// Each launch's subnet, zone and instance types, and each subnet's free addresses against
/// the instances the runbook puts there. A launch's zone and the type it would use become
/// known outputs (`zone`, `instance_type`) for the questions after.
async fn launches<C: Cloud>(
    apis: &[Api<'_, C>],
    clouds: &Regions<C>,
    rb: &Runbook,
    known: &mut HashMap<StepId, Map<String, Value>>,
    out: &mut Vec<Finding>,
) {
    // (region, subnet) -> instances the runbook puts there, and the steps that do.
    let mut demand: Vec<((usize, String), i64, Vec<String>)> = Vec::new();
    for (id, step) in rb.steps.iter().enumerate() {
        let (count, types) = match step.action {
            Action::Launch => (
                match step.field("count") {
                    Some(Expr::Int(n)) => *n,
                    _ => 1,
                },
                strings(step, "instance_types"),
            ),
            Action::Restore => (
                1,
                step.field("instance_type")
                    .and_then(Expr::as_str)
                    .map(str::to_string)
                    .into_iter()
                    .collect(),
            ),
            _ => continue,
        };
        let Some(subnet) = value(step, "subnet", known) else {
            continue;
        };
        let region = clouds.index(step.region.as_deref());
        let info = match apis[region].subnets(std::slice::from_ref(&subnet)).await {
            Ok(found) => found.into_iter().next(),
            Err(e) => {
                out.push(Finding::new(
                    Level::Warning,
                    "addresses",
                    Some(&step.name),
                    format!("cannot describe {subnet}: {e}"),
                ));
                continue;
            }
        };
        // A subnet that does not exist is said once, by `exists`.
        let Some(info) = info else { continue };
        match demand
            .iter_mut()
            .find(|(k, ..)| *k == (region, subnet.clone()))
        {
            Some((_, n, steps)) => {
                *n += count;
                steps.push(step.name.clone());
            }
            None => demand.push(((region, subnet.clone()), count, vec![step.name.clone()])),
        }
        let mut outputs = Map::new();
        outputs.insert("zone".into(), Value::from(info.zone.clone()));
        outputs.insert("free".into(), Value::from(info.free_addresses));
        if !types.is_empty() {
            match apis[region].offered(&info.zone, &types).await {
                Ok(offered) => {
                    out.push(offering(step, &info.zone, &types, &offered));
                    if let Some(first) = offered.first() {
                        outputs.insert("instance_type".into(), Value::from(first.clone()));
                    }
                }
                Err(e) => out.push(Finding::new(
                    Level::Warning,
                    "instance-type",
                    Some(&step.name),
                    format!("cannot ask what {} offers: {e}", info.zone),
                )),
            }
        }
        known.entry(id).or_default().extend(outputs);
    }
    for ((region, subnet), needed, steps) in demand {
        let free = rb
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| steps.contains(&s.name))
            .find_map(|(id, _)| known.get(&id)?.get("free")?.as_i64())
            .unwrap_or(0);
        let at = clouds.name(region);
        let said = format!(
            "{subnet} in {at} has {free} free addresses for {needed} instance{} ({})",
            if needed == 1 { "" } else { "s" },
            steps.join(", ")
        );
        let level = if free < needed {
            Level::Error
        } else {
            Level::Ok
        };
        out.push(Finding::new(level, "addresses", None, said));
    }
}

/// What a launch's instance types come to in its zone.
fn offering(step: &Step, zone: &str, types: &[String], offered: &[String]) -> Finding {
    let at = Some(step.name.as_str());
    match offered.first() {
        None => Finding::new(
            Level::Error,
            "instance-type",
            at,
            format!("none of {} is offered in {zone}", types.join(", ")),
        ),
        Some(first) if *first != types[0] => {
            let skipped: Vec<&str> = types
                .iter()
                .take_while(|t| *t != first)
                .map(String::as_str)
                .collect();
            let verb = if skipped.len() == 1 { "is" } else { "are" };
            Finding::new(
                Level::Warning,
                "instance-type",
                at,
                format!(
                    "{} {verb} not offered in {zone}: the launch would use {first}",
                    skipped.join(", ")
                ),
            )
        }
        Some(first) => Finding::new(
            Level::Ok,
            "instance-type",
            at,
            format!("{first} is offered in {zone}"),
        ),
    }
}

/// RunInstances, CreateVolume and AttachVolume made with DryRun=true, with what the steps
/// would give them (AttachVolume names ids that do not exist: its permission is asked before
/// them).
async fn permissions<C: Cloud>(
    apis: &[Api<'_, C>],
    clouds: &Regions<C>,
    rb: &Runbook,
    known: &HashMap<StepId, Map<String, Value>>,
    out: &mut Vec<Finding>,
) {
    // What the run would tag its creations with: the policy allows RunInstances and
    // CreateVolume only with the run's tag in the request.
    let tags_of = |step: &Step| {
        let mut tags: crate::cloud::Tags = rb.tags.clone();
        tags.insert(crate::cloud::RUN_TAG.into(), "preflight".into());
        tags.insert(crate::cloud::STEP_TAG.into(), step.name.clone());
        tags
    };
    // DryRun makes nothing, but an endpoint that ignores it would: a fresh token, so that a
    // resent request cannot make it twice.
    let token = format!("rebound-preflight-{}", Utc::now().timestamp_millis());
    let mut asked: Vec<(usize, DryRun)> = Vec::new();
    for (id, step) in rb.steps.iter().enumerate() {
        let region = clouds.index(step.region.as_deref());
        let call = match step.action {
            Action::Launch => {
                let mine = known.get(&id);
                let (Some(image), Some(subnet), Some(instance_type)) = (
                    value(step, "image", known),
                    value(step, "subnet", known),
                    mine.and_then(|m| m.get("instance_type")?.as_str().map(str::to_string)),
                ) else {
                    out.push(Finding::new(
                        Level::Info,
                        "permission",
                        Some(&step.name),
                        "ec2:RunInstances not tried: its image, subnet or instance type is known only during a run".into(),
                    ));
                    continue;
                };
                DryRun::RunInstances(crate::cloud::LaunchRequest {
                    image,
                    subnet,
                    instance_type,
                    count: 1,
                    security_groups: strings(step, "security_groups"),
                    key_name: value(step, "key_name", known),
                    instance_profile: value(step, "instance_profile", known),
                    user_data: None,
                    tags: tags_of(step),
                    volumes: Vec::new(),
                    client_token: format!("{token}-{id}"),
                    public_ip: true,
                })
            }
            Action::CreateVolume => {
                let (Some(zone), Some(snapshot)) =
                    (value(step, "zone", known), value(step, "snapshot", known))
                else {
                    out.push(Finding::new(
                        Level::Info,
                        "permission",
                        Some(&step.name),
                        "ec2:CreateVolume not tried: its zone or snapshot is known only during a run".into(),
                    ));
                    continue;
                };
                DryRun::CreateVolume(crate::cloud::VolumeRequest {
                    snapshot,
                    zone,
                    volume_type: value(step, "type", known),
                    size_gib: None,
                    iops: None,
                    throughput: None,
                    kms_key: value(step, "kms_key", known),
                    initialization_rate: None,
                    tags: tags_of(step),
                    client_token: format!("{token}-{id}"),
                })
            }
            // The policy allows AttachVolume on the run's own volumes and instances, which do
            // not exist before the run: there is nothing to ask it with.
            Action::Attach => {
                out.push(Finding::new(
                    Level::Info,
                    "permission",
                    Some(&step.name),
                    "ec2:AttachVolume not tried: it is allowed on the run's own volume and instance, which exist only during a run".into(),
                ));
                continue;
            }
            // AWS Backup restores as the step's role, which the caller must be allowed to pass.
            Action::Restore => {
                let Some(role) = value(step, "role", known) else {
                    continue;
                };
                out.push(match apis[region].may_pass(&role).await {
                    Ok(Some(true)) => Finding::new(
                        Level::Ok,
                        "permission",
                        Some(&step.name),
                        format!("iam:PassRole allowed on {role} (IAM's policy simulator)"),
                    ),
                    Ok(Some(false)) => Finding::new(
                        Level::Error,
                        "permission",
                        Some(&step.name),
                        format!(
                            "iam:PassRole is not allowed on {role}: AWS Backup could not restore as it"
                        ),
                    ),
                    Ok(None) => Finding::new(
                        Level::Info,
                        "permission",
                        Some(&step.name),
                        format!("iam:PassRole on {role} not asked: no IAM client"),
                    ),
                    Err(e) => Finding::new(
                        Level::Warning,
                        "permission",
                        Some(&step.name),
                        format!("iam:PassRole on {role} could not be simulated: {e}"),
                    ),
                });
                continue;
            }
            _ => continue,
        };
        if asked.iter().any(|(r, c)| *r == region && *c == call) {
            continue;
        }
        let answer = apis[region].dry_run(&call).await;
        let action = call.action();
        out.push(match answer {
            Ok(Allowed::Yes) => Finding::new(
                Level::Ok,
                "permission",
                Some(&step.name),
                format!("{action} allowed (DryRun)"),
            ),
            Ok(Allowed::No(said)) => Finding::new(
                Level::Error,
                "permission",
                Some(&step.name),
                format!("{action} is not allowed: {said}"),
            ),
            Ok(Allowed::Unknown(e)) | Err(e) => Finding::new(
                Level::Warning,
                "permission",
                Some(&step.name),
                format!("{action} could not be tried (DryRun answered {e})"),
            ),
        });
        asked.push((region, call));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(minute: u32, findings: &[(Level, &str)]) -> Readiness {
        Readiness {
            runbook: "shop".into(),
            backend: crate::cloud::Backend::Sim,
            region: None,
            at: DateTime::parse_from_rfc3339(&format!("2026-11-30T14:{minute:02}:00Z"))
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            findings: findings
                .iter()
                .map(|(l, m)| Finding::new(*l, "exists", None, (*m).to_string()))
                .collect(),
        }
    }

    #[test]
    fn changes_are_the_problems_the_last_ready_check_did_not_have() {
        let old_warning = (Level::Warning, "image 30h old, rpo 24h");
        let checks = [
            check(0, &[(Level::Ok, "fine")]),
            check(1, &[old_warning]),
            check(2, &[old_warning, (Level::Error, "subnet-0a deleted")]),
            check(3, &[old_warning, (Level::Error, "subnet-0a deleted")]),
        ];
        let c = changes(&checks).expect("changes");
        // The warning was there when it was last ready (warnings are ready): not new.
        assert_eq!(c.last_ready.map(|r| r.at), Some(checks[1].at));
        assert_eq!(c.not_ready_since, Some(checks[2].at));
        let new: Vec<&str> = c.new.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(new, ["subnet-0a deleted"]);

        // Never ready: every problem is new, not ready since the first check.
        let c = changes(&checks[2..]).expect("changes");
        assert!(c.last_ready.is_none());
        assert_eq!(c.not_ready_since, Some(checks[2].at));
        assert_eq!(c.new.len(), 2);

        // Ready again: nothing is said to have changed for the worse.
        let c = changes(&checks[..2]).expect("changes");
        assert_eq!(c.not_ready_since, None);
        assert!(changes(&[]).is_none());
    }
}
