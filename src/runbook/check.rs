//! AST to checked runbook: gives names their meaning and reports *every* problem, not the
//! first. Unknown settings, actions, fields, outputs, steps and params (with "did you mean"),
//! missing fields, wrong types, duplicates, cycles, cross-path references under
//! `strategy = "first"`, and required params without a value.
//!
//! A problem in one place does not hide problems elsewhere: a step with an unknown action is
//! still a known step name, so references to it are not reported a second time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::ast::{self, Field, File, Item, PathItem, Value, ValueKind};
use super::checked::{
    Expr, ParamOrigin, ParamValue, PathDef, PathId, Runbook, SecretParam, Step, StepId, Strategy,
};
use super::diagnostic::{Code, Diagnostic};
use super::limits;
use super::parse::parse_set_value;
use super::schema::{
    COMMON_FIELDS, Check, FieldSpec, Kind, PATH_SETTINGS, RUNBOOK_SETTINGS, Secrecy, Ty,
    VOLUME_FIELDS,
};
use super::source::{Source, Span};
use super::suggest::{did_you_mean, join_or};
use crate::action::Action;

/// Checks a parsed file with the `--set` values of this invocation.
pub fn check(file: &File, sets: &[(String, String)]) -> Result<Runbook, Vec<Diagnostic>> {
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
pub fn one_runbook(file: &File) -> Vec<Diagnostic> {
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
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A step's field: step outputs are allowed.
    StepField,
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
        self.apply_sets(rb, sets);

        let runbook_settings = self.settings(&settings, RUNBOOK_SETTINGS, "runbook");
        let strategy = match runbook_settings.get("strategy") {
            Some(Expr::Str(s)) if s == "first" => Strategy::First,
            _ => Strategy::All,
        };
        for (p, _) in &paths {
            if !p.items.iter().any(|i| matches!(i, PathItem::Step(_))) {
                self.error(
                    Diagnostic::new(
                        Code::MissingField,
                        p.name.span,
                        format!("path `{}` has no steps", p.name.name),
                    )
                    .label("an empty path")
                    .hint("a path's RTO is its last step's finish: give it steps, or remove it"),
                );
            }
        }
        let path_defs: Vec<PathDef> = paths
            .iter()
            .map(|(p, fields)| {
                let s = self.settings(fields, PATH_SETTINGS, "path");
                PathDef {
                    name: p.name.name.clone(),
                    rto: duration_of(s.get("rto")),
                    description: string_of(s.get("description")),
                }
            })
            .collect();

        let mut steps = Vec::with_capacity(self.steps.len());
        let mut dep_spans: Vec<Vec<(StepId, Span)>> = Vec::with_capacity(self.steps.len());
        for id in 0..self.steps.len() {
            let (step, deps) = self.step(id);
            steps.push(step);
            dep_spans.push(deps);
        }
        if strategy == Strategy::First {
            self.cross_path(&dep_spans, &path_defs);
        }
        self.cycles(&dep_spans);

        let params = self
            .param_order
            .iter()
            .filter_map(|name| {
                let decl = self.params.get(name)?;
                let value = match (&decl.raw, &decl.value) {
                    _ if decl.ast.secret.is_some() => Expr::Secret((*name).to_string()),
                    (Some(raw), Some(v)) if matches!(v.kind, ValueKind::Str(_)) => {
                        Expr::Str(raw.clone())
                    }
                    (_, Some(v)) => literal(v)?,
                    (_, None) => return None,
                };
                Some(ParamValue {
                    name: (*name).to_string(),
                    value,
                    origin: decl.origin,
                })
            })
            .collect();
        let tags = match runbook_settings.get("tags") {
            Some(Expr::Map(m)) => m
                .iter()
                .filter_map(|(k, v)| match v {
                    Expr::Str(s) => Some((k.clone(), s.clone())),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        Runbook {
            name: rb.name.value.clone(),
            source: Arc::clone(source),
            description: string_of(runbook_settings.get("description")),
            region: string_of(runbook_settings.get("region")),
            rto: duration_of(runbook_settings.get("rto")),
            rpo: duration_of(runbook_settings.get("rpo")),
            schedule: string_of(runbook_settings.get("schedule")),
            strategy,
            role: string_of(runbook_settings.get("role")),
            tags,
            params,
            secrets: self
                .param_order
                .iter()
                .filter_map(|name| self.params.get(name))
                .filter(|d| d.ast.secret.is_some())
                .map(|d| SecretParam {
                    name: d.ast.name.name.clone(),
                    span: d.ast.name.span,
                    value: None,
                })
                .collect(),
            paths: path_defs,
            steps: steps.into_iter().flatten().collect(),
        }
    }

    fn declare_param(&mut self, p: &'a ast::Param) {
        if let Some(first) = self.params.get(p.name.name.as_str()) {
            let first_span = first.ast.name.span;
            self.error(duplicate("param", &p.name, first_span));
            return;
        }
        if let Some(v) = &p.default {
            if let Some(span) = first_ref(v) {
                self.error(
                    Diagnostic::new(Code::WrongType, span, "a param's default must be a value")
                        .label("a reference is not allowed here")
                        .hint("write the value itself, in quotes if it is a string"),
                );
            }
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

    /// `--set NAME=VALUE` over the defaults; then every param must have a value.
    fn apply_sets(&mut self, rb: &ast::Runbook, sets: &[(String, String)]) {
        for (name, text) in sets {
            let Some(decl) = self.params.get_mut(name.as_str()) else {
                let hint =
                    did_you_mean(name, self.param_order.iter().copied()).unwrap_or_else(|| {
                        if self.param_order.is_empty() {
                            "this runbook declares no params".to_string()
                        } else {
                            format!("its params are {}", self.param_order.join(", "))
                        }
                    });
                self.errors.push(
                    Diagnostic::new(
                        Code::UnknownParam,
                        rb.name.span,
                        format!("--set {name}=...: this runbook has no param `{name}`"),
                    )
                    .label("in this runbook")
                    .hint(hint),
                );
                continue;
            };
            if decl.ast.secret.is_some() {
                let env = crate::secret::env_var(name);
                self.errors.push(
                    Diagnostic::new(
                        Code::Secret,
                        decl.ast.name.span,
                        format!("--set {name}=...: `{name}` is a secret param"),
                    )
                    .label("declared secret here")
                    .hint(format!(
                        "export {env} instead: a command line is visible to every user in `ps` and stays in shell history"
                    )),
                );
                continue;
            }
            let kind = parse_set_value(text);
            // Where a string is wanted the text is used as typed, unquoted if it was quoted.
            let raw = match &kind {
                ValueKind::Str(s) => s.clone(),
                _ => text.clone(),
            };
            decl.value = Some(Value {
                kind,
                span: decl.ast.name.span,
            });
            decl.origin = ParamOrigin::Set;
            decl.raw = Some(raw);
        }
        let missing: Vec<Diagnostic> = self
            .param_order
            .iter()
            .filter_map(|name| self.params.get(name))
            .filter(|d| d.value.is_none() && d.ast.secret.is_none())
            .map(|d| {
                let name = &d.ast.name.name;
                Diagnostic::new(
                    Code::MissingParamValue,
                    d.ast.name.span,
                    format!("param `{name}` has no value"),
                )
                .label("required, and not given")
                .hint(format!(
                    "run with `--set {name}=VALUE`, or give it a default: `param {name} = \"...\"`"
                ))
            })
            .collect();
        self.errors.extend(missing);
    }

    /// Checks settings against their table; returns the valid ones by name.
    fn settings(
        &mut self,
        fields: &[&'a Field],
        table: &[FieldSpec],
        block: &str,
    ) -> HashMap<&'a str, Expr> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut out = HashMap::new();
        for f in fields {
            let name = f.name.name.as_str();
            if let Some(&first) = seen.get(name) {
                self.error(duplicate("setting", &f.name, first));
                continue;
            }
            seen.insert(name, f.name.span);
            let Some(spec) = table.iter().find(|s| s.name == name) else {
                let names: Vec<&str> = table.iter().map(|s| s.name).collect();
                let hint = did_you_mean(name, names.iter().copied())
                    .unwrap_or_else(|| format!("a {block} takes {}", names.join(", ")));
                self.error(
                    Diagnostic::new(
                        Code::UnknownSetting,
                        f.name.span,
                        format!("unknown {block} setting `{name}`"),
                    )
                    .label("not a setting")
                    .hint(hint),
                );
                continue;
            };
            if let Some(e) = self.value(&f.value, spec.ty, Place::Static, &mut Vec::new()) {
                out.insert(name, e);
            }
        }
        out
    }

    /// Checks one step; returns it (when its action is known) and the steps it depends on,
    /// with the span of each reference.
    fn step(&mut self, id: StepId) -> (Option<Step>, Vec<(StepId, Span)>) {
        let decl = &self.steps[id];
        let (ast, path) = (decl.ast, decl.path);
        let mut deps: Vec<(StepId, Span)> = Vec::new();
        let Some(action) = decl.action else {
            // Still resolve its references, to report what is wrong in them too.
            for f in &ast.fields {
                if f.name.name == "after" {
                    self.after(&f.value, &mut deps);
                } else {
                    self.references(&f.value, &mut deps);
                }
            }
            return (None, deps);
        };
        let schema = action.schema();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut fields = BTreeMap::new();
        let mut common: HashMap<&str, Expr> = HashMap::new();
        for f in &ast.fields {
            let name = f.name.name.as_str();
            if let Some(&first) = seen.get(name) {
                self.error(duplicate("field", &f.name, first));
                continue;
            }
            seen.insert(name, f.name.span);
            let Some(spec) = schema.field(name) else {
                let hint = did_you_mean(name, schema.field_names()).unwrap_or_else(|| {
                    let own: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
                    format!("{} takes {}", schema.name, own.join(", "))
                });
                self.error(
                    Diagnostic::new(
                        Code::UnknownField,
                        f.name.span,
                        format!("unknown field `{name}` for action `{}`", schema.name),
                    )
                    .label("not a field of this action")
                    .hint(hint),
                );
                continue;
            };
            if spec.ty == Ty::Steps {
                self.after(&f.value, &mut deps);
                continue;
            }
            let is_common = COMMON_FIELDS.iter().any(|c| c.name == name);
            let place = if is_common {
                Place::Static
            } else {
                Place::StepField
            };
            self.secret_ok = spec.secrecy != Secrecy::Plain;
            let checked = self.value(&f.value, spec.ty, place, &mut deps);
            self.secret_ok = false;
            let Some(expr) = checked else {
                continue;
            };
            if spec.required && matches!(&expr, Expr::List(items) if items.is_empty()) {
                self.error(invalid(
                    &f.value,
                    format!("`{name}` needs at least one element"),
                    Some(format!("{} cannot do without `{name}`", schema.name)),
                ));
                continue;
            }
            if is_common {
                common.insert(name, expr);
            } else {
                fields.insert(name.to_string(), expr);
            }
        }
        let missing: Vec<&str> = schema
            .fields
            .iter()
            .filter(|f| f.required && !seen.contains_key(f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            let required: Vec<&str> = schema
                .fields
                .iter()
                .filter(|f| f.required)
                .map(|f| f.name)
                .collect();
            let listed: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            let (noun, list) = match listed.as_slice() {
                [one] => ("field", one.clone()),
                many => ("fields", many.join(", ")),
            };
            self.error(
                Diagnostic::new(
                    Code::MissingField,
                    ast.name.span,
                    format!("step `{}` is missing the {noun} {list}", ast.name.name),
                )
                .label(format!("this {} needs {list}", schema.name))
                .hint(format!("{} needs {}", schema.name, required.join(", "))),
            );
        }
        if !schema.one_of.is_empty() && !schema.one_of.iter().any(|f| seen.contains_key(f)) {
            let list: Vec<String> = schema.one_of.iter().map(|f| format!("`{f}`")).collect();
            self.error(
                Diagnostic::new(
                    Code::MissingField,
                    ast.name.span,
                    format!("step `{}` does not say what to look for", ast.name.name),
                )
                .label(format!(
                    "this {} needs one of {}",
                    schema.name,
                    list.join(", ")
                ))
                .hint(format!("add {}", join_or(&list))),
            );
        }
        let mut dep_ids: Vec<StepId> = deps.iter().map(|(d, _)| *d).collect();
        dep_ids.sort_unstable();
        dep_ids.dedup();
        let step = Step {
            name: ast.name.name.clone(),
            path,
            action,
            fields,
            deps: dep_ids,
            timeout: duration_of(common.get("timeout")),
            retries: match common.get("retries") {
                Some(Expr::Int(n)) => u32::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            critical: !matches!(common.get("critical"), Some(Expr::Bool(false))),
            region: string_of(common.get("region")),
            description: string_of(common.get("description")),
            span: ast.span,
        };
        (Some(step), deps)
    }

    /// `after = [a, b]`: bare step names.
    fn after(&mut self, value: &Value, deps: &mut Vec<(StepId, Span)>) {
        let ValueKind::List(items) = &value.kind else {
            self.error(wrong_type(value, Ty::Steps).hint("write `after = [step_a, step_b]`"));
            return;
        };
        for item in items {
            match &item.kind {
                ValueKind::Ref { head, field: None } => {
                    if let Some(&id) = self.step_ids.get(head.name.as_str()) {
                        deps.push((id, head.span));
                    } else {
                        let d = self.unknown_step(head);
                        self.error(d);
                    }
                }
                ValueKind::Ref {
                    head,
                    field: Some(_),
                } => self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        item.span,
                        "`after` takes step names, not outputs",
                    )
                    .label("an output")
                    .hint(format!("write just the step: `{}`", head.name)),
                ),
                _ => {
                    self.error(wrong_type(item, Ty::Steps).hint("write step names without quotes"));
                }
            }
        }
    }

    /// Resolves the step references inside a value without type-checking it (for steps whose
    /// action is unknown).
    fn references(&mut self, value: &Value, deps: &mut Vec<(StepId, Span)>) {
        match &value.kind {
            ValueKind::Ref {
                head,
                field: Some(_),
            } => match self.step_ids.get(head.name.as_str()) {
                Some(&id) => deps.push((id, head.span)),
                None if self.params.contains_key(head.name.as_str()) => {}
                None => {
                    let d = self.unknown_step(head);
                    self.error(d);
                }
            },
            ValueKind::List(items) => items.iter().for_each(|v| self.references(v, deps)),
            ValueKind::Map(entries) => entries.iter().for_each(|e| self.references(&e.value, deps)),
            _ => {}
        }
    }

    fn unknown_step(&self, name: &ast::Ident) -> Diagnostic {
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

    /// Checks a value against a type, resolving params and step outputs; `None` after an error.
    fn value(
        &mut self,
        v: &Value,
        ty: Ty,
        place: Place,
        deps: &mut Vec<(StepId, Span)>,
    ) -> Option<Expr> {
        match &v.kind {
            ValueKind::Ref { head, field: None } => self.param_ref(v, head, ty, place, deps),
            ValueKind::Ref {
                head,
                field: Some(field),
            } => self.output_ref(v, head, field, ty, place, deps),
            _ => self.literal_value(v, ty, place, deps),
        }
    }

    /// `name`: a param, replaced by its value.
    fn param_ref(
        &mut self,
        v: &Value,
        head: &ast::Ident,
        ty: Ty,
        place: Place,
        deps: &mut Vec<(StepId, Span)>,
    ) -> Option<Expr> {
        let name = head.name.as_str();
        let Some(decl) = self.params.get(name) else {
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
            self.error(
                Diagnostic::new(
                    Code::UnknownParam,
                    head.span,
                    format!("unknown param `{name}`"),
                )
                .label("no param has this name")
                .maybe_hint(hint),
            );
            return None;
        };
        if let Some(declared) = decl.ast.secret {
            if !self.secret_ok {
                self.error(
                    Diagnostic::new(
                        Code::Secret,
                        head.span,
                        format!("secret param `{name}` cannot be used here"),
                    )
                    .label("its value would be recorded or sent elsewhere")
                    .related(declared, "declared secret here")
                    .hint("a secret may only be an `exec` step's env value or a `launch` step's user_data"),
                );
                return None;
            }
            if !matches!(ty, Ty::Str(_)) {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        head.span,
                        format!("secret param `{name}` is a string"),
                    )
                    .label(format!("{} wanted here", ty.describe()))
                    .hint(
                        "a secret is one string: `env = { NAME = secret }`, `user_data = secret`",
                    ),
                );
                return None;
            }
            return Some(Expr::Secret(name.to_string()));
        }
        let value = decl.value.clone()?;
        let raw = decl.raw.clone();
        let origin = decl.origin;
        // A `--set` value is typed by where it is used: `--set name=123` is a string where a
        // string is wanted.
        if let (Some(raw), Ty::Str(_) | Ty::OneOf(_) | Ty::Cron) = (raw, ty) {
            let as_str = Value {
                kind: ValueKind::Str(raw),
                span: v.span,
            };
            return self.literal_value(&as_str, ty, place, deps);
        }
        let value = Value {
            span: v.span,
            ..value
        };
        let expr = self.literal_value(&value, ty, place, deps);
        if expr.is_none() {
            if let Some(last) = self.errors.last_mut() {
                let from = match origin {
                    ParamOrigin::Default => "its default",
                    ParamOrigin::Set => "--set",
                    // A secret is never type-checked by value: it is always a string.
                    ParamOrigin::Secret => "the environment",
                };
                last.related.push((
                    head.span,
                    format!("the value of param `{name}`, from {from}"),
                ));
            }
        }
        expr
    }

    /// `step.output`.
    fn output_ref(
        &mut self,
        v: &Value,
        head: &ast::Ident,
        field: &ast::Ident,
        ty: Ty,
        place: Place,
        deps: &mut Vec<(StepId, Span)>,
    ) -> Option<Expr> {
        let Some(&id) = self.step_ids.get(head.name.as_str()) else {
            let d = self.unknown_step(head);
            self.error(d);
            return None;
        };
        if place == Place::Static {
            self.error(
                Diagnostic::new(
                    Code::WrongType,
                    v.span,
                    "this must be known before the run starts",
                )
                .label("a step output is only known during the run")
                .hint("use a value or a param here"),
            );
            return None;
        }
        deps.push((id, head.span));
        let action = self.steps[id].action?;
        let Some(out_ty) = action.output(&field.name) else {
            let outputs: Vec<&str> = action.schema().outputs.iter().map(|(o, _)| *o).collect();
            let hint = did_you_mean(&field.name, outputs.iter().copied()).unwrap_or_else(|| {
                if outputs.is_empty() {
                    format!("{} has no outputs", action.name())
                } else {
                    format!("{} gives {}", action.name(), outputs.join(", "))
                }
            });
            self.error(
                Diagnostic::new(
                    Code::UnknownOutput,
                    field.span,
                    format!(
                        "step `{}` ({}) has no output `{}`",
                        head.name,
                        action.name(),
                        field.name
                    ),
                )
                .label("not an output of this step")
                .hint(hint),
            );
            return None;
        };
        if !fits(*out_ty, ty) {
            let mut d = Diagnostic::new(
                Code::WrongType,
                v.span,
                format!("expected {}, found {}", ty.describe(), out_ty.describe()),
            )
            .label(format!(
                "`{}.{}` is {}",
                head.name,
                field.name,
                out_ty.describe()
            ));
            if let (Ty::List(inner), Ty::Str(_)) = (out_ty, ty) {
                if fits(**inner, ty) {
                    if let Some((single, _)) = action
                        .schema()
                        .outputs
                        .iter()
                        .find(|(_, t)| fits(*t, ty) && matches!(t, Ty::Str(_)))
                    {
                        d = d.hint(format!("use `{}.{single}` for one", head.name));
                    }
                }
            }
            if let (Ty::Str(_), Ty::List(inner)) = (out_ty, ty) {
                if fits(*out_ty, *inner) {
                    d = d.hint(format!("wrap it in a list: [{}.{}]", head.name, field.name));
                }
            }
            self.error(d);
            return None;
        }
        Some(Expr::Output {
            step: id,
            output: field.name.clone(),
        })
    }

    /// A literal (or a list or map holding references) against a type.
    fn literal_value(
        &mut self,
        v: &Value,
        ty: Ty,
        place: Place,
        deps: &mut Vec<(StepId, Span)>,
    ) -> Option<Expr> {
        match (&v.kind, ty) {
            (ValueKind::Str(s), _) if s.len() > limits::MAX_STRING_BYTES => {
                self.error(
                    Diagnostic::new(Code::InvalidValue, v.span, "string too long").label(format!(
                        "{} bytes; the limit is {}",
                        s.len(),
                        limits::MAX_STRING_BYTES
                    )),
                );
                None
            }
            (ValueKind::Str(s), Ty::Str(kind)) => {
                if kind.accepts_literal(s) {
                    Some(Expr::Str(s.clone()))
                } else {
                    self.error(invalid(
                        v,
                        format!("\"{s}\" is not {}", kind.describe()),
                        kind_hint(kind),
                    ));
                    None
                }
            }
            (ValueKind::Str(s), Ty::OneOf(options)) => {
                if options.contains(&s.as_str()) {
                    Some(Expr::Str(s.clone()))
                } else {
                    let hint = did_you_mean(s, options.iter().copied());
                    self.error(invalid(v, format!("expected {}", ty.describe()), hint));
                    None
                }
            }
            (ValueKind::Str(s), Ty::Cron) => match crate::runbook::schedule::Schedule::parse(s) {
                Ok(_) => Some(Expr::Str(s.clone())),
                Err(e) => {
                    self.error(invalid(v, e.message, Some(e.hint)));
                    None
                }
            },
            (ValueKind::Int(n), Ty::Int { min, max }) => {
                if (min..=max).contains(n) {
                    Some(Expr::Int(*n))
                } else {
                    let range = if max == i64::MAX {
                        format!("at least {min}")
                    } else {
                        format!("between {min} and {max}")
                    };
                    self.error(invalid(
                        v,
                        format!("{n} is out of range: must be {range}"),
                        None,
                    ));
                    None
                }
            }
            (ValueKind::Bool(b), Ty::Bool) => Some(Expr::Bool(*b)),
            (ValueKind::Duration { seconds, .. }, Ty::Duration) => {
                Some(Expr::Duration(Duration::from_secs(*seconds)))
            }
            (ValueKind::List(items), Ty::List(inner)) => {
                let exprs: Vec<Option<Expr>> = items
                    .iter()
                    .map(|i| self.value(i, *inner, place, deps))
                    .collect();
                exprs
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Expr::List)
            }
            (ValueKind::List(_), Ty::Checks) => {
                let expr = self.literal_value(v, Ty::List(&Ty::Str(Kind::Any)), place, deps)?;
                self.checks(v, &expr)?;
                Some(expr)
            }
            (ValueKind::List(items), Ty::Volumes) => {
                let exprs: Vec<Option<Expr>> =
                    items.iter().map(|i| self.volume(i, place, deps)).collect();
                exprs
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Expr::List)
            }
            (ValueKind::Map(entries), Ty::Map(inner)) => {
                let mut out = BTreeMap::new();
                let mut ok = true;
                let mut seen: HashMap<&str, Span> = HashMap::new();
                for e in entries {
                    if self.repeated_key(&mut seen, e) {
                        ok = false;
                        continue;
                    }
                    match self.value(&e.value, *inner, place, deps) {
                        Some(x) => {
                            out.insert(e.key.value.clone(), x);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Expr::Map(out))
            }
            _ => {
                self.error(wrong_type(v, ty));
                None
            }
        }
    }

    /// Reports a map key seen before in the same map; `true` when it was.
    fn repeated_key<'e>(&mut self, seen: &mut HashMap<&'e str, Span>, e: &'e ast::Entry) -> bool {
        if let Some(&first) = seen.get(e.key.value.as_str()) {
            let ident = ast::Ident {
                name: e.key.value.clone(),
                span: e.key.span,
            };
            self.error(duplicate("key", &ident, first));
            return true;
        }
        seen.insert(&e.key.value, e.key.span);
        false
    }

    /// Each of `verify`'s checks parses.
    fn checks(&mut self, v: &Value, expr: &Expr) -> Option<()> {
        let (Expr::List(items), ValueKind::List(asts)) = (expr, &v.kind) else {
            return Some(());
        };
        let mut ok = true;
        for (item, ast) in items.iter().zip(asts) {
            if let Expr::Str(s) = item {
                if let Err(why) = Check::parse(s) {
                    self.error(invalid(ast, why, None));
                    ok = false;
                }
            }
        }
        ok.then_some(())
    }

    /// One `{ snapshot = ..., device = ... }` of `launch`'s `volumes`.
    fn volume(&mut self, v: &Value, place: Place, deps: &mut Vec<(StepId, Span)>) -> Option<Expr> {
        let ValueKind::Map(entries) = &v.kind else {
            self.error(wrong_type(v, Ty::Volumes));
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for e in entries {
            if self.repeated_key(&mut seen, e) {
                ok = false;
                continue;
            }
            let Some(spec) = VOLUME_FIELDS.iter().find(|f| f.name == e.key.value) else {
                let names = VOLUME_FIELDS.iter().map(|f| f.name);
                let hint = did_you_mean(&e.key.value, names);
                self.error(
                    Diagnostic::new(
                        Code::UnknownField,
                        e.key.span,
                        format!("unknown volume field `{}`", e.key.value),
                    )
                    .label("not a volume field")
                    .maybe_hint(hint.or_else(|| {
                        let all: Vec<&str> = VOLUME_FIELDS.iter().map(|f| f.name).collect();
                        Some(format!("a volume takes {}", all.join(", ")))
                    })),
                );
                ok = false;
                continue;
            };
            match self.value(&e.value, spec.ty, place, deps) {
                Some(x) => {
                    out.insert(e.key.value.clone(), x);
                }
                None => ok = false,
            }
        }
        for spec in VOLUME_FIELDS.iter().filter(|f| f.required) {
            if !entries.iter().any(|e| e.key.value == spec.name) {
                self.error(
                    Diagnostic::new(
                        Code::MissingField,
                        v.span,
                        format!("volume is missing the field `{}`", spec.name),
                    )
                    .label("this volume")
                    .hint("a volume needs `snapshot` and `device`"),
                );
                ok = false;
            }
        }
        ok.then_some(Expr::Map(out))
    }

    /// Under `strategy = "first"` only one path runs to the end, so a step may use only its own
    /// path's steps and the runbook's shared ones; a shared step may use no path's.
    fn cross_path(&mut self, deps: &[Vec<(StepId, Span)>], paths: &[PathDef]) {
        for (id, step_deps) in deps.iter().enumerate() {
            let from = self.steps[id].path;
            for &(dep, span) in step_deps {
                let to = self.steps[dep].path;
                let Some(to_path) = to else { continue };
                if from == Some(to_path) {
                    continue;
                }
                let dep_name = &self.steps[dep].ast.name.name;
                let message = match from {
                    Some(p) => format!(
                        "step `{}` in path `{}` uses `{dep_name}` from path `{}`",
                        self.steps[id].ast.name.name, paths[p].name, paths[to_path].name
                    ),
                    None => format!(
                        "shared step `{}` uses `{dep_name}` from path `{}`",
                        self.steps[id].ast.name.name, paths[to_path].name
                    ),
                };
                let d = Diagnostic::new(Code::CrossPath, span, message)
                    .label("from another path")
                    .related(
                        self.steps[dep].ast.name.span,
                        format!("`{dep_name}` is defined here"),
                    )
                    .hint(
                        "with strategy = \"first\" the other paths are cancelled when one wins; \
                         move the shared step out of the paths, or use strategy = \"all\"",
                    );
                self.error(d);
            }
        }
    }

    /// Every dependency cycle, naming each step in it.
    fn cycles(&mut self, deps: &[Vec<(StepId, Span)>]) {
        let mut graph: DiGraph<StepId, Span> = DiGraph::with_capacity(deps.len(), deps.len());
        let nodes: Vec<NodeIndex> = (0..deps.len()).map(|i| graph.add_node(i)).collect();
        for (id, step_deps) in deps.iter().enumerate() {
            for &(dep, span) in step_deps {
                graph.add_edge(nodes[id], nodes[dep], span);
            }
        }
        let mut sccs: Vec<Vec<StepId>> = tarjan_scc(&graph)
            .into_iter()
            .map(|c| {
                let mut ids: Vec<StepId> = c.into_iter().map(|n| graph[n]).collect();
                ids.sort_unstable();
                ids
            })
            .filter(|c| c.len() > 1 || deps[c[0]].iter().any(|(d, _)| *d == c[0]))
            .collect();
        sccs.sort();
        for members in sccs {
            let order = cycle_order(&members, deps);
            let names: Vec<&str> = order
                .iter()
                .map(|&i| self.steps[i].ast.name.name.as_str())
                .collect();
            let first = order[0];
            let mut chain = names.join(" -> ");
            chain.push_str(&format!(" -> {}", names[0]));
            let others: Vec<String> = members
                .iter()
                .filter(|m| !order.contains(m))
                .map(|&m| format!("`{}`", self.steps[m].ast.name.name))
                .collect();
            if !others.is_empty() {
                chain.push_str(&format!(" (also caught in it: {})", others.join(", ")));
            }
            let mut d = Diagnostic::new(
                Code::Cycle,
                self.steps[first].ast.name.span,
                format!("dependency cycle: {chain}"),
            )
            .label(format!("`{}` is in a cycle", names[0]))
            .hint(
                "a step cannot wait, directly or not, for itself; remove one of these references",
            );
            for w in 0..order.len() {
                let (a, b) = (order[w], order[(w + 1) % order.len()]);
                if let Some((_, span)) = deps[a].iter().find(|(d, _)| *d == b) {
                    d = d.related(
                        *span,
                        format!(
                            "`{}` waits for `{}`",
                            self.steps[a].ast.name.name, self.steps[b].ast.name.name
                        ),
                    );
                }
            }
            self.error(d);
        }
    }
}

/// A shortest cycle through the first member of a strongly connected component, following
/// real dependency edges (breadth first, so linear in the component's size).
fn cycle_order(members: &[StepId], deps: &[Vec<(StepId, Span)>]) -> Vec<StepId> {
    let start = members[0];
    let inside: std::collections::HashSet<StepId> = members.iter().copied().collect();
    let mut came_from: HashMap<StepId, StepId> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(current) = queue.pop_front() {
        for &(next, _) in &deps[current] {
            if next == start {
                let mut cycle = vec![current];
                let mut at = current;
                while at != start {
                    at = came_from[&at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if inside.contains(&next) && next != start && !came_from.contains_key(&next) {
                came_from.insert(next, current);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}

/// Whether a value of type `actual` (a step output) may go where `expected` is wanted.
fn fits(actual: Ty, expected: Ty) -> bool {
    match (actual, expected) {
        (Ty::Str(a), Ty::Str(e)) => a.fits(e),
        (Ty::Str(_), Ty::OneOf(_) | Ty::Cron)
        | (Ty::Int { .. }, Ty::Int { .. })
        | (Ty::Bool, Ty::Bool)
        | (Ty::Duration, Ty::Duration) => true,
        (Ty::List(a), Ty::List(e)) | (Ty::Map(a), Ty::Map(e)) => fits(*a, *e),
        (Ty::List(a), Ty::Checks) => fits(*a, Ty::Str(Kind::Any)),
        _ => false,
    }
}

fn duplicate(what: &str, name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::new(
        Code::Duplicate,
        name.span,
        format!("{what} `{}` is defined twice", name.name),
    )
    .label("second definition")
    .related(first, "first defined here")
    .hint(format!("{what} names must be unique; rename or remove one"))
}

fn wrong_type(v: &Value, ty: Ty) -> Diagnostic {
    let found = v.kind.describe();
    let mut d = Diagnostic::new(
        Code::WrongType,
        v.span,
        format!("expected {}, found {found}", ty.describe()),
    )
    .label(format!("this is {found}"));
    match (&v.kind, ty) {
        (ValueKind::Int(n), Ty::Duration) => {
            d = d.hint(format!("add a unit: {n}s, {n}m, {n}h or {n}d"));
        }
        (ValueKind::Str(s), Ty::Duration) if is_duration(s) => {
            d = d.hint(format!("durations are written without quotes: {s}"));
        }
        (ValueKind::Str(s), Ty::Int { .. }) if s.parse::<i64>().is_ok() => {
            d = d.hint(format!("write it without quotes: {s}"));
        }
        (ValueKind::Str(s), Ty::Bool) if s == "true" || s == "false" => {
            d = d.hint(format!("write it without quotes: {s}"));
        }
        (k, Ty::List(_) | Ty::Checks | Ty::Volumes) if !matches!(k, ValueKind::List(_)) => {
            d = d.hint("wrap it in brackets: [ ... ]");
        }
        _ => {}
    }
    d
}

/// `90s`, `2h30m`: digits and a unit, one or more times.
fn is_duration(s: &str) -> bool {
    let mut digits = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '0'..='9' => digits = true,
            'd' | 'h' | 'm' | 's' if digits => {
                digits = false;
                any = true;
            }
            _ => return false,
        }
    }
    any && !digits
}

fn invalid(v: &Value, message: String, hint: Option<String>) -> Diagnostic {
    Diagnostic::new(Code::InvalidValue, v.span, message)
        .label("invalid value")
        .maybe_hint(hint)
}

fn kind_hint(kind: Kind) -> Option<String> {
    match kind {
        Kind::Image => {
            Some("image ids start with `ami-`; to pick one by tags, use a find_image step".into())
        }
        Kind::Snapshot => Some(
            "snapshot ids start with `snap-`; to pick one by tags, use a find_snapshot step".into(),
        ),
        Kind::Region => Some("regions look like us-east-1 or eu-west-2".into()),
        Kind::Role => Some("role ARNs look like arn:aws:iam::123456789012:role/NAME".into()),
        _ => None,
    }
}

/// A literal AST value as an expression (params' values; never references).
fn literal(v: &Value) -> Option<Expr> {
    Some(match &v.kind {
        ValueKind::Str(s) => Expr::Str(s.clone()),
        ValueKind::Int(n) => Expr::Int(*n),
        ValueKind::Bool(b) => Expr::Bool(*b),
        ValueKind::Duration { seconds, .. } => Expr::Duration(Duration::from_secs(*seconds)),
        ValueKind::List(items) => Expr::List(items.iter().map(literal).collect::<Option<_>>()?),
        ValueKind::Map(entries) => Expr::Map(
            entries
                .iter()
                .map(|e| Some((e.key.value.clone(), literal(&e.value)?)))
                .collect::<Option<_>>()?,
        ),
        ValueKind::Ref { .. } => return None,
    })
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
