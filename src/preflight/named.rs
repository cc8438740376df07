//! What a runbook names that a run uses and does not make, read from the checked runbook
//! alone (no I/O): preflight asks whether each exists, and `rebound policy` allows the asking.
//! Ids a `find_*` chooses among are left out (their schema field is `candidates`), as are
//! values known only at run time (another step's output).

use crate::cloud::{Named, ResourceKind};
use crate::runbook::checked::{Runbook, Step};
use crate::runbook::expr::Expr;
use crate::runbook::schema::{Kind, Ty, VOLUME_FIELDS};
use crate::runbook::source::Span;

/// One literal a step names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: Named,
    pub id: String,
    pub step: String,
    pub field: &'static str,
    /// The region it must be in: the step's (`None`: the run's own), or for a copy's source
    /// its `source_region`.
    pub region: Option<String>,
    /// The field's `name = value` (the step's `step ... { }` if not known), for
    /// file:line:col.
    pub span: Span,
}

/// What each step of `rb` names, in step order. No I/O.
pub fn references(rb: &Runbook) -> Vec<Reference> {
    let mut out = Vec::new();
    for step in &rb.steps {
        for spec in step.action.schema().fields {
            if spec.candidates {
                continue;
            }
            let region = match spec.region_of {
                Some(of) => step.field(of).and_then(Expr::as_str),
                None => step.region.as_deref(),
            };
            if let Some(expr) = step.field(spec.name) {
                let at = At {
                    step,
                    field: spec.name,
                    region,
                };
                named(&at, spec.ty, expr, &mut out);
            }
        }
    }
    out
}

/// Where a literal is: its step, field and region.
struct At<'a> {
    step: &'a Step,
    field: &'static str,
    region: Option<&'a str>,
}

/// The literals of `expr`, a value of type `ty` at `at`.
fn named(at: &At<'_>, ty: Ty, expr: &Expr, out: &mut Vec<Reference>) {
    match (ty, expr) {
        (Ty::Str(kind), Expr::Str(id)) => {
            if let Some(kind) = kind_of(kind) {
                out.push(Reference {
                    kind,
                    id: id.clone(),
                    step: at.step.name.clone(),
                    field: at.field,
                    region: at.region.map(str::to_string),
                    span: at
                        .step
                        .field_spans
                        .get(at.field)
                        .copied()
                        .unwrap_or(at.step.span),
                });
            }
        }
        (Ty::List(inner), Expr::List(items)) => {
            for item in items {
                named(at, *inner, item, out);
            }
        }
        (Ty::Volumes, Expr::List(items)) => {
            for item in items {
                let Expr::Map(volume) = item else { continue };
                for spec in VOLUME_FIELDS {
                    if let Some(e) = volume.get(spec.name) {
                        named(at, spec.ty, e, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The kinds of thing that exist in an account before a run; the rest (zones, regions,
/// recovery points, roles, times) are not asked here.
fn kind_of(kind: Kind) -> Option<Named> {
    Some(match kind {
        Kind::Subnet => Named::Subnet,
        Kind::SecurityGroup => Named::SecurityGroup,
        Kind::KeyPair => Named::KeyPair,
        Kind::InstanceProfile => Named::InstanceProfile,
        Kind::KmsKey => Named::KmsKey,
        Kind::Image => Named::Resource(ResourceKind::Image),
        Kind::Snapshot => Named::Resource(ResourceKind::Snapshot),
        Kind::Volume => Named::Resource(ResourceKind::Volume),
        Kind::Instance => Named::Resource(ResourceKind::Instance),
        Kind::Any
        | Kind::Zone
        | Kind::RecoveryPoint
        | Kind::Role
        | Kind::Region
        | Kind::Timestamp => return None,
    })
}

impl Reference {
    /// The one line a responder reads: where, what, and that it is not there (in its region,
    /// else the run's, `home`).
    pub fn problem(&self, file: &str, home: Option<&str>) -> String {
        let region = self.region.as_deref().or(home);
        let in_region = region.map(|r| format!(" in {r}")).unwrap_or_default();
        // DescribeKey finds disabled and asymmetric keys too, which EBS cannot use.
        let none = match self.kind {
            Named::KmsKey => "found no enabled symmetric key",
            _ => "found none",
        };
        format!(
            "{file}:{}:{}: step `{}`, field `{}`: {} `{}` does not exist{in_region} ({} {none})",
            self.span.line,
            self.span.col,
            self.step,
            self.field,
            self.kind,
            self.id,
            self.kind.describe_op(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runbook(text: &str) -> Runbook {
        let source = crate::runbook::source::Source::new("t.runbook", text);
        crate::runbook::check_source(&source, &[]).expect("runbook")
    }

    #[test]
    fn literals_of_used_kinds_are_named_and_candidates_and_outputs_are_not() {
        let rb = runbook(
            r#"runbook "t" {
  step img = find_image { image_ids = ["ami-0candidate"], tags = { App = "web" } }
  step web = launch {
    image = img.id, subnet = "subnet-0a", instance_types = ["t3.micro"],
    security_groups = ["sg-1", "sg-2"], key_name = "ops", instance_profile = "web",
    volumes = [{ snapshot = "snap-0d", device = "/dev/sdf" }]
  }
  step disk = attach { volume = "vol-0e", instance = web.instance, device = "/dev/sdg" }
}
"#,
        );
        let refs = references(&rb);
        let named: Vec<(String, &str, &str)> = refs
            .iter()
            .map(|r| (r.kind.to_string(), r.id.as_str(), r.field))
            .collect();
        assert_eq!(
            named,
            [
                ("subnet".to_string(), "subnet-0a", "subnet"),
                ("security group".to_string(), "sg-1", "security_groups"),
                ("security group".to_string(), "sg-2", "security_groups"),
                ("key pair".to_string(), "ops", "key_name"),
                ("instance profile".to_string(), "web", "instance_profile"),
                ("snapshot".to_string(), "snap-0d", "volumes"),
                ("volume".to_string(), "vol-0e", "volume"),
            ]
        );
    }
}
