//! The executor: runs a checked runbook's DAG on a `Cloud` (`scheduler`), through the door
//! every call takes (`api`: pacing, counting, retries) and the shared pollers (`poller`), with
//! every mutating call journaled (`journal`); what a run produced (`record`, `model`) becomes
//! timings (`timings`), and what it made is torn down (`teardown`). Actions (`crate::action`)
//! run inside it through `ctx`.

pub mod api;
pub mod ctx;
pub mod event;
mod flights;
mod gone;
pub mod journal;
pub mod model;
pub mod poller;
pub mod record;
pub mod sandbox;
pub mod scheduler;
pub mod teardown;
pub mod timings;
pub mod value;

pub use self::event::{Event, Outcome};
pub use self::record::{RunRecord, StepRecord};
pub use self::scheduler::{Options, Prior, execute};
