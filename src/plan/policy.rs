//! The least-privilege IAM policy of a runbook (`rebound policy`). Whoever runs drills must give
//! rebound credentials, and "it restores things, give it admin" is the first thing an auditor
//! flags. The AWS backend makes a small, known set of calls per action (`cloud::aws`), so the
//! policy follows from the checked runbook alone: exactly the actions its steps and a drill's
//! teardown can call, on the narrowest resources the runbook lets us name (a literal id becomes
//! its ARN), with everything rebound creates, changes or deletes confined by its
//! `rebound:run-id` tag. Like the rest of `plan`, it does no I/O and cannot fail.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};

use crate::exec::teardown::{RUN_TAG, STEP_TAG};
use crate::runbook::Runbook;
use crate::runbook::checked::{Expr, Step};
use crate::runbook::schema::{Action, Check};

/// The policy language version.
pub const VERSION: &str = "2012-10-17";

/// Every resource: for actions without resource-level permissions (Describe*), and for values
/// known only at run time.
const ANY: &str = "*";

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
    /// Every action allowed, sorted.
    pub fn actions(&self) -> BTreeSet<&'static str> {
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
    Teardown,
}

/// The account and region the ARNs name; `*` where not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    /// An EC2 resource of the account: `instance`, `volume`, `subnet`, ...
    fn ec2(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}:{}:{kind}/{id}", self.region, self.account)
    }

    /// Images and snapshots: their ARNs name no account.
    fn ec2_shared(&self, kind: &str, id: &str) -> String {
        format!("arn:aws:ec2:{}::{kind}/{id}", self.region)
    }

    fn role(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account)
    }

    fn vault(&self, name: &str) -> String {
        format!(
            "arn:aws:backup:{}:{}:backup-vault:{name}",
            self.region, self.account
        )
    }

    fn kms(&self, resource: &str) -> String {
        format!("arn:aws:kms:{}:{}:{resource}", self.region, self.account)
    }
}

/// The policy for every call a run of `rb` makes on the AWS backend, and a drill's teardown.
pub fn build(rb: &Runbook, scope: &Scope) -> Policy {
    let mut b = Builder::default();
    // The report's account. STS answers GetCallerIdentity whatever the policy says; it is
    // listed so that the policy reads as the whole list of calls.
    b.allow(Sid::Identity, &["sts:GetCallerIdentity"], [ANY.to_string()]);
    // Teardown looks up every kind of resource by the run's tag, whatever the runbook makes:
    // a resource created in the instant before a crash has no journal record, only its tag.
    b.describe(&[
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeSnapshots",
        "ec2:DescribeVolumes",
    ]);
    for step in &rb.steps {
        add_step(&mut b, rb, scope, step);
    }
    Policy {
        version: VERSION,
        statement: b.0.into_values().collect(),
    }
}

/// Statements by `Sid`, merged as steps add to them.
#[derive(Default)]
struct Builder(BTreeMap<Sid, Statement>);

impl Builder {
    /// Allows `actions` on `resources` in statement `sid`, made on first use.
    fn allow(
        &mut self,
        sid: Sid,
        actions: &[&'static str],
        resources: impl IntoIterator<Item = String>,
    ) -> &mut Statement {
        let s = self.0.entry(sid).or_insert_with(|| Statement {
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
    fn describe(&mut self, actions: &[&'static str]) {
        self.allow(Sid::Discover, actions, [ANY.to_string()]);
    }

    /// Tags given in a create request (TagSpecifications) need CreateTags too, allowed only as
    /// part of that create call.
    fn tag_on_create(&mut self, call: &str, resources: impl IntoIterator<Item = String>) {
        self.allow(Sid::TagOnCreate, &["ec2:CreateTags"], resources)
            .when(condition("StringEquals", "ec2:CreateAction", &[call]));
    }

    /// Teardown deletes nothing without the run's tag (DESIGN.md); neither may the policy.
    fn teardown(&mut self, actions: &[&'static str], resources: impl IntoIterator<Item = String>) {
        self.allow(Sid::Teardown, actions, resources)
            .when(resource_tagged());
    }
}

impl Statement {
    /// Adds a condition's values to the statement's: several steps' values for one key mean
    /// any of them.
    fn when(&mut self, condition: Condition) {
        for (op, keys) in condition {
            let merged = self.condition.entry(op).or_default();
            for (key, values) in keys {
                merged.entry(key).or_default().0.extend(values.0);
            }
        }
    }
}

fn condition(op: &'static str, key: impl Into<String>, values: &[&str]) -> Condition {
    let values = Values(values.iter().map(|v| (*v).to_string()).collect());
    BTreeMap::from([(op, BTreeMap::from([(key.into(), values)]))])
}

/// Only requests that tag what they create as rebound's.
fn request_tagged() -> Condition {
    condition("StringLike", format!("aws:RequestTag/{RUN_TAG}"), &[ANY])
}

/// Only resources that carry a rebound run's tag.
fn resource_tagged() -> Condition {
    condition("StringLike", format!("aws:ResourceTag/{RUN_TAG}"), &[ANY])
}

fn passed_to(service: &str) -> Condition {
    condition("StringEquals", "iam:PassedToService", &[service])
}

/// The literal strings of a field; `None` for a value known only at run time (an output).
fn literals(expr: Option<&Expr>) -> Vec<Option<&str>> {
    match expr {
        None => Vec::new(),
        Some(Expr::Str(s)) => vec![Some(s.as_str())],
        Some(Expr::List(items)) => items.iter().flat_map(|e| literals(Some(e))).collect(),
        Some(_) => vec![None],
    }
}

/// The ARN of each value: a literal's own, every one for a run-time value.
fn arns(values: Vec<Option<&str>>, arn: impl Fn(&str) -> String) -> Vec<String> {
    values.into_iter().map(|v| arn(v.unwrap_or(ANY))).collect()
}

fn add_step(b: &mut Builder, rb: &Runbook, scope: &Scope, step: &Step) {
    match step.action {
        Action::FindImage => b.describe(&["ec2:DescribeImages"]),
        Action::FindSnapshot => b.describe(&["ec2:DescribeSnapshots"]),
        Action::FindRecoveryPoint => {
            let vaults = arns(literals(step.field("vault")), |v| scope.vault(v));
            let list = &["backup:ListRecoveryPointsByBackupVault"];
            b.allow(Sid::RecoveryPoints, list, vaults);
        }
        Action::Launch => launch(b, scope, step),
        Action::Restore => restore(b, rb, scope, step),
        Action::CreateVolume => create_volume(b, scope, step),
        Action::Attach => {
            // The volume poller waits for `in-use`. Only the run's own volumes and instances.
            b.describe(&["ec2:DescribeVolumes"]);
            let both = [scope.ec2("instance", ANY), scope.ec2("volume", ANY)];
            b.allow(Sid::Attach, &["ec2:AttachVolume"], both)
                .when(resource_tagged());
            // A volume or instance the runbook names by id existed before the run and carries
            // no run tag: it is allowed by its own ARN, and nothing else untagged is.
            let mut named: Vec<String> = literals(step.field("volume"))
                .into_iter()
                .flatten()
                .map(|id| scope.ec2("volume", id))
                .collect();
            named.extend(
                literals(step.field("instance"))
                    .into_iter()
                    .flatten()
                    .map(|id| scope.ec2("instance", id)),
            );
            if !named.is_empty() {
                b.allow(Sid::AttachNamed, &["ec2:AttachVolume"], named);
            }
        }
        Action::Verify => verify(b, step),
        Action::CreateImage => create_image(b, scope, step),
        Action::Approve | Action::Exec | Action::Wait => {}
    }
}

fn launch(b: &mut Builder, scope: &Scope, step: &Step) {
    // The instance poller, and the lookup by tag that adopts a launch a crash interrupted.
    b.describe(&["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"]);
    // What RunInstances creates must be tagged as rebound's in the same request.
    let created = [scope.ec2("instance", ANY), scope.ec2("volume", ANY)];
    b.allow(Sid::Launch, &["ec2:RunInstances"], created.clone())
        .when(request_tagged());
    // What it uses, by ARN where the runbook names it. Its network interface is created
    // untagged, so it goes with these, without the tag condition.
    let mut used = vec![scope.ec2("network-interface", ANY)];
    let image = |id: &str| scope.ec2_shared("image", id);
    used.extend(arns(literals(step.field("image")), image));
    used.extend(arns(literals(step.field("subnet")), |id| {
        scope.ec2("subnet", id)
    }));
    let mut groups = literals(step.field("security_groups"));
    if groups.is_empty() {
        // Without groups, the instance joins its VPC's default group, which has no name here.
        groups.push(None);
    }
    used.extend(arns(groups, |id| scope.ec2("security-group", id)));
    let key_pair = |name: &str| scope.ec2("key-pair", name);
    used.extend(arns(literals(step.field("key_name")), key_pair));
    let snapshot = |id: &str| scope.ec2_shared("snapshot", id);
    used.extend(arns(launch_snapshots(step), snapshot));
    b.allow(Sid::LaunchReferences, &["ec2:RunInstances"], used);
    b.tag_on_create("RunInstances", created.clone());
    if let Some(profile) = step.field("instance_profile") {
        // EC2 checks PassRole on the profile's role, which the runbook does not name: this
        // assumes the role has the profile's name, as the IAM console makes them.
        let roles = arns(literals(Some(profile)), |p| scope.role(profile_name(p)));
        b.allow(Sid::PassRoleToEc2, &["iam:PassRole"], roles)
            .when(passed_to("ec2.amazonaws.com"));
    }
    // Root volumes carry the run's tags too, so teardown finds and deletes them (detaching
    // one still attached) as well as the instances.
    let deletes = [
        "ec2:DeleteVolume",
        "ec2:DetachVolume",
        "ec2:TerminateInstances",
    ];
    b.teardown(&deletes, created);
    // A `volumes` entry with a `kms_key` is encrypted with it at launch.
    if let Some(Expr::List(items)) = step.field("volumes") {
        for v in items {
            if let Some(key) = match v {
                Expr::Map(m) => m.get("kms_key"),
                _ => None,
            } {
                kms(b, scope, key);
            }
        }
    }
}

/// The snapshots of `launch`'s `volumes`.
fn launch_snapshots(step: &Step) -> Vec<Option<&str>> {
    match step.field("volumes") {
        None => Vec::new(),
        Some(Expr::List(items)) => items
            .iter()
            .flat_map(|v| match v {
                Expr::Map(m) => literals(m.get("snapshot")),
                _ => vec![None],
            })
            .collect(),
        Some(_) => vec![None],
    }
}

/// `web` of `web`, of `path/web`, or of an instance-profile ARN.
fn profile_name(profile: &str) -> &str {
    profile.rsplit('/').next().unwrap_or(profile)
}

fn restore(b: &mut Builder, rb: &Runbook, scope: &Scope, step: &Step) {
    // The job poller, then the instance poller once the job has made its instance.
    b.describe(&["backup:DescribeRestoreJob", "ec2:DescribeInstanceStatus"]);
    let points = literals(step.field("recovery_point"))
        .into_iter()
        .map(|p| p.unwrap_or(ANY).to_string());
    b.allow(Sid::Restore, &["backup:StartRestoreJob"], points);
    let roles = literals(step.field("role"))
        .into_iter()
        .map(|r| r.map_or_else(|| scope.role(ANY), str::to_string));
    b.allow(Sid::PassRoleToBackup, &["iam:PassRole"], roles)
        .when(passed_to("backup.amazonaws.com"));
    // AWS Backup makes the instance untagged; rebound tags it afterwards so that resume and
    // teardown know it as the run's. That CreateTags belongs to no create call, so
    // ec2:CreateAction cannot confine it: it is confined to writing the run's tags (the
    // runbook's, rebound:run-id and rebound:step) instead. This is the one statement that can
    // mark an existing instance as a run's, which teardown would then terminate.
    let instances = scope.ec2("instance", ANY);
    let mut keys: Vec<&str> = rb.tags.keys().map(String::as_str).collect();
    keys.extend([RUN_TAG, STEP_TAG]);
    let tagging = b.allow(Sid::TagRestored, &["ec2:CreateTags"], [instances.clone()]);
    tagging.when(request_tagged());
    tagging.when(condition("ForAllValues:StringEquals", "aws:TagKeys", &keys));
    b.teardown(&["ec2:TerminateInstances"], [instances]);
}

fn create_volume(b: &mut Builder, scope: &Scope, step: &Step) {
    // The volume poller, and the watch of the volume's loading from its snapshot.
    b.describe(&["ec2:DescribeVolumeStatus", "ec2:DescribeVolumes"]);
    let volumes = scope.ec2("volume", ANY);
    b.allow(Sid::Volumes, &["ec2:CreateVolume"], [volumes.clone()])
        .when(request_tagged());
    // The snapshot is read, not created: the request's tags are not its own.
    let snapshot = |id: &str| scope.ec2_shared("snapshot", id);
    let snapshots = arns(literals(step.field("snapshot")), snapshot);
    b.allow(Sid::VolumeSources, &["ec2:CreateVolume"], snapshots);
    b.tag_on_create("CreateVolume", [volumes.clone()]);
    if let Some(key) = step.field("kms_key") {
        kms(b, scope, key);
    }
    // A volume still attached is detached (from its instance) before it is deleted.
    let deletes = ["ec2:DeleteVolume", "ec2:DetachVolume"];
    b.teardown(&deletes, [volumes, scope.ec2("instance", ANY)]);
}

fn create_image(b: &mut Builder, scope: &Scope, step: &Step) {
    // The image poller waits for `available`.
    b.describe(&["ec2:DescribeImages"]);
    let made = [
        scope.ec2_shared("image", ANY),
        scope.ec2_shared("snapshot", ANY),
    ];
    b.allow(Sid::Image, &["ec2:CreateImage"], made.clone())
        .when(request_tagged());
    // The source is an instance the run made (launched, or restored and tagged), or one the
    // runbook names by id (which carries no run tag), by its own ARN.
    b.allow(
        Sid::ImageSource,
        &["ec2:CreateImage"],
        [scope.ec2("instance", ANY)],
    )
    .when(resource_tagged());
    let named: Vec<String> = literals(step.field("instance"))
        .into_iter()
        .flatten()
        .map(|id| scope.ec2("instance", id))
        .collect();
    if !named.is_empty() {
        b.allow(Sid::ImageSourceNamed, &["ec2:CreateImage"], named);
    }
    b.tag_on_create("CreateImage", made.clone());
    b.teardown(&["ec2:DeleteSnapshot", "ec2:DeregisterImage"], made);
}

fn verify(b: &mut Builder, step: &Step) {
    for check in literals(step.field("checks")) {
        match check.map(Check::parse) {
            Some(Ok(Check::Running | Check::StatusOk)) => {
                b.describe(&["ec2:DescribeInstanceStatus"]);
            }
            // Network checks reach the private IP, asked of EC2 when the launch did not say.
            Some(Ok(Check::Tcp { .. } | Check::Http { .. })) => {
                b.describe(&["ec2:DescribeInstances"]);
            }
            // The AWS backend refuses ssm: checks before a run starts; the checker refuses
            // malformed ones.
            Some(Ok(Check::Ssm { .. }) | Err(_)) => {}
            None => b.describe(&["ec2:DescribeInstanceStatus", "ec2:DescribeInstances"]),
        }
    }
}

/// KMS on a volume's key. EBS makes these calls on the caller's behalf, so they are allowed
/// only through EC2.
fn kms(b: &mut Builder, scope: &Scope, key: &Expr) {
    let via = format!("ec2.{}.amazonaws.com", scope.region);
    let through_ec2 = condition("StringLike", "kms:ViaService", &[via.as_str()]);
    let key = match key {
        Expr::Str(k) => Some(k.as_str()),
        _ => None,
    };
    // KMS authorizes a key by its key ARN, never by an alias ARN: a key named by alias is
    // matched through the aliases it has.
    if let Some(alias) = key.and_then(alias) {
        let named = &[alias.as_str()];
        let s = b.allow(Sid::KmsByAlias, KMS_ACTIONS, [scope.kms("key/*")]);
        s.when(through_ec2);
        s.when(condition(
            "ForAnyValue:StringEquals",
            "kms:ResourceAliases",
            named,
        ));
    } else {
        let arn = match key {
            Some(k) if k.starts_with("arn:") => k.to_string(),
            Some(id) => scope.kms(&format!("key/{id}")),
            None => scope.kms("key/*"),
        };
        b.allow(Sid::Kms, KMS_ACTIONS, [arn]).when(through_ec2);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::{self, Source};

    fn policy(text: &str) -> Policy {
        let source = Source::new("t.runbook", text);
        match runbook::check_source(&source, &[]) {
            Ok(rb) => build(
                &rb,
                &Scope {
                    account: "123456789012".into(),
                    region: "eu-west-1".into(),
                },
            ),
            Err(e) => panic!("{}", e.render(runbook::diagnostic::Style::Plain)),
        }
    }

    fn sids(p: &Policy) -> Vec<Sid> {
        p.statement.iter().map(|s| s.sid).collect()
    }

    const ALL_CREATES: &str = r#"runbook "t" {
  step host = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"] }
  step disk = create_volume { snapshot = "snap-0abc", zone = host.zone }
  step img = create_image { instance = host.instance }
}
"#;

    #[test]
    fn a_runbook_without_aws_steps_needs_its_identity_and_teardown_lookups_only() {
        let p = policy("runbook \"w\" {\n  step w = wait { duration = 1m }\n}\n");
        assert_eq!(sids(&p), [Sid::Identity, Sid::Discover]);
    }

    #[test]
    fn named_references_become_arns_and_outputs_every_resource() {
        let p = policy(
            r#"runbook "l" {
  step img = find_image { tags = { App = "web" } }
  step a = launch { image = "ami-0abc", subnet = "subnet-0abc", instance_types = ["m5.large"], security_groups = ["sg-0abc"], key_name = "ops" }
  step b = launch { image = img.id, subnet = "subnet-0abc", instance_types = ["m5.large"] }
}
"#,
        );
        let used: Vec<&str> = p
            .statement(Sid::LaunchReferences)
            .expect("references")
            .resource
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(
            used,
            [
                "arn:aws:ec2:eu-west-1:123456789012:key-pair/ops",
                "arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
                // `b` names no group: its VPC's default.
                "arn:aws:ec2:eu-west-1:123456789012:security-group/*",
                "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0abc",
                "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0abc",
                "arn:aws:ec2:eu-west-1::image/*",
                "arn:aws:ec2:eu-west-1::image/ami-0abc",
            ]
        );
        let launch = p.statement(Sid::Launch).expect("launch");
        assert!(launch.condition["StringLike"].contains_key("aws:RequestTag/rebound:run-id"));
        assert!(p.statement(Sid::PassRoleToEc2).is_none());
    }

    #[test]
    fn tags_on_create_are_confined_to_the_create_calls() {
        let p = policy(ALL_CREATES);
        let tagging = p.statement(Sid::TagOnCreate).expect("tag on create");
        let json = serde_json::to_value(&tagging.condition).expect("json");
        assert_eq!(
            json["StringEquals"]["ec2:CreateAction"],
            serde_json::json!(["CreateImage", "CreateVolume", "RunInstances"])
        );
        assert_eq!(
            sids(&p),
            [
                Sid::Identity,
                Sid::Discover,
                Sid::Launch,
                Sid::LaunchReferences,
                Sid::TagOnCreate,
                Sid::Volumes,
                Sid::VolumeSources,
                Sid::Image,
                Sid::ImageSource,
                Sid::Teardown,
            ]
        );
    }

    #[test]
    fn a_key_named_by_alias_is_matched_through_its_aliases() {
        let p = policy(
            r#"runbook "k" {
  step disk = create_volume { snapshot = "snap-0abc", zone = "eu-west-1a", kms_key = "alias/ebs" }
}
"#,
        );
        assert!(p.statement(Sid::Kms).is_none());
        let kms = p.statement(Sid::KmsByAlias).expect("kms by alias");
        let json = serde_json::to_value(kms).expect("json");
        assert_eq!(
            json["Resource"],
            serde_json::json!(["arn:aws:kms:eu-west-1:123456789012:key/*"])
        );
        assert_eq!(
            json["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/ebs"
        );
        assert_eq!(
            json["Condition"]["StringLike"]["kms:ViaService"],
            "ec2.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn the_policy_is_deterministic_and_names_every_action() {
        let once = serde_json::to_string(&policy(ALL_CREATES)).expect("json");
        let again = serde_json::to_string(&policy(ALL_CREATES)).expect("json");
        assert_eq!(once, again);
        let p = policy(ALL_CREATES);
        assert!(p.actions().iter().all(|a| !a.contains('*')));
        assert!(p.actions().iter().all(|a| !a.starts_with("kms:")));
    }
}
