//! The choice every `find_*` makes: the newest usable candidate, and every other one rejected
//! with its reason (the report lists them), so that a responder sees why an artifact was not
//! used. The runbook's `rpo` is a target, not a filter: in an outage the newest backup there
//! is gets restored, and the report says by how much it missed the RPO (exit 3). A step that
//! must refuse old artifacts says so with `max_age`.

use chrono::{DateTime, Utc};

use crate::duration::human;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::exec::model::Rejected;

/// A candidate of a `find_*`: what the cloud listed, its id and creation time, and why it
/// cannot be used (if it cannot).
pub(crate) struct Candidate<'a, T> {
    pub item: &'a T,
    pub id: &'a str,
    pub created: DateTime<Utc>,
    pub unusable: Option<String>,
}

/// What a `find_*` chose: the item, and the outputs every `find_*` gives of it.
pub(crate) struct Chosen<'a, T> {
    pub item: &'a T,
    pub id: String,
    /// RFC 3339 in UTC, to the second.
    pub created: String,
    /// Seconds from its creation to `t0` (the declared disaster, or the run's start).
    pub age: i64,
}

/// The newest usable candidate, as the step's outputs (`outputs` makes them from it); every
/// other candidate is rejected with its reason, and the chosen one's creation time is kept for
/// the RPO.
pub(crate) fn pick<'a, C, T, O: Default>(
    ctx: &Ctx<'_, '_, C>,
    candidates: Vec<Candidate<'a, T>>,
    what: &'static str,
    max_age: Option<u64>,
    outputs: impl FnOnce(Chosen<'a, T>) -> O,
) -> Result<Done<O>, StepError> {
    let (chosen, rejected) = choose(ctx, candidates, what, max_age)?;
    let created = chosen.created;
    let age = (ctx.t0 - created).num_seconds().max(0);
    if let Some(rpo) = ctx.rpo.filter(|rpo| age.unsigned_abs() > rpo.as_secs()) {
        // Restored all the same: the newest there is. The report says the RPO was missed.
        (ctx.progress)(format!(
            "{} is {} old, {} over the rpo of {}: the newest there is, so it is used",
            chosen.id,
            human(age as f64),
            human((age.unsigned_abs() - rpo.as_secs()) as f64),
            human(rpo.as_secs_f64())
        ));
    }
    let outputs = outputs(Chosen {
        item: chosen.item,
        id: chosen.id.to_string(),
        created: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        age,
    });
    Ok(Done {
        outputs,
        rejected,
        artifact_created: Some(created),
        ..Done::default()
    })
}

/// Sorts the candidates newest first and takes the first usable one.
fn choose<'a, C, T>(
    ctx: &Ctx<'_, '_, C>,
    mut candidates: Vec<Candidate<'a, T>>,
    what: &'static str,
    max_age: Option<u64>,
) -> Result<(Candidate<'a, T>, Vec<Rejected>), StepError> {
    candidates.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(b.id)));
    for c in &mut candidates {
        let age = (ctx.t0 - c.created).num_seconds().max(0);
        match max_age {
            Some(max) if c.unusable.is_none() && age.unsigned_abs() > max => {
                c.unusable = Some(format!(
                    "older than max_age ({}): {} old",
                    human(max as f64),
                    human(age as f64)
                ));
            }
            _ => {}
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
            id: c.id.to_string(),
            created: c.created,
            reason,
        });
    }
    match pick {
        Some(p) => Ok((p, rejected)),
        None => Err(StepError::NothingUsable { what, rejected }),
    }
}
