//! The time axis of report.html's timeline: where a second after t0 is drawn. It fits the run
//! and its targets: the plot ends at a round tick just past the later of the run's end and its
//! targets, so neither a quick run under a distant target nor a long run past a near target is
//! squeezed into a corner. When a target lies far beyond the run (a 16-minute run against a
//! 2-hour target), the axis is broken: the run and the nearby targets get the plot, and the
//! distant targets a narrow compressed zone at its right, past a break mark, each drawn and
//! labelled there. Pure arithmetic, so that the layout is tested without a browser.

/// How far past the run's end a target may lie and still be drawn on the run's own scale;
/// further targets go to the compressed zone.
const STRETCH: f64 = 1.5;
/// The most ticks an axis has.
const MAX_TICKS: f64 = 8.0;
/// Tick steps people read at a glance: seconds, minutes, hours, days.
const STEPS: [f64; 20] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10_800.0, 21_600.0, 43_200.0, 86_400.0, 172_800.0, 604_800.0,
];

/// Seconds from t0 to pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Axis {
    /// Pixels: where t0 is and where the linear scale ends.
    left: f64,
    right: f64,
    /// The linear scale's last tick, in seconds.
    pub(crate) end: f64,
    /// Seconds between ticks.
    pub(crate) step: f64,
    /// The compressed zone past the break: seconds it spans (from `end` to the furthest
    /// target) and the pixels it takes, right of `right`.
    pub(crate) beyond: Option<Beyond>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Beyond {
    /// The furthest target, in seconds: the zone's right edge.
    pub(crate) last: f64,
    /// Pixels from the break to the zone's right edge.
    pub(crate) width: f64,
}

/// Pixels the compressed zone takes, out of the plot.
const BEYOND: f64 = 90.0;

impl Axis {
    /// The axis for a run that ends at `run_end` seconds with `targets`, drawn between pixels
    /// `left` and `right`.
    pub(crate) fn fit(run_end: f64, targets: &[f64], left: f64, right: f64) -> Axis {
        let run_end = run_end.max(1.0);
        let near = targets
            .iter()
            .copied()
            .filter(|t| *t <= run_end * STRETCH)
            .fold(run_end, f64::max);
        let far = targets.iter().copied().filter(|t| *t > run_end * STRETCH);
        let last = far.fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
        let (step, end) = ticks(near);
        match last {
            // A far target that still falls on the near scale's last tick needs no zone.
            Some(last) if last > end => Axis {
                left,
                right: right - BEYOND,
                end,
                step,
                beyond: Some(Beyond {
                    last,
                    width: BEYOND,
                }),
            },
            _ => Axis {
                left,
                right,
                end,
                step,
                beyond: None,
            },
        }
    }

    /// The pixel of `secs` after t0.
    pub(crate) fn x(&self, secs: f64) -> f64 {
        let secs = secs.max(0.0);
        if secs <= self.end {
            return self.left + secs / self.end * (self.right - self.left);
        }
        match &self.beyond {
            // Past the break: the rest of the way to the furthest target, compressed; a gap
            // after the break so that nothing sits on the mark.
            Some(b) => {
                let gap = 16.0;
                let share = ((secs - self.end) / (b.last - self.end)).min(1.0);
                self.right + gap + share * (b.width - gap - 4.0)
            }
            None => self.right,
        }
    }

    /// Pixel where the linear scale ends (the break, when there is one).
    pub(crate) fn break_x(&self) -> Option<f64> {
        self.beyond.as_ref().map(|_| self.right)
    }

    /// The ticks of the linear scale, in seconds: 0, step, ... end.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        let n = (self.end / self.step).round() as u32;
        (0..=n).map(|i| f64::from(i) * self.step).collect()
    }
}

/// The smallest round step giving at most `MAX_TICKS` ticks up to `max`, and the tick that
/// covers `max`.
fn ticks(max: f64) -> (f64, f64) {
    let step = STEPS
        .iter()
        .copied()
        .find(|s| max / s <= MAX_TICKS)
        .unwrap_or_else(|| (max / MAX_TICKS / 86_400.0).ceil() * 86_400.0);
    let end = (max / step).ceil().max(1.0) * step;
    (step, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_near_its_targets_is_drawn_on_one_scale_up_to_them() {
        // 8m20s against 10m and 12m.
        let a = Axis::fit(500.0, &[600.0, 720.0], 150.0, 930.0);
        assert_eq!(a.beyond, None);
        assert!(a.end >= 720.0 && a.end < 1200.0, "{a:?}");
        assert!(
            a.x(720.0) <= 930.0 && a.x(500.0) > 150.0 + 0.4 * 780.0,
            "{a:?}"
        );
    }

    #[test]
    fn a_far_target_is_drawn_in_the_compressed_zone_not_by_squeezing_the_run() {
        // cross-region: 16m36s against 1h30m and 2h.
        let a = Axis::fit(996.0, &[5400.0, 7200.0], 150.0, 930.0);
        let b = a.beyond.clone().expect("a break");
        assert_eq!(b.last, 7200.0);
        // The run takes most of the plot.
        assert!(a.x(996.0) > 150.0 + 0.7 * (930.0 - BEYOND - 150.0), "{a:?}");
        // Both targets are on the page, in order, right of the break, inside the plot.
        let (x1, x2) = (a.x(5400.0), a.x(7200.0));
        let brk = a.break_x().expect("break");
        assert!(brk < x1 && x1 < x2 && x2 <= 930.0, "{x1} {x2} {brk}");
    }

    #[test]
    fn a_long_run_past_its_targets_covers_the_run() {
        let a = Axis::fit(7300.0, &[600.0, 900.0], 150.0, 930.0);
        assert_eq!(a.beyond, None);
        assert!(a.end >= 7300.0, "{a:?}");
        assert!(a.x(7300.0) <= 930.0);
        assert!(a.ticks().len() <= 9);
    }

    #[test]
    fn ticks_are_round_and_cover_the_axis() {
        for max in [1.0, 7.0, 59.0, 61.0, 188.0, 999.0, 3601.0, 86_400.0 * 9.0] {
            let (step, end) = ticks(max);
            assert!(end >= max && end / step <= MAX_TICKS, "{max}: {step} {end}");
        }
    }
}
