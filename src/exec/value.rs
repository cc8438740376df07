//! A checked field (`Expr`) turned into a concrete value at the moment its step starts: step
//! outputs are looked up, and the result is plain JSON, which is also what the report keeps.

use serde_json::{Map, Value};

use crate::runbook::Runbook;
use crate::runbook::checked::Expr;

/// What a `param NAME secret` resolves to: its value in the inputs an action sends, the
/// placeholder in the copy that is recorded.
#[derive(Clone, Copy)]
pub enum Secrets<'a> {
    Reveal(&'a Runbook),
    Hide,
}

/// Resolves an expression with the outputs of finished steps (`outputs[step]`).
pub fn resolve(expr: &Expr, outputs: &[Option<Map<String, Value>>], secrets: Secrets) -> Value {
    match expr {
        Expr::Str(s) => Value::String(s.clone()),
        Expr::Int(n) => Value::from(*n),
        Expr::Bool(b) => Value::Bool(*b),
        Expr::Duration(d) => Value::from(d.as_secs()),
        Expr::List(items) => {
            Value::Array(items.iter().map(|e| resolve(e, outputs, secrets)).collect())
        }
        Expr::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve(v, outputs, secrets)))
                .collect(),
        ),
        Expr::Secret(name) => match secrets {
            Secrets::Reveal(rb) => rb.secret(name).map_or(Value::Null, Value::from),
            Secrets::Hide => Value::from(crate::secret::PLACEHOLDER),
        },
        Expr::Output { step, output } => outputs
            .get(*step)
            .and_then(Option::as_ref)
            .and_then(|o| o.get(output))
            .cloned()
            .unwrap_or(Value::Null),
    }
}

/// A step's fields as resolved when it starts (JSON); the action lowers them to its typed
/// inputs (`crate::action`).
pub struct Inputs(pub Map<String, Value>);

impl Inputs {
    pub fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_str).map(str::to_string)
    }
}
