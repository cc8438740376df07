//! A checked field (`Expr`) turned into a concrete value at the moment its step starts: step
//! outputs are looked up, and the result is plain JSON, which is also what the report keeps.

use serde_json::{Map, Value};

use crate::cloud::Tags;
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

/// Typed access to a step's resolved fields.
pub struct Inputs(pub Map<String, Value>);

impl Inputs {
    pub fn str(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(Value::as_str).map(str::to_string)
    }

    pub fn strs(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    pub fn u32(&self, name: &str) -> Option<u32> {
        self.0
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        self.0.get(name).and_then(Value::as_bool)
    }

    pub fn tags(&self, name: &str) -> Tags {
        match self.0.get(name) {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect(),
            _ => Tags::new(),
        }
    }

    pub fn list(&self, name: &str) -> Vec<Value> {
        match self.0.get(name) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}
