//! How the simulator behaves: the latency of each operation and the faults to inject. The
//! default is DESIGN.md's model of real AWS with no faults; `--sim-profile FILE` (JSON, every
//! field optional) overrides it, for a slower region, a fault storm, or a zero-variance model
//! whose prediction is exact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cloud::latency::LatencyModel;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub latency: LatencyModel,
    pub faults: Faults,
}

/// Faults drawn from the run's seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Chance that any API call is refused with `RequestLimitExceeded`, on top of the buckets.
    pub throttle_rate: f64,
    /// Chance that any API call fails with `InternalError` (a transient 5xx).
    pub server_error_rate: f64,
    /// Instance type to the chance that RunInstances of it fails with
    /// `InsufficientInstanceCapacity` (1.0: always).
    pub capacity: BTreeMap<String, f64>,
    /// Steps (by name, matched through the `rebound:step` tag of what they create) whose
    /// instances are terminated during launch and whose volumes end in `error`.
    pub fail_steps: Vec<String>,
}

impl Profile {
    /// Reads a profile from JSON.
    pub fn from_json(text: &str) -> Result<Profile, serde_json::Error> {
        serde_json::from_str(text)
    }
}
