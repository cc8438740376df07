//! `rebound policy FILE`: the least-privilege IAM policy (JSON) for a runbook's runs on AWS
//! and its drills' teardown, to attach to whatever rebound runs as (see `plan::policy`).

use super::output;
use rebound::error::Error;
use rebound::policy::{self, Scope};
use rebound::runbook::schema::Kind;

/// What the ARNs name when the account or region is not known: any.
const ANY: &str = "*";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    runbook: super::RunbookArgs,
    /// The AWS account id the ARNs name (default: any account, `*`).
    #[arg(long, value_name = "ID", value_parser = parse_account)]
    account: Option<String>,
    /// The region the ARNs name (default: the runbook's `region`, else any region, `*`).
    #[arg(long, value_name = "R", value_parser = parse_region)]
    region: Option<String>,
}

pub fn run(args: &Args, quiet: bool) -> Result<u8, Error> {
    let rb = args.runbook.load()?;
    let region = args.region.clone().or_else(|| rb.region.clone());
    if region.is_none() && !quiet {
        output::note("note: the runbook names no region, so the ARNs name any (give --region R)");
    }
    let scope = Scope {
        account: args.account.clone().unwrap_or_else(|| ANY.to_string()),
        region: region.unwrap_or_else(|| ANY.to_string()),
    };
    let policy = policy::build(&rb, &scope);
    let json = serde_json::to_string_pretty(&policy).map_err(|e| Error::System {
        what: "cannot write the policy as JSON".into(),
        source: e.into(),
    })?;
    output::line(format_args!("{json}"));
    if let (Some(role), false) = (&rb.role, quiet) {
        // A policy document cannot carry this: who needs what depends on where it is attached.
        output::note(format_args!(
            "note: the runbook assumes {role}: attach this policy to that role; \
             whoever runs rebound needs only sts:AssumeRole on it"
        ));
    }
    if policy.statement(policy::Sid::TagRestored).is_some() && !quiet {
        // IAM cannot tell an instance AWS Backup restored from any other: say what that costs.
        output::note(
            "note: restoring lets this policy tag any instance with rebound:run-id, and teardown              may then terminate it; give it only to the identity that runs the drills",
        );
    }
    Ok(0)
}

fn parse_account(s: &str) -> Result<String, String> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not an AWS account id (12 digits)"))
    }
}

pub(super) fn parse_region(s: &str) -> Result<String, String> {
    if Kind::Region.accepts_literal(s) {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a region such as us-east-1"))
    }
}
