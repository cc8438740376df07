//! S3 for the shared evidence store: objects written once under Object Lock in compliance
//! mode (no one, not even the account's root, can delete or shorten them before the retention
//! ends), and every version of them read back. The history's S3 store builds on this; like
//! the rest of `cloud::aws`, it is the only place that speaks aws_sdk_s3.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockMode};
use chrono::{DateTime, Utc};

use super::Settings;
use super::convert::cloud_error;
use crate::cloud::CloudError;

pub(crate) struct Objects {
    client: aws_sdk_s3::Client,
    pub bucket: String,
}

/// One version of one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    pub key: String,
    pub version_id: String,
    pub last_modified: Option<DateTime<Utc>>,
}

impl Objects {
    pub(crate) async fn connect(settings: &Settings, bucket: &str) -> Objects {
        let config = super::load(settings).await;
        // Path-style addressing: custom endpoints (moto, MinIO, VPC endpoints) rarely resolve
        // bucket subdomains.
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(settings.endpoint_url.is_some())
            .build();
        Objects {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: bucket.to_string(),
        }
    }

    /// Every version of every object under `prefix` that is not a delete marker, in key
    /// order, oldest first per key.
    pub(crate) async fn versions(&self, prefix: &str) -> Result<Vec<Version>, CloudError> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(cloud_error)?;
            for v in page.versions() {
                let (Some(key), Some(id)) = (v.key(), v.version_id()) else {
                    continue;
                };
                out.push(Version {
                    key: key.to_string(),
                    version_id: id.to_string(),
                    last_modified: v
                        .last_modified()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
        // S3 lists each key's versions newest first; times have only second resolution, so
        // that order (kept by a stable sort on the key alone) is what tells versions apart.
        out.reverse();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) async fn get(&self, key: &str, version_id: &str) -> Result<String, CloudError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .map_err(cloud_error)?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| CloudError::new("ReadFailure", e.to_string()))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| CloudError::new("InvalidObject", e.to_string()))
    }

    /// Writes `key` once: refused (`PreconditionFailed`) if it exists, locked in compliance
    /// mode until `until`.
    pub(crate) async fn put_locked(
        &self,
        key: &str,
        body: String,
        until: DateTime<Utc>,
    ) -> Result<(), CloudError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.into_bytes()))
            .content_type("application/json")
            .if_none_match("*")
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                until.timestamp(),
            ))
            // Object Lock requires an integrity checksum on every write.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map(|_| ())
            .map_err(cloud_error)
    }
}
