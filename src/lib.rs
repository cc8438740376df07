//! rebound: a disaster-recovery restore orchestrator for AWS EC2.
//!
//! The library holds every stage; the `rebound` binary (`src/main.rs` and its `cli` module) is
//! thin glue over it (see ARCHITECTURE.md for the code map and the invariants).

pub mod action;
pub mod atomic_file;
pub mod cloud;
pub mod duration;
pub mod error;
pub mod evidence;
pub mod exec;
pub mod identity;
pub mod ops;
pub mod plan;
pub mod policy;
pub mod preflight;
pub mod runbook;
pub mod secret;
#[cfg(test)]
mod testing;

pub use error::Error;
