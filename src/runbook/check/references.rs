//! References: a param by its name, replaced by its value where it is used (and typed there,
//! for a `--set` value), and a step's output, which makes the step a dependency. A reference to
//! a step is resolved even where it cannot be type-checked, so that every unknown name is
//! reported.

use crate::action::Action;
use crate::runbook::ast::{self, Value, ValueKind};
use crate::runbook::checked::{Expr, ParamOrigin};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::schema::Ty;
use crate::runbook::source::Span;
use crate::runbook::suggest::did_you_mean;

use super::values::{fits, wrong_type};
use super::{Checker, Deps, Place};

impl<'a> Checker<'a> {
    /// `name`: a param, replaced by its value.
    pub(super) fn param_ref(
        &mut self,
        v: &Value,
        head: &ast::Ident,
        ty: Ty,
        place: &mut Place<'_>,
    ) -> Option<Expr> {
        let name = head.name.as_str();
        let Some(decl) = self.params.get(name) else {
            let d = self.unknown_param(head);
            self.error(d);
            return None;
        };
        if let Some(declared) = decl.ast.secret {
            return self.secret_ref(head, declared, ty);
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
            return self.literal_value(&as_str, ty, place);
        }
        let value = Value {
            span: v.span,
            ..value
        };
        let expr = self.literal_value(&value, ty, place);
        if expr.is_none()
            && let Some(last) = self.errors.last_mut()
        {
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
        expr
    }

    /// A secret param, which stands by its name: only where a secret may, and only as a string.
    fn secret_ref(&mut self, head: &ast::Ident, declared: Span, ty: Ty) -> Option<Expr> {
        let name = head.name.as_str();
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
                .hint("a secret is one string: `env = { NAME = secret }`, `user_data = secret`"),
            );
            return None;
        }
        Some(Expr::Secret(name.to_string()))
    }

    /// `step.output`.
    pub(super) fn output_ref(
        &mut self,
        v: &Value,
        head: &ast::Ident,
        field: &ast::Ident,
        ty: Ty,
        place: &mut Place<'_>,
    ) -> Option<Expr> {
        let Some(&id) = self.step_ids.get(head.name.as_str()) else {
            let d = self.unknown_step(head);
            self.error(d);
            return None;
        };
        let Place::StepField(deps) = place else {
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
        };
        deps.push((id, head.span));
        let action = self.steps[id].action?;
        let Some(out_ty) = action.output(&field.name) else {
            self.error(unknown_output(head, field, action));
            return None;
        };
        if !fits(*out_ty, ty) {
            self.error(output_mismatch(v, head, field, action, out_ty, ty));
            return None;
        }
        Some(Expr::Output {
            step: id,
            output: field.name.clone(),
        })
    }

    /// `after = [a, b]`: bare step names.
    pub(super) fn after(&mut self, value: &Value, deps: &mut Deps) {
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
    pub(super) fn references(&mut self, value: &Value, deps: &mut Deps) {
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
}

/// `step.field` where the step's action has no such output.
fn unknown_output(head: &ast::Ident, field: &ast::Ident, action: Action) -> Diagnostic {
    let outputs: Vec<&str> = action.schema().outputs.iter().map(|(o, _)| *o).collect();
    let hint = did_you_mean(&field.name, outputs.iter().copied()).unwrap_or_else(|| {
        if outputs.is_empty() {
            format!("{} has no outputs", action.name())
        } else {
            format!("{} gives {}", action.name(), outputs.join(", "))
        }
    });
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
    .hint(hint)
}

/// An output of type `out_ty` where `ty` is wanted; the hint says how to make a list of one
/// and one of a list.
fn output_mismatch(
    v: &Value,
    head: &ast::Ident,
    field: &ast::Ident,
    action: Action,
    out_ty: &Ty,
    ty: Ty,
) -> Diagnostic {
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
    if let (Ty::List(inner), Ty::Str(_)) = (out_ty, ty)
        && fits(**inner, ty)
        && let Some((single, _)) = action
            .schema()
            .outputs
            .iter()
            .find(|(_, t)| fits(*t, ty) && matches!(t, Ty::Str(_)))
    {
        d = d.hint(format!("use `{}.{single}` for one", head.name));
    }
    if let (Ty::Str(_), Ty::List(inner)) = (out_ty, ty)
        && fits(*out_ty, *inner)
    {
        d = d.hint(format!("wrap it in a list: [{}.{}]", head.name, field.name));
    }
    d
}
