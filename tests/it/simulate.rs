//! `rebound simulate` through the binary: the prediction is made of whole simulated runs, so
//! with a latency model that has no spread every run is the same and the prediction is the
//! single run's measured RTO; with the default model the spread is real and ordered.

use crate::common;

use common::Test;
use serde_json::Value;

/// Every operation of the latency model with p99 = median: no randomness left.
fn fixed_latency() -> String {
    let ops = [
        ("describe", 0.2),
        ("run_instances", 1.5),
        ("pending_to_running", 5.0),
        ("boot", 30.0),
        ("status_ok", 90.0),
        ("ssm_ready", 40.0),
        ("create_volume", 2.0),
        ("attach_volume", 2.0),
        ("restore_job", 600.0),
        ("create_image", 300.0),
        ("approval", 60.0),
        ("exec", 1.0),
    ];
    let fields: Vec<String> = ops
        .iter()
        .map(|(op, s)| format!("\"{op}\": {{\"median\": {s}, \"p99\": {s}}}"))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn web() -> String {
    common::example_text("web-tier")
}

#[test]
fn with_no_spread_the_prediction_is_the_single_run() {
    let (out, _) = Test::new()
        .file("web.runbook", web())
        .file("fixed.json", fixed_latency())
        .args(&[
            "simulate",
            "web.runbook",
            "--runs",
            "20",
            "--latency",
            "fixed.json",
            "--format",
            "json",
        ])
        .run();
    let p: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(p["runs"], 20);
    assert_eq!(p["succeeded"], 20);
    let p50 = p["rto"]["p50"].as_f64().expect("p50");
    assert_eq!(p["rto"]["p99"].as_f64(), Some(p50), "{p}");
    assert_eq!(p["rto"]["max"].as_f64(), Some(p50), "{p}");

    let (_, dir) = Test::new()
        .file("web.runbook", web())
        .file("fixed.json", fixed_latency())
        .args(&[
            "run",
            "web.runbook",
            "--latency",
            "fixed.json",
            "--seed",
            "99",
            "--report-dir",
            "out",
        ])
        .run();
    let measured = common::report(dir.path())["rto"]["measured_seconds"]
        .as_f64()
        .expect("measured");
    assert!(
        (measured - p50).abs() < 0.0015, // the report keeps milliseconds
        "predicted {p50} s, a single run measured {measured} s"
    );
}

/// `rebound simulate` of the web tier, 300 runs from seed 5, as JSON text.
fn simulate_web() -> Vec<u8> {
    let (out, _) = Test::new()
        .file("web.runbook", web())
        .args(&[
            "simulate",
            "web.runbook",
            "--runs",
            "300",
            "--seed",
            "5",
            "--format",
            "json",
        ])
        .run();
    out.stdout
}

#[test]
fn the_default_model_spreads_and_names_the_critical_steps() {
    let out = simulate_web();
    let p: Value = serde_json::from_slice(&out).expect("json");
    let f = |v: &Value| v.as_f64().expect("number");
    let rto = &p["rto"];
    assert!(f(&rto["p50"]) < f(&rto["p95"]), "{rto}");
    assert!(
        f(&rto["p95"]) <= f(&rto["p99"]) && f(&rto["p99"]) <= f(&rto["max"]),
        "{rto}"
    );
    // 15 minutes for the run; the chance is a share of the runs.
    assert_eq!(p["rto_target_seconds"], 900.0);
    let chance = f(&p["rto_chance"]);
    assert!((0.0..=1.0).contains(&chance), "{chance}");
    assert_eq!(p["paths"][0]["name"], "ami");
    assert_eq!(p["paths"][0]["rto_target_seconds"], 600.0);
    // The shares of the steps on the critical path, most often first, each at most 1.
    let shares: Vec<f64> = p["critical_steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| f(&s["share"]))
        .collect();
    assert!(!shares.is_empty());
    assert!(shares.windows(2).all(|w| w[0] >= w[1]), "{shares:?}");
    assert!(shares.iter().all(|s| *s > 0.0 && *s <= 1.0), "{shares:?}");

    // The same seed, the same prediction.
    assert_eq!(out, simulate_web());
}

#[test]
fn simulate_takes_a_directory_and_predicts_each_runbook() {
    let (out, _dir) = crate::common::Test::new()
        .file(
            "dr/a.runbook",
            "runbook \"a\" {\n  rto = 1m\n  step w = wait { duration = 10s }\n}\n",
        )
        .file(
            "dr/b.runbook",
            "runbook \"b\" {\n  step w = wait { duration = 20s }\n}\n",
        )
        .args(&["simulate", "dr", "--runs", "5", "--format", "json"])
        .run();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let all = v.as_array().expect("an array for a directory");
    let names: Vec<&str> = all.iter().filter_map(|p| p["runbook"].as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    let b = all[1]["rto"]["p50"].as_f64().expect("p50");
    assert!((20.0..21.0).contains(&b), "b waits 20 s: {v:#}");
    // One file: the object, as before.
    let (out, _dir) = crate::common::Test::new()
        .file(
            "a.runbook",
            "runbook \"a\" {\n  step w = wait { duration = 10s }\n}\n",
        )
        .args(&["simulate", "a.runbook", "--runs", "5", "--format", "json"])
        .run();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["runbook"], "a");
}
