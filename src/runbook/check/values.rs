//! Values against their types: a field's or setting's value checked against the type its
//! schema gives it (strings of a kind, one of a set, cron, ints in a range, durations, lists,
//! maps, `verify`'s checks, `launch`'s volumes), into an `Expr`. References to params and step
//! outputs are checked in `references`; the message for a wrong type is written here.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::runbook::ast::{self, Value, ValueKind};
use crate::runbook::checked::Expr;
use crate::runbook::diagnostic::{Code, Diagnostic};
use crate::runbook::limits;
use crate::runbook::schedule::Schedule;
use crate::runbook::schema::{Check, Kind, Ty, VOLUME_FIELDS};
use crate::runbook::source::Span;
use crate::runbook::suggest::did_you_mean;

use super::names::duplicate;
use super::{Checker, Place};

impl<'a> Checker<'a> {
    /// Checks a value against a type, resolving params and step outputs; `None` after an error.
    pub(super) fn value(&mut self, v: &Value, ty: Ty, place: &mut Place<'_>) -> Option<Expr> {
        match &v.kind {
            ValueKind::Ref { head, field: None } => self.param_ref(v, head, ty, place),
            ValueKind::Ref {
                head,
                field: Some(field),
            } => self.output_ref(v, head, field, ty, place),
            _ => self.literal_value(v, ty, place),
        }
    }

    /// A literal (or a list or map holding references) against a type.
    pub(super) fn literal_value(
        &mut self,
        v: &Value,
        ty: Ty,
        place: &mut Place<'_>,
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
            (ValueKind::Str(s), Ty::Str(kind)) => self.kind_value(v, s, kind),
            (ValueKind::Str(s), Ty::OneOf(options)) => self.one_of_value(v, s, ty, options),
            (ValueKind::Str(s), Ty::Cron) => match Schedule::parse(s) {
                Ok(_) => Some(Expr::Str(s.clone())),
                Err(e) => {
                    self.error(invalid(v, e.message, Some(e.hint)));
                    None
                }
            },
            (ValueKind::Int(n), Ty::Int { min, max }) => self.int_value(v, *n, min, max),
            (ValueKind::Bool(b), Ty::Bool) => Some(Expr::Bool(*b)),
            (ValueKind::Duration { seconds, .. }, Ty::Duration) => {
                Some(Expr::Duration(Duration::from_secs(*seconds)))
            }
            (ValueKind::List(items), Ty::List(inner)) => self.list_value(items, *inner, place),
            (ValueKind::List(_), Ty::Checks) => {
                let expr = self.literal_value(v, Ty::List(&Ty::Str(Kind::Any)), place)?;
                self.checks(v, &expr)?;
                Some(expr)
            }
            (ValueKind::List(items), Ty::Volumes) => {
                let exprs: Vec<Option<Expr>> =
                    items.iter().map(|i| self.volume(i, place)).collect();
                exprs
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Expr::List)
            }
            (ValueKind::Map(entries), Ty::Map(inner)) => self.map_value(entries, *inner, place),
            _ => {
                self.error(wrong_type(v, ty));
                None
            }
        }
    }

    /// A string where a kind of string is wanted (an image id, a region, ...).
    fn kind_value(&mut self, v: &Value, s: &str, kind: Kind) -> Option<Expr> {
        if kind.accepts_literal(s) {
            Some(Expr::Str(s.to_string()))
        } else {
            self.error(invalid(
                v,
                format!("\"{s}\" is not {}", kind.describe()),
                kind_hint(kind),
            ));
            None
        }
    }

    /// A string where one of a few is wanted (`ty` is `Ty::OneOf(options)`).
    fn one_of_value(&mut self, v: &Value, s: &str, ty: Ty, options: &[&str]) -> Option<Expr> {
        if options.contains(&s) {
            Some(Expr::Str(s.to_string()))
        } else {
            let hint = did_you_mean(s, options.iter().copied());
            self.error(invalid(v, format!("expected {}", ty.describe()), hint));
            None
        }
    }

    /// An int where one in `min..=max` is wanted.
    fn int_value(&mut self, v: &Value, n: i64, min: i64, max: i64) -> Option<Expr> {
        if (min..=max).contains(&n) {
            Some(Expr::Int(n))
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

    /// A list whose every element is of type `inner`: each one is checked before any `None`
    /// counts, so that every element's problem is reported, not the first.
    fn list_value(&mut self, items: &[Value], inner: Ty, place: &mut Place<'_>) -> Option<Expr> {
        let exprs: Vec<Option<Expr>> = items.iter().map(|i| self.value(i, inner, place)).collect();
        exprs
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .map(Expr::List)
    }

    /// A map whose every value is of type `inner`; a key given twice is an error.
    fn map_value(
        &mut self,
        entries: &[ast::Entry],
        inner: Ty,
        place: &mut Place<'_>,
    ) -> Option<Expr> {
        // `rebound:` keys are rebound's own: `rebound:run-id` on a resource hands it to a run's
        // teardown, so no runbook may write one, on what it makes or on what it tags.
        self.entries(entries, place, |c, e| {
            if e.key.value.starts_with(RESERVED) {
                c.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        e.key.span,
                        format!("`{}`: keys starting with `{RESERVED}` are rebound's own", e.key.value),
                    )
                    .label("reserved")
                    .hint("rebound writes rebound:run-id and rebound:step itself; teardown deletes what carries a run's id"),
                );
                return None;
            }
            Some(inner)
        })
        .map(Expr::Map)
    }

    /// A map's entries, each checked against the type `ty_of` gives its key (`None`: the key
    /// is not allowed, and `ty_of` said so); a key given twice is an error.
    fn entries(
        &mut self,
        entries: &[ast::Entry],
        place: &mut Place<'_>,
        ty_of: impl Fn(&mut Self, &ast::Entry) -> Option<Ty>,
    ) -> Option<BTreeMap<String, Expr>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for e in entries {
            if self.repeated_key(&mut seen, e) {
                ok = false;
                continue;
            }
            let Some(ty) = ty_of(self, e) else {
                ok = false;
                continue;
            };
            match self.value(&e.value, ty, place) {
                Some(x) => {
                    out.insert(e.key.value.clone(), x);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
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
            if let Expr::Str(s) = item
                && let Err(why) = Check::parse(s)
            {
                self.error(invalid(ast, why, None));
                ok = false;
            }
        }
        ok.then_some(())
    }

    /// One `{ snapshot = ..., device = ... }` of `launch`'s `volumes`.
    fn volume(&mut self, v: &Value, place: &mut Place<'_>) -> Option<Expr> {
        let ValueKind::Map(entries) = &v.kind else {
            self.error(wrong_type(v, Ty::Volumes));
            return None;
        };
        let out = self.entries(entries, place, |checker, e| {
            if let Some(spec) = VOLUME_FIELDS.iter().find(|f| f.name == e.key.value) {
                return Some(spec.ty);
            }
            let names = VOLUME_FIELDS.iter().map(|f| f.name);
            let hint = did_you_mean(&e.key.value, names);
            checker.error(
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
            None
        });
        let mut ok = out.is_some();
        let out = out.unwrap_or_default();
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
}

/// Whether a value of type `actual` (a step output) may go where `expected` is wanted.
pub(super) fn fits(actual: Ty, expected: Ty) -> bool {
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

pub(super) fn wrong_type(v: &Value, ty: Ty) -> Diagnostic {
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

/// The prefix of the tags rebound writes itself (`cloud::RUN_TAG`, `cloud::STEP_TAG`).
const RESERVED: &str = "rebound:";

pub(super) fn invalid(v: &Value, message: String, hint: Option<String>) -> Diagnostic {
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
pub(super) fn literal(v: &Value) -> Option<Expr> {
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
