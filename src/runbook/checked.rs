//! The checked runbook: what `plan` and the executor consume. Every name is resolved (params
//! substituted by their values, references turned into step ids), every field has the type its
//! action wants, and the dependency graph has no cycle. Nothing downstream re-validates.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::expr::Fields;
pub use super::expr::{Expr, StepId};
use super::source::{Source, Span};
use crate::action::Action;

/// Index of a path in `Runbook::paths`.
pub type PathId = usize;

#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: String,
    pub source: Arc<Source>,
    pub description: Option<String>,
    pub region: Option<String>,
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
    pub schedule: Option<String>,
    /// When the daemon asks whether the runbook would recover (`rebound preflight`): the
    /// runbook's `readiness`, or hourly when it has a `schedule`.
    pub readiness: Option<String>,
    /// `isolation = "sandbox"`: its drills run in a security group of their own
    /// (`exec::sandbox`).
    pub isolation: bool,
    /// Prefix lists (`pl-...`) or security groups (`sg-...`) an isolated drill's instances may
    /// reach on 443: the VPC endpoints SSM needs.
    pub isolation_egress: Vec<String>,
    pub strategy: Strategy,
    pub role: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub params: Vec<ParamValue>,
    /// The `param NAME secret`s, in source order; their values are `None` until `run` or
    /// `resume` reads them from the environment (`crate::runbook::secrets::read_env`).
    pub secrets: Vec<SecretParam>,
    pub paths: Vec<PathDef>,
    /// In source order.
    pub steps: Vec<Step>,
}

/// A `param NAME secret` and, once read, its value.
#[derive(Debug, Clone)]
pub struct SecretParam {
    pub name: String,
    pub span: Span,
    pub value: Option<crate::secret::Secret>,
}

impl Runbook {
    /// The value of a secret param, once read.
    pub(crate) fn secret(&self, name: &str) -> Option<&str> {
        self.secrets
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.value.as_ref())
            .map(crate::secret::Secret::expose)
    }

    /// Whether a step runs commands through SSM (`run_command`, `ssm:` checks, a freeze),
    /// which an isolated drill reaches only through its `isolation_egress`.
    pub fn runs_ssm(&self) -> bool {
        self.steps.iter().any(|s| {
            s.action == crate::action::Action::RunCommand
                || s.field("freeze").is_some()
                || matches!(s.field("checks"), Some(Expr::List(checks))
                    if checks.iter().any(|c| c.as_str().is_some_and(|c| c.starts_with("ssm:"))))
        })
    }

    /// The regions steps name for themselves (`region`), each once, in order of first use.
    pub fn regions(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.steps.iter().filter_map(|s| s.region.as_ref()) {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        out
    }

    pub fn step_named(&self, name: &str) -> Option<StepId> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// The steps of one path, in source order.
    pub fn path_steps(&self, path: PathId) -> impl Iterator<Item = StepId> + '_ {
        self.steps
            .iter()
            .enumerate()
            .filter(move |(_, s)| s.path == Some(path))
            .map(|(i, _)| i)
    }
}

/// How the run's RTO is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every path must finish; the run's RTO is the last one.
    #[default]
    All,
    /// The first path to finish wins; the others are cancelled.
    First,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::All => "all",
            Strategy::First => "first",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamValue {
    pub name: String,
    pub value: Expr,
    pub origin: ParamOrigin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamOrigin {
    Default,
    /// From `--set NAME=VALUE`.
    Set,
    /// `param NAME secret`: from the environment at run time, never shown.
    Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathDef {
    pub name: String,
    #[serde(serialize_with = "serialize_opt_secs")]
    pub rto: Option<Duration>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub path: Option<PathId>,
    pub action: Action,
    /// The action's own fields (not `after`, `timeout` and the other common ones), by name.
    pub fields: Fields,
    /// Every step this one waits for: the ones it references and the ones in `after`, sorted.
    pub deps: Vec<StepId>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub critical: bool,
    pub region: Option<String>,
    pub description: Option<String>,
    /// The whole `step ... { }` in the source.
    pub span: Span,
    /// Each of `fields`' `name = value` in the source, so that what is wrong with a value found
    /// at run time (preflight) points at the field.
    pub field_spans: BTreeMap<String, Span>,
}

impl Step {
    pub fn field(&self, name: &str) -> Option<&Expr> {
        self.fields.get(name)
    }
}

impl Expr {
    /// The value in runbook syntax, with step ids named through `steps`.
    pub fn display<'a>(&'a self, steps: &'a [Step]) -> impl fmt::Display + 'a {
        DisplayExpr { expr: self, steps }
    }

    /// The value as JSON; an output is `{"output": "step.field"}`.
    pub(crate) fn to_json(&self, steps: &[Step]) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Expr::Str(s) => J::String(s.clone()),
            Expr::Int(n) => J::from(*n),
            Expr::Bool(b) => J::Bool(*b),
            Expr::Duration(d) => J::from(d.as_secs()),
            Expr::List(items) => J::Array(items.iter().map(|e| e.to_json(steps)).collect()),
            Expr::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json(steps)))
                    .collect(),
            ),
            Expr::Output { step, output } => {
                let name = steps.get(*step).map_or("?", |s| s.name.as_str());
                serde_json::json!({ "output": format!("{name}.{output}") })
            }
            Expr::Secret(name) => serde_json::json!({ "secret": name }),
        }
    }
}

struct DisplayExpr<'a> {
    expr: &'a Expr,
    steps: &'a [Step],
}

impl fmt::Display for DisplayExpr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps = self.steps;
        match self.expr {
            Expr::Str(s) => write!(f, "{}", quote(s)),
            Expr::Int(n) => write!(f, "{n}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Duration(d) => write!(f, "{}", format_duration(*d)),
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", item.display(steps))?;
                }
                f.write_str("]")
            }
            Expr::Map(entries) => {
                f.write_str("{ ")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} = {}", quote_key(k), v.display(steps))?;
                }
                f.write_str(" }")
            }
            Expr::Output { step, output } => {
                let name = steps.get(*step).map_or("?", |s| s.name.as_str());
                write!(f, "{name}.{output}")
            }
            Expr::Secret(name) => f.write_str(name),
        }
    }
}

/// A string in runbook syntax, escaped.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A map key: bare when it is an identifier, quoted otherwise.
pub(crate) fn quote_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(k, "runbook" | "param" | "path" | "step" | "true" | "false");
    if ident { k.to_string() } else { quote(k) }
}

/// `2h30m`, `90s` -> `1m30s`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

fn serialize_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs()),
        None => s.serialize_none(),
    }
}
