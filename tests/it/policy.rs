//! `rebound policy`: every example's policy is IAM JSON without a wildcard action (snapshotted);
//! it allows every call a drill of the example really makes (the report's counts on the
//! simulator) and nothing that no step of the runbook can call; KMS, AWS Backup and PassRole
//! appear only where the runbook asks for them, and only on what it names.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::Test;
use rebound::action::Action;
use rebound::runbook::{self, Runbook};
use serde_json::{Map, Value, json};

const ACCOUNT: &str = "123456789012";

/// The policy `rebound` prints for this command line.
fn policy(test: Test) -> Value {
    let (out, _dir) = test.run();
    serde_json::from_slice(&out.stdout).expect("the policy is JSON")
}

/// The policy of a runbook given as text, in account `ACCOUNT`.
fn policy_of_text(text: &str) -> Value {
    policy(
        Test::new()
            .file("t.runbook", text)
            .args(&["policy", "t.runbook", "--account", ACCOUNT]),
    )
}

fn statements(policy: &Value) -> &[Value] {
    policy["Statement"].as_array().expect("Statement is a list")
}

fn actions_of(statement: &Value) -> Vec<&str> {
    statement["Action"]
        .as_array()
        .expect("Action is a list")
        .iter()
        .map(|a| a.as_str().expect("an action is a string"))
        .collect()
}

fn actions(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .flat_map(|s| actions_of(s).into_iter().map(str::to_string))
        .collect()
}

/// The statements allowing an action that starts with `prefix` (`kms:`).
fn allowing<'a>(policy: &'a Value, prefix: &str) -> Vec<&'a Value> {
    statements(policy)
        .iter()
        .filter(|s| actions_of(s).iter().any(|a| a.starts_with(prefix)))
        .collect()
}

#[test]
fn example_policies() {
    insta::glob!("../../runbooks", "*.runbook", |path| {
        let file = path.to_str().expect("utf-8 path");
        let (out, _dir) = Test::new().args(&["policy", file]).run();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let policy: Value = serde_json::from_str(&text).expect("the policy is JSON");
        assert_eq!(policy["Version"], "2012-10-17");
        for action in actions(&policy) {
            assert!(!action.contains('*'), "{file}: wildcard action {action}");
        }
        insta::assert_snapshot!(text);
    });
}

/// The IAM action that authorizes an operation the report counts.
fn iam_action(op: &str) -> String {
    match op {
        "ListRecoveryPointsByBackupVault"
        | "StartRestoreJob"
        | "DescribeRestoreJob"
        | "ListRestoreJobs"
        | "GetRecoveryPointRestoreMetadata" => {
            format!("backup:{op}")
        }
        "DescribeInstanceInformation"
        | "SendCommand"
        | "ListCommands"
        | "ListCommandInvocations" => {
            format!("ssm:{op}")
        }
        _ => format!("ec2:{op}"),
    }
}

/// What a step of each action can make the AWS backend call, its teardown included. Listed
/// here on purpose, apart from the implementation.
fn may_call(action: Action) -> &'static [&'static str] {
    match action {
        Action::FindImage => &["ec2:DescribeImages"],
        Action::FindSnapshot => &["ec2:DescribeSnapshots"],
        Action::FindRecoveryPoint => &["backup:ListRecoveryPointsByBackupVault"],
        Action::Launch => &[
            "ec2:RunInstances",
            "ec2:CreateTags",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeInstances",
            "iam:PassRole",
            "ec2:TerminateInstances",
            "ec2:DetachVolume",
            "ec2:DeleteVolume",
        ],
        Action::Restore => &[
            "backup:StartRestoreJob",
            "backup:DescribeRestoreJob",
            "backup:ListRestoreJobs",
            "backup:GetRecoveryPointRestoreMetadata",
            "iam:PassRole",
            "ec2:CreateTags",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeInstances",
            "ec2:DescribeVolumes",
            "ec2:TerminateInstances",
            "ec2:ModifyInstanceAttribute",
            "ec2:DetachVolume",
            "ec2:DeleteVolume",
        ],
        Action::CreateVolume => &[
            "ec2:CreateVolume",
            "ec2:CreateTags",
            "ec2:DescribeVolumes",
            "ec2:DescribeVolumeStatus",
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "ec2:DetachVolume",
            "ec2:DeleteVolume",
        ],
        Action::Attach => &["ec2:AttachVolume", "ec2:DescribeVolumes"],
        Action::Verify => &[
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeInstances",
            "ssm:SendCommand",
            "ssm:DescribeInstanceInformation",
            "ssm:ListCommands",
            "ssm:ListCommandInvocations",
            "ssm:GetCommandInvocation",
        ],
        Action::RunCommand => &[
            "ssm:SendCommand",
            "ssm:DescribeInstanceInformation",
            "ssm:ListCommands",
            "ssm:ListCommandInvocations",
            "ssm:GetCommandInvocation",
        ],
        Action::CreateImage => &[
            "ec2:CreateImage",
            "ec2:CreateTags",
            "ec2:DescribeImages",
            "ec2:DeregisterImage",
            "ec2:DeleteSnapshot",
            "ssm:SendCommand",
            "ssm:DescribeInstanceInformation",
            "ssm:ListCommands",
            "ssm:ListCommandInvocations",
            "ssm:GetCommandInvocation",
        ],
        Action::CopyImage => &[
            "ec2:CopyImage",
            "ec2:CreateTags",
            "ec2:DescribeImages",
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "ec2:DeregisterImage",
            "ec2:DeleteSnapshot",
        ],
        Action::CopySnapshot => &[
            "ec2:CopySnapshot",
            "ec2:CreateTags",
            "ec2:DescribeSnapshots",
            "kms:CreateGrant",
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:GenerateDataKeyWithoutPlaintext",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "ec2:DeleteSnapshot",
        ],
        Action::Tag => &["ec2:CreateTags"],
        Action::Approve | Action::Exec | Action::Wait => &[],
    }
}

/// What every run may call: the account for the report, and teardown's lookups by tag.
const EVERY_RUN: &[&str] = &[
    "sts:GetCallerIdentity",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
];

/// What an isolated drill's own security group needs (`isolation = "sandbox"`).
const ISOLATION: &[&str] = &[
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:DeleteSecurityGroup",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
];

/// What preflight may ask before a run, by what the runbook names: its subnets, security
/// groups, key pairs and instance profiles.
const PREFLIGHT: &[&str] = &[
    "ec2:DescribeSubnets",
    "ec2:DescribeInstanceTypeOfferings",
    "sts:DecodeAuthorizationMessage",
    "iam:SimulatePrincipalPolicy",
    "iam:GetRole",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeKeyPairs",
    "iam:GetInstanceProfile",
];

/// The API calls, by operation, of a drill of the runbook on the simulator.
fn drill_calls(path: &str, rb: &Runbook) -> Map<String, Value> {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let mut args = vec!["run", path, "--drill", "--seed", "7", "--report-dir", "out"];
    // No person at a terminal here to approve.
    if rb.steps.iter().any(|s| s.action == Action::Approve) {
        args.push("--approve");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rebound"))
        .args(&args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("REBOUND_STATE_DIR", dir.path().join("state"))
        .env("REBOUND_HISTORY", dir.path().join("history.sqlite"))
        .output()
        .expect("run rebound");
    let context = format!(
        "rebound {}\n--- status: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // 3 is a missed target: every step still ran, which is all this test needs.
    assert!(matches!(out.status.code(), Some(0 | 3)), "{context}");
    let report = common::report(dir.path());
    assert_eq!(report["outcome"], "succeeded", "{context}");
    report["api_calls"]
        .as_object()
        .expect("api_calls is an object")
        .clone()
}

#[test]
fn the_policy_allows_every_call_a_drill_makes_and_nothing_the_steps_cannot_call() {
    for name in [
        "web-tier",
        "backup-restore",
        "region-recovery",
        "earn-safe-drill",
    ] {
        let path = common::example(name);
        let rb = runbook::load(Path::new(&path), &[]).expect("the example checks");
        let allowed = actions(&policy(Test::new().args(&["policy", &path])));

        let calls = drill_calls(&path, &rb);
        assert!(!calls.is_empty(), "{name}: a drill that calls nothing");
        for (op, count) in &calls {
            let action = iam_action(op);
            assert!(
                allowed.contains(&action),
                "{name}: a drill called {op} ({count} times) but the policy lacks {action}"
            );
        }

        let possible: BTreeSet<&str> = rb
            .steps
            .iter()
            .flat_map(|s| may_call(s.action).iter().copied())
            .chain(EVERY_RUN.iter().copied())
            .chain(PREFLIGHT.iter().copied())
            .chain(ISOLATION.iter().copied().filter(|_| rb.isolation))
            .collect();
        for action in &allowed {
            assert!(
                possible.contains(action.as_str()),
                "{name}: the policy allows {action}, which no step of the runbook calls"
            );
        }
    }
}

const VOLUME: &str = r#"runbook "k" {
  region = "eu-west-1"
  step snap = find_snapshot { tags = { Volume = "data" } }
  step host = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"] }
  step disk = create_volume { snapshot = snap.id, zone = host.zone, kms_key = "KEY" }
}
"#;

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

#[test]
fn a_volume_key_gets_kms_on_that_key_only() {
    let arn = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{KEY_ID}");
    // Named by ARN or by id, the key is the same.
    for key in [arn.as_str(), KEY_ID] {
        let p = policy_of_text(&VOLUME.replace("KEY", key));
        let kms = allowing(&p, "kms:");
        // What EBS does with the key, through EC2 only; and preflight's own DescribeKey of it,
        // asked directly (no kms:ViaService), of nothing else.
        assert_eq!(kms.len(), 2, "{p:#}");
        assert_eq!(kms[1]["Sid"], "PreflightKeys", "{p:#}");
        assert_eq!(kms[1]["Action"], json!(["kms:DescribeKey"]), "{p:#}");
        assert_eq!(kms[1]["Resource"], json!([arn]), "{p:#}");
        assert!(kms[1].get("Condition").is_none(), "{p:#}");
        assert_eq!(kms[0]["Resource"], json!([arn]), "{p:#}");
        assert_eq!(
            kms[0]["Action"],
            json!([
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo"
            ])
        );
        assert_eq!(
            kms[0]["Condition"]["StringLike"]["kms:ViaService"],
            "ec2.eu-west-1.amazonaws.com"
        );
    }
    let unencrypted = policy_of_text(&VOLUME.replace(", kms_key = \"KEY\"", ""));
    assert!(allowing(&unencrypted, "kms:").is_empty(), "{unencrypted:#}");
}

#[test]
fn only_runbooks_with_backup_steps_get_backup_actions() {
    for name in [
        "web-tier",
        "backup-restore",
        "region-recovery",
        "earn-safe-drill",
    ] {
        let path = common::example(name);
        let rb = runbook::load(Path::new(&path), &[]).expect("the example checks");
        let uses_backup = rb
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::Restore | Action::FindRecoveryPoint));
        let p = policy(Test::new().args(&["policy", &path]));
        assert_eq!(
            !allowing(&p, "backup:").is_empty(),
            uses_backup,
            "{name}: {p:#}"
        );
    }
}

#[test]
fn pass_role_only_for_the_roles_a_runbook_names_and_only_to_their_service() {
    let web =
        policy(Test::new().args(&["policy", &common::example("web-tier"), "--account", ACCOUNT]));
    assert!(allowing(&web, "iam:").is_empty(), "{web:#}");

    let profile = policy_of_text(
        r#"runbook "p" {
  region = "us-east-1"
  step web = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"], instance_profile = "web-profile" }
}
"#,
    );
    let restore = policy(Test::new().args(&[
        "policy",
        &common::example("backup-restore"),
        "--account",
        ACCOUNT,
    ]));
    for (p, role, service) in [
        (&profile, "web-profile", "ec2.amazonaws.com"),
        (
            &restore,
            "AWSBackupDefaultServiceRole",
            "backup.amazonaws.com",
        ),
    ] {
        let passes = allowing(p, "iam:PassRole");
        assert_eq!(passes.len(), 1, "{p:#}");
        assert_eq!(passes[0]["Action"], json!(["iam:PassRole"]));
        assert_eq!(
            passes[0]["Resource"],
            json!([format!("arn:aws:iam::{ACCOUNT}:role/{role}")])
        );
        assert_eq!(
            passes[0]["Condition"],
            json!({ "StringEquals": { "iam:PassedToService": service } })
        );
    }
}

#[test]
fn an_assumed_role_is_named_and_bad_flags_are_bad_input() {
    Test::new()
        .file(
            "r.runbook",
            "runbook \"r\" {\n  role = \"arn:aws:iam::123456789012:role/Dr\"\n  step w = wait { duration = 1m }\n}\n",
        )
        .args(&["policy", "r.runbook"])
        .stderr("sts:AssumeRole")
        .run();
    Test::new()
        .args(&["policy", &common::example("web-tier"), "--account", "12"])
        .status(2)
        .stderr("not an AWS account id")
        .run();
    Test::new()
        .args(&["policy", &common::example("web-tier"), "--region", "mars"])
        .status(2)
        .stderr("not a region")
        .run();
}

#[test]
fn volumes_and_instances_named_by_id_are_allowed_by_their_own_arn_only() {
    let p = policy_of_text(
        r#"runbook "named" {
  region = "eu-west-1"
  step disk = attach { volume = "vol-0123456789abcdef0", instance = "i-0123456789abcdef0", device = "/dev/sdf" }
  step ami = create_image { instance = "i-0fedcba9876543210", name = "golden" }
}
"#,
    );
    let by_sid = |sid: &str| {
        statements(&p)
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}: {p:#}"))
    };
    let attach = by_sid("AttachNamed");
    assert_eq!(
        attach["Resource"],
        json!([
            "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0",
            "arn:aws:ec2:eu-west-1:123456789012:volume/vol-0123456789abcdef0"
        ])
    );
    assert!(attach.get("Condition").is_none(), "{attach}");
    let source = by_sid("ImageSourceNamed");
    assert_eq!(
        source["Resource"],
        json!(["arn:aws:ec2:eu-west-1:123456789012:instance/i-0fedcba9876543210"])
    );
    // Everything else attached or imaged must still carry the run's tag.
    assert_eq!(
        by_sid("Attach")["Condition"]["StringLike"]["aws:ResourceTag/rebound:run-id"],
        "*"
    );
    // Named by reference only: no named statement, and no note about restored instances.
    let web = policy(Test::new().args(&["policy", &common::example("web-tier")]));
    Test::new()
        .args(&["policy", &common::example("backup-restore")])
        .stderr("restoring lets this policy tag any instance")
        .run();
    assert!(
        statements(&web).iter().all(|s| s["Sid"] != "AttachNamed"),
        "{web:#}"
    );
}

/// Preflight asks whether what the runbook names exists: the policy allows exactly those
/// questions, an instance profile's on that profile only (with or without an IAM path).
#[test]
fn preflight_may_ask_for_what_the_runbook_names_and_nothing_else() {
    let p = policy_of_text(
        r#"runbook "p" {
  step web = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"], key_name = "ops", instance_profile = "web-profile" }
}
"#,
    );
    let get = allowing(&p, "iam:GetInstanceProfile");
    assert_eq!(get.len(), 1, "{p:#}");
    assert_eq!(get[0]["Action"], json!(["iam:GetInstanceProfile"]));
    assert_eq!(
        get[0]["Resource"],
        json!([
            format!("arn:aws:iam::{ACCOUNT}:instance-profile/*/web-profile"),
            format!("arn:aws:iam::{ACCOUNT}:instance-profile/web-profile"),
        ])
    );
    let allowed = actions(&p);
    for asked in ["ec2:DescribeSubnets", "ec2:DescribeKeyPairs"] {
        assert!(allowed.contains(asked), "{asked}: {p:#}");
    }
    // No security group is named: the runbook's policy does not ask about any.
    assert!(!allowed.contains("ec2:DescribeSecurityGroups"), "{p:#}");
}

/// `tag` may tag only what it names (a literal image by its ARN), with only its own keys and
/// rebound's mark: never `rebound:run-id`, which would hand the image to a teardown.
#[test]
fn a_tag_step_may_write_only_its_keys_on_what_it_names() {
    let (out, _dir) = Test::new()
        .file(
            "t.runbook",
            r#"runbook "t" {
  region = "eu-west-1"
  step mark = tag { images = ["ami-0abc"], tags = { Safe = "True" } }
}
"#,
        )
        .args(&["policy", "t.runbook", "--account", ACCOUNT])
        .run();
    let policy: Value = serde_json::from_slice(&out.stdout).expect("json");
    let statement = policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == "TagArtifacts")
        .cloned()
        .expect("the TagArtifacts statement");
    assert_eq!(statement["Action"], serde_json::json!(["ec2:CreateTags"]));
    assert_eq!(
        statement["Resource"],
        serde_json::json!(["arn:aws:ec2:eu-west-1::image/ami-0abc"])
    );
    assert_eq!(
        statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"],
        serde_json::json!(["Safe", "rebound:validated-at", "rebound:validated-by"])
    );
}
