//! The least-privilege IAM policy of a runbook (`rebound policy`). Whoever runs drills must give
//! rebound credentials, and "it restores things, give it admin" is the first thing an auditor
//! flags. The AWS backend makes a small, known set of calls per action (`cloud::aws`), so the
//! policy follows from the checked runbook alone: exactly the actions its steps and a drill's
//! teardown can call, on the narrowest resources the runbook lets us name (a literal id becomes
//! its ARN), with everything rebound creates, changes or deletes confined by its
//! `rebound:run-id` tag. Each action says what it needs (`Definition::statements`); this
//! module adds what every run needs and assembles the policy. No I/O; it cannot fail.

pub mod builder;

pub use builder::{Policy, Scope, Sid, Statement, VERSION};

use crate::cloud::Named;
use crate::runbook::checked::Runbook;
use builder::{ANY, Builder};

/// The policy for every call a run of `rb` makes on the AWS backend, and a drill's teardown.
pub fn build(rb: &Runbook, scope: &Scope) -> Policy {
    let tag_keys = rb.tags.keys().cloned().collect();
    let mut b = Builder::new(scope.clone(), tag_keys);
    // The report's account. STS answers GetCallerIdentity whatever the policy says; it is
    // listed so that the policy reads as the whole list of calls.
    b.allow(Sid::Identity, &["sts:GetCallerIdentity"], [ANY.to_string()]);
    // Teardown looks up every kind of resource by the run's tag, whatever the runbook makes:
    // a resource created in the instant before a crash has no journal record, only its tag.
    b.describe(&[
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
    ]);
    for step in &rb.steps {
        // A step in a region of its own is allowed there.
        let region = step.region.clone();
        b.in_region(region.as_deref(), |b| {
            step.action.statements(b, &step.fields);
        });
    }
    preflight(&mut b, rb);
    if rb.isolation {
        sandbox(&mut b);
    }
    Policy {
        version: VERSION,
        statement: b.finish(),
    }
}

/// An isolated drill's security groups (`exec::sandbox`): made only tagged as a run's, their
/// rules set and the groups deleted only on groups that carry a run's tag. `run --isolate`
/// of a runbook without `isolation = "sandbox"` needs these too: set it in the runbook.
fn sandbox(b: &mut Builder) {
    use crate::policy::builder::{request_tagged, resource_tagged};
    let scope = b.scope().clone();
    let group = scope.ec2("security-group", ANY);
    b.allow(Sid::Sandbox, &["ec2:CreateSecurityGroup"], [group.clone()])
        .when(request_tagged());
    b.allow(
        Sid::Sandbox,
        &["ec2:CreateSecurityGroup"],
        [scope.ec2("vpc", ANY)],
    );
    b.tag_on_create("CreateSecurityGroup", [group.clone()]);
    b.allow(
        Sid::SandboxRules,
        &[
            "ec2:RevokeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:AuthorizeSecurityGroupEgress",
        ],
        [group.clone()],
    )
    .when(resource_tagged());
    b.describe(&["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets"]);
    b.teardown(&["ec2:DeleteSecurityGroup"], [group]);
}

/// Preflight asks whether what the runbook names exists before a run makes anything
/// (`crate::preflight`); instances, volumes, images and snapshots are asked with the Describe
/// calls every run has.
fn preflight(b: &mut Builder, rb: &Runbook) {
    let mut profiles = Vec::new();
    for r in crate::preflight::named::references(rb) {
        match r.kind {
            Named::Subnet => b.describe(&["ec2:DescribeSubnets"]),
            Named::SecurityGroup => b.describe(&["ec2:DescribeSecurityGroups"]),
            Named::KeyPair => b.describe(&["ec2:DescribeKeyPairs"]),
            // By its own ARN when given one; by name, with or without an IAM path.
            Named::InstanceProfile if r.id.starts_with("arn:") => profiles.push(r.id.clone()),
            Named::InstanceProfile => {
                let name = crate::cloud::instance_profile_name(&r.id);
                profiles.push(b.scope().instance_profile(name));
                profiles.push(b.scope().instance_profile(&format!("*/{name}")));
            }
            // In the step's region: a copy's key is the destination's.
            Named::KmsKey => b.in_region(r.region.as_deref(), |b| b.describe_key(&r.id)),
            Named::Resource(_) => {}
        }
    }
    if !profiles.is_empty() {
        b.allow(Sid::Preflight, &["iam:GetInstanceProfile"], profiles);
    }
    // `rebound preflight`: a launch's subnet and the types its zone offers; its DryRun calls
    // need what the real calls need, which the steps' statements allow; an encoded refusal is
    // decoded where this allows it.
    if rb.steps.iter().any(|s| {
        matches!(
            s.action,
            crate::action::Action::Launch | crate::action::Action::Restore
        )
    }) {
        b.describe(&["ec2:DescribeSubnets", "ec2:DescribeInstanceTypeOfferings"]);
    }
    b.describe(&["sts:DecodeAuthorizationMessage"]);
    // Whether the restore role may be passed: IAM's policy simulator, on the caller's own
    // principal (a role, read with GetRole, or a user).
    if rb
        .steps
        .iter()
        .any(|s| s.action == crate::action::Action::Restore)
    {
        let scope = b.scope().clone();
        b.allow(
            Sid::Preflight,
            &["iam:SimulatePrincipalPolicy", "iam:GetRole"],
            [
                scope.role(ANY),
                format!("arn:aws:iam::{}:user/*", scope.account),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::{self, Source};

    fn policy(text: &str) -> Policy {
        let source = Source::new("t.runbook", text);
        match runbook::check_source(&source, &[]) {
            Ok(rb) => build(
                &rb,
                &Scope {
                    account: "123456789012".into(),
                    region: "eu-west-1".into(),
                },
            ),
            Err(e) => panic!("{}", e.render(runbook::diagnostic::Style::Plain)),
        }
    }

    fn sids(p: &Policy) -> Vec<Sid> {
        p.statement.iter().map(|s| s.sid).collect()
    }

    const ALL_CREATES: &str = r#"runbook "t" {
  step host = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"] }
  step disk = create_volume { snapshot = "snap-0abc", zone = host.zone }
  step img = create_image { instance = host.instance }
}
"#;

    #[test]
    fn a_runbook_without_aws_steps_needs_its_identity_and_teardown_lookups_only() {
        let p = policy("runbook \"w\" {\n  step w = wait { duration = 1m }\n}\n");
        assert_eq!(sids(&p), [Sid::Identity, Sid::Discover]);
    }

    #[test]
    fn named_references_become_arns_and_outputs_every_resource() {
        let p = policy(
            r#"runbook "l" {
  step img = find_image { tags = { App = "web" } }
  step a = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"], security_groups = ["sg-0abc"], key_name = "ops" }
  step b = launch { image = img.id, subnet = "subnet-0abc", instance_types = ["m5.large"] }
}
"#,
        );
        let used: Vec<&str> = p
            .statement(Sid::LaunchReferences)
            .expect("references")
            .resource
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            used,
            [
                "arn:aws:ec2:eu-west-1:123456789012:key-pair/ops",
                "arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
                // `b` names no group: its VPC's default.
                "arn:aws:ec2:eu-west-1:123456789012:security-group/*",
                "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0abc",
                "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0abc",
                "arn:aws:ec2:eu-west-1::image/*",
                "arn:aws:ec2:eu-west-1::image/ami-0abc",
            ]
        );
        let launch = p.statement(Sid::Launch).expect("launch");
        assert!(launch.condition["StringLike"].contains_key("aws:RequestTag/rebound:run-id"));
        assert!(p.statement(Sid::PassRoleToEc2).is_none());
    }

    #[test]
    fn tags_on_create_are_confined_to_the_create_calls() {
        let p = policy(ALL_CREATES);
        let tagging = p.statement(Sid::TagOnCreate).expect("tag on create");
        let json = serde_json::to_value(&tagging.condition).expect("json");
        assert_eq!(
            json["StringEquals"]["ec2:CreateAction"],
            serde_json::json!(["CreateImage", "CreateVolume", "RunInstances"])
        );
        assert_eq!(
            sids(&p),
            [
                Sid::Identity,
                Sid::Discover,
                Sid::Launch,
                Sid::LaunchReferences,
                Sid::TagOnCreate,
                Sid::Volumes,
                Sid::VolumeSources,
                Sid::Image,
                Sid::ImageSource,
                Sid::Teardown,
            ]
        );
    }

    #[test]
    fn a_key_named_by_alias_is_matched_through_its_aliases() {
        let p = policy(
            r#"runbook "k" {
  step disk = create_volume { snapshot = "snap-0abc", zone = "eu-west-1a", kms_key = "alias/ebs" }
}
"#,
        );
        assert!(p.statement(Sid::Kms).is_none());
        let kms = p.statement(Sid::KmsByAlias).expect("kms by alias");
        let json = serde_json::to_value(kms).expect("json");
        assert_eq!(
            json["Resource"],
            serde_json::json!(["arn:aws:kms:eu-west-1:123456789012:key/*"])
        );
        assert_eq!(
            json["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/ebs"
        );
        assert_eq!(
            json["Condition"]["StringLike"]["kms:ViaService"],
            "ec2.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn the_policy_is_deterministic_and_names_every_action() {
        let once = serde_json::to_string(&policy(ALL_CREATES)).expect("json");
        let again = serde_json::to_string(&policy(ALL_CREATES)).expect("json");
        assert_eq!(once, again);
        let p = policy(ALL_CREATES);
        assert!(p.actions().iter().all(|a| !a.contains('*')));
        assert!(p.actions().iter().all(|a| !a.starts_with("kms:")));
    }
}
