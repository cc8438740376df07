//! Teardown: deletes everything a run created and proves it is gone. A drill runs it when it
//! ends (succeeded, failed or interrupted); `rebound teardown RUN` runs it later from the
//! journal.
//!
//! What to delete is the union of what the journal says the run created and what the account
//! holds tagged `rebound:run-id=RUN` (which catches a resource created in the instant before a
//! crash, before its journal record). What may be deleted is decided by the live tags alone:
//! a resource whose tags lack this run's id is refused, whatever the journal says, so a
//! corrupted or forged journal cannot turn teardown against resources it never made.
//!
//! An instance with termination protection (a restored one keeps its original's) has it turned
//! off, once its tags show it is this run's, and is terminated then.
//!
//! Order follows dependencies: instances are terminated and images deregistered first; once
//! the instances are gone (their volumes detached), volumes and snapshots are deleted. Each
//! resource is then described until it is gone, and its fate recorded: `verified`, `failed`
//! (still there at the deadline, or the account could not be asked) or `skipped` (refused).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;

use super::api::Api;
use super::event::At;
use super::gone::{Watch, Watches};
use super::journal::{Entry, Journal};
use super::model::{Created, Fate, TornDown};
use crate::cloud::{Cloud, CloudError, Found, Lookup, RUN_TAG, ResourceKind, STEP_TAG, Tags};

/// How long to keep at it, and how often to look.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Give up on what is still there after this long.
    pub deadline: Duration,
    pub tick: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        // Terminating an instance takes a minute or two; a deleting volume rarely longer.
        Limits {
            deadline: Duration::from_secs(30 * 60),
            tick: Duration::from_secs(2),
        }
    }
}

/// Attempts at one deletion before waiting for the verify deadline instead.
const DELETE_ATTEMPTS: u32 = 8;

/// Tears down `run` in every region of `apis` (one per region, the run's own first, as
/// `Api::for_regions` makes them), the regions at once: `known` is what its journal (or record)
/// says it created, by step. Every fate is journaled and told to `told` as it is decided.
pub async fn teardown<C: Cloud>(
    apis: &[Api<'_, C>],
    run: Whose<'_>,
    known: &[(String, Created)],
    limits: Limits,
    journal: &Journal,
    at: &dyn Fn() -> At,
    told: &dyn Fn(&TornDown),
) -> Vec<TornDown> {
    let Some(home) = apis.first().map(|a| a.cloud.region()) else {
        return Vec::new();
    };
    let regions = apis.iter().map(|api| {
        let region = api.cloud.region();
        let here: Vec<(String, Created)> = known
            .iter()
            .filter(|(_, c)| c.is_in(&region, &home))
            .cloned()
            .collect();
        let of = Of {
            run,
            limits,
            journal,
            at,
            told,
        };
        let label = (region != home).then_some(region);
        async move { in_region(api, label, &here, of).await }
    });
    join_all(regions).await.into_iter().flatten().collect()
}

/// Whose resources a teardown deletes: the run's, by its id; an isolated drill's security
/// groups too.
#[derive(Debug, Clone, Copy)]
pub struct Whose<'a> {
    pub run_id: &'a str,
    pub isolated: bool,
}

/// What every region's teardown shares: the run, the limits, where fates go.
#[derive(Clone, Copy)]
struct Of<'a> {
    /// An isolated drill's security groups are looked for too (`exec::sandbox`).
    run: Whose<'a>,
    limits: Limits,
    journal: &'a Journal,
    at: &'a dyn Fn() -> At,
    told: &'a dyn Fn(&TornDown),
}

/// Teardown in one region (`label`: its name, `None` for the run's own).
async fn in_region<C: Cloud>(
    api: &Api<'_, C>,
    label: Option<String>,
    known: &[(String, Created)],
    of: Of<'_>,
) -> Vec<TornDown> {
    let Of {
        run: Whose { run_id, isolated },
        limits,
        journal,
        at,
        told,
    } = of;
    let mut fates: Vec<TornDown> = Vec::new();
    let decide = |fates: &mut Vec<TornDown>, t: TornDown| {
        let t = TornDown {
            region: label.clone(),
            ..t
        };
        journal.note(&Entry::Teardown(t.clone()));
        told(&t);
        fates.push(t);
    };
    let ours: Tags = [(RUN_TAG.to_string(), run_id.to_string())].into();

    // What exists now, by kind: tagged as ours, plus whatever the journal names.
    let mut live: BTreeMap<ResourceKind, Vec<(String, Found)>> = BTreeMap::new();
    // Only an isolated drill has groups of its own (and only its policy may look for them).
    let kinds = ResourceKind::ALL
        .into_iter()
        .filter(|k| isolated || *k != ResourceKind::SecurityGroup);
    for kind in kinds {
        let mut found: Vec<(String, Found)> = Vec::new();
        match api.find(kind, &Lookup::Tags(ours.clone())).await {
            Ok(list) => {
                // EC2's tag filters read `*` and `?` as wildcards: only a resource whose tag is
                // exactly this run's id is this run's, whatever the filter matched.
                let exact = |f: &Found| f.tags.get(RUN_TAG).map(String::as_str) == Some(run_id);
                for f in list.into_iter().filter(exact) {
                    let step = f.tags.get(STEP_TAG).cloned().unwrap_or_default();
                    found.push((step, f));
                }
            }
            // Nothing can be said of what is tagged: that is a failure, not an empty list.
            Err(e) => decide(
                &mut fates,
                TornDown {
                    kind,
                    id: "*".to_string(),
                    region: None,
                    step: String::new(),
                    outcome: Fate::Failed,
                    detail: Some(format!(
                        "cannot look up resources tagged {RUN_TAG}={run_id}: {e}"
                    )),
                    at: None,
                },
            ),
        }
        let named: Vec<&(String, Created)> = known
            .iter()
            .filter(|(_, c)| c.kind == kind && !found.iter().any(|(_, f)| f.id == c.id))
            .collect();
        if !named.is_empty() {
            let ids = named.iter().map(|(_, c)| c.id.clone()).collect();
            let by_id = match api.find(kind, &Lookup::Ids(ids)).await {
                Ok(list) => Some(list),
                Err(e) => {
                    tracing::warn!(%kind, error = %e, "teardown: lookup by id failed");
                    None
                }
            };
            for (step, c) in named {
                let verdict = |outcome, detail: String| TornDown {
                    kind,
                    id: c.id.clone(),
                    region: None,
                    step: step.clone(),
                    outcome,
                    detail: Some(detail),
                    at: None,
                };
                match by_id.as_ref().map(|l| l.iter().find(|f| f.id == c.id)) {
                    None => decide(
                        &mut fates,
                        verdict(Fate::Failed, "could not be described".into()),
                    ),
                    // Journaled, not described, and an earlier teardown set out to delete it
                    // (and died before it wrote the outcome): gone.
                    Some(None) if journal.deleting(&c.id) => decide(
                        &mut fates,
                        TornDown {
                            at: Some(at()),
                            ..verdict(
                                Fate::Verified,
                                "gone: an earlier teardown of this run deleted it".into(),
                            )
                        },
                    ),
                    // Journaled but not described: gone, or made a moment ago and not yet
                    // visible (EC2 is eventually consistent). It is deleted like the others,
                    // and counts as gone only once it has stayed unseen for `UNSEEN_GRACE`.
                    Some(None) => found.push((step.clone(), unseen(c, run_id))),
                    Some(Some(f)) if f.tags.get(RUN_TAG).map(String::as_str) != Some(run_id) => {
                        tracing::warn!(%kind, id = %c.id, "teardown refused: not tagged as this run's");
                        decide(
                            &mut fates,
                            verdict(
                                Fate::Skipped,
                                format!(
                                    "refused: its live tags lack {RUN_TAG}={run_id}, so it is not this run's"
                                ),
                            ),
                        );
                    }
                    Some(Some(f)) => found.push((step.clone(), f.clone())),
                }
            }
        }
        live.insert(kind, found);
    }

    // Already gone (a terminated instance stays visible a while): verified at once.
    for list in live.values_mut() {
        list.retain(|(step, f)| {
            if f.gone() {
                let kind = kind_of(f, known);
                decide(
                    &mut fates,
                    TornDown {
                        kind,
                        id: f.id.clone(),
                        region: None,
                        step: step.clone(),
                        outcome: Fate::Verified,
                        detail: Some(format!("already {}", f.state)),
                        at: Some(at()),
                    },
                );
                false
            } else {
                true
            }
        });
    }
    let take = |live: &mut BTreeMap<ResourceKind, Vec<(String, Found)>>, k| {
        live.remove(&k).unwrap_or_default()
    };
    let first = [
        (
            ResourceKind::Instance,
            take(&mut live, ResourceKind::Instance),
        ),
        (ResourceKind::Image, take(&mut live, ResourceKind::Image)),
    ];
    let second = [
        (ResourceKind::Volume, take(&mut live, ResourceKind::Volume)),
        (
            ResourceKind::Snapshot,
            take(&mut live, ResourceKind::Snapshot),
        ),
    ];
    // A drill's own security group goes last: AWS refuses it while an instance uses it.
    let third = [(
        ResourceKind::SecurityGroup,
        take(&mut live, ResourceKind::SecurityGroup),
    )];
    // What is deleted at once is looked at at once: one Describe a kind for all that is due.
    let watches = Watches::new(limits.tick);
    for phase in [&first[..], &second[..], &third[..]] {
        let mut jobs = Vec::new();
        for (kind, list) in phase {
            for (step, f) in list {
                jobs.push(remove(api, watches.of(*kind), *kind, step, f, &of));
            }
        }
        // `biased`, as the executor's: the same seed, the same timeline.
        let removed = tokio::select! {
            biased;
            fates = join_all(jobs) => fates,
            never = watches.run(api) => match never {},
        };
        for t in removed {
            decide(&mut fates, t);
        }
    }
    fates
}

/// A resource the journal names that no Describe shows (yet): this run's by its journal, its
/// state unknown. `remove` checks its live tags before it deletes it, once it can be seen.
fn unseen(c: &Created, run_id: &str) -> Found {
    Found {
        id: c.id.clone(),
        state: UNSEEN.to_string(),
        tags: [(RUN_TAG.to_string(), run_id.to_string())].into(),
        zone: c.zone.clone(),
        private_ip: None,
        instance_type: None,
        attached_to: None,
    }
}

/// The state of a resource no Describe has shown.
const UNSEEN: &str = "unseen";

/// How long a resource must stay unseen (NotFound, and described by no lookup) before
/// teardown takes it as gone: new ids can be NotFound for seconds after their create.
const UNSEEN_GRACE: Duration = crate::cloud::PROPAGATION;

/// Which kind a found resource is of (the lists are per kind; this keeps `retain` simple).
fn kind_of(f: &Found, known: &[(String, Created)]) -> ResourceKind {
    known
        .iter()
        .find(|(_, c)| c.id == f.id)
        .map(|(_, c)| c.kind)
        .unwrap_or_else(|| match f.id.split('-').next() {
            Some("i") => ResourceKind::Instance,
            Some("vol") => ResourceKind::Volume,
            Some("ami") => ResourceKind::Image,
            Some("sg") => ResourceKind::SecurityGroup,
            _ => ResourceKind::Snapshot,
        })
}

/// Deletes one resource and waits until it is described as gone (`watch` shares the looks
/// with the other resources of its kind).
async fn remove<C: Cloud>(
    api: &Api<'_, C>,
    watch: &Watch,
    kind: ResourceKind,
    step: &str,
    found: &Found,
    of: &Of<'_>,
) -> TornDown {
    let Of {
        limits,
        journal,
        at,
        ..
    } = *of;
    let start = tokio::time::Instant::now();
    let fate = |outcome, detail: Option<String>, when: Option<At>| TornDown {
        kind,
        id: found.id.clone(),
        region: None,
        step: step.to_string(),
        outcome,
        detail,
        at: when,
    };
    let id = found.id.as_str();
    let mut last_error: Option<CloudError> = None;
    let mut deleted = false;
    // Since when nothing has shown the resource: gone once that lasts `UNSEEN_GRACE`.
    let mut unseen_since: Option<tokio::time::Instant> = None;
    let run_id = found.tags.get(RUN_TAG).cloned().unwrap_or_default();
    // A journaled resource no Describe has shown yet is waited for (new ids can be NotFound
    // for a while), then only this run's, by its live tags, is deleted.
    let mut seen = found.state != UNSEEN;
    while !seen {
        match api.find(kind, &Lookup::Ids(vec![id.to_string()])).await {
            Ok(now) => match now.first() {
                None => {
                    let since = *unseen_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= UNSEEN_GRACE.min(limits.deadline) {
                        return fate(
                            Fate::Verified,
                            Some(format!("never seen for {} s: gone", UNSEEN_GRACE.as_secs())),
                            Some(at()),
                        );
                    }
                    wait(limits.tick).await;
                }
                Some(f) if f.tags.get(RUN_TAG) != Some(&run_id) => {
                    return fate(
                        Fate::Skipped,
                        Some(format!(
                            "refused: its live tags lack {RUN_TAG}={run_id}, so it is not this run's"
                        )),
                        None,
                    );
                }
                Some(_) => seen = true,
            },
            Err(e) if start.elapsed() > limits.deadline => {
                return fate(Fate::Failed, Some(format!("cannot look it up: {e}")), None);
            }
            Err(_) => wait(limits.tick).await,
        }
    }
    for attempt in 1..=DELETE_ATTEMPTS {
        if kind == ResourceKind::Volume {
            // A volume still attached to an instance (one this run did not make, or one not
            // yet terminated) is detached first; it cannot be deleted in use.
            if let Ok(now) = watch.look(id, Duration::ZERO).await {
                match now {
                    // Seen at the start and not now: gone (with its instance, say). Never seen:
                    // the grace above decides.
                    None if seen => {
                        deleted = true;
                        break;
                    }
                    Some(v) if v.attached_to.is_some() => {
                        if let Err(e) = api.detach_volume(id).await {
                            last_error = Some(e);
                        }
                        wait(limits.tick * attempt).await;
                        continue;
                    }
                    None | Some(_) => {}
                }
            }
        }
        if !journal.deleting(id) {
            journal.note(&Entry::Deleting {
                kind,
                id: id.to_string(),
                at: at(),
            });
        }
        match api.delete(kind, id).await {
            Ok(()) => {
                deleted = true;
                break;
            }
            // NotFound right after a create is AWS's eventual consistency, not proof that the
            // resource is gone: it is gone when a Describe no longer shows it.
            Err(e) if e.code.ends_with(".NotFound") || e.code == "InvalidID" => {
                let shown = api.find(kind, &Lookup::Ids(vec![id.to_string()])).await;
                let missing = matches!(&shown, Ok(now) if now.first().is_none_or(Found::gone));
                // What was seen and is now missing is gone; what was never seen waits out the
                // grace (the loop's first look).
                if missing && seen {
                    deleted = true;
                    break;
                }
                tracing::debug!(%kind, %id, attempt, "teardown: NotFound, but still described");
                last_error = Some(e);
                wait(limits.tick * attempt).await;
            }
            // Termination protection, which a restored instance keeps from its original: off,
            // then terminated on the next attempt. Only this run's instances get here (their
            // live tags were checked).
            Err(e) if kind == ResourceKind::Instance && e.code == "OperationNotPermitted" => {
                tracing::info!(%id, "teardown: turning termination protection off");
                if let Err(off) = api.allow_termination(id).await {
                    last_error = Some(off);
                    wait(limits.tick * attempt).await;
                } else {
                    last_error = Some(e);
                }
            }
            Err(e) => {
                tracing::debug!(%kind, %id, code = %e.code, attempt, "teardown: delete failed");
                last_error = Some(e);
                wait(limits.tick * attempt).await;
            }
        }
        if start.elapsed() > limits.deadline {
            break;
        }
    }
    if !deleted {
        let why = last_error.map_or_else(|| "not deleted".to_string(), |e| e.to_string());
        return fate(Fate::Failed, Some(why), None);
    }
    // Described until gone, first a tick after the delete (nothing is gone at once), then
    // further apart each look (`verify_gap`). A resource still there and not on its way out (a
    // delete AWS accepted before the id had propagated) is asked again every few looks.
    let mut looks: u32 = 0;
    loop {
        looks += 1;
        match watch.look(id, verify_gap(limits.tick, looks)).await {
            Ok(now) => match now {
                None => return fate(Fate::Verified, None, Some(at())),
                Some(f) if f.gone() => return fate(Fate::Verified, None, Some(at())),
                Some(f) if start.elapsed() > limits.deadline => {
                    return fate(
                        Fate::Failed,
                        Some(format!(
                            "still {} after {} s",
                            f.state,
                            limits.deadline.as_secs()
                        )),
                        None,
                    );
                }
                Some(f) if looks.is_multiple_of(REDELETE_EVERY) && !leaving(&f.state) => {
                    if let Err(e) = api.delete(kind, id).await {
                        tracing::debug!(%kind, %id, code = %e.code, "teardown: delete again failed");
                    }
                }
                Some(_) => {}
            },
            Err(e) if start.elapsed() > limits.deadline => {
                return fate(Fate::Failed, Some(format!("cannot verify: {e}")), None);
            }
            Err(_) => {}
        }
    }
}

/// The wait before the `look`-th look at a deleted resource: a tick more each look, up to
/// `MAX_VERIFY_GAP`. A volume is gone in seconds and seen so at the first or second look; an
/// instance takes a minute or more to go from `shutting-down` to `terminated` on AWS, and is
/// looked at about ten times in that minute, not thirty.
fn verify_gap(tick: Duration, look: u32) -> Duration {
    (tick * look).min(MAX_VERIFY_GAP.max(tick))
}

/// The longest wait between two looks at a resource being deleted.
const MAX_VERIFY_GAP: Duration = Duration::from_secs(15);

/// Looks between deletes of a resource that is still there and not on its way out.
const REDELETE_EVERY: u32 = 5;

/// Whether a state means the resource is being removed (so deleting again would not help).
fn leaving(state: &str) -> bool {
    matches!(
        state,
        "shutting-down" | "terminated" | "deleting" | "deleted" | "deregistered"
    )
}

async fn wait(d: Duration) {
    tokio::time::sleep(d).await;
}
