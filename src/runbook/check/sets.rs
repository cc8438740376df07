//! `--set` values: this invocation's values over the params' defaults, before any value is
//! checked against where it is used; then every param must have a value. And, once all is
//! checked, the value each param has in this run.

use crate::runbook::ast::{self, Value, ValueKind};
use crate::runbook::checked::{Expr, ParamOrigin, ParamValue, SecretParam};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::parse::parse_set_value;
use crate::runbook::suggest::did_you_mean;
use crate::secret::env_var;

use super::Checker;
use super::values::literal;

impl<'a> Checker<'a> {
    /// `--set NAME=VALUE` over the defaults; then every param must have a value.
    pub(super) fn apply_sets(&mut self, rb: &ast::Runbook, sets: &[(String, String)]) {
        for (name, text) in sets {
            self.apply_set(rb, name, text);
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

    /// One `--set NAME=VALUE`: the param must be declared, and not secret.
    fn apply_set(&mut self, rb: &ast::Runbook, name: &str, text: &str) {
        let Some(decl) = self.params.get_mut(name) else {
            let hint = did_you_mean(name, self.param_order.iter().copied()).unwrap_or_else(|| {
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
            return;
        };
        if decl.ast.secret.is_some() {
            let env = env_var(name);
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
            return;
        }
        let kind = parse_set_value(text);
        // Where a string is wanted the text is used as typed, unquoted if it was quoted.
        let raw = match &kind {
            ValueKind::Str(s) => s.clone(),
            _ => text.to_string(),
        };
        decl.value = Some(Value {
            kind,
            span: decl.ast.name.span,
        });
        decl.origin = ParamOrigin::Set;
        decl.raw = Some(raw);
    }

    /// The value of each param that has one, in the order declared: a secret stands by its
    /// name, and a `--set` value where a string is wanted is its text as typed.
    pub(super) fn param_values(&self) -> Vec<ParamValue> {
        self.param_order
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
            .collect()
    }

    /// The secret params, in the order declared, without their values: those are read from
    /// the environment by the commands that need them (`runbook::secrets`).
    pub(super) fn secret_params(&self) -> Vec<SecretParam> {
        self.param_order
            .iter()
            .filter_map(|name| self.params.get(name))
            .filter(|d| d.ast.secret.is_some())
            .map(|d| SecretParam {
                name: d.ast.name.name.clone(),
                span: d.ast.name.span,
                value: None,
            })
            .collect()
    }
}
