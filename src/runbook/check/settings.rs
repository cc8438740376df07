//! Settings: the runbook's (`region`, `rto`, `strategy`, ...) and each path's, against their
//! tables in `schema`. A setting must be known before the run starts, so it may use params but
//! no step's output.

use std::collections::HashMap;

use crate::runbook::ast::{self, Field, PathItem};
use crate::runbook::checked::{Expr, PathDef};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::schema::{FieldSpec, PATH_SETTINGS};
use crate::runbook::source::Span;
use crate::runbook::suggest::did_you_mean;

use super::names::duplicate;
use super::{Checker, Place, duration_of, string_of};

impl<'a> Checker<'a> {
    /// Checks settings against their table; returns the valid ones by name.
    pub(super) fn settings(
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
            if let Some(e) = self.value(&f.value, spec.ty, &mut Place::Static) {
                out.insert(name, e);
            }
        }
        out
    }

    /// Every path has steps; then each path's settings, into its definition.
    pub(super) fn paths(&mut self, paths: &[(&'a ast::Path, Vec<&'a Field>)]) -> Vec<PathDef> {
        for (p, _) in paths {
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
        paths
            .iter()
            .map(|(p, fields)| {
                let s = self.settings(fields, PATH_SETTINGS, "path");
                PathDef {
                    name: p.name.name.clone(),
                    rto: duration_of(s.get("rto")),
                    description: string_of(s.get("description")),
                }
            })
            .collect()
    }
}
