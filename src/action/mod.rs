//! Every action of the language, one file each. An action's file holds all it is: what a step
//! of it takes and gives (its schema, which the checker validates against and GRAMMAR.md lists),
//! its inputs as a typed struct (lowered once, when the step starts, from the resolved fields:
//! no field looked up by name in the run code, no silent default), what it does against a
//! `Cloud`, how long it is expected to take (the planner), the IAM statements it needs
//! (`rebound policy`) and what the default simulated world holds for it.
//!
//! Adding an action is one new file with a type that implements `Definition`, and one line in
//! `registry!` below. `tests` ties every action's typed inputs and outputs to its schema.

mod approve;
mod attach;
mod copy;
mod copy_image;
mod copy_snapshot;
mod create_image;
mod create_volume;
mod exec;
mod find;
mod find_image;
mod find_recovery_point;
mod find_snapshot;
mod launch;
mod restore;
mod run_command;
mod shared;
mod ssm;
mod tag;
mod verify;
mod wait;
pub mod world;

pub(crate) use create_image::thaw_now as thaw;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::cloud::Cloud;
use crate::cloud::latency::LatencyModel;
use crate::cloud::sim::world::World;
use crate::exec::ctx::{Ctx, Done, StepError};
use crate::policy::builder::Builder;
use crate::runbook::expr::Fields;
use crate::runbook::schema::{ActionSchema, Ty};

/// All an action is. Implemented by one type per file; the registry dispatches to it.
pub(crate) trait Definition {
    /// The step's fields as the action uses them. `deny_unknown_fields`, so that every field
    /// of the schema must have a place here (tested).
    type Inputs: DeserializeOwned;
    /// What the step gives; its fields are the schema's outputs plus `EVIDENCE` (tested).
    type Outputs: Serialize + Default;

    /// The action's name, fields and outputs.
    const SCHEMA: &'static ActionSchema;

    /// Outputs kept for the report that a runbook cannot refer to (not in the schema); only the
    /// tests read the list, which keeps `Outputs` and the schema in step.
    #[cfg(test)]
    const EVIDENCE: &'static [&'static str] = &[];

    /// Expected seconds from the step's start to its finish: the median of each operation it
    /// performs, from the latency model. Unless the action says otherwise, one Describe call
    /// (a find asks one question).
    fn expected_seconds(_fields: &Fields, model: &LatencyModel) -> f64 {
        model.describe.median
    }

    /// The IAM statements a step of this action needs on the AWS backend, a drill's teardown of
    /// what it makes included.
    fn statements(_policy: &mut Builder, _fields: &Fields) {}

    /// What the default simulated world holds for a step of this action (`find_*`: candidates).
    fn seed(_world: &mut World, _step: &world::Seed<'_>) {}

    /// Runs the step.
    async fn run<C: Cloud>(
        ctx: &Ctx<'_, '_, C>,
        inputs: Self::Inputs,
    ) -> Result<Done<Self::Outputs>, StepError>;
}

/// Lowers the resolved fields to the action's inputs and runs it. A field the checker passed
/// whose value is missing at run time (an output that came back empty) fails the step here,
/// with the field named, instead of reaching the cloud as an empty string.
async fn run_typed<D: Definition, C: Cloud>(
    ctx: &Ctx<'_, '_, C>,
    fields: Map<String, Value>,
) -> Result<Done, StepError> {
    // A required field whose value came back empty (an output that was null) is named.
    let mut required = D::SCHEMA.fields.iter().filter(|f| f.required);
    if let Some(f) = required.find(|f| fields.get(f.name).is_none_or(Value::is_null)) {
        return Err(StepError::Failed(format!(
            "`{}` has no value at run time (the output it names came back empty)",
            f.name
        )));
    }
    let inputs: D::Inputs = serde_json::from_value(Value::Object(fields))
        .map_err(|e| StepError::Failed(format!("the inputs of `{}`: {e}", D::SCHEMA.name)))?;
    Ok(D::run(ctx, inputs).await?.into_map())
}

/// The registry: each action's variant, and the type that defines it. It makes `Action` (the
/// name a step gives) and the dispatch from it to each `Definition`.
macro_rules! registry {
    ($($variant:ident => $module:ident::$ty:ident,)*) => {
        /// The actions a step can name (`step x = launch { ... }`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            pub(crate) const ALL: [Action; [$(stringify!($variant)),*].len()] = [$(Action::$variant,)*];

            pub(crate) fn schema(self) -> &'static ActionSchema {
                match self {
                    $(Action::$variant => <$module::$ty as Definition>::SCHEMA,)*
                }
            }

            /// Expected seconds from a step's start to its finish.
            pub(crate) fn expected_seconds(self, fields: &Fields, model: &LatencyModel) -> f64 {
                match self {
                    $(Action::$variant => <$module::$ty>::expected_seconds(fields, model),)*
                }
            }

            pub(crate) fn statements(self, policy: &mut Builder, fields: &Fields) {
                match self {
                    $(Action::$variant => <$module::$ty>::statements(policy, fields),)*
                }
            }

            pub(crate) fn seed(self, world: &mut World, step: &world::Seed<'_>) {
                match self {
                    $(Action::$variant => <$module::$ty>::seed(world, step),)*
                }
            }

            /// Runs one step of this action with its resolved fields.
            pub(crate) async fn run<C: Cloud>(
                self,
                ctx: &Ctx<'_, '_, C>,
                fields: Map<String, Value>,
            ) -> Result<Done, StepError> {
                match self {
                    $(Action::$variant => run_typed::<$module::$ty, C>(ctx, fields).await,)*
                }
            }

            /// The schema's inputs and outputs against the action's typed ones (`tests`).
            #[cfg(test)]
            fn typed(self) -> Typed {
                match self {
                    $(Action::$variant => Typed::of::<$module::$ty>(),)*
                }
            }
        }
    };
}

registry! {
    FindImage => find_image::FindImage,
    FindSnapshot => find_snapshot::FindSnapshot,
    FindRecoveryPoint => find_recovery_point::FindRecoveryPoint,
    Launch => launch::Launch,
    Restore => restore::Restore,
    CreateVolume => create_volume::CreateVolume,
    Attach => attach::Attach,
    Verify => verify::Verify,
    RunCommand => run_command::RunCommand,
    CreateImage => create_image::CreateImage,
    CopyImage => copy_image::CopyImage,
    CopySnapshot => copy_snapshot::CopySnapshot,
    Tag => tag::Tag,
    Approve => approve::Approve,
    Exec => exec::Exec,
    Wait => wait::Wait,
}

impl Action {
    pub fn name(self) -> &'static str {
        self.schema().name
    }

    pub(crate) fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The output of this action with that name, if any.
    pub(crate) fn output(self, name: &str) -> Option<&'static Ty> {
        self.schema()
            .outputs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
    }
}

/// What the tests need of one action's types, without naming them.
#[cfg(test)]
struct Typed {
    /// Whether these fields lower to the action's inputs; the error if not.
    lower: fn(Value) -> Result<(), String>,
    /// The names of the outputs the action's `Outputs` serialises.
    outputs: Vec<String>,
    evidence: &'static [&'static str],
}

#[cfg(test)]
impl Typed {
    fn of<D: Definition>() -> Typed {
        let outputs = match serde_json::to_value(D::Outputs::default()) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        Typed {
            lower: |v| {
                serde_json::from_value::<D::Inputs>(v)
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
            outputs,
            evidence: D::EVIDENCE,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};

    use super::Action;
    use crate::runbook::schema::{FieldSpec, Kind, Ty, VOLUME_FIELDS};

    /// A value of `ty` as a step's resolved field holds it.
    fn sample(ty: Ty) -> Value {
        match ty {
            Ty::Str(Kind::Image) => json!("ami-0123456789abcdef0"),
            Ty::Str(Kind::Timestamp) => json!("2026-11-30T12:00:00Z"),
            Ty::Str(_) | Ty::Cron => json!("x"),
            Ty::Int { min, .. } => json!(min.max(1)),
            Ty::Bool => json!(true),
            Ty::Duration => json!(60),
            Ty::List(inner) => json!([sample(*inner)]),
            Ty::Map(inner) => json!({ "k": sample(*inner) }),
            Ty::OneOf(options) => json!(options[0]),
            Ty::Checks => json!(["running", "tcp:22"]),
            Ty::Volumes => json!([fields(VOLUME_FIELDS, None)]),
            Ty::Steps => json!([]),
        }
    }

    /// Every field of `specs` with a sample value, but `without`.
    fn fields(specs: &[FieldSpec], without: Option<&str>) -> Value {
        Value::Object(
            specs
                .iter()
                .filter(|f| Some(f.name) != without)
                .map(|f| (f.name.to_string(), sample(f.ty)))
                .collect(),
        )
    }

    #[test]
    fn every_schema_field_lowers_to_the_typed_inputs() {
        for action in Action::ALL {
            let schema = action.schema();
            let typed = action.typed();
            let all = fields(schema.fields, None);
            assert_eq!((typed.lower)(all), Ok(()), "{}: every field", schema.name);
            for f in schema.fields {
                let result = (typed.lower)(fields(schema.fields, Some(f.name)));
                assert_eq!(
                    result.is_err(),
                    f.required,
                    "{}: without `{}` (required: {}): {result:?}",
                    schema.name,
                    f.name,
                    f.required
                );
            }
            let mut extra = fields(schema.fields, None);
            if let Value::Object(m) = &mut extra {
                m.insert("not_a_field".into(), json!(1));
            }
            assert!(
                (typed.lower)(extra).is_err(),
                "{}: an unknown field must not lower",
                schema.name
            );
        }
    }

    #[test]
    fn typed_outputs_are_the_schema_outputs_and_the_evidence() {
        for action in Action::ALL {
            let schema = action.schema();
            let typed = action.typed();
            let mut want: BTreeSet<&str> = schema.outputs.iter().map(|(n, _)| *n).collect();
            want.extend(typed.evidence);
            let have: BTreeSet<&str> = typed.outputs.iter().map(String::as_str).collect();
            assert_eq!(have, want, "{}: outputs", schema.name);
        }
    }

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: BTreeSet<&str> = Action::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names.len(), Action::ALL.len());
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(a));
            let serialised = serde_json::to_value(a).expect("an action serialises");
            assert_eq!(serialised, json!(a.name()));
        }
    }
}
