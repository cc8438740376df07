//! The AWS backend's handling of what moto cannot do, on the SDK's own mocks
//! (aws-smithy-mocks): AWS Backup recovery points and restore jobs, throttling then success,
//! capacity fallback, the idempotency token on every create, and what each error code leads
//! to (retried, another instance type, or a failed step).

use std::cell::RefCell;
use std::time::Duration;

use aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput;
use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
use aws_sdk_backup::operation::start_restore_job::{StartRestoreJobError, StartRestoreJobOutput};
use aws_sdk_backup::types::error::InvalidParameterValueException;
use aws_sdk_backup::types::{RecoveryPointByBackupVault, RecoveryPointStatus, RestoreJobStatus};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::describe_instance_status::DescribeInstanceStatusOutput;
use aws_sdk_ec2::operation::run_instances::{RunInstancesError, RunInstancesOutput};
use aws_sdk_ec2::types::{
    Instance, InstanceState, InstanceStateName, InstanceStatus, InstanceStatusSummary, Placement,
    SummaryStatus,
};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use futures::FutureExt as _;

use super::Aws;
use crate::cloud::Op;
use crate::cloud::latency::LatencyModel;
use crate::exec::{self, Event, Options, Outcome, RunRecord, StepRecord, timings};
use crate::plan::Plan;
use crate::runbook::{self, Source};

/// A client of `$crate` answering from `rules` (aws-smithy-mocks' `mock_client!` wants a newer
/// SDK than the one our MSRV resolves, so the same construction by hand).
macro_rules! mocked {
    ($aws_crate:ident, $rules:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        let rules: &[&Rule] = $rules;
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        $aws_crate::Client::from_conf(
            $aws_crate::config::Config::builder()
                .with_test_defaults()
                .region($aws_crate::config::Region::new("eu-west-1"))
                .http_client(create_mock_http_client())
                .interceptor(interceptor)
                .build(),
        )
    }};
}
pub(super) use mocked;

fn time(secs: i64) -> aws_sdk_backup::primitives::DateTime {
    aws_sdk_backup::primitives::DateTime::from_secs(secs)
}

/// An instance that is running with both status checks ok.
fn healthy(id: &str) -> InstanceStatus {
    let ok = || {
        InstanceStatusSummary::builder()
            .status(SummaryStatus::Ok)
            .build()
    };
    InstanceStatus::builder()
        .instance_id(id)
        .availability_zone("eu-west-1a")
        .instance_state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .build(),
        )
        .system_status(ok())
        .instance_status(ok())
        .build()
}

/// DescribeInstanceStatus answering that these instances run with both checks ok.
fn running(ids: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instance_status).then_output(move || {
        ids.iter()
            .fold(DescribeInstanceStatusOutput::builder(), |b, id| {
                b.instance_statuses(healthy(id))
            })
            .build()
    })
}

/// A one-step runbook, `step web = launch { ... }` with these instance types and `extra`
/// fields, run on EC2 answering from `rules` (and no AWS Backup): the step's record.
fn launch_on(rules: &[&Rule], types: &str, extra: &str) -> StepRecord {
    let ec2 = mocked!(aws_sdk_ec2, rules);
    let backup = mocked!(aws_sdk_backup, &[]);
    let (rb, record) = run(
        &format!(
            "runbook \"l\" {{\n  step web = launch {{ image = \"ami-0123\", subnet = \"subnet-0123\", instance_types = {types}{extra} }}\n}}\n"
        ),
        Aws::from_clients(ec2, backup),
    );
    record.steps[rb.step_named("web").expect("web")].clone()
}

use crate::testing::paused_runtime;

/// Runs a runbook on the given mocked clients, on a paused clock.
fn run(text: &str, aws: Aws) -> (runbook::Runbook, RunRecord) {
    run_journaled(text, aws, &crate::exec::journal::Journal::memory())
}

/// The same, with a journal of what earlier processes did (run `mock-run`).
pub(super) fn run_journaled(
    text: &str,
    aws: Aws,
    journal: &crate::exec::journal::Journal,
) -> (runbook::Runbook, RunRecord) {
    let rb = runbook::check_source(&Source::new("t.runbook", text), &[]).expect("checks");
    let plan = Plan::new(&rb, &LatencyModel::default());
    let approve = |_: &str| async { Err("no".to_string()) }.boxed_local();
    let opts = Options {
        run_id: "mock-run".into(),
        t0: None,
        parallelism: 64,
        model: LatencyModel::default(),
        tick: Duration::from_secs(1),
        approve: &approve,
        journal,
        prior: None,
        sandbox: None,
    };
    let runtime = paused_runtime();
    let events = RefCell::new(Vec::new());
    let clouds = crate::cloud::Regions::new(aws, &rb.regions());
    let record = runtime.block_on(exec::execute(
        &plan,
        &clouds,
        &opts,
        &|e: &Event| events.borrow_mut().push(e.clone()),
        std::future::pending(),
    ));
    (rb, record)
}

#[test]
fn a_restore_job_from_the_newest_completed_recovery_point() {
    let list =
        mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault).then_output(|| {
            let point = |arn: &str, status: RecoveryPointStatus, created: i64| {
                RecoveryPointByBackupVault::builder()
                    .recovery_point_arn(arn)
                    .status(status)
                    .creation_date(time(created))
                    .resource_arn("arn:aws:ec2:eu-west-1:123456789012:instance/i-0source")
                    .resource_type("EC2")
                    .build()
            };
            ListRecoveryPointsByBackupVaultOutput::builder()
                .recovery_points(point(
                    "arn:aws:ec2:eu-west-1::image/ami-0old",
                    RecoveryPointStatus::Completed,
                    1_700_000_000,
                ))
                .recovery_points(point(
                    "arn:aws:ec2:eu-west-1::image/ami-0new",
                    RecoveryPointStatus::Completed,
                    1_700_086_400,
                ))
                .recovery_points(point(
                    "arn:aws:ec2:eu-west-1::image/ami-0partial",
                    RecoveryPointStatus::Partial,
                    1_700_090_000,
                ))
                .build()
        });
    // The point's own configuration first (AWS's documented restore), from its vault.
    let metadata = mock!(aws_sdk_backup::Client::get_recovery_point_restore_metadata)
        .match_requests(|r| {
            r.backup_vault_name() == Some("nightly")
                && r.recovery_point_arn() == Some("arn:aws:ec2:eu-west-1::image/ami-0new")
        })
        .then_output(|| {
            aws_sdk_backup::operation::get_recovery_point_restore_metadata::GetRecoveryPointRestoreMetadataOutput::builder()
                .restore_metadata("IamInstanceProfileName", "billing")
                .restore_metadata("SubnetId", "subnet-0original")
                .restore_metadata("NetworkInterfaces", "[{\"SubnetId\":\"subnet-0original\"}]")
                .build()
        });
    // ... then the step's overrides: its subnet wins, and the original's network interfaces,
    // which RunInstances refuses alongside a subnet, are left out.
    let start = mock!(aws_sdk_backup::Client::start_restore_job)
        .match_requests(|r| {
            let m = r.metadata().cloned().unwrap_or_default();
            r.recovery_point_arn() == Some("arn:aws:ec2:eu-west-1::image/ami-0new")
                && r.idempotency_token()
                    .is_some_and(|t| t.starts_with("rebound-"))
                && m.get("SubnetId").map(String::as_str) == Some("subnet-0restore")
                && m.get("IamInstanceProfileName").map(String::as_str) == Some("billing")
                && !m.contains_key("NetworkInterfaces")
        })
        .then_output(|| {
            StartRestoreJobOutput::builder()
                .restore_job_id("job-1")
                .build()
        });
    let describe = mock!(aws_sdk_backup::Client::describe_restore_job).then_output(|| {
        DescribeRestoreJobOutput::builder()
            .restore_job_id("job-1")
            .status(RestoreJobStatus::Completed)
            .created_resource_arn("arn:aws:ec2:eu-west-1:123456789012:instance/i-0restored")
            .build()
    });
    let status = running(&["i-0restored"]);
    // Its volumes, by the instance they are attached to (AWS Backup tags none of them).
    let volumes = mock!(aws_sdk_ec2::Client::describe_volumes)
        .match_requests(|r| {
            r.filters().iter().any(|f| {
                f.name() == Some("attachment.instance-id") && f.values() == ["i-0restored"]
            })
        })
        .then_output(|| {
            aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput::builder()
                .volumes(
                    aws_sdk_ec2::types::Volume::builder()
                        .volume_id("vol-0root")
                        .availability_zone("eu-west-1a")
                        .state(aws_sdk_ec2::types::VolumeState::InUse)
                        .build(),
                )
                .build()
        });
    // The job's instance and its volume are tagged as the run's, so resume and teardown know
    // them.
    let tag = mock!(aws_sdk_ec2::Client::create_tags)
        .match_requests(|r| {
            (r.resources() == ["i-0restored"] || r.resources() == ["vol-0root"])
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some("rebound:run-id") && t.value() == Some("mock-run"))
        })
        .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
    let backup = mocked!(aws_sdk_backup, &[&list, &metadata, &start, &describe]);
    let ec2 = mocked!(aws_sdk_ec2, &[&status, &tag, &volumes]);
    let (rb, record) = run(
        r#"runbook "b" {
  step point = find_recovery_point { vault = "nightly", resource_type = "EC2" }
  step server = restore { recovery_point = point.arn, vault = point.vault, role = "arn:aws:iam::123456789012:role/Restore", subnet = "subnet-0restore" }
  step ok = verify { instances = server.instances, checks = ["running", "status_ok"] }
}
"#,
        Aws::from_clients(ec2, backup),
    );
    let step = |name: &str| &record.steps[rb.step_named(name).expect("step")];
    assert_eq!(step("point").outputs["image_id"], "ami-0new");
    assert_eq!(
        step("point").rejected.len(),
        2,
        "the partial and the older point were passed over"
    );
    assert_eq!(step("server").outputs["instance"], "i-0restored");
    assert_eq!(step("ok").outcome, Some(Outcome::Succeeded));
    assert_eq!(metadata.num_calls(), 1);
    assert_eq!(start.num_calls(), 1);
    assert_eq!(tag.num_calls(), 2, "the instance and its volume");
    let made: Vec<&str> = step("server")
        .created
        .iter()
        .map(|(c, _)| c.id.as_str())
        .collect();
    assert_eq!(made, ["i-0restored", "vol-0root"]);
    assert_eq!(timings::compute(&rb, &record).outcome, Outcome::Succeeded);
}

fn capacity_error() -> RunInstancesError {
    RunInstancesError::generic(
        ErrorMetadata::builder()
            .code("InsufficientInstanceCapacity")
            .message("We currently do not have sufficient m6i.large capacity.")
            .build(),
    )
}

fn launched(id: &str) -> RunInstancesOutput {
    RunInstancesOutput::builder()
        .instances(
            Instance::builder()
                .instance_id(id)
                .private_ip_address("10.0.0.9")
                .placement(Placement::builder().availability_zone("eu-west-1a").build())
                .build(),
        )
        .build()
}

#[test]
fn launch_falls_back_on_capacity_and_sends_a_token_every_time() {
    let no_capacity = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| {
            r.instance_type()
                .map(aws_sdk_ec2::types::InstanceType::as_str)
                == Some("m6i.large")
        })
        .then_error(capacity_error);
    let fallback = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| {
            r.instance_type()
                .map(aws_sdk_ec2::types::InstanceType::as_str)
                == Some("m5.large")
                && r.client_token().is_some_and(|t| t.starts_with("rebound-"))
                && r.tag_specifications().iter().any(|s| {
                    s.tags()
                        .iter()
                        .any(|t| t.key() == Some("rebound:run-id") && t.value() == Some("mock-run"))
                })
        })
        .then_output(|| launched("i-0fallback"));
    let status = running(&["i-0fallback"]);
    let web = &launch_on(
        &[&no_capacity, &fallback, &status],
        r#"["m6i.large", "m5.large"]"#,
        "",
    );
    assert_eq!(web.outcome, Some(Outcome::Succeeded), "{:?}", web.error);
    assert_eq!(web.outputs["instance_type"], "m5.large");
    assert_eq!(no_capacity.num_calls(), 1);
    assert_eq!(fallback.num_calls(), 1);
}

/// RunInstances takes an instance profile by name or by ARN, each in its own field.
#[test]
fn an_instance_profile_goes_by_name_or_by_arn() {
    for (given, name, arn) in [
        ("web", Some("web"), None),
        (
            "arn:aws:iam::123456789012:instance-profile/web",
            None,
            Some("arn:aws:iam::123456789012:instance-profile/web"),
        ),
    ] {
        let launch = mock!(aws_sdk_ec2::Client::run_instances)
            .match_requests(move |r| {
                r.iam_instance_profile()
                    .is_some_and(|p| p.name() == name && p.arn() == arn)
            })
            .then_output(|| launched("i-0profiled"));
        let status = running(&["i-0profiled"]);
        let extra = format!(", instance_profile = \"{given}\"");
        let web = &launch_on(&[&launch, &status], r#"["m5.large"]"#, &extra);
        assert_eq!(
            web.outcome,
            Some(Outcome::Succeeded),
            "{given}: {:?}",
            web.error
        );
        assert_eq!(launch.num_calls(), 1, "{given}");
    }
}

#[test]
fn throttling_then_success() {
    let throttled = mock!(aws_sdk_ec2::Client::run_instances)
        .sequence()
        .error(|| {
            RunInstancesError::generic(
                ErrorMetadata::builder()
                    .code("RequestLimitExceeded")
                    .message("Request limit exceeded.")
                    .build(),
            )
        })
        .times(2)
        .output(|| launched("i-0patient"))
        .build();
    let status = running(&["i-0patient"]);
    let web = &launch_on(&[&throttled, &status], r#"["m5.large"]"#, "");
    assert_eq!(web.outcome, Some(Outcome::Succeeded), "{:?}", web.error);
    assert_eq!(web.outputs["instance"], "i-0patient");
    assert_eq!(
        throttled.num_calls(),
        3,
        "two throttled calls, then the one that worked"
    );
}

/// What the executor does with an error code of RunInstances, as a launch step with a second
/// instance type and no step-level retries shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handled {
    /// Retried by the API layer, on the same instance type.
    Retried,
    /// The next instance type is tried.
    FellBack,
    /// The step fails, after one call.
    Failed,
}

/// Error codes and what they lead to. `DispatchFailure` and `Timeout` are left out: they are
/// not codes AWS sends but the names `convert::cloud_error` gives a request without an answer.
const CODES: &[(&str, Handled)] = &[
    // The AWS SDK's standard retry classifier's throttling codes.
    ("Throttling", Handled::Retried),
    ("ThrottlingException", Handled::Retried),
    ("ThrottledException", Handled::Retried),
    ("RequestThrottledException", Handled::Retried),
    ("TooManyRequestsException", Handled::Retried),
    ("ProvisionedThroughputExceededException", Handled::Retried),
    ("TransactionInProgressException", Handled::Retried),
    ("RequestLimitExceeded", Handled::Retried),
    ("BandwidthLimitExceeded", Handled::Retried),
    ("LimitExceededException", Handled::Retried),
    ("RequestThrottled", Handled::Retried),
    ("SlowDown", Handled::Retried),
    ("PriorRequestNotComplete", Handled::Retried),
    ("EC2ThrottledException", Handled::Retried),
    // Its transient codes.
    ("RequestTimeout", Handled::Retried),
    ("RequestTimeoutException", Handled::Retried),
    // Server-side faults.
    ("InternalError", Handled::Retried),
    ("InternalFailure", Handled::Retried),
    ("ServiceUnavailable", Handled::Retried),
    ("ServiceUnavailableException", Handled::Retried),
    ("Unavailable", Handled::Retried),
    // This instance type cannot be had now.
    ("InsufficientInstanceCapacity", Handled::FellBack),
    ("InstanceLimitExceeded", Handled::FellBack),
    ("VcpuLimitExceeded", Handled::FellBack),
    ("Unsupported", Handled::FellBack),
    // The request is wrong: neither time nor another type helps.
    ("UnauthorizedOperation", Handled::Failed),
    ("InvalidParameterValue", Handled::Failed),
    ("InvalidAMIID.NotFound", Handled::Failed),
    ("InvalidSubnetID.NotFound", Handled::Failed),
    ("IdempotentParameterMismatch", Handled::Failed),
    // EC2 gives it for import instance requests, not for RunInstances: not a reason to fall
    // back.
    ("InsufficientCapacity", Handled::Failed),
];

fn run_instances_error(code: &str) -> RunInstancesError {
    RunInstancesError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message(format!("mocked {code}"))
            .build(),
    )
}

#[test]
fn each_error_code_is_handled_as_its_kind() {
    for &(code, handled) in CODES {
        // The first type fails once with the code, then would launch; the second launches.
        let first = mock!(aws_sdk_ec2::Client::run_instances)
            .match_requests(|r| {
                r.instance_type()
                    .map(aws_sdk_ec2::types::InstanceType::as_str)
                    == Some("m6i.large")
            })
            .sequence()
            .error(move || run_instances_error(code))
            .output(|| launched("i-0first"))
            .build();
        let fallback = mock!(aws_sdk_ec2::Client::run_instances)
            .match_requests(|r| {
                r.instance_type()
                    .map(aws_sdk_ec2::types::InstanceType::as_str)
                    == Some("m5.large")
            })
            .then_output(|| launched("i-0fallback"));
        let status = running(&["i-0first", "i-0fallback"]);
        // No step-level retries: whatever is retried, the API layer retried.
        let web = &launch_on(
            &[&first, &fallback, &status],
            r#"["m6i.large", "m5.large"]"#,
            ", retries = 0",
        );
        let calls = web.api_calls.get(&Op::RunInstances).copied().unwrap_or(0);
        // What a launch that gets through shows: its type and instance, and the calls on each
        // rule. `None`: the step fails.
        let through = match handled {
            Handled::Retried => Some(("m6i.large", "i-0first", 2, 0, "retried on the same type")),
            Handled::FellBack => Some(("m5.large", "i-0fallback", 1, 1, "fell back")),
            Handled::Failed => None,
        };
        if let Some((instance_type, instance, first_calls, fallback_calls, how)) = through {
            assert_eq!(
                web.outcome,
                Some(Outcome::Succeeded),
                "{code}: {:?}",
                web.error
            );
            assert_eq!(web.outputs["instance_type"], instance_type, "{code}: {how}");
            assert_eq!(web.outputs["instance"], instance, "{code}");
            assert_eq!(first.num_calls(), first_calls, "{code}: {how}");
            assert_eq!(fallback.num_calls(), fallback_calls, "{code}: {how}");
            assert_eq!(calls, 2, "{code}: the step counts both calls");
        } else {
            assert_eq!(web.outcome, Some(Outcome::Failed), "{code}");
            let error = web.error.as_deref().unwrap_or_default();
            assert!(
                error.contains(code),
                "{code}: the step's error names the code: {error}"
            );
            assert_eq!(first.num_calls(), 1, "{code}: not retried");
            assert_eq!(fallback.num_calls(), 0, "{code}: no fallback");
            assert_eq!(calls, 1, "{code}");
        }
    }
}

/// A restore step whose StartRestoreJob first fails with `error`, then would start job-1;
/// the step's record and the number of StartRestoreJob calls.
fn restore_failing_once_with(error: fn() -> StartRestoreJobError) -> (StepRecord, usize) {
    let start = mock!(aws_sdk_backup::Client::start_restore_job)
        .sequence()
        .error(error)
        .output(|| {
            StartRestoreJobOutput::builder()
                .restore_job_id("job-1")
                .build()
        })
        .build();
    let describe = mock!(aws_sdk_backup::Client::describe_restore_job).then_output(|| {
        DescribeRestoreJobOutput::builder()
            .restore_job_id("job-1")
            .status(RestoreJobStatus::Completed)
            .created_resource_arn("arn:aws:ec2:eu-west-1:123456789012:instance/i-0restored")
            .build()
    });
    let tag = mock!(aws_sdk_ec2::Client::create_tags)
        .then_output(|| aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build());
    let status = running(&["i-0restored"]);
    let volumes = mock!(aws_sdk_ec2::Client::describe_volumes).then_output(|| {
        aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput::builder().build()
    });
    let backup = mocked!(aws_sdk_backup, &[&start, &describe]);
    let ec2 = mocked!(aws_sdk_ec2, &[&tag, &status, &volumes]);
    let (rb, record) = run(
        r#"runbook "r" {
  step server = restore { recovery_point = "arn:aws:ec2:eu-west-1::image/ami-0new", role = "arn:aws:iam::123456789012:role/Restore", retries = 0 }
}
"#,
        Aws::from_clients(ec2, backup),
    );
    let step = record.steps[rb.step_named("server").expect("server")].clone();
    (step, start.num_calls())
}

#[test]
fn a_throttled_restore_job_is_retried_and_a_bad_parameter_fails_the_step() {
    let (server, calls) = restore_failing_once_with(|| {
        StartRestoreJobError::generic(
            ErrorMetadata::builder()
                .code("ThrottlingException")
                .message("Rate exceeded")
                .build(),
        )
    });
    assert_eq!(
        server.outcome,
        Some(Outcome::Succeeded),
        "{:?}",
        server.error
    );
    assert_eq!(server.outputs["job_id"], "job-1");
    assert_eq!(server.outputs["instance"], "i-0restored");
    assert_eq!(calls, 2, "the throttled call, then the one that worked");

    // Modelled as AWS Backup answers it: the variant, with the code in its metadata.
    let (server, calls) = restore_failing_once_with(|| {
        let message = "Invalid restore metadata: SubnetId";
        StartRestoreJobError::InvalidParameterValueException(
            InvalidParameterValueException::builder()
                .message(message)
                .meta(
                    ErrorMetadata::builder()
                        .code("InvalidParameterValueException")
                        .message(message)
                        .build(),
                )
                .build(),
        )
    });
    assert_eq!(server.outcome, Some(Outcome::Failed));
    let error = server.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("InvalidParameterValueException"),
        "the step's error names the code: {error}"
    );
    assert_eq!(calls, 1, "a bad parameter is not retried");
}

/// A 503 or a 429 with no error code in its body (a load balancer's, not EC2's) is retried like
/// `InternalError` and `Throttling`.
#[test]
fn a_bare_server_error_or_too_many_requests_is_retried() {
    for status in [503, 500, 429] {
        let bare = mock!(aws_sdk_ec2::Client::run_instances)
            .sequence()
            .http_status(status, None)
            .output(|| launched("i-0bare"))
            .build();
        let healthy_status = running(&["i-0bare"]);
        let web = &launch_on(
            &[&bare, &healthy_status],
            r#"["m5.large"]"#,
            ", retries = 0",
        );
        assert_eq!(
            web.outcome,
            Some(Outcome::Succeeded),
            "{status}: {:?}",
            web.error
        );
        assert_eq!(
            bare.num_calls(),
            2,
            "{status}: the bare answer, then the retry"
        );
    }
}

/// Teardown of `known` for run `run_id` on EC2 answering from `volumes` (and `delete`), with no
/// instances, images or snapshots: what the two teardown tests below share.
fn tear_volumes(
    run_id: &str,
    known: &[(String, crate::exec::model::Created)],
    rules: &[&Rule],
) -> Vec<crate::exec::model::TornDown> {
    use crate::exec::api::Api;
    use crate::exec::journal::Journal;
    use crate::exec::teardown::{Limits, teardown};
    let no_instances = mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
        aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder().build()
    });
    let no_images = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder().build()
    });
    let no_snapshots = mock!(aws_sdk_ec2::Client::describe_snapshots).then_output(|| {
        aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput::builder().build()
    });
    let mut all: Vec<&Rule> = rules.to_vec();
    all.extend([&no_instances, &no_images, &no_snapshots]);
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, &all), mocked!(aws_sdk_backup, &[]));
    let runtime = paused_runtime();
    let journal = Journal::memory();
    runtime.block_on(async {
        let api = Api::new(&aws);
        teardown(
            std::slice::from_ref(&api),
            crate::exec::teardown::Whose {
                run_id,
                isolated: false,
            },
            known,
            Limits::default(),
            &journal,
            &|| 0.0,
            &|_| {},
        )
        .await
    })
}

/// EC2 is eventually consistent: DeleteVolume can answer NotFound for a volume created a moment
/// ago that Describe still shows. Teardown deletes again instead of taking the NotFound as
/// "gone", and verifies it gone before it says so.
#[test]
fn a_not_found_delete_of_a_volume_still_described_is_retried_not_taken_as_gone() {
    use aws_sdk_ec2::operation::delete_volume::{DeleteVolumeError, DeleteVolumeOutput};
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
    use aws_sdk_ec2::types::{Tag, Volume, VolumeState};

    use crate::cloud::{RUN_TAG, ResourceKind};
    use crate::exec::model::{Created, Fate};

    const RUN: &str = "20261201T000000Z-0001";
    let run_id = RUN;
    let volume = |state: VolumeState| {
        Volume::builder()
            .volume_id("vol-0fresh")
            .state(state)
            .availability_zone("eu-west-1a")
            .tags(Tag::builder().key(RUN_TAG).value(RUN).build())
            .build()
    };
    let delete = mock!(aws_sdk_ec2::Client::delete_volume)
        .sequence()
        .error(|| {
            DeleteVolumeError::generic(
                ErrorMetadata::builder()
                    .code("InvalidVolume.NotFound")
                    .message("The volume 'vol-0fresh' does not exist.")
                    .build(),
            )
        })
        .output(|| DeleteVolumeOutput::builder().build())
        .build();
    // Found by tag; asked before each delete (is it attached?) and after the NotFound (still
    // there): four looks; then gone.
    let describe = mock!(aws_sdk_ec2::Client::describe_volumes)
        .sequence()
        .output(move || {
            DescribeVolumesOutput::builder()
                .volumes(volume(VolumeState::Available))
                .build()
        })
        .times(4)
        .output(|| DescribeVolumesOutput::builder().build())
        .times(3)
        .build();
    let known = [(
        "disk".to_string(),
        Created::new(
            ResourceKind::Volume,
            "vol-0fresh",
            Some("eu-west-1a".to_string()),
        ),
    )];
    let fates = tear_volumes(run_id, &known, &[&delete, &describe]);
    assert_eq!(fates.len(), 1, "{fates:?}");
    assert_eq!(fates[0].outcome, Fate::Verified, "{fates:?}");
    assert_eq!(delete.num_calls(), 2, "the NotFound delete was made again");
}

/// A volume the journal names that no Describe shows yet (made the instant before a crash, its
/// id not yet propagated) is not "already gone": teardown waits for it to appear, checks its
/// live tags, and deletes it.
#[test]
fn a_journaled_volume_not_yet_visible_is_waited_for_and_deleted() {
    use aws_sdk_ec2::operation::delete_volume::DeleteVolumeOutput;
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
    use aws_sdk_ec2::types::{Tag, Volume, VolumeState};

    use crate::cloud::{RUN_TAG, ResourceKind};
    use crate::exec::model::{Created, Fate};

    const RUN: &str = "20261201T000000Z-0002";
    let none = || DescribeVolumesOutput::builder().build();
    let shown = || {
        DescribeVolumesOutput::builder()
            .volumes(
                Volume::builder()
                    .volume_id("vol-0new")
                    .state(VolumeState::Available)
                    .tags(Tag::builder().key(RUN_TAG).value(RUN).build())
                    .build(),
            )
            .build()
    };
    // By tag, by id, and the first look of `remove`: not yet visible; then visible (the look,
    // the attachment check); deleted; gone.
    let describe = mock!(aws_sdk_ec2::Client::describe_volumes)
        .sequence()
        .output(none)
        .times(3)
        .output(shown)
        .times(2)
        .output(none)
        .times(2)
        .build();
    let delete = mock!(aws_sdk_ec2::Client::delete_volume)
        .then_output(|| DeleteVolumeOutput::builder().build());
    let known = [(
        "disk".to_string(),
        Created::new(
            ResourceKind::Volume,
            "vol-0new",
            Some("eu-west-1a".to_string()),
        ),
    )];
    let fates = tear_volumes(RUN, &known, &[&describe, &delete]);
    assert_eq!(fates.len(), 1, "{fates:?}");
    assert_eq!(fates[0].outcome, Fate::Verified, "{fates:?}");
    assert_eq!(
        delete.num_calls(),
        1,
        "deleted once it could be seen: {fates:?}"
    );
}

/// A vault's listing has no tags: `find_recovery_point { tags }` asks the points' AMIs for
/// theirs (DescribeImages by id) and picks the newest whose AMI carries them.
#[test]
fn recovery_point_tags_are_read_from_their_images() {
    let list =
        mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault).then_output(|| {
            let point = |arn: &str, created: i64| {
                RecoveryPointByBackupVault::builder()
                    .recovery_point_arn(arn)
                    .status(RecoveryPointStatus::Completed)
                    .creation_date(time(created))
                    .resource_type("EC2")
                    .build()
            };
            ListRecoveryPointsByBackupVaultOutput::builder()
                .recovery_points(point(
                    "arn:aws:ec2:eu-west-1::image/ami-0billing",
                    1_700_000_000,
                ))
                .recovery_points(point(
                    "arn:aws:ec2:eu-west-1::image/ami-0other",
                    1_700_086_400,
                ))
                .build()
        });
    use aws_sdk_ec2::types::Tag;
    let images = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| {
            r.image_ids() == ["ami-0billing", "ami-0other"] && r.owners().is_empty()
        })
        .then_output(|| {
            let image = |id: &str, app: &str| {
                aws_sdk_ec2::types::Image::builder()
                    .image_id(id)
                    .state(aws_sdk_ec2::types::ImageState::Available)
                    .creation_date("2023-11-14T22:13:20.000Z")
                    .tags(Tag::builder().key("App").value(app).build())
                    .build()
            };
            aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder()
                .images(image("ami-0billing", "billing"))
                .images(image("ami-0other", "web"))
                .build()
        });
    let backup = mocked!(aws_sdk_backup, &[&list]);
    let ec2 = mocked!(aws_sdk_ec2, &[&images]);
    let (rb, record) = run(
        r#"runbook "b" {
  step point = find_recovery_point { vault = "nightly", resource_type = "EC2", tags = { App = "billing" } }
}
"#,
        Aws::from_clients(ec2, backup),
    );
    let point = &record.steps[rb.step_named("point").expect("step")];
    assert_eq!(point.outcome, Some(Outcome::Succeeded), "{:?}", point.error);
    assert_eq!(point.outputs["image_id"], "ami-0billing");
    assert_eq!(images.num_calls(), 1);
}

/// Preflight on AWS: a kind the caller may not ask about (a policy without
/// `ec2:DescribeKeyPairs`) is reported apart, not as missing, and the rest is still asked.
#[test]
fn preflight_tells_what_it_could_not_ask_from_what_is_missing() {
    use aws_sdk_ec2::operation::describe_key_pairs::DescribeKeyPairsError;
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    let subnets = mock!(aws_sdk_ec2::Client::describe_subnets).then_output(|| {
        DescribeSubnetsOutput::builder()
            .subnets(
                aws_sdk_ec2::types::Subnet::builder()
                    .subnet_id("subnet-0live")
                    .build(),
            )
            .build()
    });
    let keys = mock!(aws_sdk_ec2::Client::describe_key_pairs).then_error(|| {
        DescribeKeyPairsError::generic(
            ErrorMetadata::builder()
                .code("UnauthorizedOperation")
                .message("You are not authorized to perform this operation.")
                .build(),
        )
    });
    let images = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        aws_sdk_ec2::operation::describe_images::DescribeImagesOutput::builder().build()
    });
    let ec2 = mocked!(aws_sdk_ec2, &[&subnets, &keys, &images]);
    let backup = mocked!(aws_sdk_backup, &[]);
    let aws = Aws::from_clients(ec2, backup);
    let rb = runbook::check_source(
        &Source::new(
            "p.runbook",
            "runbook \"p\" {\n  step a = launch { image = \"ami-0a\", subnet = \"subnet-0live\", instance_types = [\"m5.large\"], key_name = \"ops\" }\n  \
             step b = launch { image = \"ami-0a\", subnet = \"subnet-0gone\", instance_types = [\"m5.large\"] }\n}\n",
        ),
        &[],
    )
    .expect("checks");
    let runtime = paused_runtime();
    let found = runtime.block_on(crate::preflight::check(
        &crate::cloud::Regions::new(aws, &[]),
        &rb,
    ));
    let missing: Vec<(&str, &str)> = found
        .missing
        .iter()
        .map(|r| (r.step.as_str(), r.id.as_str()))
        .filter(|(_, id)| id.starts_with("subnet-"))
        .collect();
    assert_eq!(missing, [("b", "subnet-0gone")]);
    let unasked: Vec<(String, &str)> = found
        .unasked
        .iter()
        .map(|(k, e)| (k.to_string(), e.code.as_str()))
        .filter(|(k, _)| k == "key pair")
        .collect();
    assert_eq!(unasked, [("key pair".to_string(), "UnauthorizedOperation")]);
    assert!(
        !found.missing.iter().any(|r| r.id == "ops"),
        "a key pair that could not be asked about was called missing"
    );
}

/// DescribeInstanceStatus saying a status check is `impaired` (and staying so): the verify
/// that waits for both checks fails, once it has lasted the grace, instead of waiting forever.
#[test]
fn an_impaired_status_check_read_from_ec2_fails_the_verify() {
    let launch = mock!(aws_sdk_ec2::Client::run_instances).then_output(|| launched("i-0sick"));
    let status = mock!(aws_sdk_ec2::Client::describe_instance_status).then_output(|| {
        let impaired = InstanceStatusSummary::builder()
            .status(SummaryStatus::Impaired)
            .build();
        DescribeInstanceStatusOutput::builder()
            .instance_statuses(
                InstanceStatus::builder()
                    .instance_id("i-0sick")
                    .availability_zone("eu-west-1a")
                    .instance_state(
                        InstanceState::builder()
                            .name(InstanceStateName::Running)
                            .build(),
                    )
                    .system_status(impaired)
                    .instance_status(
                        InstanceStatusSummary::builder()
                            .status(SummaryStatus::Ok)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let ec2 = mocked!(aws_sdk_ec2, &[&launch, &status]);
    let backup = mocked!(aws_sdk_backup, &[]);
    let (rb, record) = run(
        r#"runbook "s" {
  step web = launch { image = "ami-0123", subnet = "subnet-0123", instance_types = ["m5.large"] }
  step ok = verify { instances = web.instances, checks = ["status_ok"] }
}
"#,
        Aws::from_clients(ec2, backup),
    );
    let ok = &record.steps[rb.step_named("ok").expect("step")];
    assert_eq!(ok.outcome, Some(Outcome::Failed), "{ok:?}");
    let error = ok.error.as_deref().unwrap_or_default();
    assert!(error.contains("StatusCheckImpaired"), "{error}");
}

/// ListRestoreJobs filters by creation time only: the jobs of the recovery point are picked out
/// of the answer, newest first, and the time sent is the one asked for.
#[test]
fn restore_jobs_of_a_recovery_point_are_read_from_list_restore_jobs() {
    use aws_sdk_backup::operation::list_restore_jobs::ListRestoreJobsOutput;
    use aws_sdk_backup::types::RestoreJobsListMember;
    let point = "arn:aws:ec2:eu-west-1::image/ami-0ours";
    let list = mock!(aws_sdk_backup::Client::list_restore_jobs)
        .match_requests(|r| {
            r.by_created_after()
                .map(aws_sdk_backup::primitives::DateTime::secs)
                == Some(1_700_000_000)
        })
        .then_output(move || {
            let job = |id: &str, arn: &str, created: i64| {
                RestoreJobsListMember::builder()
                    .restore_job_id(id)
                    .recovery_point_arn(arn)
                    .creation_date(time(created))
                    .build()
            };
            ListRestoreJobsOutput::builder()
                .restore_jobs(job("job-old", point, 1_700_000_100))
                .restore_jobs(job(
                    "job-other",
                    "arn:aws:ec2:eu-west-1::image/ami-0x",
                    1_700_000_200,
                ))
                .restore_jobs(job("job-new", point, 1_700_000_300))
                .build()
        });
    let aws = Aws::from_clients(mocked!(aws_sdk_ec2, &[]), mocked!(aws_sdk_backup, &[&list]));
    let runtime = paused_runtime();
    let since = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
    let jobs = runtime
        .block_on(crate::cloud::Cloud::restore_jobs(&aws, point, since))
        .expect("jobs");
    assert_eq!(jobs, ["job-new", "job-old"]);
}

/// By id with no owner, DescribeSnapshots is asked with SnapshotIds (a snapshot-id filter alone
/// would run over every public snapshot), and an id that does not exist, which fails the whole
/// call, is isolated by halving and left out.
#[test]
fn snapshots_by_id_leave_out_a_missing_one_by_halving() {
    use aws_sdk_ec2::operation::describe_snapshots::{
        DescribeSnapshotsError, DescribeSnapshotsOutput,
    };
    let gone = mock!(aws_sdk_ec2::Client::describe_snapshots)
        .match_requests(|r| r.snapshot_ids().iter().any(|id| id == "snap-0gone"))
        .then_error(|| {
            DescribeSnapshotsError::generic(
                ErrorMetadata::builder()
                    .code("InvalidSnapshot.NotFound")
                    .message("The snapshot 'snap-0gone' does not exist.")
                    .build(),
            )
        });
    let found = mock!(aws_sdk_ec2::Client::describe_snapshots)
        .match_requests(|r| {
            !r.snapshot_ids().is_empty()
                && r.owner_ids().is_empty()
                // EC2 refuses MaxResults alongside SnapshotIds.
                && r.max_results().is_none()
                && r.filters().iter().all(|f| f.name() != Some("snapshot-id"))
        })
        .then_output(|| {
            // What the request named, as EC2 answers it: each id asked for.
            DescribeSnapshotsOutput::builder()
                .snapshots(
                    aws_sdk_ec2::types::Snapshot::builder()
                        .snapshot_id("snap-0a")
                        .start_time(time(1_700_000_000))
                        .state(aws_sdk_ec2::types::SnapshotState::Completed)
                        .build(),
                )
                .build()
        });
    let aws = Aws::from_clients(
        mocked!(aws_sdk_ec2, &[&gone, &found]),
        mocked!(aws_sdk_backup, &[]),
    );
    let runtime = paused_runtime();
    let q = crate::cloud::SnapshotQuery {
        ids: vec!["snap-0a".into(), "snap-0gone".into()],
        ..Default::default()
    };
    let snapshots = runtime
        .block_on(crate::cloud::Cloud::describe_snapshots(&aws, &q))
        .expect("the missing id is left out, not an error");
    assert_eq!(snapshots.len(), 1);
    assert_eq!(snapshots[0].id, "snap-0a");
    // Both ids, then each half: snap-0gone alone fails and is dropped.
    assert_eq!(gone.num_calls(), 2);
    assert_eq!(found.num_calls(), 1);
}

/// A volume wait asks DescribeVolumes by a `volume-id` filter, never by VolumeIds: a volume made
/// a moment ago that EC2 does not show yet is then absent from the answer, where VolumeIds
/// would fail the call for every volume in it (InvalidVolume.NotFound). A filtered answer
/// pages (MaxResults 500, the most DescribeVolumes takes), and a page may be empty with a
/// NextToken: every page is read.
#[test]
fn volumes_are_watched_by_a_filter_that_leaves_out_what_ec2_does_not_show_yet() {
    use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
    use aws_sdk_ec2::types::{Volume, VolumeState};
    let by_filter = mock!(aws_sdk_ec2::Client::describe_volumes)
        .match_requests(|r| {
            r.volume_ids().is_empty()
                && r.max_results() == Some(500)
                && r.filters().iter().any(|f| {
                    f.name() == Some("volume-id") && f.values() == ["vol-0shown", "vol-0new"]
                })
        })
        .sequence()
        .output(|| DescribeVolumesOutput::builder().next_token("more").build())
        .output(|| {
            // EC2 answers what it shows: the new volume is not among them yet.
            DescribeVolumesOutput::builder()
                .volumes(
                    Volume::builder()
                        .volume_id("vol-0shown")
                        .state(VolumeState::Available)
                        .build(),
                )
                .build()
        })
        .build();
    let aws = Aws::from_clients(
        mocked!(aws_sdk_ec2, &[&by_filter]),
        mocked!(aws_sdk_backup, &[]),
    );
    let ids = ["vol-0shown".to_string(), "vol-0new".to_string()];
    let observed = paused_runtime()
        .block_on(crate::cloud::Cloud::describe(
            &aws,
            crate::cloud::Polled::Volume,
            &ids,
        ))
        .expect("both pages, the unseen volume left out");
    assert_eq!(observed.len(), 1, "{observed:?}");
    assert_eq!(
        (observed[0].id.as_str(), observed[0].state.as_str()),
        ("vol-0shown", "available")
    );
    assert_eq!(
        by_filter.num_calls(),
        2,
        "an empty page with a token, then the volume"
    );
}

/// Listings ask for the largest page each call takes (without MaxResults EC2 answers a whole
/// listing at once, which a large account can make time out), and follow NextToken to the end.
#[test]
fn listings_ask_for_large_pages_and_follow_next_token() {
    use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
    let image = |id: &str| {
        aws_sdk_ec2::types::Image::builder()
            .image_id(id)
            .state(aws_sdk_ec2::types::ImageState::Available)
            .creation_date("2023-11-14T22:13:20.000Z")
            .build()
    };
    let first = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| r.max_results() == Some(1000) && r.next_token().is_none())
        .then_output(move || {
            DescribeImagesOutput::builder()
                .images(image("ami-0first"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| r.max_results() == Some(1000) && r.next_token() == Some("page-2"))
        .then_output(move || {
            DescribeImagesOutput::builder()
                .images(image("ami-0second"))
                .build()
        });
    let aws = Aws::from_clients(
        mocked!(aws_sdk_ec2, &[&first, &second]),
        mocked!(aws_sdk_backup, &[]),
    );
    let runtime = paused_runtime();
    let q = crate::cloud::ImageQuery {
        owners: vec!["self".into()],
        ..Default::default()
    };
    let images = runtime
        .block_on(crate::cloud::Cloud::describe_images(&aws, &q))
        .expect("images");
    let ids: Vec<&str> = images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ami-0first", "ami-0second"]);
}
