//! Names: every param and step is declared before anything is checked, so that a reference may
//! point forward to a step defined further down. Duplicates are reported here, and names that
//! are not declared (with "did you mean"); a step with an unknown action is still a known name,
//! so references to it are not reported a second time.

use crate::action::Action;
use crate::runbook::ast::{self, Field, Item, PathItem, Value, ValueKind};
use crate::runbook::checked::{ParamOrigin, PathId};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::limits;
use crate::runbook::source::Span;
use crate::runbook::suggest::did_you_mean;

use super::{Checker, ParamDecl, StepDecl};

/// The runbook's settings, and each path with its own: put aside while the names are declared,
/// checked once every name is known.
type Blocks<'a> = (Vec<&'a Field>, Vec<(&'a ast::Path, Vec<&'a Field>)>);

impl<'a> Checker<'a> {
    /// Declares every param and step of the runbook, in the order written, each path's steps
    /// under their path.
    pub(super) fn declare(&mut self, rb: &'a ast::Runbook) -> Blocks<'a> {
        let mut settings: Vec<&'a Field> = Vec::new();
        let mut paths: Vec<(&'a ast::Path, Vec<&'a Field>)> = Vec::new();
        for item in &rb.items {
            match item {
                Item::Setting(f) => settings.push(f),
                Item::Param(p) => self.declare_param(p),
                Item::Step(s) => self.declare_step(s, None),
                Item::Path(p) => {
                    let id = paths.len();
                    if let Some((first, _)) = paths.iter().find(|(q, _)| q.name.name == p.name.name)
                    {
                        self.error(duplicate("path", &p.name, first.name.span));
                    }
                    let mut path_settings = Vec::new();
                    for pi in &p.items {
                        match pi {
                            PathItem::Setting(f) => path_settings.push(f),
                            PathItem::Step(s) => self.declare_step(s, Some(id)),
                        }
                    }
                    paths.push((p, path_settings));
                }
            }
        }
        if self.steps.len() > limits::MAX_STEPS {
            let span = self.steps[limits::MAX_STEPS].ast.name.span;
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    format!("more than {} steps in one runbook", limits::MAX_STEPS),
                )
                .hint("split the runbook into several"),
            );
        }
        (settings, paths)
    }

    fn declare_param(&mut self, p: &'a ast::Param) {
        if let Some(first) = self.params.get(p.name.name.as_str()) {
            let first_span = first.ast.name.span;
            self.error(duplicate("param", &p.name, first_span));
            return;
        }
        if let Some(v) = &p.default
            && let Some(span) = first_ref(v)
        {
            self.error(
                Diagnostic::new(Code::WrongType, span, "a param's default must be a value")
                    .label("a reference is not allowed here")
                    .hint("write the value itself, in quotes if it is a string"),
            );
        }
        self.param_order.push(&p.name.name);
        self.params.insert(
            &p.name.name,
            ParamDecl {
                ast: p,
                value: p.default.clone(),
                origin: if p.secret.is_some() {
                    ParamOrigin::Secret
                } else {
                    ParamOrigin::Default
                },
                raw: None,
            },
        );
    }

    fn declare_step(&mut self, s: &'a ast::Step, path: Option<PathId>) {
        let first = self.step_ids.get(s.name.name.as_str()).copied();
        if let Some(first) = first {
            let first_span = self.steps[first].ast.name.span;
            self.error(duplicate("step", &s.name, first_span));
        }
        let action = Action::from_name(&s.action.name);
        if action.is_none() {
            let names = Action::ALL.iter().map(|a| a.name());
            let hint = did_you_mean(&s.action.name, names).unwrap_or_else(|| {
                let all: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                format!("the actions are {}", all.join(", "))
            });
            self.error(
                Diagnostic::new(
                    Code::UnknownAction,
                    s.action.span,
                    format!("unknown action `{}`", s.action.name),
                )
                .label("not an action")
                .hint(hint),
            );
        }
        // A duplicate is still checked (its own mistakes are reported too), but its name keeps
        // pointing at the first.
        if first.is_none() {
            self.step_ids.insert(&s.name.name, self.steps.len());
        }
        self.steps.push(StepDecl {
            ast: s,
            action,
            path,
        });
    }

    pub(super) fn unknown_step(&self, name: &ast::Ident) -> Diagnostic {
        let hint = did_you_mean(&name.name, self.step_ids.keys().copied());
        let hint = hint.or_else(|| {
            self.params
                .contains_key(name.name.as_str())
                .then(|| format!("`{}` is a param, and params have no outputs", name.name))
        });
        Diagnostic::new(
            Code::UnknownStep,
            name.span,
            format!("unknown step `{}`", name.name),
        )
        .label("no step has this name")
        .maybe_hint(hint)
    }

    /// `name` where no param has that name: perhaps it is a step, used by its outputs.
    pub(super) fn unknown_param(&self, head: &ast::Ident) -> Diagnostic {
        let name = head.name.as_str();
        let hint = if let Some(&id) = self.step_ids.get(name) {
            let outputs: Vec<String> = self.steps[id]
                .action
                .map(|a| {
                    a.schema()
                        .outputs
                        .iter()
                        .map(|(o, _)| format!("{name}.{o}"))
                        .collect()
                })
                .unwrap_or_default();
            if outputs.is_empty() {
                Some(format!("`{name}` is a step, and it has no outputs"))
            } else {
                Some(format!(
                    "`{name}` is a step; use one of its outputs: {}",
                    outputs.join(", ")
                ))
            }
        } else {
            did_you_mean(name, self.param_order.iter().copied())
        };
        Diagnostic::new(
            Code::UnknownParam,
            head.span,
            format!("unknown param `{name}`"),
        )
        .label("no param has this name")
        .maybe_hint(hint)
    }
}

pub(super) fn duplicate(what: &str, name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::Duplicate,
        name.span,
        format!("{what} `{}` is defined twice", name.name),
    )
    .label("second definition")
    .related(first, "first defined here")
    .hint(format!("{what} names must be unique; rename or remove one"))
}

/// The span of the first reference inside a value.
fn first_ref(v: &Value) -> Option<Span> {
    match &v.kind {
        ValueKind::Ref { .. } => Some(v.span),
        ValueKind::List(items) => items.iter().find_map(first_ref),
        ValueKind::Map(entries) => entries.iter().find_map(|e| first_ref(&e.value)),
        _ => None,
    }
}
