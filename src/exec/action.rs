//! What each action does, on any `Cloud`: one function per action of the spec, taking the
//! step's resolved fields and returning its outputs plus what the report needs (candidates
//! rejected and why, resources created, when the cloud was truly done).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::api::Api;
use super::journal::{Call, Entry, Journal};
use super::poller::{Poller, Want};
use super::teardown::{RUN_TAG, STEP_TAG};
use super::value::Inputs;
use crate::cloud::latency::{Dist, LatencyModel};
use crate::cloud::{
    Cloud, CloudError, ImageQuery, ImageRequest, Kind, LaunchRequest, LaunchVolume, Launched,
    Lookup, Observed, Op, RecoveryPointQuery, ResourceKind, RestoreRequest, SnapshotQuery, Tags,
    VolumeRequest,
};
use crate::runbook::checked::Step;
use crate::runbook::schema::{Action, Check};

/// A candidate a `find_*` passed over, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub id: String,
    pub created: DateTime<Utc>,
    pub reason: String,
}

/// A resource the run created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    pub kind: ResourceKind,
    pub id: String,
    /// Instances and volumes: the availability zone (the simulator rebuilds from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// An attachment made (the journaled answer of AttachVolume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub volume: String,
    pub instance: String,
}

/// What a step gave, beyond its outputs.
#[derive(Debug, Default)]
pub struct Done {
    pub outputs: Map<String, Value>,
    pub rejected: Vec<Rejected>,
    /// When the cloud was truly done (simulator only); the step's finish otherwise.
    pub ready_at: Option<Instant>,
    /// Volumes: the id whose loading from its snapshot the executor watches after the step.
    pub loading: Option<String>,
    /// `find_*`: the creation time of the artifact chosen, for the RPO.
    pub artifact_created: Option<DateTime<Utc>>,
    /// `approve`: who approved.
    pub approved_by: Option<String>,
}

impl Done {
    fn ready(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.ready_at = Some(self.ready_at.map_or(at, |r| r.max(at)));
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
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
    pub fn is_transient(&self) -> bool {
        matches!(self, StepError::Cloud(e) if e.is_transient())
    }
}

/// Asks a person to approve; the CLI provides it (the executor knows no terminal).
pub type Approve = dyn Fn(&str) -> futures::future::LocalBoxFuture<'static, Result<String, String>>;

/// Everything an action may use.
pub struct Ctx<'a, 'c, C> {
    pub api: &'a Api<'c, C>,
    pub pollers: &'a Pollers,
    pub model: &'a LatencyModel,
    pub step: &'a Step,
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
    /// Run seconds now.
    pub at: &'a dyn Fn() -> f64,
}

impl<C: Cloud> Ctx<'_, '_, C> {
    /// An idempotency token from run, step and what else makes a call distinct: the same
    /// call re-issued (a step's retry, a resume) carries the same token, so it cannot create
    /// a second resource where AWS honours the token.
    fn token(&self, extra: &str) -> String {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(format!("{}/{}/{extra}", self.run_id, self.step.name));
        let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
        format!("rebound-{hex}")
    }

    /// Tags that find what this step created: the run's id and the step's name.
    fn mine(&self) -> Lookup {
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
    async fn once<T, Adopt, Call_, Made>(
        &self,
        op: Op,
        token: &str,
        adopt: Adopt,
        call: Call_,
        made: Made,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned,
        Adopt: AsyncFnOnce() -> Result<Option<T>, CloudError>,
        Call_: AsyncFnOnce() -> Result<T, CloudError>,
        Made: Fn(&T) -> Vec<Created>,
    {
        let record = |t: &T| {
            for c in made(t) {
                (self.created)(c);
            }
        };
        let answer = |t: &T| Entry::Answer {
            step: self.step.name.clone(),
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
                step: self.step.name.clone(),
                op,
                token: token.to_string(),
                at: (self.at)(),
            })
            .map_err(|e| {
                StepError::Failed(format!("cannot journal the intent to call {op}: {e}"))
            })?;
        match call().await {
            Ok(t) => {
                // The answer names every resource in it: one record, so a crash cannot leave
                // some of them unjournaled.
                self.journal.note(&answer(&t));
                record(&t);
                Ok(t)
            }
            Err(e) => {
                self.journal.note(&Entry::Answer {
                    step: self.step.name.clone(),
                    op,
                    token: token.to_string(),
                    answer: serde_json::Value::Null,
                    error: Some(e.to_string()),
                    created: Vec::new(),
                    at: (self.at)(),
                });
                Err(e.into())
            }
        }
    }
}

/// The shared pollers, one per kind of resource.
pub struct Pollers {
    pub instances: Poller,
    pub volumes: Poller,
    pub jobs: Poller,
    pub images: Poller,
    /// Volumes loading from their snapshots: watched after their steps finished, slowly (AWS
    /// updates the state up to five minutes late), for as long as the run lasts.
    pub loads: Poller,
}

/// How often loading volumes are looked at.
const LOAD_TICK: Duration = Duration::from_secs(15);

impl Pollers {
    pub fn new(tick: Duration) -> Pollers {
        Pollers {
            instances: Poller::new(Kind::Instance, tick),
            volumes: Poller::new(Kind::Volume, tick),
            jobs: Poller::new(Kind::RestoreJob, tick),
            images: Poller::new(Kind::Image, tick),
            loads: Poller::new(Kind::VolumeLoad, tick.max(LOAD_TICK)),
        }
    }

    /// Waits until `volume` is fully loaded from its snapshot.
    pub async fn loaded(&self, volume: &str) -> Result<Observed, CloudError> {
        self.loads
            .wait(volume, Want::State("completed"), LOAD_TICK)
            .await
    }

    /// Runs every poller until the future is dropped.
    pub async fn run<C: Cloud>(&self, api: &Api<'_, C>) {
        futures::join!(
            self.instances.run(api),
            self.volumes.run(api),
            self.jobs.run(api),
            self.images.run(api),
            self.loads.run(api)
        );
    }
}

/// When the poller first looks: at the expected time's 10th percentile (`Dist::p10`), so that
/// nine resources in ten are noticed within a tick of being ready, without the calls that
/// looking from half the median made (they came to 1.6 Describe calls per instance on 8 tiers).
fn first_look(expected: Dist) -> Duration {
    Duration::from_secs_f64(expected.p10().clamp(0.0, 365.0 * 86_400.0))
}

/// Runs one step's action.
pub async fn run<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    match ctx.step.action {
        Action::FindImage => find_image(ctx, inputs).await,
        Action::FindSnapshot => find_snapshot(ctx, inputs).await,
        Action::FindRecoveryPoint => find_recovery_point(ctx, inputs).await,
        Action::Launch => launch(ctx, inputs).await,
        Action::Restore => restore(ctx, inputs).await,
        Action::CreateVolume => create_volume(ctx, inputs).await,
        Action::Attach => attach(ctx, inputs).await,
        Action::Verify => verify(ctx, inputs).await,
        Action::CreateImage => create_image(ctx, inputs).await,
        Action::Approve => approve(ctx, inputs).await,
        Action::Exec => exec(ctx, inputs).await,
        Action::Wait => {
            let secs = inputs
                .0
                .get("duration")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok(Done::default())
        }
    }
}

/// A candidate of a `find_*`: id, creation time, and why it cannot be used (if it cannot).
struct Candidate {
    id: String,
    created: DateTime<Utc>,
    unusable: Option<String>,
}

/// Picks the newest usable candidate; every other one is rejected with its reason.
fn choose<C>(
    ctx: &Ctx<'_, '_, C>,
    mut candidates: Vec<Candidate>,
    what: &'static str,
) -> Result<(Candidate, Vec<Rejected>), StepError> {
    candidates.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    for c in &mut candidates {
        if c.unusable.is_none() {
            if let Some(rpo) = ctx.rpo {
                let age = ctx.t0 - c.created;
                if age.to_std().is_ok_and(|a| a > rpo) {
                    c.unusable = Some(format!("older than the rpo: {} old", human_age(age)));
                }
            }
        }
    }
    let chosen = candidates.iter().position(|c| c.unusable.is_none());
    let mut rejected = Vec::new();
    let mut pick = None;
    for (i, c) in candidates.into_iter().enumerate() {
        if Some(i) == chosen {
            pick = Some(c);
            continue;
        }
        let reason = c
            .unusable
            .unwrap_or_else(|| "older than the one chosen".to_string());
        rejected.push(Rejected {
            id: c.id,
            created: c.created,
            reason,
        });
    }
    match pick {
        Some(p) => Ok((p, rejected)),
        None => Err(StepError::NothingUsable { what, rejected }),
    }
}

fn human_age(d: chrono::TimeDelta) -> String {
    crate::plan::human(d.num_seconds().max(0) as f64)
}

fn age_secs(t0: DateTime<Utc>, created: DateTime<Utc>) -> i64 {
    (t0 - created).num_seconds().max(0)
}

async fn find_image<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let q = ImageQuery {
        owners: inputs.strs("owners"),
        tags: inputs.tags("tags"),
        name: inputs.str("name"),
        ids: inputs.strs("image_ids"),
    };
    let require_safe = inputs.bool("require_safe").unwrap_or(true);
    let images = ctx.api.describe_images(&q).await?;
    let candidates = images
        .iter()
        .map(|i| Candidate {
            id: i.id.clone(),
            created: i.created,
            unusable: if i.state != "available" {
                Some(format!("not available ({})", i.state))
            } else if require_safe && i.tags.get("Safe").map(String::as_str) != Some("True") {
                Some("not Safe (no Safe=True tag)".to_string())
            } else {
                None
            },
        })
        .collect();
    let (chosen, rejected) = choose(ctx, candidates, "image")?;
    let name = images
        .iter()
        .find(|i| i.id == chosen.id)
        .map(|i| i.name.clone())
        .unwrap_or_default();
    Ok(Done {
        outputs: object(json!({
            "id": chosen.id,
            "name": name,
            "created": chosen.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "age": age_secs(ctx.t0, chosen.created),
        })),
        rejected,
        artifact_created: Some(chosen.created),
        ..Done::default()
    })
}

async fn find_snapshot<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let q = SnapshotQuery {
        owners: inputs.strs("owners"),
        tags: inputs.tags("tags"),
        volume: inputs.str("volume"),
        ids: inputs.strs("snapshot_ids"),
    };
    let snapshots = ctx.api.describe_snapshots(&q).await?;
    let candidates = snapshots
        .iter()
        .map(|s| Candidate {
            id: s.id.clone(),
            created: s.created,
            unusable: (s.state != "completed").then(|| format!("not completed ({})", s.state)),
        })
        .collect();
    let (chosen, rejected) = choose(ctx, candidates, "snapshot")?;
    let size = snapshots
        .iter()
        .find(|s| s.id == chosen.id)
        .map_or(0, |s| s.size_gib);
    Ok(Done {
        outputs: object(json!({
            "id": chosen.id,
            "created": chosen.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "size_gib": size,
            "age": age_secs(ctx.t0, chosen.created),
        })),
        rejected,
        artifact_created: Some(chosen.created),
        ..Done::default()
    })
}

async fn find_recovery_point<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    inputs: &Inputs,
) -> Result<Done, StepError> {
    let q = RecoveryPointQuery {
        vault: inputs.str("vault").unwrap_or_default(),
        resource: inputs.str("resource"),
        resource_type: inputs.str("resource_type"),
    };
    let want_tags = inputs.tags("tags");
    let points = ctx.api.list_recovery_points(&q).await?;
    let points: Vec<_> = points
        .into_iter()
        .filter(|p| want_tags.iter().all(|(k, v)| p.tags.get(k) == Some(v)))
        .collect();
    let candidates = points
        .iter()
        .map(|p| Candidate {
            id: p.arn.clone(),
            created: p.created,
            unusable: (p.status != "COMPLETED").then(|| format!("not COMPLETED ({})", p.status)),
        })
        .collect();
    let (chosen, rejected) = choose(ctx, candidates, "recovery point")?;
    let point = points.iter().find(|p| p.arn == chosen.id);
    Ok(Done {
        outputs: object(json!({
            "arn": chosen.id,
            "created": chosen.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "resource": point.map(|p| p.resource.clone()),
            "image_id": point.and_then(|p| p.artifact("image")),
            "snapshot_id": point.and_then(|p| p.artifact("snapshot")),
            "age": age_secs(ctx.t0, chosen.created),
        })),
        rejected,
        artifact_created: Some(chosen.created),
        ..Done::default()
    })
}

/// Tags for what a step creates: the runbook's, the step's own, and rebound's.
fn tags_with(ctx_tags: &Tags, own: Tags) -> Tags {
    let mut t = own;
    t.extend(ctx_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    t
}

/// A positive integer of a `volumes` entry (the checker bounds them).
fn number(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

async fn launch<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let types = inputs.strs("instance_types");
    let volumes = inputs
        .list("volumes")
        .iter()
        .filter_map(|v| {
            Some(LaunchVolume {
                snapshot: v.get("snapshot")?.as_str()?.to_string(),
                device: v.get("device")?.as_str()?.to_string(),
                volume_type: v.get("type").and_then(Value::as_str).map(str::to_string),
                size_gib: number(v, "size_gib"),
                iops: number(v, "iops"),
                throughput: number(v, "throughput"),
                kms_key: v.get("kms_key").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect();
    let mut request = LaunchRequest {
        image: inputs.str("image").unwrap_or_default(),
        subnet: inputs.str("subnet").unwrap_or_default(),
        instance_type: String::new(),
        count: inputs.u32("count").unwrap_or(1),
        security_groups: inputs.strs("security_groups"),
        key_name: inputs.str("key_name"),
        instance_profile: inputs.str("instance_profile"),
        user_data: inputs.str("user_data"),
        tags: tags_with(&ctx.tags, inputs.tags("tags")),
        volumes,
        client_token: String::new(),
    };
    let mut last = None;
    let mut launched = None;
    let mut fallbacks = Vec::new();
    for (i, t) in types.iter().enumerate() {
        request.instance_type = t.clone();
        request.client_token = ctx.token(t);
        let result = ctx
            .once(
                Op::RunInstances,
                &request.client_token,
                async || adopt_instances(ctx).await,
                async || ctx.api.run_instances(&request).await,
                |l: &Launched| {
                    l.instances
                        .iter()
                        .map(|id| Created {
                            kind: ResourceKind::Instance,
                            id: id.clone(),
                            zone: Some(l.zone.clone()),
                        })
                        .collect()
                },
            )
            .await;
        match result {
            Ok(l) => {
                launched = Some(l);
                break;
            }
            Err(StepError::Cloud(e)) if e.is_capacity() && i + 1 < types.len() => {
                (ctx.progress)(format!("{t}: {}; falling back to {}", e.code, types[i + 1]));
                fallbacks.push(json!({ "instance_type": t, "code": e.code, "message": e.message }));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let Some(l) = launched else {
        return Err(last.map_or_else(
            || StepError::Failed("no instance type to launch".into()),
            StepError::from,
        ));
    };
    let mut done = Done::default();
    let look = first_look(ctx.model.pending_to_running);
    let observed = try_join_all(
        l.instances
            .iter()
            .map(|id| ctx.pollers.instances.wait(id, Want::State("running"), look)),
    )
    .await?;
    for o in &observed {
        done.ready(o.ready_at);
    }
    done.outputs = object(json!({
        "instances": l.instances,
        "instance": l.instances.first(),
        "zone": l.zone,
        "private_ips": l.private_ips,
        "instance_type": l.instance_type,
        // The evidence of a capacity shortage: each type given up, with AWS's answer.
        "fallbacks": fallbacks,
    }));
    Ok(done)
}

/// The instances a launch of this step made before an interruption, if any.
async fn adopt_instances<C: Cloud>(ctx: &Ctx<'_, '_, C>) -> Result<Option<Launched>, CloudError> {
    let found: Vec<_> = ctx
        .api
        .find(ResourceKind::Instance, &ctx.mine())
        .await?
        .into_iter()
        .filter(|f| !f.gone() && f.state != "shutting-down")
        .collect();
    let Some(first) = found.first() else {
        return Ok(None);
    };
    Ok(Some(Launched {
        zone: first.zone.clone().unwrap_or_default(),
        instance_type: first.instance_type.clone().unwrap_or_default(),
        private_ips: found
            .iter()
            .map(|f| f.private_ip.clone().unwrap_or_default())
            .collect(),
        instances: found.into_iter().map(|f| f.id).collect(),
    }))
}

/// The one resource of `kind` this step made before an interruption, if any.
async fn adopt_one<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    kind: ResourceKind,
) -> Result<Option<String>, CloudError> {
    Ok(ctx
        .api
        .find(kind, &ctx.mine())
        .await?
        .into_iter()
        .find(|f| !f.gone())
        .map(|f| f.id))
}

async fn restore<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let mut metadata = inputs.tags("metadata");
    if let Some(s) = inputs.str("subnet") {
        metadata.insert("SubnetId".into(), s);
    }
    if let Some(t) = inputs.str("instance_type") {
        metadata.insert("InstanceType".into(), t);
    }
    let groups = inputs.strs("security_groups");
    if !groups.is_empty() {
        metadata.insert(
            "SecurityGroupIds".into(),
            serde_json::to_string(&groups).unwrap_or_default(),
        );
    }
    let request = RestoreRequest {
        recovery_point: inputs.str("recovery_point").unwrap_or_default(),
        role: inputs.str("role").unwrap_or_default(),
        metadata,
        idempotency_token: ctx.token("restore"),
    };
    // AWS Backup honours the idempotency token: a job started before an interruption is
    // found again by starting it again. No tag lookup is possible for jobs.
    let job = ctx
        .once(
            Op::StartRestoreJob,
            &request.idempotency_token,
            async || Ok(None),
            async || ctx.api.start_restore_job(&request).await,
            |_: &String| Vec::new(),
        )
        .await?;
    (ctx.progress)(format!("restore job {job} started"));
    let look = first_look(ctx.model.restore_job);
    let finished = ctx
        .pollers
        .jobs
        .wait(&job, Want::State("COMPLETED"), look)
        .await?;
    let instance = finished.detail.clone().ok_or_else(|| {
        StepError::Failed(format!("restore job {job} completed without an instance"))
    })?;
    // The job's instance carries none of the run's tags: they are added now, so that resume
    // and teardown know it as the run's.
    ctx.api
        .tag(ResourceKind::Instance, &instance, &ctx.tags)
        .await?;
    (ctx.created)(Created {
        kind: ResourceKind::Instance,
        id: instance.clone(),
        zone: None,
    });
    let running = ctx
        .pollers
        .instances
        .wait(&instance, Want::State("running"), Duration::ZERO)
        .await?;
    let mut done = Done { ..Done::default() };
    done.ready(finished.ready_at);
    done.ready(running.ready_at);
    done.outputs = object(json!({
        "instances": [instance],
        "instance": instance,
        "zone": running.detail,
        "job_id": job,
    }));
    Ok(done)
}

async fn create_volume<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let request = VolumeRequest {
        snapshot: inputs.str("snapshot").unwrap_or_default(),
        zone: inputs.str("zone").unwrap_or_default(),
        volume_type: inputs.str("type"),
        size_gib: inputs.u32("size_gib"),
        iops: inputs.u32("iops"),
        throughput: inputs.u32("throughput"),
        kms_key: inputs.str("kms_key"),
        initialization_rate: inputs.u32("initialization_rate"),
        tags: ctx.tags.clone(),
        client_token: ctx.token("volume"),
    };
    let id = ctx
        .once(
            Op::CreateVolume,
            &request.client_token,
            async || adopt_one(ctx, ResourceKind::Volume).await,
            async || ctx.api.create_volume(&request).await,
            |id: &String| {
                vec![Created {
                    kind: ResourceKind::Volume,
                    id: id.clone(),
                    zone: Some(request.zone.clone()),
                }]
            },
        )
        .await?;
    let look = first_look(ctx.model.create_volume);
    let o = ctx
        .pollers
        .volumes
        .wait(&id, Want::State("available"), look)
        .await?;
    let mut done = Done {
        loading: Some(id.clone()),
        ..Done::default()
    };
    done.ready(o.ready_at);
    done.outputs = object(json!({ "id": id }));
    Ok(done)
}

async fn attach<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let volume = inputs.str("volume").unwrap_or_default();
    let instance = inputs.str("instance").unwrap_or_default();
    let device = inputs.str("device").unwrap_or_default();
    let attachment = Attachment {
        volume: volume.clone(),
        instance: instance.clone(),
    };
    ctx.once(
        Op::AttachVolume,
        &ctx.token(&format!("attach/{volume}/{instance}")),
        // Attached before the interruption: the volume says to which instance.
        async || {
            let now = ctx
                .api
                .find(ResourceKind::Volume, &Lookup::Ids(vec![volume.clone()]))
                .await?;
            Ok(now
                .iter()
                .any(|v| v.attached_to.as_deref() == Some(instance.as_str()))
                .then(|| attachment.clone()))
        },
        async || {
            ctx.api
                .attach_volume(&volume, &instance, &device)
                .await
                .map(|()| attachment.clone())
        },
        |_: &Attachment| Vec::new(),
    )
    .await?;
    let look = first_look(ctx.model.attach_volume);
    let o = ctx
        .pollers
        .volumes
        .wait(&volume, Want::State("in-use"), look)
        .await?;
    let mut done = Done::default();
    done.ready(o.ready_at);
    done.outputs = object(json!({ "volume": volume, "instance": instance }));
    Ok(done)
}

async fn verify<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let instances = inputs.strs("instances");
    let checks: Vec<Check> = inputs
        .strs("checks")
        .iter()
        .filter_map(|c| Check::parse(c).ok())
        .collect();
    let mut waits = Vec::new();
    for id in &instances {
        for check in &checks {
            waits.push(verify_one(ctx, id, check));
        }
    }
    let ready = try_join_all(waits).await?;
    let mut done = Done::default();
    for r in ready {
        done.ready(r);
    }
    done.outputs = object(json!({ "passed": true }));
    Ok(done)
}

/// One check of one instance; returns when it truly passed (simulator only).
async fn verify_one<C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    instance: &str,
    check: &Check,
) -> Result<Option<Instant>, StepError> {
    match check {
        Check::Running => Ok(ctx
            .pollers
            .instances
            .wait(instance, Want::State("running"), Duration::ZERO)
            .await?
            .ready_at),
        // A verify step may start long after its instances came up: look at once, then every
        // tick.
        Check::StatusOk => Ok(ctx
            .pollers
            .instances
            .wait(instance, Want::StatusOk, Duration::ZERO)
            .await?
            .status_ok_at),
        Check::Tcp { .. } | Check::Http { .. } | Check::Ssm { .. } => loop {
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

async fn create_image<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let instance = inputs.str("instance").unwrap_or_default();
    let reboot = inputs.bool("reboot").unwrap_or(true);
    let mut own = inputs.tags("tags");
    own.insert("CreatedBy".into(), "rebound".into());
    own.insert("Source".into(), instance.clone());
    // Only a rebooted image is consistent enough to restore from.
    own.insert("Safe".into(), if reboot { "True" } else { "False" }.into());
    let request = ImageRequest {
        instance: instance.clone(),
        name: inputs
            .str("name")
            .unwrap_or_else(|| format!("rebound-{}-{}", ctx.step.name, ctx.run_id)),
        reboot,
        tags: tags_with(&ctx.tags, own),
    };
    let id = ctx
        .once(
            Op::CreateImage,
            &ctx.token("image"),
            async || adopt_one(ctx, ResourceKind::Image).await,
            async || ctx.api.create_image(&request).await,
            |id: &String| {
                vec![Created {
                    kind: ResourceKind::Image,
                    id: id.clone(),
                    zone: None,
                }]
            },
        )
        .await?;
    let look = first_look(ctx.model.create_image);
    let o = ctx
        .pollers
        .images
        .wait(&id, Want::State("available"), look)
        .await?;
    let mut done = Done { ..Done::default() };
    done.ready(o.ready_at);
    done.outputs = object(json!({ "id": id }));
    Ok(done)
}

async fn approve<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let message = inputs.str("message").unwrap_or_default();
    let by = (ctx.approve)(&message).await.map_err(StepError::Failed)?;
    Ok(Done {
        outputs: object(json!({ "approved_by": by })),
        approved_by: Some(by),
        ..Done::default()
    })
}

async fn exec<C: Cloud>(ctx: &Ctx<'_, '_, C>, inputs: &Inputs) -> Result<Done, StepError> {
    let command = inputs.strs("command");
    let env = inputs.tags("env");
    let out = ctx.api.exec(&command, &env).await?;
    if out.exit_code != 0 {
        return Err(StepError::Failed(format!(
            "{} exited with {}",
            command.join(" "),
            out.exit_code
        )));
    }
    Ok(Done {
        // The backend scrubbed the output of secrets (crate::secret::scrub).
        outputs: object(json!({ "stdout": out.stdout, "exit_code": out.exit_code })),
        ..Done::default()
    })
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
