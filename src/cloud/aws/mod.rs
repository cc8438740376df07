//! The AWS backend: the `Cloud` trait on aws-sdk-ec2 and aws-sdk-backup, on aws-config's
//! default credential chain (env, profile, SSO, IMDS), with `--profile`, `--region`,
//! `--endpoint-url` and the runbook's `role` assumed through STS. This is the only module that
//! imports `aws_sdk_*`: everything else speaks the project's own types.
//!
//! Every listing pages (the SDK's paginators follow NextToken) with the largest MaxResults
//! each call takes (1000; DescribeVolumes 500): without one, EC2 answers a whole listing in one
//! response, which a large account can make time out. Calls naming ids (ImageIds,
//! SnapshotIds) take no MaxResults, as EC2 requires.
//!
//! Waiting, pacing and retries are not here: the executor's shared pollers call `describe`
//! with every id in flight, its client-side token buckets pace every call, and it alone retries
//! (`exec::api`, on the codes `CloudError::is_transient` names). The EC2, Backup and IAM
//! clients are built with the SDK's retries off, so that a call is never retried twice over; STS and the S3
//! history store, which the executor does not drive, keep the SDK's standard retry.

mod convert;
mod readiness;
pub(crate) mod s3;
mod sandbox;
mod ssm;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, IamInstanceProfileSpecification, InstanceType,
    ResourceType, TagSpecification, VolumeType,
};
use base64::Engine as _;

use self::convert::{all_pages, cloud_error, ec2_tags, parse_time, smithy_time};
use super::{
    Cloud, CloudError, CopyRequest, ExecOutput, Found, Image, ImageQuery, ImageRequest,
    LaunchRequest, Launched, Lookup, Named, Observed, Polled, Probe, RecoveryPoint,
    RecoveryPointQuery, ResourceKind, RestoreRequest, Snapshot, SnapshotQuery, Tags, VolumeRequest,
};
use crate::runbook::schema::Check;

/// Where and as whom to call AWS.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// An IAM role to assume (the runbook's `role`).
    pub role: Option<String>,
}

pub struct Aws {
    /// The region the clients were configured with.
    region: Option<String>,
    /// What the clients were made from, for the same account's clients in another region;
    /// none in tests on mocked clients.
    config: Option<aws_config::SdkConfig>,
    ec2: aws_sdk_ec2::Client,
    backup: aws_sdk_backup::Client,
    /// Run Command; none in tests on mocked EC2 clients that do not give one (`with_ssm`).
    ssm: Option<aws_sdk_ssm::Client>,
    /// Preflight's question of a launch's instance profile; none in tests on mocked clients.
    iam: Option<aws_sdk_iam::Client>,
    /// Preflight's question of the KMS keys a runbook names; none in tests on mocked clients.
    kms: Option<aws_sdk_kms::Client>,
    /// For the account id in reports; none in tests on mocked clients.
    sts: Option<aws_sdk_sts::Client>,
    /// Instance id to private IP, learnt from RunInstances, for network checks.
    private_ips: std::cell::RefCell<HashMap<String, String>>,
}

impl Aws {
    /// Loads credentials and region from the default chain and the settings.
    pub async fn connect(settings: &Settings) -> Aws {
        let config = load(settings).await;
        let region = config.region().map(std::string::ToString::to_string);
        Aws::on(config, region)
    }

    /// Clients of `config` in `region` (the configuration's own when `None`): the same
    /// credentials, profile and endpoints, another region's service endpoints.
    fn on(config: aws_config::SdkConfig, region: Option<String>) -> Aws {
        let config = match &region {
            Some(r) => config
                .into_builder()
                .region(aws_config::Region::new(r.clone()))
                .build(),
            None => config,
        };
        let no_retry = aws_sdk_ec2::config::retry::RetryConfig::disabled();
        let ec2 = aws_sdk_ec2::config::Builder::from(&config).retry_config(no_retry.clone());
        let backup = aws_sdk_backup::config::Builder::from(&config).retry_config(no_retry);
        let ssm = aws_sdk_ssm::config::Builder::from(&config)
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled());
        Aws {
            region,
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            backup: aws_sdk_backup::Client::from_conf(backup.build()),
            ssm: Some(aws_sdk_ssm::Client::from_conf(ssm.build())),
            iam: Some(aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
                    .build(),
            )),
            kms: Some(aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(&config)
                    .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                    .build(),
            )),
            sts: Some(aws_sdk_sts::Client::new(&config)),
            private_ips: std::cell::RefCell::new(HashMap::new()),
            config: Some(config),
        }
    }
}

/// The SDK configuration of the settings: the default chain, the profile, region and
/// endpoint given, and the role assumed through STS.
async fn load(settings: &Settings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &settings.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    // The base chain is registered too: its token signs the AssumeRole call.
    let config = registering(loader.load().await);
    let Some(role) = &settings.role else {
        return config;
    };
    let provider = aws_config::sts::AssumeRoleProvider::builder(role)
        .session_name("rebound")
        .configure(&config)
        .build()
        .await;
    config
        .into_builder()
        .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
            Registering(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                provider,
            )),
        ))
        .build()
}

/// The configuration with its credential chain wrapped in `Registering`.
fn registering(config: aws_config::SdkConfig) -> aws_config::SdkConfig {
    match config.credentials_provider() {
        Some(chain) => config
            .into_builder()
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                Registering(chain),
            ))
            .build(),
        None => config,
    }
}

/// The credential chain, with every secret key and session token it hands out registered with
/// `crate::secret` before the SDK signs (and may trace) anything with it: profiles, SSO and an
/// assumed role give credentials that the environment never held.
#[derive(Debug)]
struct Registering(aws_sdk_ec2::config::SharedCredentialsProvider);

impl ProvideCredentials for Registering {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let credentials = self.0.provide_credentials().await?;
            crate::secret::register(credentials.secret_access_key());
            if let Some(token) = credentials.session_token() {
                crate::secret::register(token);
            }
            Ok(credentials)
        })
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().collect()))
        .build()
}

fn tag_filters(tags: &Tags) -> Vec<Filter> {
    tags.iter()
        .map(|(k, v)| filter(&format!("tag:{k}"), [v.clone()]))
        .collect()
}

/// A call whose answer carries nothing rebound needs.
fn unit<T, E>(r: Result<T, aws_sdk_ec2::error::SdkError<E>>) -> Result<(), CloudError>
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    r.map(|_| ()).map_err(cloud_error)
}

/// RunInstances takes an instance profile by name or by ARN, each in its own field: an ARN
/// given as the name is refused.
fn profile_spec(p: &str) -> IamInstanceProfileSpecification {
    let spec = IamInstanceProfileSpecification::builder();
    if p.starts_with("arn:") {
        spec.arn(p).build()
    } else {
        spec.name(p).build()
    }
}

fn tag_spec(kind: ResourceType, tags: &Tags) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(ec2_tags(tags)))
        .build()
}

/// A resource as `find` gives it, with nothing known but its id, state and tags.
fn found(id: &str, state: &str, tags: Tags) -> Found {
    Found {
        id: id.to_string(),
        state: state.to_string(),
        tags,
        zone: None,
        private_ip: None,
        instance_type: None,
        attached_to: None,
    }
}

/// The id a create answered; an answer without one is an error, not an empty id.
fn answered(id: Option<&str>, op: &str, what: &str) -> Result<String, CloudError> {
    id.map(str::to_string)
        .ok_or_else(|| CloudError::new("InvalidResponse", format!("{op} returned no {what}")))
}

/// What `call` answers for `ids`, leaving out the ids that do not exist: an id list fails as a
/// whole (`not_found`) on the first unknown id, so a failing list is asked again in halves until
/// each unknown id is alone, and dropped. One call when every id exists; about 2 log2(n) more per
/// missing id.
async fn by_ids<T, F, Fut>(ids: &[String], not_found: &str, call: F) -> Result<Vec<T>, CloudError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, CloudError>>,
{
    let mut out = Vec::new();
    let mut todo = vec![ids.to_vec()];
    while let Some(batch) = todo.pop() {
        if batch.is_empty() {
            continue;
        }
        match call(batch.clone()).await {
            Ok(found) => out.extend(found),
            Err(e) if e.code == not_found && batch.len() > 1 => {
                let (a, b) = batch.split_at(batch.len() / 2);
                todo.push(b.to_vec());
                todo.push(a.to_vec());
            }
            // Alone and not found: it does not exist (or has not propagated), and is left out.
            Err(e) if e.code == not_found => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `list_images` and `list_snapshots`, which differ only by the SDK's names: every item of
/// `owners` (any owner: none given), or of `ids`, that the filters match, all pages (`find`,
/// `describe_images`, `describe_snapshots`). Pages are asked for with the largest MaxResults,
/// which EC2 refuses alongside ImageIds or SnapshotIds (an id list fails NotFound on a missing
/// id instead: see `by_ids`).
macro_rules! listing {
    ($name:ident, $call:ident, $set_owners:ident, $set_ids:ident, $items:ident, $item:ty) => {
        async fn $name(
            &self,
            owners: Option<Vec<String>>,
            ids: Option<Vec<String>>,
            filters: Vec<Filter>,
        ) -> Result<Vec<$item>, CloudError> {
            let by_id = ids.is_some();
            let call = self
                .ec2
                .$call()
                .$set_owners(owners)
                .$set_ids(ids)
                .set_filters((!filters.is_empty()).then_some(filters));
            let pages = call.into_paginator();
            all_pages!(if by_id { pages } else { pages.page_size(1000) }, |p| p
                .$items()
                .to_vec())
        }
    };
}

/// The Describe calls behind `Cloud::describe` (what the pollers watch) and `Cloud::find`
/// (reconciliation and teardown), one per kind.
impl Aws {
    /// RunInstances as `r` asks, not yet sent: the launch sends it, preflight with DryRun.
    pub(super) fn launch_call(
        &self,
        r: &LaunchRequest,
    ) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
        let count = i32::try_from(r.count).unwrap_or(1);
        let mappings: Vec<BlockDeviceMapping> = r
            .volumes
            .iter()
            .map(|v| {
                BlockDeviceMapping::builder()
                    .device_name(&v.device)
                    .ebs(
                        EbsBlockDevice::builder()
                            .snapshot_id(&v.snapshot)
                            .set_volume_type(v.volume_type.as_deref().map(VolumeType::from))
                            .set_volume_size(v.size_gib.and_then(|s| i32::try_from(s).ok()))
                            .set_iops(v.iops.and_then(|s| i32::try_from(s).ok()))
                            .set_throughput(v.throughput.and_then(|s| i32::try_from(s).ok()))
                            .set_kms_key_id(v.kms_key.clone())
                            // A key is only used for an encrypted volume; AWS refuses it alone.
                            .set_encrypted(v.kms_key.is_some().then_some(true))
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build()
            })
            .collect();
        // The root volume and any `volumes` carry the run's tags too: whatever the launch
        // makes is found by tag (reconciliation, teardown).
        let specs = vec![
            tag_spec(ResourceType::Instance, &r.tags),
            tag_spec(ResourceType::Volume, &r.tags),
        ];
        let groups = (!r.security_groups.is_empty()).then(|| r.security_groups.clone());
        let call = self
            .ec2
            .run_instances()
            .image_id(&r.image)
            .instance_type(InstanceType::from(r.instance_type.as_str()))
            .min_count(count)
            .max_count(count);
        // No public address whatever the subnet's default: only a network interface
        // specification can say so, and it then carries the subnet and the groups.
        let call = if r.public_ip {
            call.subnet_id(&r.subnet).set_security_group_ids(groups)
        } else {
            call.network_interfaces(
                aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
                    .device_index(0)
                    .subnet_id(&r.subnet)
                    .set_groups(groups)
                    .associate_public_ip_address(false)
                    .delete_on_termination(true)
                    .build(),
            )
        };
        call.set_key_name(r.key_name.clone())
            .set_iam_instance_profile(r.instance_profile.as_deref().map(profile_spec))
            .set_user_data(
                r.user_data
                    .as_ref()
                    .map(|u| base64::engine::general_purpose::STANDARD.encode(u)),
            )
            .set_block_device_mappings((!mappings.is_empty()).then_some(mappings))
            .set_tag_specifications(Some(specs))
            .client_token(&r.client_token)
    }

    /// CreateVolume as `r` asks, not yet sent: the step sends it, preflight with DryRun.
    pub(super) fn volume_call(
        &self,
        r: &VolumeRequest,
    ) -> aws_sdk_ec2::operation::create_volume::builders::CreateVolumeFluentBuilder {
        self.ec2
            .create_volume()
            .snapshot_id(&r.snapshot)
            .availability_zone(&r.zone)
            .set_volume_type(r.volume_type.as_deref().map(VolumeType::from))
            .set_size(r.size_gib.and_then(|s| i32::try_from(s).ok()))
            .set_iops(r.iops.and_then(|s| i32::try_from(s).ok()))
            .set_throughput(r.throughput.and_then(|s| i32::try_from(s).ok()))
            .set_kms_key_id(r.kms_key.clone())
            // A key is only used for an encrypted volume; AWS refuses it alone.
            .set_encrypted(r.kms_key.is_some().then_some(true))
            .set_volume_initialization_rate(
                r.initialization_rate.and_then(|s| i32::try_from(s).ok()),
            )
            .tag_specifications(tag_spec(ResourceType::Volume, &r.tags))
            .client_token(&r.client_token)
    }

    /// Instances: state, zone and both status checks, from one DescribeInstanceStatus per 100 ids.
    async fn observe_instances(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        // One call gives state, zone and both status checks; at most 100 ids a call.
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let answer = self
                .ec2
                .describe_instance_status()
                .set_instance_ids(Some(chunk.to_vec()))
                .include_all_instances(true)
                .send()
                .await
                .map_err(cloud_error)?;
            for s in answer.instance_statuses() {
                let Some(id) = s.instance_id() else { continue };
                let state = s
                    .instance_state()
                    .and_then(|st| st.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                let is = |x: Option<&aws_sdk_ec2::types::InstanceStatusSummary>, want: &str| {
                    x.and_then(|x| x.status())
                        .is_some_and(|st| st.as_str() == want)
                };
                let (system, instance) = (s.system_status(), s.instance_status());
                out.push(Observed {
                    status_ok: is(system, "ok") && is(instance, "ok"),
                    impaired: is(system, "impaired") || is(instance, "impaired"),
                    detail: s.availability_zone().map(str::to_string),
                    ..Observed::new(id, &state)
                });
            }
        }
        Ok(out)
    }
    /// Volumes: state, `in-use` only once the attachment is `attached`. Asked by a `volume-id`
    /// filter, not `VolumeIds`: a volume made a moment ago that EC2 does not show yet (it is
    /// eventually consistent) is left out of the answer, where the id list fails the whole call
    /// with `InvalidVolume.NotFound` and every other volume's answer waits for a second call.
    async fn observe_volumes(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        let call = self
            .ec2
            .describe_volumes()
            .filters(filter("volume-id", ids.iter().cloned()));
        let volumes = all_pages!(call.into_paginator().page_size(500), |p| p
            .volumes()
            .to_vec())?;
        Ok(volumes
            .iter()
            .filter_map(|v| {
                let id = v.volume_id()?;
                let attached = v
                    .attachments()
                    .iter()
                    .any(|a| a.state().is_some_and(|s| s.as_str() == "attached"));
                let state = match v.state().map(aws_sdk_ec2::types::VolumeState::as_str) {
                    Some("in-use") if !attached => "attaching".to_string(),
                    Some(s) => s.to_string(),
                    None => String::new(),
                };
                Some(Observed::new(id, &state))
            })
            .collect())
    }
    /// Volumes: how far their initialization from the snapshot is.
    async fn observe_volume_loads(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        let answer = self
            .ec2
            .describe_volume_status()
            .set_volume_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(answer
            .volume_statuses()
            .iter()
            .filter_map(|v| {
                Some(Observed::new(
                    v.volume_id()?,
                    convert::initialization_state(v),
                ))
            })
            .collect())
    }
    /// Restore jobs: status, and the instance a finished job made.
    async fn observe_restore_jobs(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        let mut out = Vec::new();
        for id in ids {
            let job = self
                .backup
                .describe_restore_job()
                .restore_job_id(id)
                .send()
                .await
                .map_err(cloud_error)?;
            let instance = job
                .created_resource_arn()
                .and_then(|arn| arn.rsplit_once("instance/").map(|(_, i)| i.to_string()));
            out.push(Observed {
                detail: instance,
                ..Observed::new(
                    id,
                    job.status()
                        .map(aws_sdk_backup::types::RestoreJobStatus::as_str)
                        .unwrap_or_default(),
                )
            });
        }
        Ok(out)
    }
    /// Snapshots: state (`pending`, `completed`, `error`).
    async fn observe_snapshots(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        let answer = self
            .ec2
            .describe_snapshots()
            .set_snapshot_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(answer
            .snapshots()
            .iter()
            .filter_map(|s| {
                Some(Observed::new(
                    s.snapshot_id()?,
                    s.state()
                        .map(aws_sdk_ec2::types::SnapshotState::as_str)
                        .unwrap_or_default(),
                ))
            })
            .collect())
    }
    /// Images: state.
    async fn observe_images(&self, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        let answer = self
            .ec2
            .describe_images()
            .set_image_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(answer
            .images()
            .iter()
            .filter_map(|i| {
                Some(Observed::new(
                    i.image_id()?,
                    i.state()
                        .map(aws_sdk_ec2::types::ImageState::as_str)
                        .unwrap_or_default(),
                ))
            })
            .collect())
    }

    /// Instances, with their zone, private IP and type.
    async fn find_instances(&self, filters: Vec<Filter>) -> Result<Vec<Found>, CloudError> {
        let call = self.ec2.describe_instances().set_filters(Some(filters));
        let instances = all_pages!(call.into_paginator().page_size(1000), |p| {
            p.reservations()
                .iter()
                .flat_map(|r| r.instances().iter().cloned())
                .collect()
        })?;
        Ok(instances
            .iter()
            .filter_map(|i| {
                let state = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                Some(Found {
                    zone: i
                        .placement()
                        .and_then(|p| p.availability_zone())
                        .map(str::to_string),
                    private_ip: i.private_ip_address().map(str::to_string),
                    instance_type: i.instance_type().map(|t| t.as_str().to_string()),
                    ..found(i.instance_id()?, &state, convert::tags_of(i.tags()))
                })
            })
            .collect())
    }

    /// Volumes, with their zone and the instance they are attached to.
    async fn find_volumes(&self, filters: Vec<Filter>) -> Result<Vec<Found>, CloudError> {
        let call = self.ec2.describe_volumes().set_filters(Some(filters));
        let volumes = all_pages!(call.into_paginator().page_size(500), |p| p
            .volumes()
            .to_vec())?;
        Ok(volumes
            .iter()
            .filter_map(|v| {
                let state = v
                    .state()
                    .map(aws_sdk_ec2::types::VolumeState::as_str)
                    .unwrap_or_default();
                Some(Found {
                    zone: v.availability_zone().map(str::to_string),
                    attached_to: v
                        .attachments()
                        .iter()
                        .find(|a| {
                            a.state()
                                .is_some_and(|s| matches!(s.as_str(), "attached" | "attaching"))
                        })
                        .and_then(|a| a.instance_id())
                        .map(str::to_string),
                    ..found(v.volume_id()?, state, convert::tags_of(v.tags()))
                })
            })
            .collect())
    }

    listing!(
        list_images,
        describe_images,
        set_owners,
        set_image_ids,
        images,
        aws_sdk_ec2::types::Image
    );
    listing!(
        list_snapshots,
        describe_snapshots,
        set_owner_ids,
        set_snapshot_ids,
        snapshots,
        aws_sdk_ec2::types::Snapshot
    );

    /// Images.
    async fn find_images(
        &self,
        filters: Vec<Filter>,
        owners: Option<Vec<String>>,
    ) -> Result<Vec<Found>, CloudError> {
        let images = self.list_images(owners, None, filters).await?;
        Ok(images
            .iter()
            .filter_map(|i| {
                let state = i
                    .state()
                    .map(aws_sdk_ec2::types::ImageState::as_str)
                    .unwrap_or_default();
                Some(found(i.image_id()?, state, convert::tags_of(i.tags())))
            })
            .collect())
    }

    /// Snapshots.
    async fn find_snapshots(
        &self,
        filters: Vec<Filter>,
        owners: Option<Vec<String>>,
    ) -> Result<Vec<Found>, CloudError> {
        let snapshots = self.list_snapshots(owners, None, filters).await?;
        Ok(snapshots
            .iter()
            .filter_map(|s| {
                let state = s
                    .state()
                    .map(aws_sdk_ec2::types::SnapshotState::as_str)
                    .unwrap_or_default();
                Some(found(s.snapshot_id()?, state, convert::tags_of(s.tags())))
            })
            .collect())
    }
}

impl Cloud for Aws {
    fn backend(&self) -> super::Backend {
        super::Backend::Aws
    }

    fn region(&self) -> String {
        self.region.clone().unwrap_or_default()
    }

    fn in_region(&self, region: &str) -> Aws {
        match &self.config {
            Some(config) => Aws::on(config.clone(), Some(region.to_string())),
            // Mocked clients answer for every region.
            None => Aws {
                region: Some(region.to_string()),
                config: None,
                ec2: self.ec2.clone(),
                backup: self.backup.clone(),
                ssm: self.ssm.clone(),
                iam: self.iam.clone(),
                kms: self.kms.clone(),
                sts: self.sts.clone(),
                private_ips: std::cell::RefCell::new(HashMap::new()),
            },
        }
    }

    async fn describe_images(&self, q: &ImageQuery) -> Result<Vec<Image>, CloudError> {
        let mut filters = tag_filters(&q.tags);
        if let Some(name) = &q.name {
            filters.push(filter("name", [name.clone()]));
        }
        let owners = (!q.owners.is_empty()).then(|| q.owners.clone());
        // By id with no owner: ImageIds, exact and quick, where a filter on image-id alone
        // runs over every public image. One id that does not exist fails the whole call
        // (InvalidAMIID.NotFound), where a find's candidates may include gone ones: the ids
        // are asked in halves until the missing ones are alone, and left out. Within owners,
        // a filter: what does not exist is simply not answered.
        let images = if owners.is_none() && !q.ids.is_empty() {
            by_ids(&q.ids, "InvalidAMIID.NotFound", |ids| {
                self.list_images(None, Some(ids), filters.clone())
            })
            .await?
        } else {
            if !q.ids.is_empty() {
                filters.push(filter("image-id", q.ids.iter().cloned()));
            }
            self.list_images(owners, None, filters).await?
        };
        Ok(images
            .iter()
            .filter_map(|i| {
                Some(Image {
                    id: i.image_id()?.to_string(),
                    name: i.name().unwrap_or_default().to_string(),
                    created: parse_time(i.creation_date()?)?,
                    state: i
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    owner: i.owner_id().unwrap_or_default().to_string(),
                    tags: convert::tags_of(i.tags()),
                })
            })
            .collect())
    }

    async fn describe_snapshots(&self, q: &SnapshotQuery) -> Result<Vec<Snapshot>, CloudError> {
        let mut filters = tag_filters(&q.tags);
        if let Some(v) = &q.volume {
            filters.push(filter("volume-id", [v.clone()]));
        }
        let owners = if q.owners.is_empty() {
            vec!["self".to_string()]
        } else {
            q.owners.clone()
        };
        // By id, a snapshot shared with the account is found too, so no owner is asked for:
        // SnapshotIds, as for images (InvalidSnapshot.NotFound for a missing one), not a
        // snapshot-id filter over every public snapshot.
        let snapshots = if q.ids.is_empty() {
            self.list_snapshots(Some(owners), None, filters).await?
        } else {
            by_ids(&q.ids, "InvalidSnapshot.NotFound", |ids| {
                self.list_snapshots(None, Some(ids), filters.clone())
            })
            .await?
        };
        Ok(snapshots
            .iter()
            .filter_map(|s| {
                Some(Snapshot {
                    id: s.snapshot_id()?.to_string(),
                    created: smithy_time(s.start_time()?)?,
                    state: s
                        .state()
                        .map(|x| x.as_str().to_string())
                        .unwrap_or_default(),
                    size_gib: u32::try_from(s.volume_size().unwrap_or(0)).unwrap_or(0),
                    volume: s.volume_id().map(str::to_string),
                    owner: s.owner_id().unwrap_or_default().to_string(),
                    tags: convert::tags_of(s.tags()),
                })
            })
            .collect())
    }

    async fn list_recovery_points(
        &self,
        q: &RecoveryPointQuery,
    ) -> Result<Vec<RecoveryPoint>, CloudError> {
        let mut points = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .backup
                .list_recovery_points_by_backup_vault()
                .backup_vault_name(&q.vault)
                .max_results(1000)
                .set_by_resource_arn(q.resource.clone())
                .set_by_resource_type(q.resource_type.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(cloud_error)?;
            for p in out.recovery_points() {
                let (Some(arn), Some(created)) = (
                    p.recovery_point_arn(),
                    p.creation_date().and_then(smithy_time),
                ) else {
                    continue;
                };
                points.push(RecoveryPoint {
                    arn: arn.to_string(),
                    vault: q.vault.clone(),
                    created,
                    status: p
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    resource: p.resource_arn().unwrap_or_default().to_string(),
                    resource_type: p.resource_type().unwrap_or_default().to_string(),
                    termination_protection: false,
                    restore_metadata: Tags::new(),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(points)
    }

    async fn run_instances(&self, r: &LaunchRequest) -> Result<Launched, CloudError> {
        let out = self.launch_call(r).send().await.map_err(cloud_error)?;
        let instances = out.instances();
        let zone = instances
            .first()
            .and_then(|i| i.placement())
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string();
        let mut ips = self.private_ips.borrow_mut();
        let mut launched = Launched {
            instances: Vec::new(),
            zone,
            private_ips: Vec::new(),
            instance_type: r.instance_type.clone(),
        };
        for i in instances {
            let Some(id) = i.instance_id() else { continue };
            let ip = i.private_ip_address().unwrap_or_default().to_string();
            ips.insert(id.to_string(), ip.clone());
            launched.instances.push(id.to_string());
            launched.private_ips.push(ip);
        }
        Ok(launched)
    }

    async fn create_volume(&self, r: &VolumeRequest) -> Result<String, CloudError> {
        let out = self.volume_call(r).send().await.map_err(cloud_error)?;
        answered(out.volume_id(), "CreateVolume", "volume id")
    }

    async fn attach_volume(
        &self,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), CloudError> {
        self.ec2
            .attach_volume()
            .volume_id(volume)
            .instance_id(instance)
            .device(device)
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(())
    }

    async fn start_restore_job(&self, r: &RestoreRequest) -> Result<String, CloudError> {
        let out = self
            .backup
            .start_restore_job()
            .recovery_point_arn(&r.recovery_point)
            .iam_role_arn(&r.role)
            .set_metadata(Some(r.metadata.clone().into_iter().collect()))
            .idempotency_token(&r.idempotency_token)
            .send()
            .await
            .map_err(cloud_error)?;
        answered(out.restore_job_id(), "StartRestoreJob", "job id")
    }

    async fn create_image(&self, r: &ImageRequest) -> Result<String, CloudError> {
        let out = self
            .ec2
            .create_image()
            .instance_id(&r.instance)
            .name(&r.name)
            .no_reboot(!r.reboot)
            .tag_specifications(tag_spec(ResourceType::Image, &r.tags))
            // The image's snapshots carry the run's tags too, so teardown finds them.
            .tag_specifications(tag_spec(ResourceType::Snapshot, &r.tags))
            .send()
            .await
            .map_err(cloud_error)?;
        answered(out.image_id(), "CreateImage", "image id")
    }

    async fn copy_image(&self, r: &CopyRequest) -> Result<String, CloudError> {
        let out = self
            .ec2
            .copy_image()
            .source_image_id(&r.source)
            .source_region(&r.source_region)
            .name(&r.name)
            .set_encrypted(r.kms_key.is_some().then_some(true))
            .set_kms_key_id(r.kms_key.clone())
            .client_token(&r.client_token)
            // The copy and its snapshots carry the run's tags, so teardown finds both.
            .tag_specifications(tag_spec(ResourceType::Image, &r.tags))
            .tag_specifications(tag_spec(ResourceType::Snapshot, &r.tags))
            .send()
            .await
            .map_err(cloud_error)?;
        answered(out.image_id(), "CopyImage", "image id")
    }

    async fn copy_snapshot(&self, r: &CopyRequest) -> Result<String, CloudError> {
        let out = self
            .ec2
            .copy_snapshot()
            .source_snapshot_id(&r.source)
            .source_region(&r.source_region)
            .description(&r.name)
            .set_encrypted(r.kms_key.is_some().then_some(true))
            .set_kms_key_id(r.kms_key.clone())
            .tag_specifications(tag_spec(ResourceType::Snapshot, &r.tags))
            .send()
            .await
            .map_err(cloud_error)?;
        answered(out.snapshot_id(), "CopySnapshot", "snapshot id")
    }

    async fn describe(&self, kind: Polled, ids: &[String]) -> Result<Vec<Observed>, CloudError> {
        match kind {
            Polled::Snapshot => self.observe_snapshots(ids).await,
            Polled::Instance => self.observe_instances(ids).await,
            Polled::Volume => self.observe_volumes(ids).await,
            Polled::VolumeLoad => self.observe_volume_loads(ids).await,
            Polled::RestoreJob => self.observe_restore_jobs(ids).await,
            Polled::Image => self.observe_images(ids).await,
        }
    }

    async fn probe(&self, instance: &str, check: &Check) -> Result<Probe, CloudError> {
        let ip = self.private_ips.borrow().get(instance).cloned();
        let ip = match ip {
            Some(ip) if !ip.is_empty() => ip,
            _ => self.private_ip(instance).await?,
        };
        let passed = match check {
            Check::Tcp { port } => convert::tcp_open(&ip, *port).await,
            Check::Http { port, path } => convert::http_ok(&ip, *port, path).await,
            // Polled, and `ssm:` checks are commands (`send_command`): nothing to probe.
            Check::Running | Check::StatusOk | Check::Ssm { .. } => true,
        };
        Ok(Probe {
            passed,
            ready_at: None,
        })
    }

    async fn agents(&self, instances: &[String]) -> Result<Vec<super::Agent>, CloudError> {
        self.ssm_agents(instances).await
    }

    async fn send_command(&self, r: &super::CommandRequest) -> Result<String, CloudError> {
        self.ssm_send(r).await
    }

    async fn find_command(
        &self,
        comment: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<String>, CloudError> {
        self.ssm_find(comment, since).await
    }

    async fn invocations(&self, command: &str) -> Result<Vec<super::Invocation>, CloudError> {
        self.ssm_invocations(command).await
    }

    async fn create_sandbox(&self, r: &super::SandboxRequest) -> Result<String, CloudError> {
        self.make_sandbox(r).await
    }

    async fn subnets(&self, ids: &[String]) -> Result<Vec<super::SubnetInfo>, CloudError> {
        self.subnet_infos(ids).await
    }

    async fn offered(&self, zone: &str, types: &[String]) -> Result<Vec<String>, CloudError> {
        self.offerings(zone, types).await
    }

    async fn may_pass(&self, role: &str) -> Result<Option<bool>, CloudError> {
        self.simulate_pass(role).await
    }

    async fn dry_run(&self, call: &super::DryRun) -> Result<super::Allowed, CloudError> {
        self.try_dry(call).await
    }

    async fn exec(&self, command: &[String], env: &Tags) -> Result<ExecOutput, CloudError> {
        convert::run_local(command, env).await
    }

    async fn find(&self, kind: ResourceKind, lookup: &Lookup) -> Result<Vec<Found>, CloudError> {
        // Filters, not ids: a filter on an id that does not exist answers nothing, where the
        // id list answers an error for the whole call.
        let (filters, owners) = match lookup {
            Lookup::Ids(ids) => {
                let name = match kind {
                    ResourceKind::Instance => "instance-id",
                    ResourceKind::Volume => "volume-id",
                    ResourceKind::Image => "image-id",
                    ResourceKind::Snapshot => "snapshot-id",
                    ResourceKind::SecurityGroup => "group-id",
                };
                (vec![filter(name, ids.iter().cloned())], None)
            }
            // By tag, only what this account owns: anyone may tag a public image.
            Lookup::Tags(tags) => (tag_filters(tags), Some(vec!["self".to_string()])),
            Lookup::AttachedTo(instance) if kind == ResourceKind::Volume => (
                vec![filter("attachment.instance-id", [instance.clone()])],
                None,
            ),
            Lookup::AttachedTo(_) => return Ok(Vec::new()),
        };
        let mut out = match kind {
            ResourceKind::Instance => self.find_instances(filters).await?,
            ResourceKind::Volume => self.find_volumes(filters).await?,
            ResourceKind::Image => self.find_images(filters, owners).await?,
            ResourceKind::Snapshot => self.find_snapshots(filters, owners).await?,
            ResourceKind::SecurityGroup => self.find_groups(filters).await?,
        };
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete(&self, kind: ResourceKind, id: &str) -> Result<(), CloudError> {
        let ec2 = &self.ec2;
        match kind {
            ResourceKind::Instance => unit(ec2.terminate_instances().instance_ids(id).send().await),
            ResourceKind::Volume => unit(ec2.delete_volume().volume_id(id).send().await),
            ResourceKind::Image => unit(ec2.deregister_image().image_id(id).send().await),
            ResourceKind::Snapshot => unit(ec2.delete_snapshot().snapshot_id(id).send().await),
            ResourceKind::SecurityGroup => {
                unit(ec2.delete_security_group().group_id(id).send().await)
            }
        }
    }

    async fn existing(&self, kind: Named, ids: &[String]) -> Result<Vec<String>, CloudError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Filters again: they answer what exists, where an id list fails the whole call on
        // the first id that does not.
        let by = |name: &str| filter(name, ids.iter().cloned());
        let there: Vec<String> = match kind {
            Named::Resource(kind) => {
                let found = self.find(kind, &Lookup::Ids(ids.to_vec())).await?;
                return Ok(super::live_ids(&found, ids));
            }
            Named::Subnet => self
                .subnet_infos(ids)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect(),
            Named::SecurityGroup => self
                .find_groups(vec![by("group-id")])
                .await?
                .into_iter()
                .map(|g| g.id)
                .collect(),
            // DescribeKeyPairs does not page: it answers every key pair at once.
            Named::KeyPair => self
                .ec2
                .describe_key_pairs()
                .filters(by("key-name"))
                .send()
                .await
                .map_err(cloud_error)?
                .key_pairs()
                .iter()
                .filter_map(|k| k.key_name())
                .map(str::to_string)
                .collect(),
            Named::InstanceProfile => self.instance_profiles(ids).await?,
            Named::KmsKey => self.enabled_keys(ids).await?,
        };
        Ok(ids
            .iter()
            .filter(|id| there.contains(id))
            .cloned()
            .collect())
    }

    async fn restore_metadata(
        &self,
        vault: &str,
        recovery_point: &str,
    ) -> Result<Tags, CloudError> {
        let out = self
            .backup
            .get_recovery_point_restore_metadata()
            .backup_vault_name(vault)
            .recovery_point_arn(recovery_point)
            .send()
            .await
            .map_err(cloud_error)?;
        Ok(out
            .restore_metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn restore_jobs(
        &self,
        recovery_point: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, CloudError> {
        // ListRestoreJobs filters by creation time, not by recovery point: that is read from
        // each job.
        let call = self.backup.list_restore_jobs().by_created_after(
            aws_sdk_backup::primitives::DateTime::from_secs(since.timestamp()),
        );
        let mut jobs = all_pages!(call.into_paginator().page_size(1000), |p| {
            p.restore_jobs()
                .iter()
                .filter(|j| j.recovery_point_arn() == Some(recovery_point))
                .filter_map(|j| {
                    let created = j.creation_date().and_then(smithy_time);
                    Some((created, j.restore_job_id()?.to_string()))
                })
                .collect()
        })?;
        jobs.sort_by(|a, b| b.cmp(a));
        Ok(jobs.into_iter().map(|(_, id)| id).collect())
    }

    async fn allow_termination(&self, instance: &str) -> Result<(), CloudError> {
        let call = self
            .ec2
            .modify_instance_attribute()
            .instance_id(instance)
            .disable_api_termination(
                aws_sdk_ec2::types::AttributeBooleanValue::builder()
                    .value(false)
                    .build(),
            );
        unit(call.send().await)
    }

    async fn tag(&self, _kind: ResourceKind, id: &str, tags: &Tags) -> Result<(), CloudError> {
        let call = self.ec2.create_tags().resources(id);
        unit(call.set_tags(Some(ec2_tags(tags))).send().await)
    }

    async fn detach_volume(&self, volume: &str) -> Result<(), CloudError> {
        unit(self.ec2.detach_volume().volume_id(volume).send().await)
    }
}

impl Aws {
    /// The region the clients call, if the settings or the default chain gave one.
    pub fn configured_region(&self) -> Option<String> {
        self.region.clone()
    }

    /// The account's inventory in this region as a simulator world: images and snapshots it
    /// owns, the recovery points of every backup vault, subnets and security groups. With it,
    /// `rebound run --sim-world` rehearses a runbook offline against what really exists.
    pub async fn inventory(&self, region: &str) -> Result<super::sim::World, CloudError> {
        // The account's own, written as owned by `self`, as the simulator's `Owners` reads it.
        let images = self
            .describe_images(&ImageQuery {
                owners: vec!["self".to_string()],
                ..ImageQuery::default()
            })
            .await?
            .into_iter()
            .map(|i| Image {
                owner: "self".to_string(),
                ..i
            })
            .collect();
        let snapshots = self.describe_snapshots(&SnapshotQuery::default()).await?;
        let mut recovery_points = Vec::new();
        let vaults = all_pages!(
            self.backup
                .list_backup_vaults()
                .into_paginator()
                .page_size(1000),
            |p| {
                p.backup_vault_list()
                    .iter()
                    .filter_map(|v| v.backup_vault_name().map(str::to_string))
                    .collect()
            }
        )?;
        for name in vaults {
            recovery_points.extend(
                self.list_recovery_points(&RecoveryPointQuery {
                    vault: name,
                    ..RecoveryPointQuery::default()
                })
                .await?,
            );
        }
        let subnets = all_pages!(
            self.ec2.describe_subnets().into_paginator().page_size(1000),
            |p| {
                p.subnets()
                    .iter()
                    .filter_map(|s| {
                        Some((
                            s.subnet_id()?.to_string(),
                            s.availability_zone()?.to_string(),
                        ))
                    })
                    .collect()
            }
        )?
        .into_iter()
        .collect();
        let security_groups = all_pages!(
            self.ec2
                .describe_security_groups()
                .into_paginator()
                .page_size(1000),
            |p| {
                p.security_groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect()
            }
        )?;
        let key_pairs = self
            .ec2
            .describe_key_pairs()
            .send()
            .await
            .map_err(cloud_error)?
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name().map(str::to_string))
            .collect();
        Ok(super::sim::World {
            region: region.to_string(),
            regions: std::collections::BTreeMap::new(),
            images,
            snapshots,
            recovery_points,
            subnets,
            security_groups,
            key_pairs: Some(key_pairs),
            // Listing them needs IAM's ListInstanceProfiles; left out, the simulator takes
            // every name.
            instance_profiles: None,
            // What preflight asks of a rehearsal's world: every type offered, 250 addresses a
            // subnet, nothing denied, unless the file says otherwise.
            ..super::sim::World::default()
        })
    }

    /// An `Aws` on clients made elsewhere (tests with mocked answers).
    #[cfg(test)]
    pub(crate) fn from_clients(ec2: aws_sdk_ec2::Client, backup: aws_sdk_backup::Client) -> Aws {
        Aws {
            region: Some("eu-west-1".to_string()),
            config: None,
            ec2,
            backup,
            ssm: None,
            iam: None,
            kms: None,
            sts: None,
            private_ips: std::cell::RefCell::new(HashMap::new()),
        }
    }

    /// The same, with a (mocked) STS client.
    #[cfg(test)]
    pub(crate) fn with_sts(mut self, sts: aws_sdk_sts::Client) -> Aws {
        self.sts = Some(sts);
        self
    }

    /// The same, with a (mocked) IAM client.
    #[cfg(test)]
    pub(crate) fn with_iam(mut self, iam: aws_sdk_iam::Client) -> Aws {
        self.iam = Some(iam);
        self
    }

    /// The same, with a (mocked) KMS client.
    #[cfg(test)]
    pub(crate) fn with_kms(mut self, kms: aws_sdk_kms::Client) -> Aws {
        self.kms = Some(kms);
        self
    }

    /// The same, with a (mocked) SSM client.
    #[cfg(test)]
    pub(crate) fn with_ssm(mut self, ssm: aws_sdk_ssm::Client) -> Aws {
        self.ssm = Some(ssm);
        self
    }

    /// Who the calls are made as: the caller's account and ARN, from STS GetCallerIdentity.
    /// The first call a run on AWS makes, before anything is created: without credentials, or
    /// with ones AWS refuses, it fails here, in seconds, with AWS's code and message on one line.
    pub async fn identity(&self) -> Result<(String, String), CloudError> {
        let Some(sts) = self.sts.as_ref() else {
            return Err(CloudError::new("NoSts", "no STS client"));
        };
        let id = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(cloud_error)?;
        Ok((
            id.account().unwrap_or_default().to_string(),
            id.arn().unwrap_or_default().to_string(),
        ))
    }

    /// The instance profiles of `names` (names, or ARNs as RunInstances also takes) that IAM
    /// has: one GetInstanceProfile each, NoSuchEntity meaning it has not.
    async fn instance_profiles(&self, names: &[String]) -> Result<Vec<String>, CloudError> {
        let Some(iam) = &self.iam else {
            return Err(CloudError::new("NoIam", "no IAM client"));
        };
        let mut there = Vec::new();
        for given in names {
            let name = super::instance_profile_name(given);
            match iam
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await
            {
                Ok(_) => there.push(given.clone()),
                Err(e) => {
                    let e = cloud_error(e);
                    if e.code != "NoSuchEntity" {
                        return Err(e);
                    }
                }
            }
        }
        Ok(there)
    }

    /// Which of `keys` (ids, ARNs, aliases) KMS finds enabled and symmetric. DescribeKey takes
    /// one key a call and finds a disabled key, one pending deletion and an asymmetric one as
    /// well: none of them can encrypt an EBS volume, so none counts.
    async fn enabled_keys(&self, keys: &[String]) -> Result<Vec<String>, CloudError> {
        let Some(kms) = &self.kms else {
            return Err(CloudError::new("NoKms", "no KMS client"));
        };
        let mut there = Vec::new();
        for key in keys {
            match kms.describe_key().key_id(key).send().await {
                Ok(out) => {
                    use aws_sdk_kms::types::{KeySpec, KeyState};
                    let usable = out.key_metadata().is_some_and(|m| {
                        m.key_state() == Some(&KeyState::Enabled)
                            && m.key_spec().is_none_or(|s| *s == KeySpec::SymmetricDefault)
                    });
                    if usable {
                        there.push(key.clone());
                    }
                }
                Err(e) => {
                    let e = cloud_error(e);
                    if e.code != "NotFoundException" {
                        return Err(e);
                    }
                }
            }
        }
        Ok(there)
    }

    async fn private_ip(&self, instance: &str) -> Result<String, CloudError> {
        let out = self
            .ec2
            .describe_instances()
            .instance_ids(instance)
            .send()
            .await
            .map_err(cloud_error)?;
        let ip = out
            .reservations()
            .iter()
            .flat_map(aws_sdk_ec2::types::Reservation::instances)
            .find_map(|i| i.private_ip_address())
            .unwrap_or_default()
            .to_string();
        self.private_ips
            .borrow_mut()
            .insert(instance.to_string(), ip.clone());
        Ok(ip)
    }
}
