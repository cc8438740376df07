//! The cloud that runbooks act on. For now the models of how AWS behaves that the planner, the
//! simulator and the AWS backend share: the latency of each operation, and EC2's API rate
//! limits. The backend trait, the simulator and the AWS backend join them here.

pub mod latency;
pub mod rate_limit;
