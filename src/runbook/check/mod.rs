//! AST to checked runbook: gives names their meaning and reports *every* problem, not the
//! first. Unknown settings, actions, fields, outputs, steps and params (with "did you mean"),
//! missing fields, wrong types, duplicates, cycles, cross-path references under
//! `strategy = "first"`, and required params without a value.
//!
//! A problem in one place does not hide problems elsewhere: a step with an unknown action is
//! still a known step name, so references to it are not reported a second time.
//!
//! `run` below is the list of phases, in the order their diagnostics come out; each phase is a
//! file of its own, with its own `impl Checker`: `names` (declarations), `sets` (`--set`
//! values), `settings` (runbook and path settings), `steps` (one step each), `values` and
//! `references` (a field's value against its type), `regions` (what a step uses is in its
//! region), `graph` (the dependencies between steps).
//! The phases import this file's types and helpers; this file imports none of them, so the
//! modules form no cycle.

mod graph;
mod names;
mod references;
mod regions;
mod sets;
mod settings;
mod steps;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::action::Action;
use crate::runbook::ast::{self, File, Value};
use crate::runbook::checked::{Expr, ParamOrigin, PathId, Runbook, StepId, Strategy};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::schema::RUNBOOK_SETTINGS;
use crate::runbook::source::Source;

/// How often a drilled runbook without a `readiness` setting is checked: hourly.
pub(crate) const DEFAULT_READINESS: &str = "0 * * * *";

/// Checks a parsed file with the `--set` values of this invocation.
pub(crate) fn check(file: &File, sets: &[(String, String)]) -> Result<Runbook, Vec<Diagnostic>> {
    let mut checker = Checker {
        errors: one_runbook(file),
        ..Checker::default()
    };
    let Some(runbook) = file.runbooks.first() else {
        return Err(checker.errors);
    };
    let checked = checker.run(runbook, sets, &file.source);
    if checker.errors.is_empty() {
        Ok(checked)
    } else {
        Err(checker.errors)
    }
}

/// A file holds exactly one runbook: the problems if it does not (also used by `fmt`).
pub(crate) fn one_runbook(file: &File) -> Vec<Diagnostic> {
    let Some(first) = file.runbooks.first() else {
        return vec![
            Diagnostic::new(
                Code::RunbookCount,
                file.source.span(0, 0),
                "no runbook in this file",
            )
            .label("expected `runbook \"NAME\" { ... }`")
            .hint("a runbook file holds one block: runbook \"web-tier\" { ... }"),
        ];
    };
    file.runbooks[1..]
        .iter()
        .map(|extra| {
            Diagnostic::new(
                Code::RunbookCount,
                extra.name.span,
                "a file holds exactly one runbook",
            )
            .label("second runbook")
            .related(first.name.span, "the first one is here")
            .hint("put each runbook in a file of its own")
        })
        .collect()
}

/// What a step's fields refer to: each step it depends on, with where it is named (the plan's
/// edges, and the spans a cycle's diagnostic points at).
type Deps = Vec<(StepId, crate::runbook::source::Span)>;

/// A step as first seen: enough to resolve references to it before it is checked.
struct StepDecl<'a> {
    ast: &'a ast::Step,
    action: Option<Action>,
    path: Option<PathId>,
}

/// A param's declaration and the value it has in this run.
struct ParamDecl<'a> {
    ast: &'a ast::Param,
    value: Option<Value>,
    origin: ParamOrigin,
    /// The text of a `--set` value, used as is where a string is wanted.
    raw: Option<String>,
}

/// Where a value is being checked, for the rules that depend on it.
enum Place<'d> {
    /// A step's field: step outputs are allowed, and each one named is a dependency of the
    /// step, added to its `Deps`.
    StepField(&'d mut Deps),
    /// A runbook or path setting, a common step field like `timeout`: must be known before the
    /// run.
    Static,
}

#[derive(Default)]
struct Checker<'a> {
    errors: Vec<Diagnostic>,
    params: HashMap<&'a str, ParamDecl<'a>>,
    param_order: Vec<&'a str>,
    steps: Vec<StepDecl<'a>>,
    step_ids: HashMap<&'a str, StepId>,
    /// Checking a field where a secret param may stand (`schema::Secrecy`).
    secret_ok: bool,
}

impl<'a> Checker<'a> {
    fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    fn run(
        &mut self,
        rb: &'a ast::Runbook,
        sets: &[(String, String)],
        source: &Arc<Source>,
    ) -> Runbook {
        // Declarations first, so that references may point forward.
        let (settings, paths) = self.declare(rb);
        self.apply_sets(rb, sets);

        let runbook_settings = self.settings(&settings, RUNBOOK_SETTINGS, "runbook");
        let strategy = match runbook_settings.get("strategy") {
            Some(Expr::Str(s)) if s == "first" => Strategy::First,
            _ => Strategy::All,
        };
        let path_defs = self.paths(&paths);

        let (steps, dep_spans) = self.check_steps();
        let region = string_of(runbook_settings.get("region"));
        self.cross_region(&steps, region.as_deref());
        if strategy == Strategy::First {
            self.cross_path(&dep_spans, &path_defs);
        }
        self.cycles(&dep_spans);

        Runbook {
            name: rb.name.value.clone(),
            source: Arc::clone(source),
            description: string_of(runbook_settings.get("description")),
            region,
            rto: duration_of(runbook_settings.get("rto")),
            rpo: duration_of(runbook_settings.get("rpo")),
            schedule: string_of(runbook_settings.get("schedule")),
            // A runbook that is drilled is checked for readiness between drills, hourly unless
            // it says otherwise.
            isolation: string_of(runbook_settings.get("isolation")).as_deref() == Some("sandbox"),
            isolation_egress: runbook_settings
                .get("isolation_egress")
                .and_then(Expr::strings)
                .unwrap_or_default(),
            readiness: string_of(runbook_settings.get("readiness")).or_else(|| {
                runbook_settings
                    .get("schedule")
                    .map(|_| DEFAULT_READINESS.to_string())
            }),
            strategy,
            role: string_of(runbook_settings.get("role")),
            tags: tags_of(runbook_settings.get("tags")),
            params: self.param_values(),
            secrets: self.secret_params(),
            paths: path_defs,
            steps,
        }
    }
}

// Checked settings and fields read back as plain values. They are here rather than in `values`
// because `run` uses them too, and this file imports none of its phases.

fn duration_of(e: Option<&Expr>) -> Option<Duration> {
    match e {
        Some(Expr::Duration(d)) => Some(*d),
        _ => None,
    }
}

fn string_of(e: Option<&Expr>) -> Option<String> {
    match e {
        Some(Expr::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The runbook's `tags`, name to value.
fn tags_of(e: Option<&Expr>) -> BTreeMap<String, String> {
    match e {
        Some(Expr::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                Expr::Str(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
