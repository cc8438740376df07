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
  "key_pairs": ["ops"], "instance_profiles": ["web"], "kms_keys": ["alias/ebs"]}"#;

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
        .replace("}\n}\n", "}\n  step disk = attach { volume = \"vol-0gone\", instance = web.instance, device = \"/dev/sdf\" }\n  step enc = create_volume { snapshot = \"snap-0gone\", zone = \"us-east-1a\", kms_key = \"alias/old\" }\n}\n");
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
error: pre.runbook:8:30: step `enc`, field `snapshot`: snapshot `snap-0gone` does not exist in us-east-1 (DescribeSnapshots found none); nothing was started
error: pre.runbook:8:76: step `enc`, field `kms_key`: KMS key `alias/old` does not exist in us-east-1 (DescribeKey found no enabled symmetric key); nothing was started
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

/// `rebound preflight`'s findings as JSON, and its exit code.
fn preflight(test: Test, args: &[&str], status: i32) -> serde_json::Value {
    let mut all = vec!["preflight", "pre.runbook", "--format", "json"];
    all.extend_from_slice(args);
    let (out, dir) = test.args(&all).status(status).run();
    common::nothing_was_made(dir.path());
    serde_json::from_slice(&out.stdout).expect("preflight --format json is JSON")
}

/// `rebound preflight FILE --format json` on moto: its process output and its findings.
fn preflight_on_moto(
    moto: &Moto,
    dir: &std::path::Path,
    file: &str,
) -> (std::process::Output, serde_json::Value) {
    let out = moto.rebound(
        dir,
        &["preflight", file, "--backend", "aws", "--format", "json"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out, r)
}

/// The findings of one check, as `level: message`.
fn said(r: &serde_json::Value, check: &str) -> Vec<String> {
    r["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == check)
        .map(|f| {
            format!(
                "{}: {}",
                f["level"].as_str().unwrap_or("?"),
                f["message"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[test]
fn preflight_on_the_simulator_finds_what_rotted_since_the_last_drill() {
    let live = runbook("subnet-0live", "sg-0live", "ops", "web");
    let r = preflight(
        Test::new()
            .file("pre.runbook", &live)
            .file("world.json", WORLD),
        &["--sim-world", "world.json"],
        0,
    );
    assert_eq!(
        said(&r, "instance-type"),
        ["ok: t3.micro is offered in us-east-1a"]
    );
    assert_eq!(
        said(&r, "addresses"),
        ["ok: subnet-0live in us-east-1 has 250 free addresses for 1 instance (web)"]
    );
    assert_eq!(
        said(&r, "permission"),
        ["ok: ec2:RunInstances allowed (DryRun)"]
    );
    assert!(
        said(&r, "find")[0].starts_with("ok: ami-0a"),
        "{:?}",
        said(&r, "find")
    );

    // The first type no longer offered: the fallback is said, and the run would go (exit 3).
    let fallback = live.replace(r#"["t3.micro"]"#, r#"["t3.micro", "m5.large"]"#);
    let offered = WORLD.replace(
        r#""key_pairs""#,
        r#""offerings": {"us-east-1a": ["m5.large"]}, "key_pairs""#,
    );
    let r = preflight(
        Test::new()
            .file("pre.runbook", &fallback)
            .file("world.json", &offered),
        &["--sim-world", "world.json"],
        3,
    );
    assert_eq!(
        said(&r, "instance-type"),
        ["warning: t3.micro is not offered in us-east-1a: the launch would use m5.large"]
    );

    // A stale image (the rpo), a type no longer offered, too few addresses, a permission
    // revoked, a subnet deleted: not ready (exit 1), each said.
    let rotted = live
        .replace("runbook \"pre\" {", "runbook \"pre\" {\n  rpo = 1h")
        .replace(
            "instance_types = [\"t3.micro\"],",
            "instance_types = [\"m5.large\"], count = 3,",
        )
        + "";
    let world = WORLD.replace(
        r#""key_pairs""#,
        r#""offerings": {"us-east-1a": ["m5.large"]}, "free_addresses": {"subnet-0live": 2},
           "denied": ["ec2:RunInstances"], "key_pairs""#,
    );
    let r = preflight(
        Test::new()
            .file("pre.runbook", &rotted)
            .file("world.json", &world),
        &["--sim-world", "world.json"],
        1,
    );
    let find = said(&r, "find");
    assert!(
        find[0].starts_with("warning: ami-0a") && find[0].contains("older than the rpo of 1h"),
        "{find:?}"
    );
    assert_eq!(
        said(&r, "addresses"),
        ["error: subnet-0live in us-east-1 has 2 free addresses for 3 instances (web)"]
    );
    let permission = said(&r, "permission");
    assert!(
        permission[0].starts_with("error: ec2:RunInstances is not allowed"),
        "{permission:?}"
    );

    let gone = runbook("subnet-0gone", "sg-0live", "ops", "web");
    let r = preflight(
        Test::new()
            .file("pre.runbook", &gone)
            .file("world.json", WORLD),
        &["--sim-world", "world.json"],
        1,
    );
    let exists = said(&r, "exists");
    assert_eq!(exists.len(), 1, "{exists:?}");
    assert!(
        exists[0].contains("subnet `subnet-0gone` does not exist in us-east-1"),
        "{exists:?}"
    );
}

#[test]
fn preflight_on_moto_asks_every_question_and_makes_nothing() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let subnet = seeded["subnet"].as_str().expect("subnet");
    let vpc = seeded["vpc"].as_str().expect("vpc");
    let named = moto.python("make_named.py", &[vpc]);
    let dir = tempfile::tempdir().expect("dir");
    let text = runbook(
        subnet,
        named["group"].as_str().expect("group"),
        named["key"].as_str().expect("key"),
        named["profile"].as_str().expect("profile"),
    )
    .replace("}\n}\n", "}\n  step disk = attach { volume = \"vol-0123456789abcdef0\", instance = web.instance, device = \"/dev/sdf\" }\n}\n");
    std::fs::write(dir.path().join("pre.runbook"), text).expect("write");
    let (out, r) = preflight_on_moto(&moto, dir.path(), "pre.runbook");
    // The literal volume does not exist: the one error.
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(said(&r, "identity")[0].starts_with("ok: arn:aws:"), "{r:#}");
    assert!(said(&r, "find")[0].starts_with("ok: ami-"), "{r:#}");
    assert_eq!(
        said(&r, "instance-type"),
        [format!(
            "ok: t3.micro is offered in {}",
            seeded["zone"].as_str().unwrap_or("?")
        )],
        "{r:#}"
    );
    // moto honours DryRun on RunInstances (the run's own request, its tags included).
    // AttachVolume is allowed on the run's own volumes and instances only: not asked.
    assert_eq!(
        said(&r, "permission"),
        [
            "ok: ec2:RunInstances allowed (DryRun)",
            "info: ec2:AttachVolume not tried: it is allowed on the run's own volume and instance, which exist only during a run"
        ],
        "{r:#}"
    );
    assert_eq!(said(&r, "exists").len(), 1, "{r:#}");
    let account = moto.python("read_account.py", &["any"]);
    assert_eq!(
        account["all_instances"], 0,
        "preflight launched something: {account}"
    );
}

#[test]
fn preflight_asks_whether_the_restore_role_may_be_passed() {
    let rb = r#"runbook "r" {
  region = "us-east-1"
  step back = restore {
    recovery_point = "arn:aws:ec2:us-east-1::image/ami-0a"
    role           = "arn:aws:iam::123456789012:role/backup-restore"
    subnet         = "subnet-0live"
  }
}
"#;
    let ok = preflight(
        Test::new()
            .file("pre.runbook", rb)
            .file("world.json", WORLD),
        &["--sim-world", "world.json"],
        0,
    );
    assert_eq!(
        said(&ok, "permission"),
        [
            "ok: iam:PassRole allowed on arn:aws:iam::123456789012:role/backup-restore (IAM's policy simulator)"
        ]
    );
    let denied = WORLD.replace(
        r#""key_pairs""#,
        r#""denied": ["iam:PassRole"], "key_pairs""#,
    );
    let r = preflight(
        Test::new()
            .file("pre.runbook", rb)
            .file("world.json", &denied),
        &["--sim-world", "world.json"],
        1,
    );
    assert_eq!(
        said(&r, "permission"),
        [
            "error: iam:PassRole is not allowed on arn:aws:iam::123456789012:role/backup-restore: AWS Backup could not restore as it"
        ]
    );
}

#[test]
fn preflight_on_moto_asks_kms_whether_each_key_is_enabled() {
    let moto = Moto::start();
    let seeded = moto.python("seed_account.py", &[]);
    let vpc = seeded["vpc"].as_str().expect("vpc");
    moto.python("make_named.py", &[vpc]);
    let snap = seeded["snap_new"].as_str().expect("snapshot");
    let zone = seeded["zone"].as_str().expect("zone");
    let dir = tempfile::tempdir().expect("dir");
    let step = |name: &str, key: &str| {
        format!(
            "  step {name} = create_volume {{ snapshot = \"{snap}\", zone = \"{zone}\", kms_key = \"{key}\" }}\n"
        )
    };
    let text = format!(
        "runbook \"keys\" {{\n{}{}{}}}\n",
        step("ebs", "alias/rebound-ebs"),
        step("off", "alias/rebound-off"),
        step("gone", "alias/rebound-gone"),
    );
    std::fs::write(dir.path().join("keys.runbook"), text).expect("write");
    let (out, r) = preflight_on_moto(&moto, dir.path(), "keys.runbook");
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    // The enabled key is not named; the disabled one and the missing one are, each at its field.
    let exists = said(&r, "exists");
    assert_eq!(exists.len(), 2, "{r:#}");
    for (said, (at, key)) in exists
        .iter()
        .zip([("3:", "alias/rebound-off"), ("4:", "alias/rebound-gone")])
    {
        assert!(
            said.contains(&format!("keys.runbook:{at}"))
                && said.contains(&format!(
                    "KMS key `{key}` does not exist in us-east-1 (DescribeKey found no enabled symmetric key)"
                )),
            "{said}"
        );
    }
}
