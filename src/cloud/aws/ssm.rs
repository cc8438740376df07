//! SSM Run Command on AWS: whose agents are online (DescribeInstanceInformation), a script sent
//! (SendCommand with AWS-RunShellScript), the command found again by its comment
//! (ListCommands), and every instance's result (ListCommandInvocations with Details, and
//! GetCommandInvocation for an output the listing cut at 2,500 characters). Every listing is
//! paged, as SSM pages at 50.

use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey, InstanceInformationStringFilter};
use chrono::{DateTime, SecondsFormat, Utc};

use super::Aws;
use super::convert::{all_pages, cloud_error};
use crate::cloud::{Agent, CloudError, CommandRequest, Invocation, LISTED_OUTPUT, MAX_OUTPUT};

#[cfg(test)]
mod tests;

/// SSM's largest page (MaxResults of its listings).
const PAGE: i32 = 50;

impl Aws {
    fn ssm(&self) -> Result<&aws_sdk_ssm::Client, CloudError> {
        self.ssm
            .as_ref()
            .ok_or_else(|| CloudError::new("NoSsm", "no SSM client"))
    }

    pub(super) async fn ssm_agents(&self, instances: &[String]) -> Result<Vec<Agent>, CloudError> {
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(instances.to_vec()))
            .build()
            .map_err(|e| CloudError::new("ValidationException", e.to_string()))?;
        all_pages!(
            self.ssm()?
                .describe_instance_information()
                .filters(filter)
                .into_paginator()
                .page_size(PAGE),
            |p| {
                p.instance_information_list()
                    .iter()
                    .filter_map(|i| {
                        Some(Agent {
                            instance: i.instance_id()?.to_string(),
                            ping: i
                                .ping_status()
                                .map_or("Unknown", |s| s.as_str())
                                .to_string(),
                            online_at: None,
                        })
                    })
                    .collect()
            }
        )
    }

    pub(super) async fn ssm_send(&self, r: &CommandRequest) -> Result<String, CloudError> {
        let answer = self
            .ssm()?
            .send_command()
            .document_name("AWS-RunShellScript")
            .set_instance_ids(Some(r.instances.clone()))
            .parameters("commands", r.commands.clone())
            .parameters(
                "executionTimeout",
                vec![r.execution_timeout.as_secs().to_string()],
            )
            .comment(&r.comment)
            .set_timeout_seconds(
                r.delivery_timeout
                    .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
            )
            .send()
            .await
            .map_err(cloud_error)?;
        super::answered(
            answer.command().and_then(|c| c.command_id()),
            "SendCommand",
            "command id",
        )
    }

    pub(super) async fn ssm_find(
        &self,
        comment: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, CloudError> {
        let filter = |key: CommandFilterKey, value: String| {
            CommandFilter::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| CloudError::new("ValidationException", e.to_string()))
        };
        let after = filter(
            CommandFilterKey::InvokedAfter,
            since.to_rfc3339_opts(SecondsFormat::Secs, true),
        )?;
        let document = filter(CommandFilterKey::DocumentName, "AWS-RunShellScript".into())?;
        let ids = all_pages!(
            self.ssm()?
                .list_commands()
                .filters(after)
                .filters(document)
                .into_paginator()
                .page_size(PAGE),
            |p| {
                p.commands()
                    .iter()
                    .filter(|c| c.comment() == Some(comment))
                    .filter_map(|c| c.command_id().map(str::to_string))
                    .collect()
            }
        )?;
        Ok(ids.into_iter().next())
    }

    pub(super) async fn ssm_invocations(
        &self,
        command: &str,
    ) -> Result<Vec<Invocation>, CloudError> {
        let mut out = all_pages!(
            self.ssm()?
                .list_command_invocations()
                .command_id(command)
                .details(true)
                .into_paginator()
                .page_size(PAGE),
            |p| {
                p.command_invocations()
                    .iter()
                    .filter_map(|i| {
                        // AWS-RunShellScript has one plugin, aws:runShellScript.
                        let plugin = i.command_plugins().first();
                        let output = plugin.and_then(|p| p.output()).unwrap_or("");
                        let invocation = Invocation {
                            instance: i.instance_id()?.to_string(),
                            status: i.status().map_or("Pending", |s| s.as_str()).to_string(),
                            exit_code: plugin
                                .map_or(-1, aws_sdk_ssm::types::CommandPlugin::response_code),
                            stdout: stdout_of(output),
                            ended_at: None,
                        };
                        Some((invocation, output.chars().count() >= LISTED_OUTPUT))
                    })
                    .collect()
            }
        )?;
        // The listing keeps 2,500 characters of output, stdout and stderr together;
        // GetCommandInvocation keeps 24,000 of each, apart.
        for (i, _) in out.iter_mut().filter(|(i, cut)| *cut && i.finished()) {
            let whole = self
                .ssm()?
                .get_command_invocation()
                .command_id(command)
                .instance_id(&i.instance)
                .send()
                .await
                .map_err(cloud_error)?;
            if let Some(text) = whole.standard_output_content() {
                i.stdout = text.chars().take(MAX_OUTPUT).collect();
            }
        }
        Ok(out.into_iter().map(|(i, _)| i).collect())
    }
}

/// The standard output in a listing's plugin output, which follows it with the standard error
/// after a marker line when there is any.
fn stdout_of(output: &str) -> String {
    match output.find(STDERR_MARK) {
        Some(at) => output[..at].to_string(),
        None => output.to_string(),
    }
}

/// The line SSM puts between a script's standard output and its standard error.
const STDERR_MARK: &str = "----------ERROR-------";
