//! SSM on the simulator, end to end through the CLI: the example drill that earns the Safe
//! tag, validations that fail, an instance that never registers, and `create_image`'s freeze.
//! (The AWS backend's side, on the SDK's mocks, is in `src/cloud/aws/ssm/tests.rs`: moto 5.2.5
//! has no DescribeInstanceInformation or ListCommandInvocations.)

use serde_json::Value;

use crate::common::{self, Test};

fn step<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in the report"))
}

#[test]
fn the_earn_safe_drill_tags_the_image_only_after_its_validations_pass() {
    let drill = common::example_text("earn-safe-drill");
    let (_, dir) = Test::new()
        .file("d.runbook", &drill)
        .args(&[
            "run",
            "d.runbook",
            "--drill",
            "--seed",
            "4",
            "--report-dir",
            "out",
        ])
        .stderr("teardown: instance")
        .run();
    let r = common::report(dir.path());
    assert_eq!(r["outcome"], "succeeded");
    let image = step(&r, "candidate")["outputs"]["id"].clone();
    assert_eq!(r["tagged"][0]["id"], image, "{}", r["tagged"]);
    assert_eq!(r["tagged"][0]["tags"]["Safe"], "True");
    for name in ["filesystems", "units", "processes"] {
        let s = step(&r, name);
        assert_eq!(s["outcome"], "succeeded", "{name}");
        let codes = s["outputs"]["exit_code"]
            .as_object()
            .expect("exit codes by instance");
        assert_eq!(codes.len(), 1, "{name}");
        assert!(codes.values().all(|c| c == 0), "{name}: {codes:?}");
    }
    // The ssm: check's result per instance is kept for the report.
    assert_eq!(
        step(&r, "up")["outputs"]["commands"][0]["check"],
        "ssm:true"
    );
    // The validated image is not the run's: the drill tore down its instance only.
    // The drill is isolated: its instance and its security group, both torn down.
    let made: Vec<&Value> = r["resources"].as_array().into_iter().flatten().collect();
    let kinds: Vec<&str> = made.iter().filter_map(|m| m["kind"].as_str()).collect();
    assert_eq!(kinds, ["instance", "security group"], "{made:?}");
    assert!(made.iter().all(|m| m["teardown"] == "verified"), "{made:?}");
    assert_eq!(r["isolated"], true);

    // A validation that fails: no tag.
    let (_, dir) = Test::new()
        .file("d.runbook", &drill)
        .file(
            "p.json",
            r#"{"faults": {"failed_commands": {"systemctl": 1}}}"#,
        )
        .args(&[
            "run",
            "d.runbook",
            "--drill",
            "--seed",
            "4",
            "--report-dir",
            "out",
            "--sim-profile",
            "p.json",
        ])
        .status(1)
        .stderr("units: failed: run_command on i-")
        .run();
    let r = common::report(dir.path());
    assert_eq!(r["outcome"], "failed");
    assert_eq!(step(&r, "units")["outcome"], "failed");
    assert_eq!(step(&r, "safe")["outcome"], "skipped");
    assert!(
        r["tagged"].as_array().is_none_or(Vec::is_empty),
        "{}",
        r["tagged"]
    );
}

#[test]
fn an_instance_that_never_registers_with_ssm_fails_naming_what_is_missing() {
    let (_, _dir) = Test::new()
        .file("d.runbook", common::example_text("earn-safe-drill"))
        .file("p.json", r#"{"faults": {"unmanaged_steps": ["host"]}}"#)
        .args(&["run", "d.runbook", "--drill", "--sim-profile", "p.json"])
        .status(1)
        .stderr("never registered with SSM")
        .stderr("AmazonSSMManagedInstanceCore")
        .stderr("teardown: instance")
        .run();
}

const FROZEN: &str = r#"runbook "f" {
  step db = launch { image = "ami-0123", subnet = "subnet-0123", instance_types = ["r6i.large"] }
  step image = create_image { instance = db.instance, freeze = ["/data", "/var/lib/mysql"] }
}
"#;

#[test]
fn a_frozen_image_is_thawed_as_soon_as_create_image_answers_and_is_safe() {
    let (out, dir) = Test::new()
        .file("f.runbook", FROZEN)
        .args(&["run", "f.runbook", "--drill", "--report-dir", "out"])
        .stderr("image: froze /data, /var/lib/mysql on i-")
        .stderr("image: thawed /data, /var/lib/mysql on i-")
        .run();
    let text = String::from_utf8_lossy(&out.stderr);
    let thawed = text.find("image: thawed").expect("thawed");
    // Thawed before the image is available, which takes minutes.
    assert!(thawed < text.find("image: succeeded").expect("succeeded"));
    let r = common::report(dir.path());
    assert_eq!(step(&r, "image")["outcome"], "succeeded");

    // A thaw that finds a filesystem no longer frozen: the image is not consistent.
    Test::new()
        .file("f.runbook", FROZEN)
        .file(
            "p.json",
            r#"{"faults": {"failed_commands": {"fsfreeze -u '/data' ||": 3}}}"#,
        )
        .args(&["run", "f.runbook", "--drill", "--sim-profile", "p.json"])
        .status(1)
        .stderr("is not consistent")
        .stderr("Safe=False")
        .run();
}

#[test]
fn freeze_takes_no_reboot_and_never_the_root_filesystem() {
    let rb = FROZEN.replace(
        r#"freeze = ["/data", "/var/lib/mysql"]"#,
        r#"freeze = ["/", "data"], reboot = true"#,
    );
    Test::new()
        .file("f.runbook", rb)
        .args(&["check", "f.runbook"])
        .status(2)
        .stderr("conflicts with freeze")
        .stderr("this filesystem holds the SSM agent")
        .stderr("a mount point is an absolute path")
        .stderr("3 problems found")
        .run();
}
