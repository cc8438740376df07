//! The vocabulary of the language's meaning: types of fields, settings and outputs, what a
//! string names, the shape of an action's schema, the settings of `runbook` and `path` blocks,
//! the fields every step takes, and `verify`'s checks. Each action's own schema is in its file
//! under `crate::action`, built from these; the checker validates against both, and GRAMMAR.md's
//! tests keep the docs in step.

use serde::Serialize;

/// What a string names, so that `snapshot = image.id` is caught before a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Any,
    Image,
    Snapshot,
    Subnet,
    SecurityGroup,
    Instance,
    Volume,
    /// An EC2 key pair's name.
    KeyPair,
    /// An IAM instance profile's name (or ARN).
    InstanceProfile,
    /// A KMS key: its id, its ARN, `alias/NAME` or an alias's ARN.
    KmsKey,
    Zone,
    /// An AWS Backup recovery point ARN.
    RecoveryPoint,
    /// An IAM role ARN.
    Role,
    Region,
    /// An RFC 3339 time, as the `created` outputs give.
    Timestamp,
}

impl Kind {
    /// "an image id (ami-...)".
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Any => "a string",
            Kind::Image => "an image id (ami-...)",
            Kind::Snapshot => "a snapshot id (snap-...)",
            Kind::Subnet => "a subnet id (subnet-...)",
            Kind::SecurityGroup => "a security group id (sg-...)",
            Kind::Instance => "an instance id (i-...)",
            Kind::Volume => "a volume id (vol-...)",
            Kind::KeyPair => "a key pair name",
            Kind::InstanceProfile => "an instance profile name or ARN",
            Kind::KmsKey => "a KMS key id, ARN or alias (alias/...)",
            Kind::Zone => "an availability zone (us-east-1a)",
            Kind::RecoveryPoint => "a recovery point ARN (arn:aws:...)",
            Kind::Role => "an IAM role ARN (arn:aws:iam::...)",
            Kind::Region => "a region (us-east-1)",
            Kind::Timestamp => "a time",
        }
    }

    /// Whether a literal string can be of this kind. Only the shape is checked: whether the
    /// thing exists is for the run to find out.
    pub fn accepts_literal(self, s: &str) -> bool {
        let prefixed = |p: &str| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty());
        match self {
            Kind::Any | Kind::Timestamp => true,
            Kind::KeyPair | Kind::InstanceProfile | Kind::KmsKey => !s.is_empty(),
            Kind::Image => prefixed("ami-"),
            Kind::Snapshot => prefixed("snap-"),
            Kind::Subnet => prefixed("subnet-"),
            Kind::SecurityGroup => prefixed("sg-"),
            Kind::Instance => prefixed("i-"),
            Kind::Volume => prefixed("vol-"),
            Kind::Zone => {
                is_region(s.trim_end_matches(|c: char| c.is_ascii_lowercase())) && s.len() > 1
            }
            Kind::RecoveryPoint => s.starts_with("arn:aws") && s.len() > 8,
            Kind::Role => s.starts_with("arn:aws") && s.contains(":iam::") && s.contains(":role/"),
            Kind::Region => is_region(s),
        }
    }

    /// Whether a value known to be of kind `self` may go where `expected` is wanted.
    pub(crate) fn fits(self, expected: Kind) -> bool {
        self == expected || self == Kind::Any || expected == Kind::Any
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// The type of a field, a setting or an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Str(Kind),
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Duration,
    List(&'static Ty),
    Map(&'static Ty),
    /// A string from a fixed set.
    OneOf(&'static [&'static str]),
    /// `verify`'s check strings: `running`, `status_ok`, `tcp:PORT`, `http:PORT/PATH`, `ssm:CMD`.
    Checks,
    /// `launch`'s `volumes`: a list of `{ snapshot, device, type, ... }` maps.
    Volumes,
    /// `after`: a list of step names.
    Steps,
    /// A 5-field cron expression.
    Cron,
}

impl Ty {
    /// "a list of instance ids (i-...)".
    pub(crate) fn describe(self) -> String {
        match self {
            Ty::Str(kind) => kind.describe().to_string(),
            Ty::Int { .. } => "an integer".to_string(),
            Ty::Bool => "true or false".to_string(),
            Ty::Duration => "a duration (90s, 15m, 2h30m, 1d)".to_string(),
            Ty::List(inner) => format!("a list of {}", plural(&inner.describe())),
            Ty::Map(inner) => format!("a map of {}", plural(&inner.describe())),
            Ty::OneOf(options) => {
                let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            Ty::Checks => "a list of checks".to_string(),
            Ty::Volumes => "a list of volumes ({ snapshot = ..., device = ... })".to_string(),
            Ty::Steps => "a list of step names".to_string(),
            Ty::Cron => "a 5-field cron expression (UTC, or after `TZ=Zone `)".to_string(),
        }
    }
}

/// "an image id (ami-...)" -> "image ids (ami-...)", for "a list of ...".
fn plural(singular: &str) -> String {
    let s = singular
        .strip_prefix("an ")
        .or_else(|| singular.strip_prefix("a "))
        .unwrap_or(singular);
    match s.find(" (") {
        Some(i) => format!("{}s{}", &s[..i], &s[i..]),
        None => format!("{s}s"),
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub secrecy: Secrecy,
    /// Ids to choose among (a find's `image_ids`, a snapshot's source `volume`): one that does
    /// not exist is not chosen, so preflight does not require it to.
    pub candidates: bool,
    /// The field whose region the ids of this one are in (`copy_image`'s `image` is in its
    /// `source_region`); `None`: the step's own region, as for every other field.
    pub region_of: Option<&'static str>,
}

/// Whether a field may carry a `param NAME secret` (crate::secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrecy {
    /// No: its value is recorded and shown.
    Plain,
    /// A secret param may stand in it (`exec`'s `env` values); the rest is recorded as is.
    Takes,
    /// Always recorded as `<secret>`, whatever it holds (`launch`'s `user_data`, where
    /// bootstrap credentials go).
    Always,
}

pub(crate) const fn req(name: &'static str, ty: Ty) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: true,
        secrecy: Secrecy::Plain,
        candidates: false,
        region_of: None,
    }
}

pub(crate) const fn opt(name: &'static str, ty: Ty) -> FieldSpec {
    FieldSpec {
        name,
        ty,
        required: false,
        secrecy: Secrecy::Plain,
        candidates: false,
        region_of: None,
    }
}

impl FieldSpec {
    pub(crate) const fn secret(mut self, secrecy: Secrecy) -> FieldSpec {
        self.secrecy = secrecy;
        self
    }

    /// Marks the field's ids as ones to choose among (see `candidates`).
    pub(crate) const fn candidates(mut self) -> FieldSpec {
        self.candidates = true;
        self
    }

    /// Marks the field's ids as being in the region another field names (see `region_of`).
    pub(crate) const fn in_region_of(mut self, field: &'static str) -> FieldSpec {
        self.region_of = Some(field);
        self
    }
}

#[derive(Debug)]
pub(crate) struct ActionSchema {
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
    /// At least one of these must be given (`find_image`: tags, name or image_ids).
    pub one_of: &'static [&'static str],
    pub outputs: &'static [(&'static str, Ty)],
}

impl ActionSchema {
    /// This action's own field of that name, or a field every step takes.
    pub(crate) fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields
            .iter()
            .chain(COMMON_FIELDS)
            .find(|f| f.name == name)
    }

    pub(crate) fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().chain(COMMON_FIELDS).map(|f| f.name)
    }
}

pub(crate) const STR: Ty = Ty::Str(Kind::Any);
pub(crate) const STRS: Ty = Ty::List(&STR);
pub(crate) const STR_MAP: Ty = Ty::Map(&STR);
pub(crate) const INSTANCE: Ty = Ty::Str(Kind::Instance);
pub(crate) const INSTANCES: Ty = Ty::List(&INSTANCE);
pub(crate) const SECURITY_GROUPS: Ty = Ty::List(&Ty::Str(Kind::SecurityGroup));
/// Sizes, IOPS, throughput: what AWS takes is a 32-bit integer.
pub(crate) const POSITIVE: Ty = Ty::Int {
    min: 1,
    max: u32::MAX as i64,
};
pub(crate) const TIMESTAMP: Ty = Ty::Str(Kind::Timestamp);
/// A KMS key, in the region the step runs in.
pub(crate) const KMS_KEY: Ty = Ty::Str(Kind::KmsKey);

/// EBS volume types.
pub(crate) const VOLUME_TYPES: &[&str] = &["gp3", "gp2", "io2", "io1", "st1", "sc1", "standard"];

/// The fields every step takes, whatever its action.
pub(crate) const COMMON_FIELDS: &[FieldSpec] = &[
    opt("after", Ty::Steps),
    opt("timeout", Ty::Duration),
    opt(
        "retries",
        Ty::Int {
            min: 0,
            max: super::limits::MAX_RETRIES,
        },
    ),
    opt("critical", Ty::Bool),
    opt("region", Ty::Str(Kind::Region)),
    opt("description", STR),
];

/// The settings of a `runbook` block.
pub(crate) const RUNBOOK_SETTINGS: &[FieldSpec] = &[
    opt("description", STR),
    opt("region", Ty::Str(Kind::Region)),
    opt("rto", Ty::Duration),
    opt("rpo", Ty::Duration),
    opt("schedule", Ty::Cron),
    opt("readiness", Ty::Cron),
    opt("isolation", Ty::OneOf(&["none", "sandbox"])),
    opt("isolation_egress", STRS),
    opt("strategy", Ty::OneOf(&["all", "first"])),
    opt("role", Ty::Str(Kind::Role)),
    opt("tags", STR_MAP),
];

/// The settings of a `path` block.
pub(crate) const PATH_SETTINGS: &[FieldSpec] = &[opt("rto", Ty::Duration), opt("description", STR)];

/// The keys of one map in `launch`'s `volumes`.
pub(crate) const VOLUME_FIELDS: &[FieldSpec] = &[
    req("snapshot", Ty::Str(Kind::Snapshot)),
    req("device", STR),
    opt("type", Ty::OneOf(VOLUME_TYPES)),
    opt("size_gib", POSITIVE),
    opt("iops", POSITIVE),
    opt("throughput", POSITIVE),
    opt("kms_key", KMS_KEY),
];

/// A `verify` check, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "check")]
pub enum Check {
    Running,
    StatusOk,
    Tcp { port: u16 },
    Http { port: u16, path: String },
    Ssm { command: String },
}

impl Check {
    /// Parses one check string; the error says what is wrong with it.
    pub(crate) fn parse(s: &str) -> Result<Check, String> {
        let port = |p: &str| -> Result<u16, String> {
            match p
                .parse::<u16>()
                .ok()
                .filter(|_| p.chars().all(|c| c.is_ascii_digit()))
                .ok_or(())
            {
                Ok(0) | Err(_) => Err(format!("`{p}` is not a port (1 to 65535)")),
                Ok(n) => Ok(n),
            }
        };
        match s.split_once(':') {
            None if s == "running" => Ok(Check::Running),
            None if s == "status_ok" => Ok(Check::StatusOk),
            Some(("tcp", p)) => Ok(Check::Tcp { port: port(p)? }),
            Some(("http", rest)) => {
                let (p, path) = rest.split_once('/').unwrap_or((rest, ""));
                Ok(Check::Http {
                    port: port(p)?,
                    path: format!("/{path}"),
                })
            }
            Some(("ssm", command)) if !command.trim().is_empty() => Ok(Check::Ssm {
                command: command.to_string(),
            }),
            Some(("ssm", _)) => Err("`ssm:` needs a command after the colon".to_string()),
            _ => Err(format!(
                "unknown check `{s}`; checks are running, status_ok, tcp:PORT, http:PORT/PATH and ssm:COMMAND"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_kinds_check_the_shape() {
        assert!(Kind::Image.accepts_literal("ami-0abc"));
        assert!(!Kind::Image.accepts_literal("snap-0abc"));
        assert!(!Kind::Image.accepts_literal("ami-"));
        assert!(Kind::Region.accepts_literal("us-east-1"));
        assert!(Kind::Region.accepts_literal("us-gov-west-1"));
        assert!(!Kind::Region.accepts_literal("useast1"));
        assert!(Kind::Zone.accepts_literal("eu-west-3c"));
        assert!(Kind::Role.accepts_literal("arn:aws:iam::123456789012:role/Restore"));
        assert!(!Kind::Role.accepts_literal("arn:aws:s3:::bucket"));
    }

    #[test]
    fn checks_parse() {
        assert!(Check::parse("tcp:+80").is_err());
        assert!(!Kind::Region.accepts_literal("us-east-+1"));
        assert_eq!(Check::parse("tcp:443"), Ok(Check::Tcp { port: 443 }));
        assert_eq!(
            Check::parse("http:8080/health"),
            Ok(Check::Http {
                port: 8080,
                path: "/health".into()
            })
        );
        assert!(Check::parse("tcp:0").is_err());
        assert!(Check::parse("tcp:99999").is_err());
        assert!(Check::parse("ping").is_err());
        assert!(Check::parse("ssm:").is_err());
    }

    #[test]
    fn descriptions_read_well() {
        assert_eq!(
            Ty::List(&Ty::Str(Kind::Instance)).describe(),
            "a list of instance ids (i-...)"
        );
        assert_eq!(Ty::List(&STR).describe(), "a list of strings");
    }
}
