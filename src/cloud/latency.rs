//! How long AWS takes to do things: one model, read by the planner for expected durations and
//! (with its spread) by the simulator to draw them. The defaults follow what AWS documents and
//! what drills measure (README's "The simulator's model of AWS" lists them); a profile file
//! may override them.
//!
//! Each operation is a log-normal distribution given by its median and its 99th percentile:
//! heavy-tailed like real API and provisioning latencies, and described in numbers a DR
//! engineer can check against their own measurements.

use serde::{Deserialize, Serialize};

/// A log-normal latency: half the draws are under `median`, 99% under `p99` (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dist {
    pub median: f64,
    pub p99: f64,
}

impl Dist {
    pub(crate) const fn new(median: f64, p99: f64) -> Dist {
        Dist { median, p99 }
    }

    /// One draw, in seconds: log-normal with this median and 99th percentile.
    pub(crate) fn sample<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        if self.median <= 0.0 || self.p99 <= self.median {
            return self.median.max(0.0);
        }
        let sigma = (self.p99 / self.median).ln() / Z_99;
        self.median * (sigma * standard_normal(rng)).exp()
    }

    /// The 10th percentile: nine draws in ten take longer. The pollers look first at this
    /// time: earlier looks are nearly always wasted calls, and a later one costs RTO for the
    /// resources that were quick.
    pub(crate) fn p10(&self) -> f64 {
        if self.median <= 0.0 || self.p99 <= self.median {
            return self.median.max(0.0);
        }
        let sigma = (self.p99 / self.median).ln() / Z_99;
        self.median * (-Z_90 * sigma).exp()
    }

    /// The 90th percentile: one draw in ten takes longer.
    pub(crate) fn p90(&self) -> f64 {
        if self.median <= 0.0 || self.p99 <= self.median {
            return self.median.max(0.0);
        }
        let sigma = (self.p99 / self.median).ln() / Z_99;
        self.median * (Z_90 * sigma).exp()
    }

    /// A distribution with no spread: always `seconds`.
    pub const fn fixed(seconds: f64) -> Dist {
        Dist {
            median: seconds,
            p99: seconds,
        }
    }
}

/// The 90th percentile of the standard normal distribution.
const Z_90: f64 = 1.281_551_565_544_600_4;

/// The 99th percentile of the standard normal distribution.
const Z_99: f64 = 2.326_347_874_040_841;

/// A standard normal draw (Box-Muller).
fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - [0, 1) is (0, 1]: never ln(0).
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The latency of every operation the actions perform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyModel {
    /// One Describe* or List* call.
    pub describe: Dist,
    /// The RunInstances call itself.
    pub run_instances: Dist,
    /// From RunInstances' answer to `running`.
    pub pending_to_running: Dist,
    /// From `running` until the OS answers on the network (tcp:, http: checks).
    pub boot: Dist,
    /// From `running` until both EC2 status checks pass (they are evaluated once a minute).
    pub status_ok: Dist,
    /// From `running` until the SSM agent is online (DescribeInstanceInformation).
    pub ssm_ready: Dist,
    /// A script run through SSM Run Command, from SendCommand until its result is listed (the
    /// agent's delivery included).
    pub command: Dist,
    /// CreateVolume until `available`.
    pub create_volume: Dist,
    /// AttachVolume until `in-use`.
    pub attach_volume: Dist,
    /// An AWS Backup restore job, from start to COMPLETED (no published figure: wide).
    pub restore_job: Dist,
    /// CreateImage until the image is `available`.
    pub create_image: Dist,
    /// CopyImage from another region until the copy is `available` (its snapshots are copied
    /// whole: minutes for a small root volume, an hour or more for a large one).
    pub copy_image: Dist,
    /// CopySnapshot from another region until the copy is `completed`.
    pub copy_snapshot: Dist,
    /// A person answering an `approve` prompt.
    pub approval: Dist,
    /// A local program run by `exec`.
    pub exec: Dist,
    /// From a create's answer until Describe calls see the new id (EC2's eventual
    /// consistency: until then a call naming it answers NotFound, and filters leave it out).
    pub propagation: Dist,
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel {
            describe: Dist::new(0.3, 1.5),
            run_instances: Dist::new(1.5, 4.0),
            pending_to_running: Dist::new(5.0, 15.0),
            boot: Dist::new(30.0, 60.0),
            status_ok: Dist::new(120.0, 300.0),
            ssm_ready: Dist::new(45.0, 120.0),
            command: Dist::new(4.0, 60.0),
            create_volume: Dist::new(1.5, 4.0),
            attach_volume: Dist::new(2.0, 4.0),
            restore_job: Dist::new(600.0, 2400.0),
            create_image: Dist::new(300.0, 900.0),
            copy_image: Dist::new(900.0, 3600.0),
            copy_snapshot: Dist::new(600.0, 2700.0),
            approval: Dist::new(60.0, 600.0),
            exec: Dist::new(2.0, 10.0),
            propagation: Dist::new(1.0, 5.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn quantile(mut xs: Vec<f64>, q: f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() - 1) as f64 * q) as usize]
    }

    #[test]
    fn draws_have_the_stated_median_and_p99() {
        let d = Dist::new(5.0, 15.0);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let xs: Vec<f64> = (0..40_000).map(|_| d.sample(&mut rng)).collect();
        let median = quantile(xs.clone(), 0.5);
        let p99 = quantile(xs, 0.99);
        assert!((median - 5.0).abs() < 0.15, "median {median}");
        assert!((p99 - 15.0).abs() < 1.0, "p99 {p99}");
    }

    #[test]
    fn same_seed_same_draws_and_fixed_has_no_spread() {
        let d = LatencyModel::default().restore_job;
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..5).map(|_| d.sample(&mut rng)).collect::<Vec<f64>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Dist::fixed(4.0).sample(&mut rng), 4.0);
    }
}
