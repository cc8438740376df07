//! Steps: one step checked into a `checked::Step`. Its fields against its action's schema (the
//! action's own fields, and the common ones like `timeout` that every step takes), the fields
//! it is missing, and the steps it depends on. A step whose action is unknown has no schema to be
//! checked against, but its references are still resolved.

use std::collections::{BTreeMap, HashMap};

use crate::action::Action;
use crate::runbook::ast::{self, Field};
use crate::runbook::checked::{Expr, Step, StepId};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::schema::{ActionSchema, COMMON_FIELDS, FieldSpec, Secrecy, Ty};
use crate::runbook::source::Span;
use crate::runbook::suggest::{did_you_mean, join_or};

use super::names::duplicate;
use super::values::invalid;
use super::{Checker, Deps, Place, duration_of, string_of};

/// A step's fields once checked.
struct Fields<'a> {
    /// Every field named, valid or not: what is missing is what is not here.
    seen: HashMap<&'a str, Span>,
    /// The action's own fields.
    own: BTreeMap<String, Expr>,
    /// Where each of `own` is written.
    spans: BTreeMap<String, Span>,
    /// The fields every step takes (`COMMON_FIELDS`).
    common: HashMap<&'a str, Expr>,
}

impl<'a> Checker<'a> {
    /// Every step, in the order declared: those whose action is known, checked, and for each
    /// step the steps it depends on, with the span of each reference.
    pub(super) fn check_steps(&mut self) -> (Vec<Step>, Vec<Deps>) {
        let mut steps = Vec::with_capacity(self.steps.len());
        let mut dep_spans: Vec<Deps> = Vec::with_capacity(self.steps.len());
        for id in 0..self.steps.len() {
            let (step, deps) = self.step(id);
            steps.push(step);
            dep_spans.push(deps);
        }
        (steps.into_iter().flatten().collect(), dep_spans)
    }

    /// Checks one step; returns it (when its action is known) and the steps it depends on,
    /// with the span of each reference.
    fn step(&mut self, id: StepId) -> (Option<Step>, Deps) {
        let decl = &self.steps[id];
        let (ast, path) = (decl.ast, decl.path);
        let mut deps: Deps = Vec::new();
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
        let fields = self.fields(ast, schema, &mut deps);
        self.missing_fields(ast, schema, &fields.seen);
        self.missing_one_of(ast, schema, &fields.seen);
        if action == Action::CreateImage {
            self.freeze(ast);
        }
        let mut dep_ids: Vec<StepId> = deps.iter().map(|(d, _)| *d).collect();
        dep_ids.sort_unstable();
        dep_ids.dedup();
        let common = fields.common;
        let step = Step {
            name: ast.name.name.clone(),
            path,
            action,
            fields: fields.own,
            field_spans: fields.spans,
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

    /// Each field of a step against its action's schema, in the order written.
    fn fields(&mut self, ast: &'a ast::Step, schema: &ActionSchema, deps: &mut Deps) -> Fields<'a> {
        let mut out = Fields {
            seen: HashMap::new(),
            own: BTreeMap::new(),
            spans: BTreeMap::new(),
            common: HashMap::new(),
        };
        for f in &ast.fields {
            let name = f.name.name.as_str();
            if let Some(&first) = out.seen.get(name) {
                self.error(duplicate("field", &f.name, first));
                continue;
            }
            out.seen.insert(name, f.name.span);
            let Some(spec) = schema.field(name) else {
                self.error(unknown_field(&f.name, schema));
                continue;
            };
            if spec.ty == Ty::Steps {
                self.after(&f.value, deps);
                continue;
            }
            let is_common = COMMON_FIELDS.iter().any(|c| c.name == name);
            let Some(expr) = self.field_value(f, spec, is_common, schema, deps) else {
                continue;
            };
            if is_common {
                out.common.insert(name, expr);
            } else {
                out.own.insert(name.to_string(), expr);
                out.spans.insert(name.to_string(), f.span);
            }
        }
        out
    }

    /// One field's value against its spec; `None` after an error.
    fn field_value(
        &mut self,
        f: &Field,
        spec: &FieldSpec,
        is_common: bool,
        schema: &ActionSchema,
        deps: &mut Deps,
    ) -> Option<Expr> {
        let name = f.name.name.as_str();
        let mut place = if is_common {
            Place::Static
        } else {
            Place::StepField(deps)
        };
        self.secret_ok = spec.secrecy != Secrecy::Plain;
        let checked = self.value(&f.value, spec.ty, &mut place);
        self.secret_ok = false;
        let expr = checked?;
        if spec.required && matches!(&expr, Expr::List(items) if items.is_empty()) {
            self.error(invalid(
                &f.value,
                format!("`{name}` needs at least one element"),
                Some(format!("{} cannot do without `{name}`", schema.name)),
            ));
            return None;
        }
        Some(expr)
    }

    /// The required fields a step does not give, in one diagnostic.
    fn missing_fields(
        &mut self,
        ast: &ast::Step,
        schema: &ActionSchema,
        seen: &HashMap<&str, Span>,
    ) {
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
    }

    /// An action that looks something up needs at least one of its `one_of` fields.
    fn missing_one_of(
        &mut self,
        ast: &ast::Step,
        schema: &ActionSchema,
        seen: &HashMap<&str, Span>,
    ) {
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
    }
}

/// A field the step's action does not take.
fn unknown_field(name: &ast::Ident, schema: &ActionSchema) -> Diagnostic {
    let hint = did_you_mean(&name.name, schema.field_names()).unwrap_or_else(|| {
        let own: Vec<&str> = schema.fields.iter().map(|f| f.name).collect();
        format!("{} takes {}", schema.name, own.join(", "))
    });
    Diagnostic::new(
        Code::UnknownField,
        name.span,
        format!("unknown field `{}` for action `{}`", name.name, schema.name),
    )
    .label("not a field of this action")
    .hint(hint)
}

impl Checker<'_> {
    /// `create_image`'s `freeze`: a no-reboot image (`reboot = true` stops the instance
    /// anyway), of absolute paths that do not hold what the thaw needs (freezing the root
    /// filesystem, or `/var`, would freeze the SSM agent that is to thaw it).
    fn freeze(&mut self, ast: &ast::Step) {
        let field = |name: &str| ast.fields.iter().find(|f| f.name.name == name);
        let Some(freeze) = field("freeze") else {
            return;
        };
        if let Some(reboot) = field("reboot")
            && matches!(reboot.value.kind, ast::ValueKind::Bool(true))
        {
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    reboot.value.span,
                    "`freeze` makes a no-reboot image; `reboot = true` would stop the instance anyway".to_string(),
                )
                .label("conflicts with freeze")
                .hint("drop `reboot` (a frozen image needs none), or drop `freeze`"),
            );
        }
        let ast::ValueKind::List(paths) = &freeze.value.kind else {
            return;
        };
        for p in paths {
            let ast::ValueKind::Str(path) = &p.kind else {
                continue;
            };
            let problem = if !path.starts_with('/') {
                Some("a mount point is an absolute path")
            } else if holds_the_agent(path) {
                Some(
                    "this filesystem holds the SSM agent, its state or the shell it runs: frozen, the agent could not thaw it",
                )
            } else {
                None
            };
            if let Some(problem) = problem {
                self.error(
                    Diagnostic::new(Code::InvalidValue, p.span, format!("\"{path}\": {problem}"))
                        .label("invalid value")
                        .hint("freeze the data filesystems (\"/data\", \"/var/lib/mysql\"); the root one is consistent enough after a reboot"),
                );
            }
        }
    }
}

/// Where the SSM agent, its state and logs, and the shell and tools a thaw runs live.
const AGENT_PATHS: &[&str] = &[
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/usr",
    "/etc/amazon/ssm",
    "/var/lib/amazon/ssm",
    "/var/log/amazon/ssm",
];

/// Whether `path` (`/var`, `//`, `/var/lib/`) is the mount point of one of `AGENT_PATHS` or of
/// an ancestor of one: freezing it would freeze the agent.
fn holds_the_agent(path: &str) -> bool {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let path = format!("/{}", parts.join("/"));
    AGENT_PATHS
        .iter()
        .any(|a| path == "/" || *a == path || a.starts_with(&format!("{path}/")))
}
