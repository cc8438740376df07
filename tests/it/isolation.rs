//! Isolated drills on the simulator: the run's own security group is made before the first
//! step, every instance the drill launches is in it alone, the group is torn down after the
//! instances, and a drill that cannot isolate does not start.

use crate::common::{self, Test};

const DRILL: &str = r#"runbook "iso" {
  isolation = "sandbox"
  step web = launch { image = "ami-0123", subnet = "subnet-0123", instance_types = ["t3.micro"], security_groups = ["sg-0prod"] }
  step up = verify { instances = web.instances, checks = ["running", "tcp:443"] }
}
"#;

const WORLD: &str = r#"{"region": "us-east-1", "subnets": {"subnet-0123": "us-east-1a"},
  "vpcs": {"subnet-0123": "vpc-0a"}, "security_groups": ["sg-0prod"],
  "images": [{"id": "ami-0123", "name": "web", "created": "2026-11-30T00:00:00Z",
              "state": "available", "owner": "self", "tags": {"Safe": "True"}}]}"#;

#[test]
fn an_isolated_drill_runs_in_a_group_of_its_own_torn_down_after_its_instances() {
    let (_, dir) = Test::new()
        .file("iso.runbook", DRILL)
        .file("world.json", WORLD)
        .args(&[
            "run",
            "iso.runbook",
            "--drill",
            "--sim-world",
            "world.json",
            "--report-dir",
            "out",
        ])
        .stderr("isolated: security group sg-")
        .run();
    // An isolated drill that runs SSM commands and names no endpoint to reach is told so.
    let ssm = DRILL.replace(r#""tcp:443""#, r#""tcp:443", "ssm:true""#);
    Test::new()
        .file("iso.runbook", ssm)
        .file("world.json", WORLD)
        .args(&["run", "iso.runbook", "--drill", "--sim-world", "world.json"])
        .stderr("its SSM commands cannot reach the ssm, ssmmessages and ec2messages endpoints")
        .run();
    let r = common::report(dir.path());
    assert_eq!(r["outcome"], "succeeded", "{r:#}");
    assert_eq!(r["isolated"], true);
    let made = r["resources"].as_array().expect("resources");
    let kinds: Vec<&str> = made.iter().filter_map(|m| m["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "security group").count(),
        1,
        "{made:?}"
    );
    for m in made {
        assert_eq!(m["teardown"], "verified", "{m}");
    }
    // The group goes after the instance that used it.
    let deleted = |kind: &str| {
        made.iter()
            .find(|m| m["kind"] == kind)
            .and_then(|m| m["deleted_at"].as_str())
            .map(str::to_string)
            .expect("deleted_at")
    };
    assert!(deleted("instance") <= deleted("security group"), "{made:?}");

    // The same runbook run as a recovery is not isolated: a recovery must serve.
    let (_, dir) = Test::new()
        .file("iso.runbook", DRILL)
        .file("world.json", WORLD)
        .args(&[
            "run",
            "iso.runbook",
            "--sim-world",
            "world.json",
            "--report-dir",
            "out",
        ])
        .run();
    let r = common::report(dir.path());
    assert!(r["isolated"].is_null(), "{r:#}");
}

#[test]
fn a_drill_that_cannot_isolate_does_not_start() {
    let denied = WORLD.replace(
        r#""security_groups""#,
        r#""denied": ["ec2:CreateSecurityGroup"], "security_groups""#,
    );
    let (_, dir) = Test::new()
        .file("iso.runbook", DRILL)
        .file("world.json", &denied)
        .args(&[
            "run",
            "iso.runbook",
            "--drill",
            "--sim-world",
            "world.json",
            "--report-dir",
            "out",
        ])
        .status(2)
        .stderr("cannot isolate the drill: cannot make the drill's security group in vpc-0a")
        .stderr("UnauthorizedOperation")
        .stderr("nothing was started")
        .run();
    assert!(
        !dir.path().join("out/report.json").exists(),
        "a report of a run that never started"
    );

    // Only a drill is isolated: a recovery must serve.
    Test::new()
        .file("iso.runbook", DRILL)
        .file("world.json", WORLD)
        .args(&["run", "iso.runbook", "--isolate"])
        .status(2)
        .stderr("--drill")
        .run();
}

/// On moto: the group exists during the drill with the expected rules (read by the drill's own
/// `exec` step through boto3), the instance has only it and no public address, and after the
/// drill nothing of the run is left.
#[test]
fn an_isolated_drill_on_moto_leaves_nothing() {
    let moto = common::moto::Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let python = common::moto::venv().join("bin/python");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peer/sandbox_state.py");
    let runbook = format!(
        r#"runbook "iso" {{
  isolation        = "sandbox"
  isolation_egress = ["pl-0123456789abcdef0"]
  step img = find_image {{ owners = ["self"], tags = {{ App = "web" }} }}
  step web = launch {{ image = img.id, subnet = "{subnet}", instance_types = ["t3.micro"] }}
  step up = verify {{ instances = web.instances, checks = ["running"] }}
  step look = exec {{ command = ["{}", "{}", "{}"], after = [up] }}
}}
"#,
        python.display(),
        script.display(),
        moto.url
    );
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("iso.runbook"), runbook).expect("write");
    std::fs::write(dir.path().join("fast.json"), common::moto::FAST).expect("write");
    let out = moto.rebound(
        dir.path(),
        &[
            "run",
            "iso.runbook",
            "--backend",
            "aws",
            "--drill",
            "--latency",
            "fast.json",
            "--report-dir",
            "out",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = common::report(dir.path());
    assert_eq!(r["isolated"], true);
    let look = r["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "look"))
        .expect("look");
    let seen: serde_json::Value =
        serde_json::from_str(look["outputs"]["stdout"].as_str().expect("stdout"))
            .unwrap_or_else(|e| panic!("{e}: {look}"));
    let groups = seen["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "{seen:#}");
    let group = &groups[0];
    // No ingress (the drill checks no port), no egress but 443 to the prefix list.
    assert_eq!(group["ingress"], serde_json::json!([]), "{seen:#}");
    assert_eq!(
        group["egress"],
        serde_json::json!([{"protocol": "tcp", "from": 443, "cidrs": [], "prefix_lists": ["pl-0123456789abcdef0"]}]),
        "{seen:#}"
    );
    let instances = seen["instances"].as_array().expect("instances");
    assert_eq!(instances.len(), 1, "{seen:#}");
    // Its network interface has the group alone (moto lists an interface's groups there only;
    // AWS in the instance's `SecurityGroups` too).
    assert_eq!(
        instances[0]["interface_groups"],
        serde_json::json!([group["id"]]),
        "{seen:#}"
    );
    assert!(
        instances[0]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().all(|g| *g == group["id"])),
        "{seen:#}"
    );
    assert!(instances[0]["public_ip"].is_null(), "{seen:#}");

    // Nothing of the run is left: no instance, no group.
    let after = moto.python("sandbox_state.py", &[]);
    assert_eq!(
        after,
        serde_json::json!({"groups": [], "instances": []}),
        "{stderr}"
    );
}
