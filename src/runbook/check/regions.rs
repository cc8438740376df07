//! Regions: what a step uses must be in the region the step runs in. An image, snapshot,
//! subnet, security group, instance, volume or zone exists in one region, and AWS answers
//! NotFound for it anywhere else, in the middle of a recovery. A step's region is its `region`,
//! else the runbook's; a step whose region is known only at run time (neither says) is not
//! compared. `copy_image` and `copy_snapshot` are how a recovery crosses regions: their source
//! field is in their `source_region`, the copy in their own.

use crate::runbook::ast::{Ident, Value, ValueKind};
use crate::runbook::checked::{Expr, Step};
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::schema::{Kind, Ty};
use crate::runbook::source::Span;

use super::Checker;

impl<'a> Checker<'a> {
    /// Every use of another region's resource, by output or by a literal zone. Only when every
    /// step's action is known (the ids of `steps` are then the declarations'); otherwise the
    /// runbook is rejected for that already.
    pub(super) fn cross_region(&mut self, steps: &[Step], runbook: Option<&str>) {
        if steps.len() != self.steps.len() {
            return;
        }
        fn region<'s>(s: &'s Step, runbook: Option<&'s str>) -> Option<&'s str> {
            s.region.as_deref().or(runbook)
        }
        for (id, step) in steps.iter().enumerate() {
            let schema = step.action.schema();
            for f in &self.steps[id].ast.fields {
                let Some(spec) = schema.field(&f.name.name) else {
                    continue;
                };
                // The source of a copy is in its source region; everything else in the step's.
                let wanted = match spec.region_of {
                    Some(of) => step.field(of).and_then(Expr::as_str),
                    None => region(step, runbook),
                };
                let Some(wanted) = wanted else { continue };
                let mut uses = Vec::new();
                used(&f.value, &mut uses);
                for u in uses {
                    let problem = match u {
                        Use::Output(head, output, span) => {
                            let Some(&dep) = self.step_ids.get(head.name.as_str()) else {
                                continue;
                            };
                            let kind = steps[dep].action.output(&output.name).and_then(bound);
                            match (kind, region(&steps[dep], runbook)) {
                                (Some(kind), Some(there)) if there != wanted => Some((
                                    span,
                                    format!(
                                        "`{}.{}` is {} in {there}",
                                        head.name,
                                        output.name,
                                        noun(kind)
                                    ),
                                    Some((self.steps[dep].ast.name.span, there, kind)),
                                )),
                                _ => None,
                            }
                        }
                        Use::Zone(zone, span) if spec_is_zone(spec.ty) => {
                            let there = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
                            (there != wanted)
                                .then(|| (span, format!("zone `{zone}` is in {there}"), None))
                        }
                        Use::Zone(..) => None,
                    };
                    if let Some((span, message, from)) = problem {
                        let d = cross(
                            &step.name,
                            wanted,
                            span,
                            message,
                            from,
                            spec.region_of.is_some(),
                        );
                        self.error(d);
                    }
                }
            }
        }
    }
}

/// What a field's value uses: outputs of steps, and literal strings (zones among them).
enum Use<'v> {
    Output(&'v Ident, &'v Ident, Span),
    Zone(&'v str, Span),
}

fn used<'v>(v: &'v Value, into: &mut Vec<Use<'v>>) {
    match &v.kind {
        ValueKind::Ref {
            head,
            field: Some(output),
        } => into.push(Use::Output(head, output, v.span)),
        ValueKind::Str(s) => into.push(Use::Zone(s, v.span)),
        ValueKind::List(items) => items.iter().for_each(|i| used(i, into)),
        ValueKind::Map(entries) => entries.iter().for_each(|e| used(&e.value, into)),
        _ => {}
    }
}

/// Whether a field takes a zone (`create_volume`'s `zone`).
fn spec_is_zone(ty: Ty) -> bool {
    matches!(ty, Ty::Str(Kind::Zone))
}

/// The kind of an output, when what it names lives in one region.
fn bound(ty: &Ty) -> Option<Kind> {
    let kind = match ty {
        Ty::Str(k) | Ty::List(Ty::Str(k)) => *k,
        _ => return None,
    };
    matches!(
        kind,
        Kind::Image
            | Kind::Snapshot
            | Kind::Subnet
            | Kind::SecurityGroup
            | Kind::Instance
            | Kind::Volume
            | Kind::Zone
    )
    .then_some(kind)
}

/// "an image", for "... is an image in us-east-1".
fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Image => "an image",
        Kind::Snapshot => "a snapshot",
        Kind::Subnet => "a subnet",
        Kind::SecurityGroup => "a security group",
        Kind::Instance => "an instance",
        Kind::Volume => "a volume",
        Kind::Zone => "a zone",
        _ => "a resource",
    }
}

/// The diagnostic: where, what, the step it comes from, and what would work (a copy, for an
/// image or a snapshot).
fn cross(
    step: &str,
    wanted: &str,
    span: Span,
    message: String,
    from: Option<(Span, &str, Kind)>,
    source_field: bool,
) -> Diagnostic {
    let whose = if source_field {
        format!("the source of `{step}` is in {wanted}")
    } else {
        format!("step `{step}` runs in {wanted}")
    };
    let mut d = Diagnostic::new(Code::CrossRegion, span, format!("{whose}, but {message}"))
        .label(format!("not in {wanted}"));
    let hint = match from {
        Some((dep_span, there, kind)) => {
            d = d.related(dep_span, format!("this step runs in {there}"));
            let copy = |action: &str, field: &str| {
                format!(
                    "{} is used in its own region: copy it into {wanted} first, with a \
                     `{action} {{ {field} = ..., source_region = \"{there}\" }}` step in {wanted}, \
                     and use the copy's `id`",
                    noun(kind)
                )
            };
            match kind {
                _ if source_field => Some(format!(
                    "a copy is made from where its source is: `source_region = \"{there}\"`"
                )),
                Kind::Image => Some(copy("copy_image", "image")),
                Kind::Snapshot => Some(copy("copy_snapshot", "snapshot")),
                _ => None,
            }
        }
        None => None,
    };
    d.hint(hint.unwrap_or_else(|| {
        format!(
            "subnets, security groups, instances, volumes and zones exist in one region: \
             use one in {wanted}, or run the step in the other region (`region = ...`)"
        )
    }))
}
