//! The cloud that runbooks act on. For now only the latency model of AWS operations, which the
//! planner reads for its estimates; the backend trait, the simulator and the AWS backend join
//! it here.

pub mod latency;
