//! The cloud that runbooks act on: one narrow trait the project owns (`Cloud`), its request and
//! answer types, and errors that keep the AWS error code, so that retry and fallback decisions
//! are made once, in the executor, for every backend. The simulator (`sim`) implements it;
//! the AWS backend will too. Also the models of how AWS behaves that both share: the latency
//! of each operation, and EC2's API rate limits.

pub mod aws;
pub mod latency;
pub mod rate_limit;
pub mod sim;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::runbook::schema::Check;

/// Throttling, as the AWS SDK's standard retry classifier knows it (aws-runtime's
/// `THROTTLING_ERRORS`, copied: the crate is not a dependency of ours). A call the SDK would
/// retry is retried by the executor too, whichever service answered.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Other faults worth a retry: the SDK's `TRANSIENT_ERRORS`; the 5xx-style codes of EC2 and
/// of AWS Backup (`ServiceUnavailableException`); and the two codes `aws::convert::cloud_error`
/// gives a request that never got an answer.
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "DispatchFailure",
    "Timeout",
];

/// An error from the cloud, with AWS's error code (`RequestLimitExceeded`,
/// `InsufficientInstanceCapacity`, `InvalidSubnetID.NotFound`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CloudError {
    pub code: String,
    pub message: String,
}

impl CloudError {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> CloudError {
        CloudError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// Refused before it acted: throttling.
    pub(crate) fn is_throttling(&self) -> bool {
        THROTTLING_CODES.contains(&self.code.as_str())
    }

    /// Worth retrying as it is: throttling and server-side faults.
    pub(crate) fn is_transient(&self) -> bool {
        let code = self.code.as_str();
        THROTTLING_CODES.contains(&code) || TRANSIENT_CODES.contains(&code)
    }

    /// The instance type cannot be had here now: try the next one. `VcpuLimitExceeded` is the
    /// account's vCPU quota for the type's family: a smaller type, or one of another family,
    /// may still fit. `InsufficientCapacity` is not among them: EC2's error reference
    /// (APIReference/errors-overview.html) gives it for import instance requests only, not for
    /// RunInstances.
    pub(crate) fn is_capacity(&self) -> bool {
        matches!(
            self.code.as_str(),
            "InsufficientInstanceCapacity"
                | "Unsupported"
                | "InstanceLimitExceeded"
                | "VcpuLimitExceeded"
        )
    }
}

/// The operations of the trait, as AWS names them, for counting calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    DescribeImages,
    DescribeSnapshots,
    ListRecoveryPointsByBackupVault,
    RunInstances,
    DescribeInstances,
    /// The instance poller's call: state and both status checks in one answer.
    DescribeInstanceStatus,
    CreateVolume,
    DescribeVolumes,
    DescribeVolumeStatus,
    AttachVolume,
    StartRestoreJob,
    DescribeRestoreJob,
    /// A resume's look for the restore job an interrupted process started.
    ListRestoreJobs,
    /// A recovery point's restore metadata: the backed-up instance's configuration.
    GetRecoveryPointRestoreMetadata,
    /// Termination protection off, on an instance of the run only (teardown).
    ModifyInstanceAttribute,
    CreateImage,
    /// Called in the destination region, naming the source region.
    CopyImage,
    CopySnapshot,
    TerminateInstances,
    DetachVolume,
    DeleteVolume,
    DeregisterImage,
    DeleteSnapshot,
    CreateTags,
    /// Preflight's questions of what a runbook names (`Named`).
    DescribeSubnets,
    DescribeSecurityGroups,
    DescribeKeyPairs,
    GetInstanceProfile,
    /// Preflight: whether a KMS key exists and is enabled (KMS's own quota, per account and
    /// region).
    DescribeKey,
    /// An isolated drill's security group, with its rules (CreateSecurityGroup,
    /// RevokeSecurityGroupEgress, AuthorizeSecurityGroupIngress and -Egress).
    CreateSecurityGroup,
    DeleteSecurityGroup,
    /// Preflight: which instance types a zone offers.
    DescribeInstanceTypeOfferings,
    /// Preflight: a call made with DryRun (RunInstances, CreateVolume, AttachVolume).
    DryRun,
    /// Preflight: whether the caller may pass the restore role (iam:SimulatePrincipalPolicy).
    SimulatePrincipalPolicy,
    /// SSM: which instances' agents are online (PingStatus).
    DescribeInstanceInformation,
    /// SSM Run Command: a shell script on up to 50 instances (AWS-RunShellScript).
    SendCommand,
    /// SSM: a resume's look for the command an interrupted process sent (SendCommand takes no
    /// token).
    ListCommands,
    /// SSM: every instance's result of one command (and, for an output the listing cut
    /// short, GetCommandInvocation of that instance's).
    ListCommandInvocations,
}

impl Op {
    /// Whether a resend of the call is safe by itself: it carries an idempotency token
    /// (RunInstances, CreateVolume and CopyImage a ClientToken, StartRestoreJob an
    /// IdempotencyToken). AttachVolume, CreateImage and CopySnapshot take none: after an answer
    /// was lost, a resend fails (`VolumeInUse`, `InvalidAMIName.Duplicate`) or makes a second
    /// copy, although the first call worked.
    pub(crate) fn has_token(self) -> bool {
        matches!(
            self,
            Op::RunInstances | Op::CreateVolume | Op::StartRestoreJob | Op::CopyImage
        )
    }

    /// Whether a call that failed with `e` may be sent again as it is: when it was refused
    /// before it acted (throttled), when it carries a token, or when acting twice does no harm
    /// (a Describe, a delete, tags). A CreateImage, AttachVolume, CopySnapshot or SendCommand
    /// that met a server error or a timeout may have acted: `Ctx::once` looks for what it made
    /// instead, so that a resend cannot make a second image or copy, or run a script twice.
    pub(crate) fn may_resend(self, e: &CloudError) -> bool {
        let acts_twice = matches!(
            self,
            Op::CreateImage | Op::AttachVolume | Op::CopySnapshot | Op::SendCommand
        );
        !acts_twice || e.is_throttling()
    }

    /// The EC2 token bucket a call of this operation draws from. AWS Backup has quotas of its
    /// own; the filtered Describe bucket stands in for them.
    pub(crate) fn limited(self) -> rate_limit::Limited {
        use rate_limit::Limited;
        match self {
            Op::RunInstances => Limited::RunInstances,
            Op::CreateVolume => Limited::CreateVolume,
            Op::AttachVolume => Limited::AttachVolume,
            Op::CreateImage | Op::CopyImage => Limited::CopyImage,
            Op::TerminateInstances => Limited::TerminateInstances,
            Op::DetachVolume => Limited::DetachVolume,
            Op::DeleteVolume => Limited::DeleteVolume,
            // Deregistering an image, deleting a snapshot and copying one share the unlisted
            // mutating bucket; CreateSnapshot's is the closest of the listed ones.
            Op::DeregisterImage
            | Op::DeleteSnapshot
            | Op::CopySnapshot
            | Op::CreateSecurityGroup
            | Op::DeleteSecurityGroup => Limited::CreateSnapshot,
            Op::CreateTags => Limited::CreateTags,
            Op::DescribeImages
            | Op::DescribeSnapshots
            | Op::ListRecoveryPointsByBackupVault
            | Op::DescribeInstances
            | Op::DescribeInstanceStatus
            | Op::DescribeVolumes
            | Op::DescribeVolumeStatus
            | Op::StartRestoreJob
            | Op::DescribeRestoreJob
            | Op::ListRestoreJobs
            | Op::GetRecoveryPointRestoreMetadata
            | Op::ModifyInstanceAttribute
            | Op::DescribeSubnets
            | Op::DescribeSecurityGroups
            | Op::DescribeKeyPairs
            | Op::DescribeInstanceTypeOfferings
            | Op::DryRun
            | Op::SimulatePrincipalPolicy
            | Op::DescribeKey
            // IAM's own quota is per account, well above what one preflight asks.
            | Op::GetInstanceProfile => Limited::DescribeFiltered,
            Op::DescribeInstanceInformation
            | Op::SendCommand
            | Op::ListCommands
            | Op::ListCommandInvocations => Limited::Ssm,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which cloud a run acts on: the simulated account, or AWS. Written `sim` and `aws` in
/// journals and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sim,
    Aws,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sim => "sim",
            Backend::Aws => "aws",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tags as AWS keeps them.
pub(crate) type Tags = BTreeMap<String, String>;

/// The tag that makes a resource a run's: every create carries it, and teardown deletes nothing
/// whose live tags lack it.
pub const RUN_TAG: &str = "rebound:run-id";
/// The tag that names the step that made a resource.
pub const STEP_TAG: &str = "rebound:step";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    /// `available`, `pending`, `failed`.
    pub state: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub created: DateTime<Utc>,
    /// `completed`, `pending`, `error`.
    pub state: String,
    pub size_gib: u32,
    #[serde(default)]
    pub volume: Option<String>,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryPoint {
    pub arn: String,
    pub vault: String,
    pub created: DateTime<Utc>,
    /// `COMPLETED`, `PARTIAL`, `EXPIRED`, ...
    pub status: String,
    /// The ARN of the backed-up resource.
    pub resource: String,
    /// `EC2` or `EBS`. A point carries no tags here: ListRecoveryPointsByBackupVault answers
    /// none, and AWS Backup's ListTags does not serve EC2 and EBS points (they lack "full
    /// Backup management"); their tags are their image's or snapshot's.
    pub resource_type: String,
    /// Simulator only: the backed-up instance had termination protection on, and AWS Backup
    /// restores it with it (DisableApiTermination is part of the restore metadata).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub termination_protection: bool,
    /// Simulator only: what GetRecoveryPointRestoreMetadata answers for it (on AWS it is asked
    /// per restore, not listed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub restore_metadata: Tags,
}

impl RecoveryPoint {
    /// The AMI of an EC2 point or the snapshot of an EBS point, from the point's ARN
    /// (`arn:aws:ec2:REGION::image/ami-...`, `arn:aws:ec2:REGION::snapshot/snap-...`).
    pub(crate) fn artifact(&self, kind: &str) -> Option<String> {
        self.arn
            .rsplit_once(&format!("{kind}/"))
            .map(|(_, id)| id.to_string())
    }
}

/// What `find_image` asks for (`Hash`: identical finds in flight share a call, `exec::flights`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ImageQuery {
    pub owners: Vec<String>,
    pub tags: Tags,
    /// A glob with `*` and `?`.
    pub name: Option<String>,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SnapshotQuery {
    pub owners: Vec<String>,
    pub tags: Tags,
    pub volume: Option<String>,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RecoveryPointQuery {
    pub vault: String,
    pub resource: Option<String>,
    pub resource_type: Option<String>,
}

/// A volume created with the instances (`launch`'s `volumes`).
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchVolume {
    pub snapshot: String,
    pub device: String,
    pub volume_type: Option<String>,
    pub size_gib: Option<u32>,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    /// A KMS key to encrypt the volume with (re-encrypting the snapshot's data).
    pub kms_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    pub image: String,
    pub subnet: String,
    pub instance_type: String,
    pub count: u32,
    pub security_groups: Vec<String>,
    pub key_name: Option<String>,
    pub instance_profile: Option<String>,
    pub user_data: Option<String>,
    pub tags: Tags,
    pub volumes: Vec<LaunchVolume>,
    /// Idempotency token: the same token never launches twice.
    pub client_token: String,
    /// An isolated drill's instances get none, whatever the subnet's default.
    pub public_ip: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launched {
    pub instances: Vec<String>,
    pub zone: String,
    pub private_ips: Vec<String>,
    /// The type launched (the request's; for instances adopted after a crash, theirs).
    #[serde(default)]
    pub instance_type: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeRequest {
    pub snapshot: String,
    pub zone: String,
    pub volume_type: Option<String>,
    pub size_gib: Option<u32>,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub kms_key: Option<String>,
    /// MiB/s at which the volume is initialized from its snapshot.
    pub initialization_rate: Option<u32>,
    pub tags: Tags,
    pub client_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestoreRequest {
    pub recovery_point: String,
    pub role: String,
    pub metadata: Tags,
    pub idempotency_token: String,
}

/// A copy, made in the region the call is sent to, of an image or a snapshot in another
/// (CopyImage, CopySnapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRequest {
    /// The image or snapshot id in `source_region`.
    pub source: String,
    pub source_region: String,
    /// The copy's name (an image's; AWS requires one) or description (a snapshot's).
    pub name: String,
    /// Encrypt the copy with this KMS key (it must be in the destination region).
    pub kms_key: Option<String>,
    /// The copy's tags, and its snapshots' (CopyImage's TagSpecifications).
    pub tags: Tags,
    /// CopyImage's ClientToken; CopySnapshot takes none.
    pub client_token: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageRequest {
    pub instance: String,
    pub name: String,
    pub reboot: bool,
    pub tags: Tags,
}

/// A shell script for SSM Run Command to run on instances (SendCommand with the
/// AWS-RunShellScript document).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest {
    /// At most `MAX_COMMAND_TARGETS`.
    pub instances: Vec<String>,
    /// The script, one shell line each (the document's `commands`).
    pub commands: Vec<String>,
    /// How long the script may run on an instance (the document's `executionTimeout`).
    pub execution_timeout: std::time::Duration,
    /// How long SSM may wait to deliver it (TimeoutSeconds; AWS's default, an hour, if none).
    pub delivery_timeout: Option<std::time::Duration>,
    /// The command's comment: the call's token, which a resume finds it by (`find_command`);
    /// SendCommand takes no idempotency token of its own.
    pub comment: String,
}

/// The most instances one SendCommand may name (its `InstanceIds` holds at most 50).
pub(crate) const MAX_COMMAND_TARGETS: usize = 50;

/// The most of an instance's output AWS keeps (GetCommandInvocation's StandardOutputContent);
/// the listing's plugin output holds the first 2,500 (`LISTED_OUTPUT`).
pub(crate) const MAX_OUTPUT: usize = 24_000;
pub(crate) const LISTED_OUTPUT: usize = 2_500;

/// One instance's run of a command, as ListCommandInvocations says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub instance: String,
    /// SSM's status: `Pending`, `InProgress`, `Delayed`, then `Success`, `Failed`,
    /// `TimedOut`, `Cancelled` or `Undeliverable` (the agent was not reachable).
    pub status: String,
    /// The script's exit status (ResponseCode); -1 until it ends, and for a script that never
    /// ran.
    pub exit_code: i32,
    /// Its standard output, at most `MAX_OUTPUT` characters (AWS's cut).
    pub stdout: String,
    /// When it truly ended (simulator only).
    #[serde(skip)]
    pub ended_at: Option<Instant>,
}

impl Invocation {
    /// The script ran to its end, or never will.
    pub(crate) fn finished(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "Pending" | "InProgress" | "Delayed" | "Cancelling"
        )
    }
}

/// What SSM says of an instance's agent (DescribeInstanceInformation).
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub instance: String,
    /// `Online`, `ConnectionLost` or `Inactive`.
    pub ping: String,
    /// When it came online (simulator only).
    pub online_at: Option<Instant>,
}

/// A subnet as readiness needs it (DescribeSubnets).
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetInfo {
    pub id: String,
    pub zone: String,
    /// AvailableIpAddressCount: the instances that still fit.
    pub free_addresses: i64,
    pub vpc: Option<String>,
    /// Its IPv4 CIDR block: an isolated drill finds the runner's address toward it.
    pub cidr: Option<String>,
}

/// An isolated drill's security group: in `vpc`, admitting only `ingress_from` on `ports`,
/// allowing egress only to `egress` (prefix lists `pl-...` or groups `sg-...`) on 443.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxRequest {
    pub vpc: String,
    pub name: String,
    pub tags: Tags,
    /// The runner's address as a CIDR (`10.0.1.5/32`).
    pub ingress_from: Option<String>,
    pub ports: Vec<u16>,
    pub egress: Vec<String>,
}

/// A mutating call asked with DryRun=true: AWS checks the permission and the parameters and
/// makes nothing (`DryRunOperation` means it would have been allowed). The request is the one a
/// run sends, tags included: rebound's policy allows RunInstances and CreateVolume only with the
/// run's tag in the request.
#[derive(Debug, Clone, PartialEq)]
pub enum DryRun {
    RunInstances(LaunchRequest),
    CreateVolume(VolumeRequest),
}

impl DryRun {
    /// The IAM action the call needs.
    pub fn action(&self) -> &'static str {
        match self {
            DryRun::RunInstances(_) => "ec2:RunInstances",
            DryRun::CreateVolume(_) => "ec2:CreateVolume",
        }
    }
}

/// What a call made with DryRun was told.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// `DryRunOperation`: it would have been made.
    Yes,
    /// `UnauthorizedOperation`, with AWS's message (decoded where the caller may).
    No(String),
    /// Another answer (a parameter AWS refused, an id it could not find): the permission is
    /// not known.
    Unknown(CloudError),
}

/// What a Describe call says of one resource. `ready_at` is the simulator's knowledge of when
/// the resource truly reached its state (AWS does not say): the report's RTO bound uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: String,
    /// `pending`, `running`, `available`, `in-use`, `completed`, `failed`, ...
    pub state: String,
    /// Instances: both status checks pass.
    pub status_ok: bool,
    /// Instances: a status check failed (`impaired`): waiting for both to pass may be waiting
    /// for what never comes.
    pub impaired: bool,
    /// Instances: the availability zone. Restore jobs: the instance created.
    pub detail: Option<String>,
    /// When the resource reached `state` and EC2 showed it, whichever came later: a poller
    /// cannot see sooner (simulator only).
    pub ready_at: Option<Instant>,
    /// Instances: when both status checks passed (simulator only).
    pub status_ok_at: Option<Instant>,
}

impl Observed {
    /// A resource in `state`, with nothing else known.
    pub(crate) fn new(id: &str, state: &str) -> Observed {
        Observed {
            id: id.to_string(),
            state: state.to_string(),
            status_ok: false,
            impaired: false,
            detail: None,
            ready_at: None,
            status_ok_at: None,
        }
    }
}

/// The answer to a network or SSM check of an instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub passed: bool,
    /// When the check first could pass (simulator only).
    pub ready_at: Option<Instant>,
}

/// What a poller watches: which kind of resource one batched Describe is about (a resource
/// kind a run creates is `ResourceKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polled {
    Instance,
    Volume,
    RestoreJob,
    Image,
    /// A snapshot being copied: `pending`, then `completed`.
    Snapshot,
    /// A volume's initialization from its snapshot: `initializing`, then `completed` once
    /// every block is loaded (DescribeVolumeStatus's `initialization-state`).
    VolumeLoad,
}

impl Polled {
    /// AWS's error code for an id of this kind that does not exist.
    pub(crate) fn not_found_code(self) -> &'static str {
        match self {
            Polled::Instance => "InvalidInstanceID.NotFound",
            Polled::Volume | Polled::VolumeLoad => "InvalidVolume.NotFound",
            Polled::RestoreJob => "ResourceNotFoundException",
            Polled::Image => "InvalidAMIID.NotFound",
            Polled::Snapshot => "InvalidSnapshot.NotFound",
        }
    }

    pub(crate) fn describe_op(self) -> Op {
        match self {
            Polled::Instance => Op::DescribeInstanceStatus,
            Polled::Volume => Op::DescribeVolumes,
            Polled::RestoreJob => Op::DescribeRestoreJob,
            Polled::Image => Op::DescribeImages,
            Polled::Snapshot => Op::DescribeSnapshots,
            Polled::VolumeLoad => Op::DescribeVolumeStatus,
        }
    }
}

/// A kind of resource a run creates, and tears down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Instance,
    Volume,
    Image,
    Snapshot,
    /// An isolated drill's own security group.
    SecurityGroup,
}

impl ResourceKind {
    pub(crate) const ALL: [ResourceKind; 5] = [
        ResourceKind::Instance,
        ResourceKind::Volume,
        ResourceKind::Image,
        ResourceKind::Snapshot,
        ResourceKind::SecurityGroup,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ResourceKind::Instance => "instance",
            ResourceKind::Volume => "volume",
            ResourceKind::Image => "image",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::SecurityGroup => "security group",
        }
    }

    /// The call that deletes a resource of this kind.
    pub(crate) fn delete_op(self) -> Op {
        match self {
            ResourceKind::Instance => Op::TerminateInstances,
            ResourceKind::Volume => Op::DeleteVolume,
            ResourceKind::Image => Op::DeregisterImage,
            ResourceKind::Snapshot => Op::DeleteSnapshot,
            ResourceKind::SecurityGroup => Op::DeleteSecurityGroup,
        }
    }

    /// The Describe call that finds resources of this kind.
    pub(crate) fn describe_op(self) -> Op {
        match self {
            ResourceKind::Instance => Op::DescribeInstances,
            ResourceKind::Volume => Op::DescribeVolumes,
            ResourceKind::Image => Op::DescribeImages,
            ResourceKind::Snapshot => Op::DescribeSnapshots,
            ResourceKind::SecurityGroup => Op::DescribeSecurityGroups,
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most values one filter of an EC2 Describe call may hold: more is refused with
/// `FilterLimitExceeded` ("The maximum number of filter values specified on a single call is
/// 200"). A lookup by ids is a filter on the id (`Cloud::find`), so `exec::api` asks for at most
/// this many ids a call, and the simulator refuses more as EC2 does.
pub(crate) const FILTER_VALUES: usize = 200;

/// How long a resource just made may stay invisible to Describe calls (answered NotFound, or
/// left out of an answer) before it counts as not existing. EC2 is eventually consistent: an id
/// RunInstances or CreateVolume just returned can be `InvalidInstanceID.NotFound` /
/// `InvalidVolume.NotFound` for a while (the EC2 API reference's "Eventual consistency";
/// the SDK's own waiters retry those codes); usually seconds, rarely longer. The pollers and
/// teardown both wait this long, and the simulator makes new ids invisible for a few seconds.
pub(crate) const PROPAGATION: std::time::Duration = std::time::Duration::from_secs(60);

/// An instance profile's name: `web` of `web`, of `path/web`, or of its ARN
/// (`arn:aws:iam::ACCOUNT:instance-profile/path/web`), as IAM's GetInstanceProfile takes it.
pub(crate) fn instance_profile_name(profile: &str) -> &str {
    profile.rsplit('/').next().unwrap_or(profile)
}

/// What a runbook names that a run uses and does not make: preflight asks whether each exists
/// before anything is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Named {
    Subnet,
    SecurityGroup,
    KeyPair,
    InstanceProfile,
    /// A KMS key, by id, ARN or alias: usable only when enabled.
    KmsKey,
    /// An instance, volume, image or snapshot the runbook names by id.
    Resource(ResourceKind),
}

impl Named {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Named::Subnet => "subnet",
            Named::SecurityGroup => "security group",
            Named::KeyPair => "key pair",
            Named::InstanceProfile => "instance profile",
            Named::KmsKey => "KMS key",
            Named::Resource(kind) => kind.name(),
        }
    }

    /// The call that answers whether one exists.
    pub fn describe_op(self) -> Op {
        match self {
            Named::Subnet => Op::DescribeSubnets,
            Named::SecurityGroup => Op::DescribeSecurityGroups,
            Named::KeyPair => Op::DescribeKeyPairs,
            Named::InstanceProfile => Op::GetInstanceProfile,
            Named::KmsKey => Op::DescribeKey,
            Named::Resource(kind) => kind.describe_op(),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which resources `find` looks for: these ids (missing ones are left out, not an error), or
/// every one carrying all of these tags.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Ids(Vec<String>),
    Tags(Tags),
    /// Volumes attached to this instance (a restored instance's, which AWS Backup makes
    /// untagged); nothing of other kinds.
    AttachedTo(String),
}

/// A resource as it is now: what reconciliation adopts and what teardown checks before it
/// deletes anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub id: String,
    /// EC2's state name; `terminated`, `deleted` and `deregistered` mean gone.
    pub state: String,
    /// The live tags.
    pub tags: Tags,
    /// Instances and volumes: the availability zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// Instances.
    #[serde(default)]
    pub private_ip: Option<String>,
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Volumes: the instance it is attached to.
    #[serde(default)]
    pub attached_to: Option<String>,
}

impl Found {
    /// Whether the resource no longer exists (a terminated instance stays visible for a while).
    pub(crate) fn gone(&self) -> bool {
        matches!(
            self.state.as_str(),
            "terminated" | "deleted" | "deregistered"
        )
    }
}

/// Of `ids`, in their order, those `found` holds that a run can still use (not gone, not
/// shutting down): `existing` of the resource kinds, on every backend.
pub(crate) fn live_ids(found: &[Found], ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            found
                .iter()
                .any(|f| &f.id == *id && !f.gone() && f.state != "shutting-down")
        })
        .cloned()
        .collect()
}

/// Output of a local program (`exec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: String,
}

/// The operations the actions need. Futures need not be `Send`: rebound runs one
/// current-thread runtime (the simulator pauses its clock), and a recovery is bound by AWS,
/// not by a CPU.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    /// Which backend this is, for the journal and the report.
    fn backend(&self) -> Backend;
    /// The region every call is sent to.
    fn region(&self) -> String;
    /// The same account in another region: its own clients (or simulated state) and token
    /// buckets, as AWS's are per region. A run holds one per region its steps name (`Regions`).
    fn in_region(&self, region: &str) -> Self
    where
        Self: Sized;
    async fn describe_images(&self, q: &ImageQuery) -> Result<Vec<Image>, CloudError>;
    async fn describe_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, CloudError>;
    async fn list_recovery_points(
        &self,
        q: &RecoveryPointQuery,
    ) -> Result<Vec<RecoveryPoint>, CloudError>;
    async fn run_instances(&self, r: &LaunchRequest) -> Result<Launched, CloudError>;
    async fn create_volume(&self, r: &VolumeRequest) -> Result<String, CloudError>;
    async fn attach_volume(
        &self,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), CloudError>;
    async fn start_restore_job(&self, r: &RestoreRequest) -> Result<String, CloudError>;
    async fn create_image(&self, r: &ImageRequest) -> Result<String, CloudError>;
    /// CopyImage into this region; the new image's id (`pending` until copied).
    async fn copy_image(&self, r: &CopyRequest) -> Result<String, CloudError>;
    /// CopySnapshot into this region; the new snapshot's id (`pending` until copied).
    async fn copy_snapshot(&self, r: &CopyRequest) -> Result<String, CloudError>;
    /// One batched Describe of many resources of one kind (the shared poller's call).
    async fn describe(&self, kind: Polled, ids: &[String]) -> Result<Vec<Observed>, CloudError>;
    /// A network check of one instance (`tcp:`, `http:`); `ssm:` checks are commands.
    async fn probe(&self, instance: &str, check: &Check) -> Result<Probe, CloudError>;
    /// Of `instances`, those SSM knows, with their agents' ping status
    /// (DescribeInstanceInformation); one SSM has never heard of is not in the answer.
    async fn agents(&self, instances: &[String]) -> Result<Vec<Agent>, CloudError>;
    /// SendCommand: runs a script on instances through SSM; the command's id.
    async fn send_command(&self, r: &CommandRequest) -> Result<String, CloudError>;
    /// The id of the command sent since `since` whose comment is `comment` (ListCommands): a
    /// command whose SendCommand answer was lost, or an interrupted process sent.
    async fn find_command(
        &self,
        comment: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, CloudError>;
    /// Each instance's run of a command so far (ListCommandInvocations with Details); an
    /// instance SSM has not yet made an invocation for is not in the answer.
    async fn invocations(&self, command: &str) -> Result<Vec<Invocation>, CloudError>;
    /// The subnets of `ids` that exist, with their zones and free addresses.
    async fn subnets(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, CloudError>;
    /// Makes an isolated drill's security group, its default egress revoked and its rules
    /// set; the group's id.
    async fn create_sandbox(&self, r: &SandboxRequest) -> Result<String, CloudError>;
    /// Of `types`, those `zone` offers (DescribeInstanceTypeOfferings), in the order given.
    async fn offered(&self, zone: &str, types: &[String]) -> Result<Vec<String>, CloudError>;
    /// Whether the caller may pass `role` (iam:PassRole, which has no DryRun: IAM's policy
    /// simulator answers for the caller's own principal); `None` when that cannot be asked.
    async fn may_pass(&self, role: &str) -> Result<Option<bool>, CloudError>;
    /// Makes `call` with DryRun=true: nothing is made.
    async fn dry_run(&self, call: &DryRun) -> Result<Allowed, CloudError>;
    /// A local program (`exec`); the simulator only pretends.
    async fn exec(&self, command: &[String], env: &Tags) -> Result<ExecOutput, CloudError>;
    /// Resources of one kind by id or by tags, with their live tags (reconciliation and
    /// teardown). Instances that are shutting down or terminated are included: teardown
    /// verifies with it.
    async fn find(&self, kind: ResourceKind, lookup: &Lookup) -> Result<Vec<Found>, CloudError>;
    /// Terminates an instance, deletes a volume or snapshot, deregisters an image.
    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), CloudError>;
    /// Detaches a volume from whatever instance it is attached to.
    async fn detach_volume(&self, volume: &str) -> Result<(), CloudError>;
    /// The configuration the backed-up resource had (GetRecoveryPointRestoreMetadata): the
    /// restore metadata AWS documents as the start of a StartRestoreJob's.
    async fn restore_metadata(&self, vault: &str, recovery_point: &str)
    -> Result<Tags, CloudError>;
    /// The restore jobs of `recovery_point` created since `since`, newest first
    /// (ListRestoreJobs): a resume finds the job an interrupted process started, whose
    /// idempotency token may have expired.
    async fn restore_jobs(
        &self,
        recovery_point: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, CloudError>;
    /// Turns an instance's termination protection off (ModifyInstanceAttribute
    /// DisableApiTermination=false): a restored instance keeps the protection its original had,
    /// which would refuse a drill's TerminateInstances.
    async fn allow_termination(&self, instance: &str) -> Result<(), CloudError>;
    /// Tags a resource made by someone else on the run's behalf (a restore job's instance),
    /// so that reconciliation and teardown know it as the run's.
    async fn tag(&self, kind: ResourceKind, id: &str, tags: &Tags) -> Result<(), CloudError>;
    /// Which of `ids` exist now, in the order given: a subnet, group, key pair or instance
    /// profile that is there; an instance, volume, image or snapshot that is not gone (a
    /// terminated instance, a deregistered image do not exist for a run).
    async fn existing(&self, kind: Named, ids: &[String]) -> Result<Vec<String>, CloudError>;
}

/// The account in every region a run acts in, one `Cloud` each: the run's own region (where a
/// step without `region` runs) first, then each region a step names.
pub struct Regions<C> {
    clouds: Vec<(String, C)>,
}

impl<C: Cloud> Regions<C> {
    /// `home`, and `home.in_region(r)` for each of `others` not already there.
    pub fn new(home: C, others: &[String]) -> Regions<C> {
        let mut clouds = vec![(home.region(), home)];
        for r in others {
            if !clouds.iter().any(|(have, _)| have == r) {
                let cloud = clouds[0].1.in_region(r);
                clouds.push((r.clone(), cloud));
            }
        }
        Regions { clouds }
    }

    /// The run's own region.
    pub fn home(&self) -> &str {
        &self.clouds[0].0
    }

    /// The home region's cloud.
    pub fn first(&self) -> &C {
        &self.clouds[0].1
    }

    /// Where `region` is in `iter()`: 0 (home) for `None`, for the home region's name, and for
    /// a region not held (the checker and `new` make sure every step's region is).
    pub fn index(&self, region: Option<&str>) -> usize {
        region
            .and_then(|r| self.clouds.iter().position(|(have, _)| have == r))
            .unwrap_or(0)
    }

    /// The region's name, by its place in `iter()`.
    pub fn name(&self, index: usize) -> &str {
        &self.clouds[index].0
    }

    /// The region's cloud, by its place in `iter()`.
    pub fn get(&self, index: usize) -> &C {
        &self.clouds[index].1
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &C)> {
        self.clouds.iter().map(|(r, c)| (r.as_str(), c))
    }

    pub fn len(&self) -> usize {
        self.clouds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clouds.is_empty()
    }
}
