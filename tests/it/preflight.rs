//! Preflight: before a run makes anything, every subnet, security group, key pair, instance
//! profile and literal id the runbook names is asked for, on the simulator (its world) and on
//! AWS (moto, through the real Describe and IAM calls). What is missing is one line each, with
//! the file, line and column of the field, exit 2, and nothing journaled or made.

use crate::common;

use common::Test;
use common::moto::Moto;

/// A world with one of each kind, and a runbook that names one of each (the image is another
/// step's output: not asked).
const WORLD: &str = r#"{"region": "us-east-1",
  "images": [{"id": "ami-0a", "name": "web", "created": "2026-11-30T00:00:00Z", "state": "available",
              "owner": "self", "tags": {"App": "web", "Safe": "True"}}],
  "subnets": {"subnet-0live": "us-east-1a"}, "security_groups": ["sg-0live"],
  "key_pairs": ["ops"], "instance_profiles": ["web"]}"#;

fn runbook(subnet: &str, group: &str, key: &str, profile: &str) -> String {
    format!(
        r#"runbook "pre" {{
  step img = find_image {{ tags = {{ App = "web" }} }}
  step web = launch {{
    image = img.id, subnet = "{subnet}", instance_types = ["t3.micro"],
    security_groups = ["{group}"], key_name = "{key}", instance_profile = "{profile}"
  }}
}}
"#
    )
}

#[test]
fn on_the_simulator_what_the_world_lacks_is_one_line_each_and_nothing_starts() {
    let text = runbook("subnet-0gone", "sg-0gone", "old-key", "old-profile")
        .replace("}\n}\n", "}\n  step disk = attach { volume = \"vol-0gone\", instance = web.instance, device = \"/dev/sdf\" }\n}\n");
    let (_, dir) = Test::new()
        .file("pre.runbook", text)
        .file("world.json", WORLD)
        .args(&["run", "pre.runbook", "--sim-world", "world.json"])
        .status(2)
        .stderr_exact(
            "error: pre.runbook:4:21: step `web`, field `subnet`: subnet `subnet-0gone` does not exist in us-east-1 (DescribeSubnets found none); nothing was started
error: pre.runbook:5:5: step `web`, field `security_groups`: security group `sg-0gone` does not exist in us-east-1 (DescribeSecurityGroups found none); nothing was started
error: pre.runbook:5:37: step `web`, field `key_name`: key pair `old-key` does not exist in us-east-1 (DescribeKeyPairs found none); nothing was started
error: pre.runbook:5:59: step `web`, field `instance_profile`: instance profile `old-profile` does not exist in us-east-1 (GetInstanceProfile found none); nothing was started
error: pre.runbook:7:24: step `disk`, field `volume`: volume `vol-0gone` does not exist in us-east-1 (DescribeVolumes found none); nothing was started
",
        )
        .run();
    common::nothing_was_made(dir.path());
}

#[test]
fn on_the_simulator_a_runbook_whose_names_all_exist_runs() {
    Test::new()
        .file(
            "pre.runbook",
            runbook("subnet-0live", "sg-0live", "ops", "web"),
        )
        .file("world.json", WORLD)
        .args(&["run", "pre.runbook", "--sim-world", "world.json"])
        .stdout("pre (sim, recovery): succeeded")
        .run();
}

#[test]
fn on_aws_each_missing_name_is_found_by_its_own_call_before_anything_is_made() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let vpc = seeded["vpc"].as_str().expect("vpc");
    let named = moto.python("make_named.py", &[vpc]);
    let (group, key, profile) = (
        named["group"].as_str().expect("group"),
        named["key"].as_str().expect("key"),
        named["profile"].as_str().expect("profile"),
    );
    let dir = tempfile::tempdir().expect("dir");

    // Every name wrong: each is its own line, and the account is as it was.
    std::fs::write(
        dir.path().join("gone.runbook"),
        runbook("subnet-0deleted", "sg-0deleted", "old-key", "old-profile"),
    )
    .expect("write");
    let out = moto.rebound(
        dir.path(),
        &["run", "gone.runbook", "--backend", "aws"],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 4, "{stderr}");
    // Each at its field: line and column of `name = value`.
    for (line, (at, what)) in lines.iter().zip([
        ("4:21", "subnet `subnet-0deleted` does not exist in us-east-1 (DescribeSubnets found none)"),
        ("5:5", "security group `sg-0deleted` does not exist in us-east-1 (DescribeSecurityGroups found none)"),
        ("5:40", "key pair `old-key` does not exist in us-east-1 (DescribeKeyPairs found none)"),
        ("5:62", "instance profile `old-profile` does not exist in us-east-1 (GetInstanceProfile found none)"),
    ]) {
        let start = format!("error: gone.runbook:{at}: step `web`");
        assert!(line.starts_with(&start), "{line}\nwanted: {start}");
        assert!(line.contains(what), "{line}\nwanted: {what}");
    }
    common::nothing_was_made(dir.path());
    let account = moto.python("read_account.py", &["any"]);
    assert_eq!(
        account["all_instances"], 0,
        "something was launched: {account}"
    );

    // The same runbook with the names that exist passes preflight and runs.
    std::fs::write(
        dir.path().join("live.runbook"),
        runbook(subnet, group, key, profile),
    )
    .expect("write");
    let out = moto.rebound(
        dir.path(),
        &["run", "live.runbook", "--backend", "aws"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("pre (aws, recovery): succeeded"),
        "{stdout}"
    );
}
