//! The contract between an action and the executor: what a step's action is given (`Ctx`: the
//! paced cloud, the shared pollers, the journal, the run's tags and clock) and what it gives
//! back (`Done`, or a `StepError`). `Ctx::once` is the one way an action makes a mutating call:
//! journaled intent, call, journaled answer; reused or adopted after a retry or a crash.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::api::Api;
use super::journal::{Call, Entry, Journal};
use super::model::{Created, Rejected};
use super::poller::Pollers;
use crate::cloud::latency::LatencyModel;
use crate::cloud::{Cloud, CloudError, Lookup, Op, RUN_TAG, STEP_TAG, Tags};

/// What a step gave, beyond its outputs.
#[derive(Debug, Default)]
pub(crate) struct Done<O = Map<String, Value>> {
    pub outputs: O,
    pub rejected: Vec<Rejected>,
    /// When the cloud was done and showed it (simulator only); the step's finish otherwise.
    pub ready_at: Option<Instant>,
    /// Resources made by earlier steps whose clock `ready_at` runs on, when it does not run from
    /// this step's start: a `verify`'s instances (EC2 evaluates status checks, and the OS
    /// boots, from when the instance came up, whenever the verify started). The bound counts
    /// this step's readiness from theirs (`timings`).
    pub counts_from: Vec<String>,
    /// Volumes: the id whose loading from its snapshot the executor watches after the step.
    pub loading: Option<String>,
    /// `find_*`: the creation time of the artifact chosen, for the RPO.
    pub artifact_created: Option<DateTime<Utc>>,
    /// `approve`: who approved.
    pub approved_by: Option<String>,
    /// `approve`: when, on the wall clock (not the simulator's), the approval was given.
    pub approved_at: Option<DateTime<Utc>>,
}

impl<O> Done<O> {
    /// The same, with its outputs as the executor keeps them: a JSON object.
    pub(crate) fn into_map(self) -> Done
    where
        O: Serialize,
    {
        Done {
            outputs: match serde_json::to_value(&self.outputs) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
            rejected: self.rejected,
            ready_at: self.ready_at,
            counts_from: self.counts_from,
            loading: self.loading,
            artifact_created: self.artifact_created,
            approved_by: self.approved_by,
            approved_at: self.approved_at,
        }
    }

    /// Notes when the cloud was done with one of the step's resources (and showed it): the
    /// latest wins.
    pub(crate) fn ready(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.ready_at = Some(self.ready_at.map_or(at, |r| r.max(at)));
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum StepError {
    #[error("{0}")]
    Cloud(#[from] CloudError),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Failed(String),
    /// A `find_*` found nothing usable; the candidates it passed over, and why, go into the
    /// report all the same.
    #[error("no usable {what}{}", list(.rejected))]
    NothingUsable {
        what: &'static str,
        rejected: Vec<Rejected>,
    },
}

fn list(rejected: &[Rejected]) -> String {
    if rejected.is_empty() {
        return " matches".to_string();
    }
    let parts: Vec<String> = rejected
        .iter()
        .map(|r| format!("{} ({})", r.id, r.reason))
        .collect();
    format!(": {}", parts.join("; "))
}

impl StepError {
    /// Worth a step-level retry (`retries`).
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, StepError::Cloud(e) if e.is_transient())
    }
}

/// An isolated drill's security groups, by subnet: every instance the run launches or restores
/// there gets only its subnet's group, and no public address (`exec::sandbox`).
pub type Sandbox = std::collections::BTreeMap<String, String>;

impl<C: Cloud> Ctx<'_, '_, C> {
    /// The groups and public address of an instance in `subnet`: the step's own (`None`: a
    /// run that is not isolated), or only the sandbox's.
    pub(crate) fn isolated(&self, subnet: &str) -> Result<Option<String>, StepError> {
        match self.sandbox {
            None => Ok(None),
            Some(groups) => groups.get(subnet).cloned().map(Some).ok_or_else(|| {
                StepError::Failed(format!(
                    "the drill is isolated, and subnet {subnet} has no sandbox group (its \
                     subnet was known only during the run)"
                ))
            }),
        }
    }
}

/// A filesystem freeze a step must undo whatever becomes of it (`create_image`'s `freeze`):
/// the step registers it in `Ctx::thaws` before it freezes and removes it once thawed; what is
/// left when the step ends in any way (a timeout, an interruption) the executor thaws.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Thaw {
    pub instance: String,
    pub paths: Vec<String>,
    /// Unique to this freeze: the command's comment, and the mark of its watchdog on the
    /// instance.
    pub marker: String,
}

/// Asks a person to approve; the CLI provides it (the executor knows no terminal).
pub(crate) type Approve =
    dyn Fn(&str) -> futures::future::LocalBoxFuture<'static, Result<String, String>>;

/// Everything an action may use.
pub(crate) struct Ctx<'a, 'c, C> {
    pub api: &'a Api<'c, C>,
    pub pollers: &'a Pollers,
    /// The step's region when it is not the run's own (`api` calls there): what it makes is
    /// journaled with it, so that teardown looks there.
    pub region: Option<&'a str>,
    pub model: &'a LatencyModel,
    /// The step's name (its tokens and tags carry it).
    pub step: &'a str,
    pub run_id: &'a str,
    /// When the disaster was declared (or the run started): ages and the RPO count from it.
    pub t0: DateTime<Utc>,
    pub rpo: Option<Duration>,
    /// The runbook's tags plus `rebound:run-id` and `rebound:step`.
    pub tags: Tags,
    pub approve: &'a Approve,
    pub progress: &'a dyn Fn(String),
    /// Called the moment a resource exists, so the run accounts for it whatever happens next.
    pub created: &'a dyn Fn(Created),
    /// Intents and answers of mutating calls; what earlier attempts and processes did.
    pub journal: &'a Journal,
    /// Freezes not yet thawed (`Thaw`).
    pub thaws: &'a std::cell::RefCell<Vec<Thaw>>,
    /// An isolated drill's groups (`Sandbox`); `None` for a run that is not isolated.
    pub sandbox: Option<&'a Sandbox>,
    /// Run seconds now.
    pub at: &'a dyn Fn() -> f64,
}

impl<C: Cloud> Ctx<'_, '_, C> {
    /// An idempotency token from run, step and what else makes a call distinct: the same
    /// call re-issued (a step's retry, a resume) carries the same token, so it cannot create
    /// a second resource where AWS honours the token.
    pub(crate) fn token(&self, extra: &str) -> String {
        token(self.run_id, self.step, extra)
    }

    /// Tags that find what this step created: the run's id and the step's name.
    pub(crate) fn mine(&self) -> Lookup {
        let mut tags = Tags::new();
        for k in [RUN_TAG, STEP_TAG] {
            if let Some(v) = self.tags.get(k) {
                tags.insert(k.to_string(), v.clone());
            }
        }
        Lookup::Tags(tags)
    }

    /// Makes a mutating call at most once per token, across retries and processes:
    /// - answered before (journal): that answer, no call;
    /// - intended before but unanswered (a crash mid-call): `adopt` looks for what the call
    ///   would have made (by tag); what it finds is the answer;
    /// - otherwise: intent journaled, call made, answer journaled.
    ///
    /// Either way `made` lists the resources in the answer, recorded as created.
    pub(crate) async fn once<T, Adopt, Call_, Made>(
        &self,
        op: Op,
        token: &str,
        adopt: Adopt,
        call: Call_,
        made: Made,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        Adopt: AsyncFn() -> Result<Option<T>, CloudError>,
        Call_: AsyncFn() -> Result<T, CloudError>,
        Made: Fn(&T) -> Vec<Created>,
    {
        let made = |t: &T| -> Vec<Created> {
            made(t)
                .into_iter()
                .map(|c| match self.region {
                    Some(r) => c.in_region(r),
                    None => c,
                })
                .collect()
        };
        let record = |t: &T| {
            for c in made(t) {
                (self.created)(c);
            }
        };
        let answer = |t: &T| Entry::Answer {
            step: self.step.to_string(),
            op,
            token: token.to_string(),
            answer: serde_json::to_value(t).unwrap_or_default(),
            error: None,
            created: made(t),
            at: (self.at)(),
        };
        match self.journal.call(token) {
            Some(Call::Answered(v)) => {
                if let Ok(t) = serde_json::from_value::<T>(v) {
                    (self.progress)(format!("{op}: answered before; not made again"));
                    record(&t);
                    return Ok(t);
                }
            }
            Some(Call::Pending) => {
                if let Some(t) = adopt().await? {
                    (self.progress)(format!("{op}: made before the interruption; adopted"));
                    self.journal.note(&answer(&t));
                    record(&t);
                    return Ok(t);
                }
                (self.progress)(format!(
                    "{op}: nothing found from before the interruption; re-issued with the same token"
                ));
            }
            None => {}
        }
        self.journal
            .append(&Entry::Intent {
                step: self.step.to_string(),
                op,
                token: token.to_string(),
                at: (self.at)(),
            })
            .map_err(|e| {
                StepError::Failed(format!("cannot journal the intent to call {op}: {e}"))
            })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match call().await {
                Ok(t) => {
                    // The answer names every resource in it: one record, so a crash cannot
                    // leave some of them unjournaled.
                    self.journal.note(&answer(&t));
                    record(&t);
                    return Ok(t);
                }
                Err(e) => e,
            };
            // Without a token, the failure may be the resend's, after a first call that worked
            // and whose answer was lost, or a server error after the call acted (`exec::api`
            // does not resend those): what the call would have made is looked for. Found: it is
            // the answer. Not found after a server error, and not on a second look a moment
            // later (a new resource can be unseen by a filter for a while): nothing was made,
            // and the call is made again, a few times, as `exec::api` would have.
            if !op.has_token() {
                let mut found = adopt().await;
                if matches!(found, Ok(None)) && e.is_transient() && attempt < UNTOKENED_ATTEMPTS {
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                    found = adopt().await;
                    if matches!(found, Ok(None)) {
                        continue;
                    }
                }
                if let Ok(Some(t)) = found {
                    (self.progress)(format!(
                        "{op}: {}: made by an attempt whose answer was lost; adopted",
                        e.code
                    ));
                    self.journal.note(&answer(&t));
                    record(&t);
                    return Ok(t);
                }
            }
            self.journal.note(&Entry::Answer {
                step: self.step.to_string(),
                op,
                token: token.to_string(),
                answer: serde_json::Value::Null,
                error: Some(e.to_string()),
                created: Vec::new(),
                at: (self.at)(),
            });
            return Err(e.into());
        }
    }
}

/// Calls of a call without a token that met a server error and made nothing (looked for each
/// time) before the step is failed with the error.
const UNTOKENED_ATTEMPTS: u32 = 4;

/// The idempotency token of run `run_id`'s step `step` for the call `extra` names
/// (`Ctx::token`); the tests craft an interrupted call's journal with it.
pub fn token(run_id: &str, step: &str, extra: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{run_id}/{step}/{extra}"));
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("rebound-{hex}")
}
