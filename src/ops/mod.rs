//! Operations around runs: when drills are due (`schedule`), running them at those times
//! (`daemon`), drills on the schedulers teams already have (`export`), and how long recovery
//! will take (`simulate`).

pub mod daemon;
pub mod export;
pub mod simulate;
