//! The data a run produces and every later stage reads: what a `find_*` passed over, what a
//! step created, an attachment made, and each resource's fate in teardown. Plain types in a
//! leaf module, so that the journal, the run record, teardown and the actions can share them
//! without importing each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::At;
use crate::cloud::ResourceKind;

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
    /// The region it is in; `None` in journals written before runs spanned regions: the run's
    /// own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Created {
    /// A resource of `kind` made in the step's region (the executor fills the region in).
    pub(crate) fn new(kind: ResourceKind, id: &str, zone: Option<String>) -> Created {
        Created {
            kind,
            id: id.to_string(),
            zone,
            region: None,
        }
    }

    /// In `region`, unless it says where it is already.
    pub(crate) fn in_region(mut self, region: &str) -> Created {
        self.region.get_or_insert_with(|| region.to_string());
        self
    }

    /// Whether it is in `region`, the run's own being `home`.
    pub(crate) fn is_in(&self, region: &str, home: &str) -> bool {
        self.region.as_deref().unwrap_or(home) == region
    }
}

/// An attachment made (the journaled answer of AttachVolume).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub volume: String,
    pub instance: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Described as gone.
    Verified,
    /// Still there when teardown gave up.
    Failed,
    /// Not deleted: its live tags do not say it is this run's.
    Skipped,
}

impl Fate {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fate::Verified => "verified",
            Fate::Failed => "failed",
            Fate::Skipped => "skipped",
        }
    }
}

/// One resource's teardown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TornDown {
    pub kind: ResourceKind,
    pub id: String,
    /// The region it was in (`None`: the run's own, in journals of one region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub step: String,
    pub outcome: Fate,
    /// Why, for anything but a plain verified deletion.
    pub detail: Option<String>,
    /// When it was seen gone (run seconds), for `verified`.
    pub at: Option<At>,
}

impl std::fmt::Display for TornDown {
    /// `instance i-0abc (web): verified`, then `: why` when there is a why.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.id)?;
        if let Some(region) = &self.region {
            write!(f, " in {region}")?;
        }
        write!(f, " ({}): {}", self.step, self.outcome.name())?;
        match &self.detail {
            Some(d) => write!(f, ": {d}"),
            None => Ok(()),
        }
    }
}
