//! Operations around runs: when drills are due. (The daemon and schedule exports will join
//! here.)

pub mod schedule;
