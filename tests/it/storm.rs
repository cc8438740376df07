//! Fault storms on the simulator, through the binary: each example runbook run as a drill,
//! calm and then in a storm with the same seed, and the two reports compared. The storm is
//! 30% `RequestLimitExceeded`, 10% `InternalError`, a fifth of creates losing their answer after
//! taking effect, a slow API, and no capacity at all for the
//! first instance type of each launch that has a second one, unless that type is another
//! launch's only one (web-tier's `host`: no second type, so a shortage would fail its path).
//!
//! The slow API: the latency model has no field for "one API call" as such. `describe` (its
//! doc says one Describe* or List* call) is what the simulator waits on every call but
//! RunInstances, mutating ones included, and `run_instances` is RunInstances' own; the storm
//! makes both slower. A slower API also makes the pollers' Describe calls rarer, so the run's
//! total of calls can go down in a storm: the extra calls are the steps' own (retries and
//! fallbacks), and that is what is compared.
//!
//! Both runs draw every latency at its median, with no spread, so that the difference between
//! them is the storm's and not the dice's. `cargo test --test it storm:: -- --nocapture` prints
//! the figures, one line per runbook.

use crate::common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::Test;
use rebound::cloud::latency::{Dist, LatencyModel};
use rebound::cloud::sim::{Faults, Profile};
use serde_json::Value;

/// The seed of both runs. A call is refused with a chance of 0.3 + 0.7 × 0.1 = 0.37, all
/// eight of the API layer's attempts with a chance of 0.37⁸ ≈ 0.035%, and a step without
/// `retries` then fails: rare, but not impossible, so `rebound simulate --sim-profile` over
/// many seeds gives the storm's completion rate (issue 9's note), and this test one fixed run.
const SEED: &str = "2";

/// An example runbook and what the storm does to it.
struct Example {
    name: &'static str,
    /// Its `approve` steps need `--approve`.
    approve: bool,
    /// Instance types with no capacity in the storm: the first of each launch that has another.
    scarce: &'static [&'static str],
    /// Launch steps, the type a calm run gets and the one the storm leaves them.
    fallbacks: &'static [(&'static str, &'static str, &'static str)],
}

/// The default latency model with every draw at its median.
fn at_medians(model: &LatencyModel) -> LatencyModel {
    let mut value = serde_json::to_value(model).expect("a latency model is JSON");
    for dist in value.as_object_mut().expect("an object").values_mut() {
        dist["p99"] = dist["median"].clone();
    }
    serde_json::from_value(value).expect("still a latency model")
}

fn calm() -> Profile {
    Profile {
        latency: at_medians(&LatencyModel::default()),
        faults: Faults::default(),
    }
}

fn storm(scarce: &[&str]) -> Profile {
    let base = calm().latency;
    Profile {
        latency: LatencyModel {
            // The slow API: every call five times slower, RunInstances four times.
            describe: Dist::fixed(base.describe.median * 5.0),
            run_instances: Dist::fixed(base.run_instances.median * 4.0),
            ..base
        },
        faults: Faults {
            throttle_rate: 0.3,
            server_error_rate: 0.1,
            // A fifth of creates lose their answer after taking effect: the retry must get
            // the same resources back through its ClientToken, or the counts below differ.
            lost_answer_rate: 0.2,
            capacity: scarce.iter().map(|t| ((*t).to_string(), 1.0)).collect(),
            ..Faults::default()
        },
    }
}

/// What one drill left in its report.
struct Drill {
    report: Value,
    stdout: String,
    dir: tempfile::TempDir,
}

impl Drill {
    fn rto(&self) -> f64 {
        self.report["rto"]["measured_seconds"]
            .as_f64()
            .expect("a measured RTO")
    }

    /// Every call of the run, the pollers' and teardown's included.
    fn calls(&self) -> u64 {
        self.report["api_calls"]
            .as_object()
            .expect("api_calls")
            .values()
            .filter_map(Value::as_u64)
            .sum()
    }

    /// The calls the steps themselves made (their retries and fallbacks), not the pollers'.
    fn step_calls(&self) -> u64 {
        self.steps()
            .iter()
            .filter_map(|s| s["api_calls"].as_object())
            .flat_map(|calls| calls.values())
            .filter_map(Value::as_u64)
            .sum()
    }

    fn steps(&self) -> &[Value] {
        self.report["steps"].as_array().expect("steps")
    }

    fn step(&self, name: &str) -> &Value {
        self.steps()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name} in the report"))
    }

    fn resources(&self) -> &[Value] {
        self.report["resources"].as_array().expect("resources")
    }

    /// Resources created, by kind.
    fn created(&self) -> BTreeMap<String, usize> {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for r in self.resources() {
            let kind = r["kind"].as_str().expect("a kind").to_string();
            *kinds.entry(kind).or_default() += 1;
        }
        kinds
    }
}

/// `rebound run EXAMPLE --drill` on the simulator with this profile.
fn drill(example: &Example, profile: &Profile) -> Drill {
    let profile = serde_json::to_string(profile).expect("a profile is JSON");
    let runbook = common::example(example.name);
    let mut args = vec![
        "run",
        runbook.as_str(),
        "--drill",
        "--seed",
        SEED,
        "--sim-profile",
        "profile.json",
        "--report-dir",
        "out",
    ];
    if example.approve {
        args.push("--approve");
    }
    let (out, dir) = Test::new().file("profile.json", profile).args(&args).run();
    Drill {
        report: common::report(dir.path()),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        dir,
    }
}

/// The state `rebound runs` gives the only run in `dir`.
fn run_state(dir: &Path) -> Value {
    let out = common::rebound_in(dir)
        .args(["runs", "--format", "json"])
        .output()
        .expect("run rebound runs");
    assert!(out.status.success(), "rebound runs: {out:?}");
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("runs as JSON");
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0]["state"].clone()
}

/// One line of figures for the note (shown with `--nocapture`).
fn print_figures(name: &str, calm: &Drill, storm: &Drill) {
    eprintln!(
        "storm: {name}: RTO calm {:.1} s, storm {:.1} s, +{:.1} s; calls calm {}, storm {} \
         (steps' own: {} -> {})",
        calm.rto(),
        storm.rto(),
        storm.rto() - calm.rto(),
        calm.calls(),
        storm.calls(),
        calm.step_calls(),
        storm.step_calls()
    );
}

/// The drill of `example`, calm and in a storm: the storm is weathered, costs time and calls,
/// makes nothing twice, falls back where it must, and leaves nothing behind.
fn weathers(example: &Example) {
    let name = example.name;
    let calm = drill(example, &calm());
    let storm = drill(example, &storm(example.scarce));
    print_figures(name, &calm, &storm);

    for d in [&calm, &storm] {
        assert_eq!(d.report["outcome"], "succeeded", "{name}: {}", d.stdout);
    }

    // Nothing made twice: distinct ids, and as many of each kind as the calm run made.
    let ids: HashSet<&str> = storm
        .resources()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        storm.resources().len(),
        "{name}: an id twice: {:?}",
        storm.resources()
    );
    assert!(!ids.is_empty(), "{name}: the drill made nothing");
    assert_eq!(storm.created(), calm.created(), "{name}: resources by kind");

    // Fallbacks: the launch went on with its second type, after more than one RunInstances.
    for &(step, first, second) in example.fallbacks {
        assert_eq!(
            calm.step(step)["outputs"]["instance_type"],
            first,
            "{name}: {step} in the calm"
        );
        assert_eq!(
            storm.step(step)["outputs"]["instance_type"],
            second,
            "{name}: {step} in the storm"
        );
        // The report says what was given up, and why.
        let given_up = &storm.step(step)["outputs"]["fallbacks"];
        assert_eq!(
            given_up[0]["instance_type"], first,
            "{name}: {step}: {given_up}"
        );
        assert_eq!(
            given_up[0]["code"], "InsufficientInstanceCapacity",
            "{name}: {step}: {given_up}"
        );
        assert_eq!(
            calm.step(step)["outputs"]["fallbacks"],
            serde_json::json!([]),
            "{name}: {step} in the calm"
        );
        let launches = storm.step(step)["api_calls"]["RunInstances"]
            .as_u64()
            .unwrap_or(0);
        assert!(
            launches >= 2,
            "{name}: {step} made {launches} RunInstances calls"
        );
    }

    // The extra time and the extra calls show.
    assert!(
        storm.rto() > calm.rto(),
        "{name}: storm RTO {} is not above the calm {}",
        storm.rto(),
        calm.rto()
    );
    assert!(
        storm.step_calls() > calm.step_calls(),
        "{name}: the steps made {} calls in the storm, {} calm",
        storm.step_calls(),
        calm.step_calls()
    );

    // Nothing left behind: each resource deleted and seen gone, through the storm too.
    for d in [&calm, &storm] {
        let resources = d.resources();
        for r in resources {
            assert_eq!(r["teardown"], "verified", "{name}: {r}");
            assert!(r["deleted_at"].is_string(), "{name}: {r}");
        }
        let line = format!(
            "teardown: {} verified gone, 0 failed, 0 skipped",
            resources.len()
        );
        assert!(d.stdout.contains(&line), "{name}: {}", d.stdout);
        assert_eq!(run_state(d.dir.path()), "torn_down", "{name}");
    }
}

#[test]
fn web_tier_weathers_a_storm() {
    weathers(&Example {
        name: "web-tier",
        approve: false,
        // Its first type, m6i.large, is also the only type of `host` (the snapshot path, as in
        // the spec's example): a storm without it would fail that path, so this storm leaves
        // capacity alone.
        scarce: &[],
        fallbacks: &[],
    });
}

#[test]
fn backup_restore_weathers_a_storm() {
    weathers(&Example {
        name: "backup-restore",
        approve: false,
        // A restore job launches its own instance; RunInstances is not called.
        scarce: &[],
        fallbacks: &[],
    });
}

#[test]
fn region_recovery_weathers_a_storm() {
    weathers(&Example {
        name: "region-recovery",
        approve: true,
        scarce: &["r6i.xlarge", "m6i.large", "c6i.large"],
        fallbacks: &[
            ("db_host", "r6i.xlarge", "r5.xlarge"),
            ("app", "m6i.large", "m5.large"),
            ("web", "c6i.large", "c5.large"),
        ],
    });
}

/// Every create loses its answer after taking effect: each retry, with the same ClientToken,
/// gets the very resources the lost answer named, so the drill makes exactly what a calm one
/// makes, with two calls per create.
#[test]
fn every_lost_answer_is_retried_into_the_same_resources() {
    let example = Example {
        name: "region-recovery",
        approve: true,
        scarce: &[],
        fallbacks: &[],
    };
    let quiet = drill(&example, &calm());
    let lossy = drill(
        &example,
        &Profile {
            latency: calm().latency,
            faults: Faults {
                lost_answer_rate: 1.0,
                ..Faults::default()
            },
        },
    );
    assert_eq!(lossy.report["outcome"], "succeeded", "{}", lossy.stdout);
    assert_eq!(lossy.created(), quiet.created(), "resources by kind");
    let ids: HashSet<&str> = lossy
        .resources()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids.len(), lossy.resources().len(), "an id twice");
    for step in lossy.steps() {
        for op in ["RunInstances", "CreateVolume"] {
            if let Some(n) = step["api_calls"][op].as_u64() {
                assert_eq!(n, 2, "{}: {op}: the lost call and its retry", step["name"]);
            }
        }
    }
}
