//! Journals, `runs`, `resume` and `teardown` on the simulator, through the binary: a drill
//! tears down through a fault storm, Ctrl-C tears a drill down, a second Ctrl-C leaves a
//! consistent journal that `teardown` finishes, and resume refuses what it cannot do.

use crate::common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Test;
use serde_json::Value;

fn web() -> String {
    common::example_text("web-tier")
}

#[test]
fn a_drill_tears_down_through_a_fault_storm() {
    // 30% throttling, transient 5xx, and the first three deletes refused outright.
    let storm =
        r#"{"faults": {"throttle_rate": 0.3, "server_error_rate": 0.05, "failed_deletes": 3}}"#;
    let (_, dir) = Test::new()
        .file("web.runbook", web())
        .file("storm.json", storm)
        .args(&[
            "run",
            "web.runbook",
            "--drill",
            "--seed",
            "11",
            "--sim-profile",
            "storm.json",
            "--report-dir",
            "out",
        ])
        .stdout("teardown: 4 verified gone, 0 failed, 0 skipped")
        .run();
    let r = common::report(dir.path());
    let resources = r["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 4, "{resources:?}");
    for res in resources {
        assert_eq!(res["teardown"], "verified", "{res}");
        assert!(res["deleted_at"].as_str().is_some(), "{res}");
        assert!(
            res["deleted_at"].as_str() > res["created_at"].as_str(),
            "deleted before it was created: {res}"
        );
    }
    // The refused deletes were made again: more delete calls than resources.
    let deletes = r["api_calls"]["TerminateInstances"].as_u64().unwrap_or(0)
        + r["api_calls"]["DeleteVolume"].as_u64().unwrap_or(0);
    assert!(deletes > 4, "{}", r["api_calls"]);
}

/// Instances terminated together are looked at together until they are gone: one
/// DescribeInstances for all of them each look, not one each. The run itself makes none (its
/// waits ask DescribeInstanceStatus), so every DescribeInstances is teardown's: the lookup by
/// the run's tag and the looks. One each would be at least 1 + 8.
#[test]
fn instances_torn_down_together_are_looked_at_together() {
    let eight = web().replace("count           = 2", "count           = 7");
    assert_ne!(
        eight,
        web(),
        "the web tier launches 2 instances in one step"
    );
    for seed in ["1", "2", "3"] {
        let (_, dir) = Test::new()
            .file("web.runbook", &eight)
            .args(&[
                "run",
                "web.runbook",
                "--drill",
                "--seed",
                seed,
                "--report-dir",
                "out",
            ])
            .stdout("teardown: 9 verified gone, 0 failed, 0 skipped")
            .run();
        let r = common::report(dir.path());
        let described = r["api_calls"]["DescribeInstances"].as_u64().unwrap_or(0);
        assert!(
            (2..=6).contains(&described),
            "seed {seed}: {described} DescribeInstances for 8 instances: {}",
            r["api_calls"]
        );
    }
}

#[test]
fn a_recovery_keeps_what_it_made_until_teardown_is_asked_for() {
    let (_, dir) = Test::new()
        .file("web.runbook", web())
        .args(&["run", "web.runbook", "--seed", "3"])
        .stdout("kept (a recovery keeps what it restored): 4 resources")
        .run();
    let listed = runs(dir.path());
    assert_eq!(listed[0]["state"], "succeeded");
    let run = listed[0]["run_id"].as_str().expect("id").to_string();
    let out = in_dir(dir.path(), &["teardown", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("teardown: 4 of 4 resources verified gone"),
        "{stdout}"
    );
    assert_eq!(runs(dir.path())[0]["state"], "torn_down");
}

/// A drill that tags an image it did not make (a validation that earned `Safe=True`) keeps the
/// image and its tags: teardown deletes what the run made, never what it tagged, and the report
/// lists what was tagged with what.
#[test]
fn a_drill_keeps_what_it_tagged_and_reports_it() {
    let runbook = r#"runbook "earn" {
  region = "eu-west-1"
  step img = find_image { tags = { App = "web" }, require_safe = false }
  step host = launch { image = img.id, subnet = "subnet-0a", instance_types = ["m5.large"] }
  step ok = verify { instances = host.instances, checks = ["running"] }
  step mark = tag { images = [img.id], tags = { Safe = "True" }, after = [ok] }
}
"#;
    let (_, dir) = Test::new()
        .file("earn.runbook", runbook)
        .args(&["run", "earn.runbook", "--drill", "--report-dir", "out"])
        .run();
    let report = common::report(dir.path());
    let image = report["steps"][0]["outputs"]["id"].clone();
    assert_eq!(report["tagged"][0]["id"], image, "{}", report["tagged"]);
    assert_eq!(report["tagged"][0]["step"], "mark");
    assert_eq!(report["tagged"][0]["tags"]["Safe"], "True");
    let resources = report["resources"].as_array().expect("resources");
    assert!(resources.iter().all(|r| r["id"] != image), "{resources:?}");
    assert!(
        resources.iter().all(|r| r["teardown"] == "verified"),
        "{resources:?}"
    );
    assert_eq!(
        report["api_calls"]["DeregisterImage"],
        Value::Null,
        "{}",
        report["api_calls"]
    );
    assert_eq!(
        report["api_calls"]["CreateTags"], 1,
        "{}",
        report["api_calls"]
    );
}

/// A runbook in us-west-2 with steps in us-east-1.
const TWO_REGIONS: &str = r#"runbook "two" {
  region = "us-west-2"
  step golden = find_image { region = "us-east-1", tags = { App = "web" } }
  step stay = launch {
    region = "us-east-1", image = golden.id, subnet = "subnet-0e", instance_types = ["m5.large"]
  }
  step copy = copy_image { image = golden.id, source_region = "us-east-1" }
  step web = launch { image = copy.id, subnet = "subnet-0w", instance_types = ["m5.large"] }
}
"#;

/// The checker matched the steps' regions against the runbook's: a run in another region is
/// refused before anything is made.
#[test]
fn a_region_other_than_the_runbooks_is_refused_when_steps_name_regions() {
    let (_, dir) = Test::new()
        .file("two.runbook", TWO_REGIONS)
        .args(&["run", "two.runbook", "--region", "eu-west-1"])
        .status(2)
        .stderr("--region eu-west-1 is not the runbook's region (us-west-2)")
        .run();
    common::nothing_was_made(dir.path());
}

/// What a recovery made in a region other than its own is journaled with that region; a later
/// `rebound teardown` puts it back there (the simulator keeps one state per region) and deletes
/// it there.
#[test]
fn teardown_of_a_recovery_in_two_regions_deletes_each_resource_in_its_own() {
    let (_, dir) = Test::new()
        .file("two.runbook", TWO_REGIONS)
        .args(&["run", "two.runbook", "--seed", "5"])
        .stdout("kept (a recovery keeps what it restored): 3 resources")
        .run();
    let listed = runs(dir.path());
    let run = listed[0]["run_id"].as_str().expect("id").to_string();
    let out = in_dir(dir.path(), &["teardown", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let told = String::from_utf8_lossy(&out.stderr);
    let in_east: Vec<&str> = told
        .lines()
        .filter(|l| l.contains(" in us-east-1 "))
        .collect();
    assert_eq!(in_east.len(), 1, "{told}");
    assert!(in_east[0].contains("(stay): verified"), "{told}");
    assert!(
        told.contains("(copy): verified") && told.contains("(web): verified"),
        "{told}"
    );
    assert_eq!(runs(dir.path())[0]["state"], "torn_down");
}

/// A drill that restores from AWS Backup leaves nothing behind although AWS Backup makes the
/// instance and its volume untagged, the volume with DeleteOnTermination=false, and the instance
/// with its original's termination protection: both are recorded and tagged, protection is
/// turned off by teardown, and the volume is deleted after the instance.
#[test]
fn a_restore_drill_removes_the_protected_instance_and_its_kept_volume() {
    let point = "arn:aws:ec2:eu-west-1::image/ami-0protected";
    let world = serde_json::json!({
        "region": "eu-west-1",
        "recovery_points": [{
            "arn": point, "vault": "v", "created": "2026-11-30T00:00:00Z",
            "status": "COMPLETED", "resource": "arn:aws:ec2:eu-west-1:123456789012:instance/i-0",
            "resource_type": "EC2", "termination_protection": true
        }],
        "subnets": { "subnet-0a": "eu-west-1a" }
    });
    let runbook = format!(
        r#"runbook "protected" {{
  region = "eu-west-1"
  step back = restore {{
    recovery_point = "{point}", role = "arn:aws:iam::123456789012:role/r", subnet = "subnet-0a"
  }}
}}
"#
    );
    let (_, dir) = Test::new()
        .file("p.runbook", &runbook)
        .file("world.json", world.to_string())
        .args(&[
            "run",
            "p.runbook",
            "--drill",
            "--sim-world",
            "world.json",
            "--report-dir",
            "out",
        ])
        .run();
    let report = common::report(dir.path());
    let resources = report["resources"].as_array().expect("resources");
    let kinds: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["instance", "volume"], "{resources:?}");
    for r in resources {
        assert_eq!(r["teardown"], "verified", "{r}");
    }
    assert!(
        report["api_calls"]["ModifyInstanceAttribute"].as_u64() >= Some(1),
        "{}",
        report["api_calls"]
    );
}

#[test]
fn runs_are_listed_newest_first_and_resume_refuses_what_it_cannot_do() {
    let (_, dir) = Test::new()
        .file("web.runbook", web())
        .args(&["run", "web.runbook", "--seed", "1", "--drill"])
        .run();
    std::thread::sleep(Duration::from_millis(1100));
    let out = in_dir(dir.path(), &["run", "web.runbook", "--seed", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let runs = runs(dir.path());
    assert_eq!(runs.len(), 2);
    assert!(runs[0]["started_at"].as_str() >= runs[1]["started_at"].as_str());
    assert_eq!(runs[0]["state"], "succeeded");
    assert_eq!(runs[1]["state"], "torn_down");
    for key in ["run_id", "runbook", "state", "started_at"] {
        assert!(runs[0][key].is_string(), "{key} missing: {}", runs[0]);
    }
    let finished = runs[0]["run_id"].as_str().expect("id");
    let out = in_dir(dir.path(), &["resume", finished]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is succeeded: nothing to resume"));
    let out = in_dir(dir.path(), &["resume", "no-such-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run `no-such-run`"));
    let out = in_dir(dir.path(), &["runs"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("web-tier") && text.contains("torn_down"),
        "{text}"
    );
}

#[test]
fn a_drill_killed_before_any_journal_record_on_the_simulator_resumes_to_the_same_end() {
    // The uninterrupted drill: how many records it writes.
    let whole = tempfile::tempdir().expect("dir");
    std::fs::write(whole.path().join("web.runbook"), web()).expect("write");
    let out = in_dir(
        whole.path(),
        &["run", "web.runbook", "--seed", "5", "--drill"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let journal = std::fs::read_dir(whole.path().join("state"))
        .expect("state")
        .flatten()
        .next()
        .expect("a journal")
        .path();
    let records = std::fs::read_to_string(journal)
        .expect("journal")
        .lines()
        .count();
    assert!(records > 30, "{records}");

    use std::os::unix::process::ExitStatusExt as _;
    for cut in 2..=records {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("web.runbook"), web()).expect("write");
        let out = common::rebound_in(dir.path())
            .args(["run", "web.runbook", "--seed", "5", "--drill"])
            .env("REBOUND_CRASH_BEFORE_RECORD", cut.to_string())
            .output()
            .expect("run");
        assert_eq!(out.status.signal(), Some(9), "cut {cut}: {}", show(&out));
        let listed = runs(dir.path());
        assert_eq!(listed[0]["state"], "interrupted", "cut {cut}");
        let run = listed[0]["run_id"].as_str().expect("id").to_string();
        let out = in_dir(dir.path(), &["resume", &run, "--report-dir", "out"]);
        assert_eq!(out.status.code(), Some(0), "cut {cut}: {}", show(&out));
        let r = common::report(dir.path());
        assert_eq!(r["outcome"], "succeeded", "cut {cut}");
        let steps = r["steps"].as_array().expect("steps");
        assert!(
            steps.iter().all(|s| s["outcome"] == "succeeded"),
            "cut {cut}"
        );
        // The whole run's resources, none twice, each torn down.
        let resources = r["resources"].as_array().expect("resources");
        assert_eq!(resources.len(), 4, "cut {cut}: {resources:?}");
        assert!(
            resources.iter().all(|x| x["teardown"] == "verified"),
            "cut {cut}: {resources:?}"
        );
        assert_eq!(runs(dir.path())[0]["state"], "torn_down", "cut {cut}");
    }
}

/// A drill that launches an instance, then waits: long enough to interrupt, on the wall clock.
const SLOW_DRILL: &str = r#"runbook "slow" {
  step img = find_image { tags = { App = "web" } }
  step host = launch { image = img.id, subnet = "subnet-0a1b2c3d", instance_types = ["t3.micro"] }
  step hold = wait { duration = 60s, after = [host] }
}
"#;

/// Every latency 0.1 s, so the wall-clock run reaches `hold` at once.
const QUICK: &str = r#"{"latency": {"describe": {"median": 0.1, "p99": 0.1}, "run_instances": {"median": 0.1, "p99": 0.1}, "pending_to_running": {"median": 0.1, "p99": 0.1}}}"#;

fn spawn_slow_drill(dir: &Path) -> Child {
    std::fs::write(dir.join("slow.runbook"), SLOW_DRILL).expect("write");
    std::fs::write(dir.join("quick.json"), QUICK).expect("write");
    common::rebound_in(dir)
        .args([
            "run",
            "slow.runbook",
            "--drill",
            "--realtime",
            "--sim-profile",
            "quick.json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits until the journal of the only run in `dir` records the instance.
fn wait_for_instance(dir: &Path) {
    for _ in 0..100 {
        let journals: Vec<_> = std::fs::read_dir(dir.join("state"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if journals
            .iter()
            .any(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"kind\":\"instance\"")))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the drill never launched its instance");
}

#[test]
fn ctrl_c_stops_a_drill_and_tears_it_down() {
    let dir = tempfile::tempdir().expect("dir");
    let child = spawn_slow_drill(dir.path());
    wait_for_instance(dir.path());
    interrupt(&child);
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stdout.contains("slow (sim, drill): cancelled"), "{stdout}");
    assert!(
        stdout.contains("teardown: 1 verified gone, 0 failed, 0 skipped"),
        "{stdout}"
    );
    assert_eq!(runs(dir.path())[0]["state"], "torn_down");
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_teardown_finishes_the_job() {
    let dir = tempfile::tempdir().expect("dir");
    let child = spawn_slow_drill(dir.path());
    wait_for_instance(dir.path());
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(50));
    interrupt(&child);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("The journal is consistent"), "{stderr}");
    let runs = runs(dir.path());
    let run = runs[0]["run_id"].as_str().expect("id").to_string();
    let out = in_dir(dir.path(), &["teardown", &run]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("teardown: 1 of 1 resources verified gone"),
        "{stdout}"
    );
}

/// Runs `rebound ARGS` in `dir`, killed (SIGKILL) just before its journal record `cut`, with
/// `env` besides; the id of the run it left.
#[track_caller]
fn killed_run(dir: &Path, args: &[&str], cut: usize, env: &[(&str, &str)]) -> String {
    let out = common::rebound_in(dir)
        .args(args)
        .env("REBOUND_CRASH_BEFORE_RECORD", cut.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("run rebound");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "not killed before record {cut}: {}",
        show(&out)
    );
    runs(dir)[0]["run_id"].as_str().expect("run id").to_string()
}

fn in_dir(dir: &Path, args: &[&str]) -> std::process::Output {
    common::rebound_in(dir)
        .args(args)
        .output()
        .expect("run rebound")
}

fn runs(dir: &Path) -> Vec<Value> {
    let out = in_dir(dir, &["runs", "--format", "json"]);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn show(out: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One process per run: while a run is live, a second process is refused at once, naming the
/// holder; `runs` tells a live run from one whose process died; once it died, resume works.
#[test]
fn a_live_run_is_locked_and_a_dead_one_is_interrupted() {
    let dir = tempfile::tempdir().expect("dir");
    let slow = "runbook \"slow\" {\n  step w = wait { duration = 30s }\n}\n";
    std::fs::write(dir.path().join("slow.runbook"), slow).expect("write");
    // On the wall clock, so the run is live for 30 s.
    let mut live = common::rebound_in(dir.path())
        .args(["run", "slow.runbook", "--realtime"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the run");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let run = loop {
        let listed = runs(dir.path());
        if let Some(r) = listed.first() {
            break r.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never journaled"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(run["state"], "live", "{run}");
    let id = run["run_id"].as_str().expect("id").to_string();
    for command in ["resume", "teardown"] {
        let out = in_dir(dir.path(), &[command, &id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {}", show(&out));
        assert!(
            stderr.contains(&format!(
                "run {id} is live: `rebound run` holds it, pid {}",
                live.id()
            )),
            "{command}: {stderr}"
        );
    }
    live.kill().expect("kill");
    live.wait().expect("reap");
    assert_eq!(runs(dir.path())[0]["state"], "interrupted");
    let out = in_dir(dir.path(), &["resume", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(runs(dir.path())[0]["state"], "succeeded");
}

/// A journal whose header names another run (a copy, or a forgery with a wildcard for EC2's tag
/// filter) is refused before anything is looked up or deleted.
#[test]
fn a_journal_naming_another_run_is_refused() {
    let (_, dir) = Test::new()
        .file("web.runbook", web())
        .args(&["run", "web.runbook", "--seed", "3"])
        .run();
    let listed = runs(dir.path());
    let id = listed[0]["run_id"].as_str().expect("id").to_string();
    let state = dir.path().join("state");
    let text = std::fs::read_to_string(state.join(format!("{id}.journal"))).expect("journal");
    for (name, forged) in [
        ("20200101T000000Z-0000", text.replacen(&id, "*", 1)),
        ("20200101T000000Z-0001", text.clone()),
    ] {
        std::fs::write(state.join(format!("{name}.journal")), forged).expect("write");
        let out = in_dir(dir.path(), &["teardown", name]);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("which is not this journal's run"),
            "{}",
            show(&out)
        );
    }
}

/// Resume is run's equal: `--approve` on a resume approves; each attempt is its own history
/// record, told apart by its attempt; `report RUN` shows the last one.
#[test]
fn a_resume_approves_and_each_attempt_is_its_own_record() {
    let dir = tempfile::tempdir().expect("dir");
    let example = common::example("region-recovery");
    let out = in_dir(dir.path(), &["run", &example]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no one to approve: {}",
        show(&out)
    );
    let id = runs(dir.path())[0]["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let out = in_dir(dir.path(), &["resume", &id, "--approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = in_dir(dir.path(), &["history", "--format", "json"]);
    let history: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let attempts: Vec<(&str, u64, &str)> = history
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap_or_default(),
                r["attempt"].as_u64().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [(id.as_str(), 1, "failed"), (id.as_str(), 2, "succeeded")]
    );
    let out = in_dir(dir.path(), &["report", &id, "--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (report["attempt"].as_u64(), report["outcome"].as_str()),
        (Some(2), Some("succeeded"))
    );
    assert!(
        report["approvals"][0]["by"]
            .as_str()
            .is_some_and(|b| b.starts_with("--approve, given by ")),
        "{}",
        report["approvals"]
    );
}

/// A resumed rehearsal waits out what was in flight: an instance launched just before the
/// crash is still booting when the run resumes, so its status checks take the simulated
/// minutes they take, not nothing.
#[test]
fn a_resumed_simulated_run_waits_for_what_was_still_booting() {
    use std::os::unix::process::ExitStatusExt as _;
    let text = "runbook \"v\" {\n  step img = find_image { tags = { App = \"web\" } }\n  \
                step host = launch { image = img.id, subnet = \"subnet-0abc\", instance_types = [\"m5.large\"] }\n  \
                step ok = verify { instances = host.instances, checks = [\"status_ok\"] }\n}\n";
    let mut checked = 0;
    for cut in 5..=9 {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("v.runbook"), text).expect("write");
        let out = common::rebound_in(dir.path())
            .args(["run", "v.runbook", "--seed", "3"])
            .env("REBOUND_CRASH_BEFORE_RECORD", cut.to_string())
            .output()
            .expect("run");
        if out.status.signal() != Some(9) {
            continue;
        }
        let id = runs(dir.path())[0]["run_id"]
            .as_str()
            .expect("id")
            .to_string();
        let out = in_dir(dir.path(), &["resume", &id, "--report-dir", "out"]);
        assert_eq!(out.status.code(), Some(0), "cut {cut}: {}", show(&out));
        let report = common::report(dir.path());
        let steps = report["steps"].as_array().expect("steps");
        let ok = steps.iter().find(|s| s["name"] == "ok").expect("ok");
        let took = ok["duration_seconds"].as_f64().expect("duration");
        assert!(
            took > 20.0,
            "cut {cut}: status checks passed {took} s after the resume: the restored instance was ready at once"
        );
        // The verify's bound runs on the restored instance's clock, which no resume moves
        // past what the run measured.
        let (rto, bound) = (
            &report["rto"]["measured_seconds"],
            &report["rto"]["bound_seconds"],
        );
        let (rto, bound) = (rto.as_f64().expect("rto"), bound.as_f64().expect("bound"));
        assert!(
            bound <= rto + 1e-6,
            "cut {cut}: bound {bound} s, RTO {rto} s"
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "only {checked} cuts fell between the launch and the verify"
    );
}

/// A SIGTERM the moment the journal exists (before, the kernel killed the process there and
/// left a journal with its header only): the run stops before any step starts, says so, and
/// ends its journal; a drill has nothing to tear down.
#[test]
fn sigterm_as_the_journal_is_created_stops_the_run_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slow.runbook"), SLOW_DRILL).expect("write");
    let out = common::rebound_in(dir.path())
        .args(["run", "slow.runbook", "--drill"])
        .env("REBOUND_TERM_AFTER_RECORD", "1")
        .output()
        .expect("run rebound");
    assert_eq!(
        out.status.signal(),
        None,
        "killed by the signal\n{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted: no new steps will start"),
        "{stderr}"
    );
    assert!(stdout.contains("slow (sim, drill): cancelled"), "{stdout}");
    let runs = runs(dir.path());
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["state"], "torn_down", "{runs:?}");
    let id = runs[0]["run_id"].as_str().expect("id");
    let journal = std::fs::read_to_string(dir.path().join("state").join(format!("{id}.journal")))
        .expect("journal");
    assert!(
        !journal.contains("\"kind\":\"instance\""),
        "a step ran:\n{journal}"
    );
}

/// `--approve` given to `rebound run` is the starter's approval: a resume by someone else that
/// inherits it credits the person who gave it, and one that gives its own credits the resumer.
#[test]
fn an_inherited_approval_is_credited_to_whoever_gave_it() {
    let gate = "runbook \"gate\" {\n  step hold = wait { duration = 10s }\n  \
                step go = approve { message = \"restore?\", after = [hold] }\n}\n";
    for (resume_flags, credit) in [
        (&[][..], "--approve of `rebound run`, given by alice@"),
        (&["--approve"][..], "--approve, given by bob@"),
    ] {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("gate.runbook"), gate).expect("write");
        // Killed after `hold`, before `go` asks.
        let id = killed_run(
            dir.path(),
            &["run", "gate.runbook", "--approve"],
            3,
            &[("USER", "alice")],
        );
        let out = common::rebound_in(dir.path())
            .args(["resume", &id, "--report-dir", "rep"])
            .args(resume_flags)
            .env("USER", "bob")
            .output()
            .expect("resume");
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let report: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("rep/report.json")).expect("report"),
        )
        .expect("json");
        let approvals = report["approvals"].as_array().expect("approvals");
        assert_eq!(approvals.len(), 1, "{approvals:?}");
        assert_eq!(approvals[0]["step"], "go");
        assert!(
            approvals[0]["by"]
                .as_str()
                .is_some_and(|b| b.starts_with(credit)),
            "{resume_flags:?}: {approvals:?}"
        );
    }
}

/// Two teardowns of one run queue: while a teardown holds the run (here a stand-in: the
/// journal's lock taken with flock(1) and a holder's note saying `teardown`), a second
/// teardown says it waits and starts only once the first let go; a resume is refused at once.
#[test]
fn a_teardown_waits_for_the_teardown_in_progress() {
    let dir = tempfile::tempdir().expect("dir");
    let out = in_dir(dir.path(), &["run", &common::example("web-tier")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let id = runs(dir.path())[0]["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let journal = dir.path().join("state").join(format!("{id}.journal"));
    let mut first = Command::new("flock")
        .arg(&journal)
        .args(["sleep", "2"])
        .spawn()
        .expect("flock(1)");
    let holder = serde_json::json!({
        "pid": first.id(), "host": "elsewhere", "command": "teardown",
        "since": "2026-12-01T00:00:00Z"
    });
    std::fs::write(journal.with_extension("holder"), holder.to_string()).expect("holder");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // `flock -n` fails while the lock is held.
    while Command::new("flock")
        .args(["-n".as_ref(), journal.as_os_str(), "true".as_ref()])
        .status()
        .expect("flock -n")
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "flock never took the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let out = in_dir(dir.path(), &["resume", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`rebound teardown` holds it"),
        "{}",
        show(&out)
    );

    let out = in_dir(dir.path(), &["teardown", &id]);
    assert!(
        first.try_wait().expect("wait").is_some(),
        "the second teardown did not wait for the first to let go"
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "waiting for the teardown in progress to end (`rebound teardown` holds it, pid"
        ),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("teardown: 4 of 4 resources verified gone"),
        "{}",
        show(&out)
    );
    let _ = first.wait();
}

/// A resume takes every flag of `run` that may change between attempts (here
/// `--parallelism`), and says why it keeps the run's own for the rest.
#[test]
fn resume_says_why_it_keeps_the_runs_seed_world_and_t0() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("slow.runbook"), SLOW_DRILL).expect("write");
    let id = killed_run(dir.path(), &["run", "slow.runbook", "--drill"], 4, &[]);
    let out = in_dir(
        dir.path(),
        &[
            "resume",
            &id,
            "--seed",
            "3",
            "--declared-at",
            "2026-11-30T00:00:00Z",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for said in [
        format!(
            "error: resume {id}: --seed cannot change on a resume: a resumed rehearsal replays the account of its journal"
        ),
        format!("error: resume {id}: --declared-at cannot change on a resume: t0 is the run's"),
    ] {
        assert!(stderr.contains(&said), "{stderr}");
    }
    assert_eq!(
        runs(dir.path())[0]["state"],
        "interrupted",
        "the refusal touched the run"
    );
    // `--drill` of a drill changes nothing, so it is taken; no step at a time is bad input.
    let out = in_dir(dir.path(), &["resume", &id, "--parallelism", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = in_dir(
        dir.path(),
        &["resume", &id, "--parallelism", "1", "--drill"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// `resume --parallelism 1` runs the attempt one step at a time: three independent steps
/// queue for the one slot, which the live view says, where the run's own bound ran them
/// together.
#[test]
fn resume_parallelism_bounds_the_attempt() {
    let dir = tempfile::tempdir().expect("dir");
    let three = "runbook \"three\" {\n  step a = wait { duration = 10s }\n  \
                 step b = wait { duration = 10s }\n  step c = wait { duration = 10s }\n}\n";
    std::fs::write(dir.path().join("three.runbook"), three).expect("write");
    // Killed right after the header: nothing ran.
    let id = killed_run(dir.path(), &["run", "three.runbook"], 2, &[]);
    let out = in_dir(dir.path(), &["resume", &id, "--parallelism", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ready, waiting for a free slot (--parallelism 1)"),
        "{stderr}"
    );
    // One at a time: 30 s of waits, not 10.
    let report = in_dir(dir.path(), &["report", &id, "--format", "json"]);
    let report: Value = serde_json::from_slice(&report.stdout).expect("json");
    let rto = report["rto"]["measured_seconds"].as_f64().expect("rto");
    assert!(rto >= 30.0, "{rto}");
}
