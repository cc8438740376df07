//! Preflight's questions on the SDK's mocks, for the answers moto never gives: a DryRun refused
//! with `UnauthorizedOperation` and its encoded message, decoded through STS or not.

use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_instance_type_offerings::DescribeInstanceTypeOfferingsOutput;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_sdk_ec2::types::{Image, ImageState, InstanceType, InstanceTypeOffering, Subnet};
use aws_sdk_sts::operation::decode_authorization_message::DecodeAuthorizationMessageOutput;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};

use crate::cloud::Regions;
use crate::cloud::aws::Aws;
use crate::cloud::aws::tests::mocked;
use crate::cloud::latency::LatencyModel;
use crate::preflight::readiness::{Finding, Level, assess};
use crate::runbook::{self, Source};

const RUNBOOK: &str = r#"runbook "p" {
  step web = launch { image = "ami-0123", subnet = "subnet-0123", instance_types = ["m6i.large", "m5.large"], count = 2 }
}
"#;

fn account() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_ec2::Client::describe_subnets).then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(
                    Subnet::builder()
                        .subnet_id("subnet-0123")
                        .availability_zone("eu-west-1a")
                        .available_ip_address_count(1)
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
            DescribeImagesOutput::builder()
                .images(
                    Image::builder()
                        .image_id("ami-0123")
                        .state(ImageState::Available)
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ec2::Client::describe_instance_type_offerings).then_output(|| {
            DescribeInstanceTypeOfferingsOutput::builder()
                .instance_type_offerings(
                    InstanceTypeOffering::builder()
                        .instance_type(InstanceType::M5Large)
                        .location("eu-west-1a")
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ec2::Client::run_instances)
            .match_requests(|r| r.dry_run() == Some(true) && r.instance_type() == Some(&InstanceType::M5Large))
            .then_error(|| {
                RunInstancesError::generic(
                    ErrorMetadata::builder()
                        .code("UnauthorizedOperation")
                        .message("You are not authorized to perform this operation. Encoded authorization failure message: AbC123")
                        .build(),
                )
            }),
    ]
}

fn findings(aws: Aws) -> Vec<Finding> {
    let rb = runbook::check_source(&Source::new("p.runbook", RUNBOOK), &[]).expect("checks");
    block_on(assess(
        &Regions::new(aws, &[]),
        &rb,
        &LatencyModel::default(),
    ))
}

fn of<'f>(all: &'f [Finding], check: &str) -> Vec<&'f Finding> {
    all.iter().filter(|f| f.check == check).collect()
}

#[test]
fn a_refused_dry_run_is_an_error_naming_the_permission_decoded_where_sts_may() {
    let rules = account();
    let refs: Vec<&Rule> = rules.iter().collect();
    let decode = mock!(aws_sdk_sts::Client::decode_authorization_message)
        .match_requests(|r| r.encoded_message() == Some("AbC123"))
        .then_output(|| {
            DecodeAuthorizationMessageOutput::builder()
                .decoded_message(r#"{"allowed":false,"context":{"action":"ec2:RunInstances","resource":"arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0123"}}"#)
                .build()
        });
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, &refs), mocked!(aws_sdk_backup, &[]))
        .with_sts(mocked!(aws_sdk_sts, &[&decode]));
    let all = findings(aws);
    let permission = of(&all, "permission");
    assert_eq!(permission.len(), 1, "{all:#?}");
    assert_eq!(permission[0].level, Level::Error);
    assert!(
        permission[0].message.contains("ec2:RunInstances is not allowed")
            && permission[0].message.contains(
                "decoded: ec2:RunInstances on arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0123 is not allowed"
            ),
        "{}",
        permission[0].message
    );
    // The fallback type is said, and the addresses that are missing.
    let types = of(&all, "instance-type");
    assert_eq!(types[0].level, Level::Warning);
    assert!(
        types[0]
            .message
            .contains("m6i.large is not offered in eu-west-1a: the launch would use m5.large"),
        "{}",
        types[0].message
    );
    let addresses = of(&all, "addresses");
    assert_eq!(addresses[0].level, Level::Error);
    assert!(
        addresses[0]
            .message
            .contains("1 free addresses for 2 instances"),
        "{}",
        addresses[0].message
    );

    // Without sts:DecodeAuthorizationMessage the refusal is still an error, said so.
    let rules = account();
    let refs: Vec<&Rule> = rules.iter().collect();
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, &refs), mocked!(aws_sdk_backup, &[]));
    let all = findings(aws);
    let permission = of(&all, "permission");
    assert_eq!(permission[0].level, Level::Error);
    assert!(
        permission[0].message.contains("could not be decoded"),
        "{}",
        permission[0].message
    );
}

/// A runtime on the virtual clock, for one call of the backend.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    crate::testing::paused_runtime().block_on(f)
}

#[test]
fn the_restore_role_is_passable_as_the_simulator_answers_for_the_callers_own_role() {
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
    use aws_sdk_iam::primitives::DateTime;
    use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType, Role};
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;

    const RESTORE: &str = "arn:aws:iam::123456789012:role/backup-restore";
    // The caller is an assumed role: simulated as the role, with its path, not as the session.
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        GetCallerIdentityOutput::builder()
            .account("123456789012")
            .arn("arn:aws:sts::123456789012:assumed-role/DrRunner/drill-1")
            .build()
    });
    let role = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("DrRunner"))
        .then_output(|| {
            GetRoleOutput::builder()
                .role(
                    Role::builder()
                        .path("/ops/")
                        .role_name("DrRunner")
                        .role_id("AROA0")
                        .arn("arn:aws:iam::123456789012:role/ops/DrRunner")
                        .create_date(DateTime::from_secs(0))
                        .build()
                        .expect("role"),
                )
                .build()
        });
    let answer = |decision: PolicyEvaluationDecisionType| {
        move || {
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(
                    EvaluationResult::builder()
                        .eval_action_name("iam:PassRole")
                        .eval_resource_name(RESTORE)
                        .eval_decision(decision.clone())
                        .build()
                        .expect("result"),
                )
                .build()
        }
    };
    let asked_right =
        |r: &aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyInput| {
            r.policy_source_arn() == Some("arn:aws:iam::123456789012:role/ops/DrRunner")
                && r.action_names() == ["iam:PassRole"]
                && r.resource_arns() == [RESTORE]
        };
    let allowed = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(asked_right)
        .then_output(answer(PolicyEvaluationDecisionType::Allowed));
    let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(asked_right)
        .then_output(answer(PolicyEvaluationDecisionType::ImplicitDeny));

    let on = |simulated: &Rule| {
        Aws::from_clients(mocked!(aws_sdk_ec2, &[]), mocked!(aws_sdk_backup, &[]))
            .with_sts(mocked!(aws_sdk_sts, &[&identity]))
            .with_iam(mocked!(aws_sdk_iam, &[&role, simulated]))
    };
    assert_eq!(
        block_on(on(&allowed).simulate_pass(RESTORE)).expect("asked"),
        Some(true)
    );
    assert_eq!(
        block_on(on(&denied).simulate_pass(RESTORE)).expect("asked"),
        Some(false)
    );
    // Without IAM nothing is asked, and preflight says so rather than guessing.
    let no_iam = Aws::from_clients(mocked!(aws_sdk_ec2, &[]), mocked!(aws_sdk_backup, &[]))
        .with_sts(mocked!(aws_sdk_sts, &[&identity]));
    assert_eq!(
        block_on(no_iam.simulate_pass(RESTORE)).expect("asked"),
        None
    );
}

#[test]
fn a_kms_key_counts_only_when_kms_finds_it_enabled_and_symmetric() {
    use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
    use aws_sdk_kms::types::error::NotFoundException;
    use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState};

    use crate::cloud::{Cloud, Named};

    let key = |id: &'static str, state: KeyState, spec: KeySpec| {
        mock!(aws_sdk_kms::Client::describe_key)
            .match_requests(move |r| r.key_id() == Some(id))
            .then_output(move || {
                DescribeKeyOutput::builder()
                    .key_metadata(
                        KeyMetadata::builder()
                            .key_id("1234abcd")
                            .key_state(state.clone())
                            .key_spec(spec.clone())
                            .build()
                            .expect("metadata"),
                    )
                    .build()
            })
    };
    let ebs = key("alias/ebs", KeyState::Enabled, KeySpec::SymmetricDefault);
    let off = key("alias/off", KeyState::Disabled, KeySpec::SymmetricDefault);
    let going = key(
        "alias/going",
        KeyState::PendingDeletion,
        KeySpec::SymmetricDefault,
    );
    let rsa = key("alias/rsa", KeyState::Enabled, KeySpec::Rsa2048);
    let gone = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/gone"))
        .then_error(|| {
            DescribeKeyError::NotFoundException(
                NotFoundException::builder()
                    .message("Alias arn:aws:kms:eu-west-1:123456789012:alias/gone is not found.")
                    .meta(
                        aws_sdk_kms::error::ErrorMetadata::builder()
                            .code("NotFoundException")
                            .build(),
                    )
                    .build(),
            )
        });
    let denied = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/secret"))
        .then_error(|| {
            DescribeKeyError::generic(
                aws_sdk_kms::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: kms:DescribeKey")
                    .build(),
            )
        });
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, &[]), mocked!(aws_sdk_backup, &[])).with_kms(
        mocked!(aws_sdk_kms, &[&ebs, &off, &going, &rsa, &gone, &denied]),
    );
    let ids: Vec<String> = [
        "alias/ebs",
        "alias/off",
        "alias/going",
        "alias/rsa",
        "alias/gone",
    ]
    .map(str::to_string)
    .to_vec();
    assert_eq!(
        block_on(aws.existing(Named::KmsKey, &ids)).expect("asked"),
        ["alias/ebs"]
    );
    // A key the caller may not describe is not "missing": the question could not be asked.
    let e =
        block_on(aws.existing(Named::KmsKey, &["alias/secret".to_string()])).expect_err("refused");
    assert_eq!(e.code, "AccessDeniedException");
}
