//! Between the SDK's types and the project's: errors (keeping AWS's code), tags, times; and
//! the runner-side pieces of the AWS backend (network probes, local programs).

use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cloud::{CloudError, ExecOutput, Tags};

/// Every item of every page of a paginated request (`$pager`: its `into_paginator()`, with its
/// page size), gathered by `paged` with `$items`. A macro because the SDK's paginators are a
/// type each, with no trait in common that a function could take.
macro_rules! all_pages {
    ($pager:expr, $items:expr) => {
        $crate::cloud::aws::convert::paged($pager.send().collect::<Vec<_>>().await, $items)
    };
}
pub(crate) use all_pages;

/// Every item of every page a paginator answered, or the first page's error: a listing is
/// whole or it is an error, never the first page taken for the answer.
pub(crate) fn paged<P, E, T>(
    pages: Vec<Result<P, SdkError<E, HttpResponse>>>,
    items: impl Fn(&P) -> Vec<T>,
) -> Result<Vec<T>, CloudError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut out = Vec::new();
    for page in pages {
        out.extend(items(&page.map_err(cloud_error)?));
    }
    Ok(out)
}

/// An SDK error as a `CloudError` with AWS's error code; a request that never got an answer
/// (no connection, a timeout) is `DispatchFailure` or `Timeout`, both transient.
pub(crate) fn cloud_error<E>(e: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().map(str::to_string).unwrap_or_else(|| {
        match &e {
            SdkError::TimeoutError(_) => "Timeout",
            SdkError::DispatchFailure(_) => "DispatchFailure",
            _ if e.raw_response().is_some_and(|r| r.status().as_u16() == 429) => "Throttling",
            // A 5xx without a code in its body (a bare 503 from a load balancer) is as
            // transient as one with: the server failed, not the request.
            _ if e
                .raw_response()
                .is_some_and(|r| r.status().is_server_error()) =>
            {
                "InternalError"
            }
            _ => "Unknown",
        }
        .to_string()
    });
    let message = e.message().map_or_else(|| causes(&e), str::to_string);
    CloudError::new(code, message)
}

/// An error and its causes, each as it displays itself, on one line: never `Debug`, which
/// for a dispatch failure is a kilobyte of Rust structs.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let said = err.to_string().replace('\n', " ");
        // The SDK repeats a cause in its parent's words; say each thing once.
        if !said.is_empty() && !parts.iter().any(|p| p.contains(&said)) {
            parts.push(said);
        }
        next = err.source();
    }
    parts.join(": ")
}

pub(crate) fn ec2_tags(tags: &Tags) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A volume's `initialization-state` (`initializing` or `completed`), or `unreported`: AWS
/// updates it up to five minutes late, and the SDK this crate builds on (1.145, for Rust 1.85)
/// predates `InitializationStatusDetails` with its progress and estimate, so the name/status
/// pair of the volume status details is what is read.
pub(crate) fn initialization_state(v: &aws_sdk_ec2::types::VolumeStatusItem) -> &str {
    v.volume_status()
        .map(aws_sdk_ec2::types::VolumeStatusInfo::details)
        .unwrap_or_default()
        .iter()
        .find(|d| {
            d.name()
                .is_some_and(|n| n.as_str() == "initialization-state")
        })
        .and_then(|d| d.status())
        .unwrap_or("unreported")
}

pub(crate) fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// EC2's `CreationDate` strings (`2026-11-20T03:00:00.000Z`).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn smithy_time(t: &aws_sdk_ec2::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// How long a network probe may take before it counts as a failure (and is retried).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP connection to the instance's private IP (the runner needs a route to the subnet).
pub(crate) async fn tcp_open(ip: &str, port: u16) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((ip, port))).await,
        Ok(Ok(_))
    )
}

/// An HTTP/1.0 GET answered with a 2xx status.
pub(crate) async fn http_ok(ip: &str, port: u16, path: &str) -> bool {
    let get = async {
        let mut stream = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {ip}\r\nUser-Agent: rebound\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.ok()?;
        let line = String::from_utf8_lossy(&head[..n]).to_string();
        let code = line.split_whitespace().nth(1)?.parse::<u16>().ok()?;
        Some((200..300).contains(&code))
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, get).await,
        Ok(Some(true))
    )
}

/// Most output of a local program kept in the report.
const MAX_OUTPUT: usize = 64 * 1024;

/// Runs a local program (`exec`): its exit code and the first 64 KiB of its stdout.
pub(crate) async fn run_local(command: &[String], env: &Tags) -> Result<ExecOutput, CloudError> {
    let Some((program, args)) = command.split_first() else {
        return Err(CloudError::new("InvalidCommand", "exec needs a program"));
    };
    let mut cmd = tokio::process::Command::new(program);
    // A program gets the secrets its step's `env` names, not every `REBOUND_SECRET_*` of
    // this process (under `daemon`, those of other runbooks too), nor the webhook's URL or
    // the signing key's password.
    for (name, _) in std::env::vars_os() {
        if crate::secret::is_secret_var(&name.to_string_lossy()) {
            cmd.env_remove(name);
        }
    }
    let output = cmd
        .args(args)
        .envs(env)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| CloudError::new("ExecFailed", format!("{program}: {e}")))?;
    // A program may print what it was given (`curl -v` shows its token): its output is
    // recorded and passed on, so it is scrubbed of every secret, before the cut that could
    // halve one.
    let mut stdout = crate::secret::scrub(&String::from_utf8_lossy(&output.stdout)).into_owned();
    if stdout.len() > MAX_OUTPUT {
        let mut cut = MAX_OUTPUT;
        while !stdout.is_char_boundary(cut) {
            cut -= 1;
        }
        stdout.truncate(cut);
    }
    Ok(ExecOutput {
        exit_code: output.status.code().unwrap_or(-1),
        stdout,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        VolumeStatusDetails, VolumeStatusInfo, VolumeStatusItem, VolumeStatusName,
    };

    use super::initialization_state;

    fn item(details: &[(&str, &str)]) -> VolumeStatusItem {
        let details = details
            .iter()
            .map(|(name, status)| {
                VolumeStatusDetails::builder()
                    .name(VolumeStatusName::from(*name))
                    .status(*status)
                    .build()
            })
            .collect();
        VolumeStatusItem::builder()
            .volume_id("vol-1")
            .volume_status(
                VolumeStatusInfo::builder()
                    .set_details(Some(details))
                    .build(),
            )
            .build()
    }

    #[test]
    fn initialization_state_comes_from_the_status_details() {
        let io = ("io-enabled", "passed");
        for state in ["initializing", "completed"] {
            assert_eq!(
                initialization_state(&item(&[io, ("initialization-state", state)])),
                state
            );
        }
        assert_eq!(initialization_state(&item(&[io])), "unreported");
        assert_eq!(
            initialization_state(&VolumeStatusItem::builder().build()),
            "unreported"
        );
    }
}
