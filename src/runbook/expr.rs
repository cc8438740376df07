//! A field's value once the checker has substituted params: a literal, or a step output known
//! only at run time. A leaf of the language, so that the actions (which read their fields) and
//! the checked runbook (which holds them) need not import each other.

use std::collections::BTreeMap;
use std::time::Duration;

/// Index of a step in `Runbook::steps`.
pub type StepId = usize;

/// A step's own fields (not `after`, `timeout` and the other common ones), by name.
pub(crate) type Fields = BTreeMap<String, Expr>;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    Bool(bool),
    Duration(Duration),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    Output {
        step: StepId,
        output: String,
    },
    /// A `param NAME secret`, by name: its value is only had at run time, from
    /// `Runbook::secrets`, and only in the inputs an action sends (see `crate::secret`).
    Secret(String),
}

impl Expr {
    /// The outputs this value reads, for dependencies.
    pub(crate) fn outputs(&self, into: &mut Vec<StepId>) {
        match self {
            Expr::Output { step, .. } => into.push(*step),
            Expr::List(items) => items.iter().for_each(|e| e.outputs(into)),
            Expr::Map(entries) => entries.values().for_each(|e| e.outputs(into)),
            _ => {}
        }
    }

    /// The string, when this is a literal one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Expr::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The literal strings of a list; `None` when this is not a list.
    pub(crate) fn strings(&self) -> Option<Vec<String>> {
        match self {
            Expr::List(items) => Some(
                items
                    .iter()
                    .filter_map(Expr::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The literal string entries of a map (`tags = { ... }`); empty when this is not a map.
    pub(crate) fn str_map(&self) -> BTreeMap<String, String> {
        match self {
            Expr::Map(m) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
}
