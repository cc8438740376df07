//! How the simulator behaves: the latency of each operation and the faults to inject. The
//! default is README's model of real AWS (`cloud::latency`) with no faults; `--sim-profile FILE` (JSON, every
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
    /// Chance that RunInstances or CreateVolume takes effect and its answer is then lost (an
    /// `InternalError` after the server acted, as a dropped connection looks): the retry, with
    /// the same ClientToken, must get the same resources back, not new ones.
    pub lost_answer_rate: f64,
    /// Instance type to the chance that RunInstances of it fails with
    /// `InsufficientInstanceCapacity` (1.0: always).
    pub capacity: BTreeMap<String, f64>,
    /// Steps (by name, matched through the `rebound:step` tag of what they create) whose
    /// instances are terminated during launch and whose volumes end in `error`.
    pub fail_steps: Vec<String>,
    /// Steps whose instances run but whose status checks go `impaired` instead of `ok`.
    pub impaired_steps: Vec<String>,
    /// The first this many delete calls of a teardown fail with `IncorrectState` (not
    /// transient: teardown itself must try again).
    pub failed_deletes: u32,
    /// Scripts run through SSM that fail: a script containing the key exits with the value
    /// (`{"xfs_repair": 1}`), on every instance.
    pub failed_commands: BTreeMap<String, i32>,
    /// Steps whose instances never register with SSM (no agent, no instance profile, no route
    /// to its endpoints).
    pub unmanaged_steps: Vec<String>,
}

impl Profile {
    /// Every latency finite, at least 0 and at most a year, p99 no less than the median; every
    /// chance between 0 and 1.
    pub fn validate(&self) -> Result<(), String> {
        const YEAR: f64 = 365.0 * 86_400.0;
        let latency = serde_json::to_value(&self.latency).map_err(|e| e.to_string())?;
        if let Some(dists) = latency.as_object() {
            for (name, d) in dists {
                let median = d["median"].as_f64().unwrap_or(f64::NAN);
                let p99 = d["p99"].as_f64().unwrap_or(f64::NAN);
                if !(0.0..=YEAR).contains(&median) || !(median..=YEAR).contains(&p99) {
                    return Err(format!(
                        "latency.{name}: median {median} and p99 {p99} must be seconds between 0 and a year, p99 >= median"
                    ));
                }
            }
        }
        let f = &self.faults;
        let chances = [
            ("throttle_rate", f.throttle_rate),
            ("server_error_rate", f.server_error_rate),
            ("lost_answer_rate", f.lost_answer_rate),
        ]
        .into_iter()
        .chain(f.capacity.iter().map(|(k, v)| (k.as_str(), *v)));
        for (name, p) in chances {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "faults.{name}: {p} is not a chance between 0 and 1"
                ));
            }
        }
        Ok(())
    }
}
