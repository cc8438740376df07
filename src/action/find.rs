//! The choice every `find_*` makes: the newest usable candidate, and every other one rejected
//! with its reason (the report lists them), so that a responder sees why an artifact was not
//! used.

use chrono::{DateTime, Utc};

use crate::exec::ctx::{Ctx, StepError};
use crate::exec::model::Rejected;

/// A candidate of a `find_*`: id, creation time, and why it cannot be used (if it cannot).
pub(crate) struct Candidate {
    pub id: String,
    pub created: DateTime<Utc>,
    pub unusable: Option<String>,
}

/// Picks the newest usable candidate; every other one is rejected with its reason.
pub(crate) fn choose<C>(
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
    crate::duration::human(d.num_seconds().max(0) as f64)
}

/// Seconds from `created` to `t0` (the declared disaster, or the run's start): the `age` output.
pub(crate) fn age_secs(t0: DateTime<Utc>, created: DateTime<Utc>) -> i64 {
    (t0 - created).num_seconds().max(0)
}

/// The `created` output: RFC 3339 in UTC, to the second.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
