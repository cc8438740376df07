//! The runbook as written: a typed tree that keeps every node's span and the order of items,
//! but gives no meaning to names. `parse` builds it; `check` gives it meaning; `fmt` prints it
//! back.

use std::sync::Arc;

use super::source::{Source, Span};

/// A parsed file: normally one runbook, but the parser accepts any number so that the checker
/// can say "two runbook blocks" with both positions.
#[derive(Debug, Clone)]
pub struct File {
    pub source: Arc<Source>,
    pub runbooks: Vec<Runbook>,
    /// Every comment, from the scan; only `fmt` reads them.
    pub comments: Vec<Span>,
}

#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: Str,
    pub items: Vec<Item>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Item {
    Setting(Field),
    Param(Param),
    Path(Path),
    Step(Step),
}

impl Item {}

/// `param NAME`, `param NAME = VALUE` or `param NAME secret`.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: Ident,
    pub default: Option<Value>,
    /// `secret`: where the word is.
    pub secret: Option<Span>,
    pub span: Span,
}

/// `path NAME { ... }`: settings (`rto`) and steps.
#[derive(Debug, Clone)]
pub struct Path {
    pub name: Ident,
    pub items: Vec<PathItem>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum PathItem {
    Setting(Field),
    Step(Step),
}

impl PathItem {}

/// `step NAME = ACTION { fields }`.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: Ident,
    pub action: Ident,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `name = value`: a setting, a step's field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: Ident,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Value {
    pub kind: ValueKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ValueKind {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Whole seconds, and the text as written (`2h30m`), which `fmt` keeps.
    Duration {
        seconds: u64,
        text: String,
    },
    List(Vec<Value>),
    Map(Vec<Entry>),
    /// `name` (a param, or a step in `after`) or `step.output`.
    Ref {
        head: Ident,
        field: Option<Ident>,
    },
}

/// `Key = value` in a map; `quoted` when the key was written as a string.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: Str,
    pub quoted: bool,
    pub value: Value,
    pub span: Span,
}

impl ValueKind {
    /// A short name of the kind of value, for "expected a duration, found a string".
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Str(_) => "a string",
            ValueKind::Int(_) => "an integer",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Duration { .. } => "a duration",
            ValueKind::List(_) => "a list",
            ValueKind::Map(_) => "a map",
            ValueKind::Ref { field: None, .. } => "a name",
            ValueKind::Ref { field: Some(_), .. } => "a step output",
        }
    }
}
