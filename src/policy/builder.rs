//! The statements of an IAM policy and the builder that merges them: each action's
//! `Definition::statements` adds what its steps need (`crate::action`), and `policy::build`
//! assembles the whole. Statements are keyed by `Sid`, so that what several steps need merges
//! into one statement with one shape of condition.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};

use crate::cloud::RUN_TAG;
use crate::runbook::expr::Expr;

/// The policy language version.
pub const VERSION: &str = "2012-10-17";

/// Every resource: for actions without resource-level permissions (Describe*), and for values
/// known only at run time.
pub(crate) const ANY: &str = "*";

/// What EBS asks of KMS, on the caller's behalf, for a volume encrypted with a given key.
const KMS_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

impl Policy {
    /// Every action allowed, sorted (the tests read the whole list).
    #[cfg(test)]
    pub(crate) fn actions(&self) -> BTreeSet<&'static str> {
        self.statement
            .iter()
            .flat_map(|s| s.action.iter().copied())
            .collect()
    }

    pub fn statement(&self, sid: Sid) -> Option<&Statement> {
        self.statement.iter().find(|s| s.sid == sid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: Sid,
    pub effect: &'static str,
    pub action: BTreeSet<&'static str>,
    pub resource: BTreeSet<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Condition,
}

/// Operator (`StringLike`) to condition key to the values it allows.
pub type Condition = BTreeMap<&'static str, BTreeMap<String, Values>>;

/// A condition's values: one is written as a string, several as a list, as IAM shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values(pub BTreeSet<String>);

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.first() {
            Some(one) if self.0.len() == 1 => s.serialize_str(one),
            _ => self.0.serialize(s),
        }
    }
}

/// The statements, in the order they are printed. Each has one purpose and one shape of
/// condition, so that what several steps need merges into one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Sid {
    Identity,
    Discover,
    RecoveryPoints,
    Launch,
    LaunchReferences,
    TagOnCreate,
    PassRoleToEc2,
    Volumes,
    VolumeSources,
    Kms,
    KmsByAlias,
    Attach,
    AttachNamed,
    Restore,
    PassRoleToBackup,
    TagRestored,
    Image,
    ImageSource,
    ImageSourceNamed,
    /// CopyImage and CopySnapshot: the copy, in the step's region.
    Copy,
    /// ... and its source, in the source region.
    CopySource,
    /// `tag`: CreateTags on images and snapshots the run did not make, the step's keys only.
    TagArtifacts,
    /// `create_image` with `freeze`: Safe=True on the run's own image, after the thaw.
    TagImageSafe,
    /// An isolated drill's security group: made in the VPC, tagged as the run's ...
    Sandbox,
    /// ... and its rules set only on a group of the run's.
    SandboxRules,
    /// SSM Run Command: the AWS-RunShellScript document ...
    RunCommand,
    /// ... on the run's own instances ...
    RunCommandOn,
    /// ... and on an instance a `create_image` names, to freeze it.
    RunCommandOnNamed,
    Teardown,
    Preflight,
    /// Preflight's DescribeKey of each KMS key a runbook names (not through EC2) ...
    PreflightKeys,
    /// ... and of each named by its alias.
    PreflightKeysByAlias,
}

/// The account and region the ARNs name; `*` where not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    /// An EC2 resource of the account: `instance`, `volume`, `subnet`, ...
    pub(crate) fn ec2(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.region, self.account)
    }

    /// Images and snapshots: their ARNs name no account.
    pub(crate) fn ec2_shared(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}::{kind}/{id}", self.region)
    }

    pub(crate) fn instance_profile(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:instance-profile/{name}", self.account)
    }

    pub(crate) fn role(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account)
    }

    pub(crate) fn vault(&self, name: &str) -> String {
        format!(
            "arn:aws:backup:{}:{}:backup-vault:{name}",
            self.region, self.account
        )
    }

    pub(crate) fn kms(&self, resource: &str) -> String {
        format!("arn:aws:kms:{}:{}:{resource}", self.region, self.account)
    }
}

/// Statements by `Sid`, merged as steps add to them.
pub(crate) struct Builder {
    statements: BTreeMap<Sid, Statement>,
    scope: Scope,
    /// The runbook's own tag keys (what a run writes on what it makes, besides rebound's).
    tag_keys: Vec<String>,
}

impl Builder {
    pub(crate) fn new(scope: Scope, tag_keys: Vec<String>) -> Builder {
        Builder {
            statements: BTreeMap::new(),
            scope,
            tag_keys,
        }
    }

    /// The account and region the ARNs name.
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Runs `f` with the ARNs naming `region` (the scope's own for `None`).
    pub(crate) fn in_region(&mut self, region: Option<&str>, f: impl FnOnce(&mut Builder)) {
        let Some(region) = region else {
            return f(self);
        };
        let own = std::mem::replace(&mut self.scope.region, region.to_string());
        f(self);
        self.scope.region = own;
    }

    /// The runbook's own tag keys.
    pub(crate) fn run_tag_keys(&self) -> &[String] {
        &self.tag_keys
    }

    /// The statements, in `Sid` order.
    pub(crate) fn finish(self) -> Vec<Statement> {
        self.statements.into_values().collect()
    }

    /// Allows `actions` on `resources` in statement `sid`, made on first use.
    pub(crate) fn allow(
        &mut self,
        sid: Sid,
        actions: &[&'static str],
        resources: impl IntoIterator<Item = String>,
    ) -> &mut Statement {
        let s = self.statements.entry(sid).or_insert_with(|| Statement {
            sid,
            effect: "Allow",
            action: BTreeSet::new(),
            resource: BTreeSet::new(),
            condition: Condition::new(),
        });
        s.action.extend(actions.iter().copied());
        s.resource.extend(resources);
        s
    }

    /// Describe and List calls; none of these has resource-level permissions.
    pub(crate) fn describe(&mut self, actions: &[&'static str]) {
        self.allow(Sid::Discover, actions, [ANY.to_string()]);
    }

    /// Tags given in a create request (TagSpecifications) need CreateTags too, allowed only as
    /// part of that create call.
    pub(crate) fn tag_on_create(
        &mut self,
        call: &str,
        resources: impl IntoIterator<Item = String>,
    ) {
        self.allow(Sid::TagOnCreate, &["ec2:CreateTags"], resources)
            .when(condition("StringEquals", "ec2:CreateAction", &[call]));
    }

    /// Teardown deletes nothing without the run's tag (ARCHITECTURE.md's invariants); neither
    /// may the policy.
    pub(crate) fn teardown(
        &mut self,
        actions: &[&'static str],
        resources: impl IntoIterator<Item = String>,
    ) {
        self.allow(Sid::Teardown, actions, resources)
            .when(resource_tagged());
    }
}

impl Statement {
    /// Adds a condition's values to the statement's: several steps' values for one key mean
    /// any of them.
    pub(crate) fn when(&mut self, condition: Condition) {
        for (op, keys) in condition {
            let merged = self.condition.entry(op).or_default();
            for (key, values) in keys {
                merged.entry(key).or_default().0.extend(values.0);
            }
        }
    }
}

pub(crate) fn condition(op: &'static str, key: impl Into<String>, values: &[&str]) -> Condition {
    let values = Values(values.iter().map(|v| (*v).to_string()).collect());
    BTreeMap::from([(op, BTreeMap::from([(key.into(), values)]))])
}

/// Only requests that tag what they create as rebound's.
pub(crate) fn request_tagged() -> Condition {
    condition("StringLike", format!("aws:RequestTag/{RUN_TAG}"), &[ANY])
}

/// Only resources that carry a rebound run's tag.
pub(crate) fn resource_tagged() -> Condition {
    condition("StringLike", format!("aws:ResourceTag/{RUN_TAG}"), &[ANY])
}

pub(crate) fn passed_to(service: &str) -> Condition {
    condition("StringEquals", "iam:PassedToService", &[service])
}

/// The literal strings of a field; `None` for a value known only at run time (an output).
pub(crate) fn literals(expr: Option<&Expr>) -> Vec<Option<&str>> {
    match expr {
        None => Vec::new(),
        Some(Expr::Str(s)) => vec![Some(s.as_str())],
        Some(Expr::List(items)) => items.iter().flat_map(|e| literals(Some(e))).collect(),
        Some(_) => vec![None],
    }
}

/// The ARN of each value: a literal's own, every one for a run-time value.
pub(crate) fn arns(values: Vec<Option<&str>>, arn: impl Fn(&str) -> String) -> Vec<String> {
    values.into_iter().map(|v| arn(v.unwrap_or(ANY))).collect()
}

impl Builder {
    /// KMS on a volume's key. EBS makes these calls on the caller's behalf, so they are
    /// allowed only through EC2.
    pub(crate) fn kms(&mut self, key: &Expr) {
        let via = format!("ec2.{}.amazonaws.com", self.scope.region);
        let through_ec2 = condition("StringLike", "kms:ViaService", &[via.as_str()]);
        let key = match key {
            Expr::Str(k) => Some(k.as_str()),
            _ => None,
        };
        self.on_key(key, KMS_ACTIONS, (Sid::Kms, Sid::KmsByAlias))
            .when(through_ec2);
    }

    /// Preflight's DescribeKey of `key`, asked by rebound itself, not through EC2.
    pub(crate) fn describe_key(&mut self, key: &str) {
        self.on_key(
            Some(key),
            &["kms:DescribeKey"],
            (Sid::PreflightKeys, Sid::PreflightKeysByAlias),
        );
    }

    /// `actions` on `key` (any key for `None`), in the first statement of `sids` when named by
    /// id or ARN, in the second when by alias. KMS authorizes a key by its key ARN, never by an
    /// alias ARN: a key named by alias is matched through the aliases it has.
    fn on_key(
        &mut self,
        key: Option<&str>,
        actions: &[&'static str],
        (by_key, by_alias): (Sid, Sid),
    ) -> &mut Statement {
        let scope = self.scope.clone();
        if let Some(alias) = key.and_then(alias) {
            let named = &[alias.as_str()];
            let s = self.allow(by_alias, actions, [scope.kms("key/*")]);
            s.when(condition(
                "ForAnyValue:StringEquals",
                "kms:ResourceAliases",
                named,
            ));
            s
        } else {
            let arn = match key {
                Some(k) if k.starts_with("arn:") => k.to_string(),
                Some(id) => scope.kms(&format!("key/{id}")),
                None => scope.kms("key/*"),
            };
            self.allow(by_key, actions, [arn])
        }
    }
}

/// `alias/NAME` of a key named by its alias or by its alias's ARN.
fn alias(key: &str) -> Option<String> {
    if key.starts_with("alias/") {
        return Some(key.to_string());
    }
    key.strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":alias/"))
        .map(|(_, name)| format!("alias/{name}"))
}
