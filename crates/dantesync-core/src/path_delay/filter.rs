//! The path-delay filter: the mean of the last measurements, with outliers set aside.
//!
//! A single measurement carries the timestamp noise of four timestamps and any queueing on
//! either path. A measurement far from the running median (many median absolute deviations
//! and at least [`OUTLIER_FLOOR_NS`]) is counted and left out, unless several in a row are:
//! then the path itself changed (a new switch, a new route) and the window restarts from them.
//! The estimate is the **mean** of what is kept, over a long window:
//! - fleet mode holds the clock at leader + D + this delay, and its phase loop averages the
//!   Syncs' offsets: the mean one-way delay is what it needs; a median differs from the mean
//!   by the jitter's skew (queueing delays are one-sided), so each node would be biased by
//!   its own link's jitter;
//! - each measurement's noise is half the Delay_Req's jitter (100 µs of uniform jitter: 14 µs
//!   σ); over [`WINDOW`] requests (about 17 minutes at the default interval) the mean is
//!   within 1 µs (σ 0.9 µs), where a median of 15 wandered by ±6 µs and a mean of 64 by ±2 µs
//!   (σ 1.8 µs), each node by its own error, which is what set the nodes of a fleet apart
//!   (measured in the bed's fleet-steady scenario: a mean of 64 was off by 0 to 3.7 µs on
//!   four nodes). The price is a slow follow of a path that changes by less than the outlier
//!   gate: a 50 µs change is taken up linearly over the window's length.
//!
//! The mean leaves out what the gate would reject now: the gate is not active for the first
//! few measurements, and one wild first answer (seen in the bed: +460 µs, taken while the
//! node had just chosen its leader) otherwise stayed in the mean, 7 µs of bias, for the
//! window's whole length and then left it as a jump.
//!
//! A path that changes by less than the outlier floor is followed as the window turns over.

use std::collections::VecDeque;

/// Measurements kept.
pub const WINDOW: usize = 256;
/// Measurements needed before the estimate is used.
pub const MIN_SAMPLES: usize = 3;
/// Below this many kept measurements the estimate is their median: the outlier gate is not
/// active for the first [`OUTLIER_AFTER`], and a spike among a handful would move a mean.
const MEAN_FROM: usize = 9;
/// From this many measurements on, outliers are recognised.
const OUTLIER_AFTER: usize = 5;
/// A measurement further than this many median absolute deviations from the median...
const OUTLIER_MADS: i64 = 8;
/// ...and further than this (ns) is an outlier: the floor keeps a quiet path, whose deviation
/// is a few hundred ns, from rejecting ordinary noise.
const OUTLIER_FLOOR_NS: i64 = 100_000;
/// This many outliers in a row mean the path changed: the window restarts.
const RESTART_AFTER: u32 = 4;

/// What became of one measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filtered {
    Kept,
    Outlier,
    /// The path changed: the window restarted from the recent outliers.
    Restarted,
}

#[derive(Clone, Debug, Default)]
pub struct DelayFilter {
    window: VecDeque<i64>,
    rejected: Vec<i64>,
}

impl DelayFilter {
    pub fn clear(&mut self) {
        self.window.clear();
        self.rejected.clear();
    }

    pub fn len(&self) -> usize {
        self.window.len()
    }

    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    pub fn push(&mut self, delay_ns: i64) -> Filtered {
        if self.window.len() >= OUTLIER_AFTER {
            let median = median(&self.window);
            if (delay_ns - median).abs() > gate(&self.window, median) {
                self.rejected.push(delay_ns);
                if self.rejected.len() as u32 >= RESTART_AFTER {
                    self.window = self.rejected.drain(..).collect();
                    return Filtered::Restarted;
                }
                return Filtered::Outlier;
            }
        }
        self.rejected.clear();
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(delay_ns);
        Filtered::Kept
    }

    /// Once the window holds [`MIN_SAMPLES`]: its median, and from [`MEAN_FROM`] on its mean.
    pub fn estimate(&self) -> Option<i64> {
        let n = self.window.len();
        if n < MIN_SAMPLES {
            return None;
        }
        if n < MEAN_FROM {
            return Some(median(&self.window));
        }
        let median = median(&self.window);
        let limit = gate(&self.window, median);
        let (sum, kept) = self
            .window
            .iter()
            .filter(|&&d| (d - median).abs() <= limit)
            .fold((0i128, 0i128), |(s, k), &d| (s + i128::from(d), k + 1));
        // The median is within the gate, so something is always kept.
        Some((sum / kept.max(1)) as i64)
    }
}

/// How far from the median (ns) a measurement may be before it is an outlier.
fn gate(values: &VecDeque<i64>, median_ns: i64) -> i64 {
    let mad = median_abs_deviation(values, median_ns);
    (mad.saturating_mul(OUTLIER_MADS)).max(OUTLIER_FLOOR_NS)
}

fn median(values: &VecDeque<i64>) -> i64 {
    let mut sorted: Vec<i64> = values.iter().copied().collect();
    sorted.sort_unstable();
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        // Mean of the two middle values without overflow.
        sorted[n / 2 - 1] + (sorted[n / 2] - sorted[n / 2 - 1]) / 2
    }
}

fn median_abs_deviation(values: &VecDeque<i64>, median_ns: i64) -> i64 {
    let deviations: VecDeque<i64> = values.iter().map(|v| (v - median_ns).abs()).collect();
    median(&deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_estimate_before_three_then_the_median() {
        let mut f = DelayFilter::default();
        assert_eq!(f.push(10_000), Filtered::Kept);
        assert_eq!(f.push(30_000), Filtered::Kept);
        assert_eq!(f.estimate(), None);
        assert_eq!(f.push(12_000), Filtered::Kept);
        assert_eq!(f.estimate(), Some(12_000));
        f.push(11_000);
        assert_eq!(f.estimate(), Some(11_500));
    }

    #[test]
    fn a_spike_is_rejected_and_does_not_move_the_estimate() {
        let mut f = DelayFilter::default();
        for d in [50_000, 50_400, 49_800, 50_100, 49_900, 50_200] {
            assert_eq!(f.push(d), Filtered::Kept);
        }
        assert_eq!(f.estimate(), Some(50_050));
        assert_eq!(f.push(2_000_000), Filtered::Outlier);
        assert_eq!(f.len(), 6);
        assert_eq!(f.estimate(), Some(50_050));
    }

    #[test]
    fn a_lasting_change_of_path_restarts_the_window() {
        let mut f = DelayFilter::default();
        for _ in 0..10 {
            f.push(50_000);
        }
        for _ in 0..3 {
            assert_eq!(f.push(600_000), Filtered::Outlier);
        }
        assert_eq!(f.push(600_000), Filtered::Restarted);
        assert_eq!(f.len(), 4);
        assert_eq!(f.estimate(), Some(600_000));
    }

    #[test]
    fn the_window_keeps_the_last_two_hundred_fifty_six_and_averages_them() {
        let mut f = DelayFilter::default();
        for d in 0..300 {
            f.push(1_000 + d);
        }
        assert_eq!(f.len(), WINDOW);
        // 1044..=1299: mean 1171.5, truncated.
        assert_eq!(f.estimate(), Some(1_171));
    }

    #[test]
    fn a_wild_first_answer_stays_out_of_the_mean() {
        // The gate is not active for the first few: the +460 µs first answer is kept, but
        // the mean leaves it out once the window can tell it is one.
        let mut f = DelayFilter::default();
        f.push(5_844_000);
        for i in 0..20 {
            f.push(5_360_000 + (i % 5) * 5_000);
        }
        assert_eq!(f.len(), 21);
        assert_eq!(f.estimate(), Some(5_370_000));
    }

    #[test]
    fn one_sided_jitter_gives_the_mean_delay_not_the_median() {
        // Queueing adds delay to one request in four: the Syncs' mean offset, which fleet
        // mode's phase loop follows, carries a quarter of it, and so must the path delay.
        let mut f = DelayFilter::default();
        for i in 0..WINDOW {
            f.push(if i % 4 == 3 { 80_000 } else { 0 });
        }
        assert_eq!(f.estimate(), Some(20_000));
    }
}
