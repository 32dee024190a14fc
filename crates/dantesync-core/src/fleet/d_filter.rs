//! D's measurements filtered over minutes: a robust line through the recent samples.
//!
//! D = UTC − leader time is not constant: the leader's timescale is its uptime counted by its
//! own oscillator, which runs some ppm off UTC, so D moves by that many µs per second. A median
//! of the samples would lag behind a moving D by half the window; a least-squares line would
//! follow it but let one bad NTP answer (a congested path, a server step) tilt it. The
//! Theil–Sen line (the median of the slopes between every pair of samples, then the median of
//! the residuals as intercept) does both: it follows the leader's rate and ignores up to a
//! quarter of wild samples. With at most [`KEEP`] samples the pairwise slopes stay cheap.

use std::collections::VecDeque;

/// Samples kept: at one NTP check every 10 to 30 s, 10 to 30 minutes.
pub const KEEP: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    /// Step-free local time of the measurement (ns), for the window.
    sf: i64,
    /// Leader time (ns, on the leader's timescale, path delay included) at the measurement.
    leader_ns: i64,
    /// D measured then (ns).
    d_ns: i64,
}

/// The filtered D: its value at a leader instant and its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DEstimate {
    /// The leader instant `d_ns` is given at (the latest sample's).
    pub at_leader_ns: i64,
    pub d_ns: i64,
    /// How fast D moves, ns per s of leader time (ppb).
    pub rate_ppb: i64,
    /// Samples the line rests on.
    pub samples: usize,
}

impl DEstimate {
    /// The line's D at another leader instant.
    pub fn d_at(&self, leader_ns: i64) -> i64 {
        let dt = i128::from(leader_ns) - i128::from(self.at_leader_ns);
        let d = i128::from(self.d_ns) + dt * i128::from(self.rate_ppb) / 1_000_000_000;
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

#[derive(Clone, Debug)]
pub struct DFilter {
    window_ns: i64,
    min_samples: usize,
    samples: VecDeque<Sample>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl DFilter {
    /// Samples older than `window_s` are dropped; fewer than `min_samples` give no estimate.
    pub fn new(window_s: f64, min_samples: usize) -> Self {
        Self {
            window_ns: (window_s * 1e9) as i64,
            min_samples: min_samples.max(1),
            samples: VecDeque::new(),
        }
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn push(&mut self, sf: i64, leader_ns: i64, d_ns: i64) {
        if self.samples.len() == KEEP {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            sf,
            leader_ns,
            d_ns,
        });
        let oldest = sf.saturating_sub(self.window_ns);
        while self.samples.front().is_some_and(|s| s.sf < oldest) {
            self.samples.pop_front();
        }
    }

    /// The Theil–Sen line through the window, given at the latest sample's leader instant.
    pub fn estimate(&self) -> Option<DEstimate> {
        if self.samples.len() < self.min_samples {
            return None;
        }
        let last = *self.samples.back()?;
        // Around the latest sample, in s and ns, so f64 keeps its precision.
        let pts: Vec<(f64, f64)> = self
            .samples
            .iter()
            .map(|s| {
                (
                    (s.leader_ns - last.leader_ns) as f64 * 1e-9,
                    (s.d_ns - last.d_ns) as f64,
                )
            })
            .collect();
        let mut slopes = Vec::with_capacity(pts.len() * pts.len() / 2);
        for (i, a) in pts.iter().enumerate() {
            for b in &pts[i + 1..] {
                // Samples less than a second apart say nothing about a rate in ppb.
                if (b.0 - a.0).abs() >= 1.0 {
                    slopes.push((b.1 - a.1) / (b.0 - a.0));
                }
            }
        }
        let slope = if slopes.is_empty() {
            0.0
        } else {
            median(&mut slopes)
        };
        let mut residuals: Vec<f64> = pts.iter().map(|(x, y)| y - slope * x).collect();
        let intercept = median(&mut residuals);
        Some(DEstimate {
            at_leader_ns: last.leader_ns,
            d_ns: last.d_ns.saturating_add(intercept.round() as i64),
            rate_ppb: slope.round() as i64,
            samples: self.samples.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn a_moving_d_is_followed_and_wild_samples_are_ignored() {
        // D grows 12 µs per s of leader time (a leader 12 ppm slow against UTC); one sample
        // in five is 40 ms off (a bad NTP answer).
        let mut f = DFilter::new(600.0, 4);
        for k in 0..30 {
            let leader = 5_000 * S + k * 20 * S;
            let mut d = 1_700_000_000 * S + k * 20 * 12_000;
            if k % 5 == 2 {
                d += 40_000_000;
            }
            f.push(k * 20 * S, leader, d);
        }
        let e = f.estimate().unwrap();
        assert_eq!(e.rate_ppb, 12_000);
        assert_eq!(e.at_leader_ns, 5_000 * S + 29 * 20 * S);
        assert_eq!(e.d_ns, 1_700_000_000 * S + 29 * 20 * 12_000);
        assert_eq!(e.samples, 30);
        assert_eq!(e.d_at(e.at_leader_ns + 10 * S), e.d_ns + 120_000);
    }

    #[test]
    fn too_few_samples_give_nothing_and_old_ones_leave_the_window() {
        let mut f = DFilter::new(100.0, 3);
        f.push(0, 0, 5);
        f.push(10 * S, 10 * S, 5);
        assert!(f.estimate().is_none());
        f.push(20 * S, 20 * S, 5);
        assert_eq!(f.estimate().unwrap().d_ns, 5);
        // 200 s later the first three have aged out: one sample, no estimate.
        f.push(220 * S, 220 * S, 9);
        assert_eq!(f.len(), 1);
        assert!(f.estimate().is_none());
    }
}
