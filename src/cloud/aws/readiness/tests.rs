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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(assess(
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
