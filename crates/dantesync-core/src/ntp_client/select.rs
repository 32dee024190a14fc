//! Which servers tell the truth: the intersection of correctness intervals.
//!
//! Each server that answered gives an interval `offset ± distance` that must contain the true
//! offset if the server is honest (the distance covers half the round trip, the server's own
//! distance to UTC and the burst's spread). Honest servers' intervals therefore overlap. The
//! selection looks for the offsets covered by the most intervals; when more than half of the
//! servers agree on such a region, the servers whose interval reaches into it are truechimers
//! and the others falsetickers. Without such a majority nothing is decided (two servers that
//! disagree cannot tell which of them is wrong). This is the idea behind Marzullo's algorithm
//! as NTP and chrony use it, written here for the handful of servers a site configures (the
//! cost is quadratic in their number).

/// One server's correctness interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub offset_ns: f64,
    /// Half-width of the interval (the root distance), ns; positive.
    pub distance_ns: f64,
}

impl Interval {
    fn low(&self) -> f64 {
        self.offset_ns - self.distance_ns
    }
    fn high(&self) -> f64 {
        self.offset_ns + self.distance_ns
    }
    fn contains(&self, x: f64) -> bool {
        self.low() <= x && x <= self.high()
    }
}

/// The selection's verdict.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    /// More than half of the intervals share the region `low..=high`; `truechimer[i]` says
    /// whether interval `i` reaches into it.
    Majority {
        truechimer: Vec<bool>,
        agreeing: usize,
        low_ns: f64,
        high_ns: f64,
    },
    /// No region is shared by more than half of the intervals (or there are none).
    NoMajority,
}

/// Finds the region most intervals share, and whether that is a majority.
pub fn select(intervals: &[Interval]) -> Selection {
    // Coverage is highest at some interval's lower edge, and the region of highest coverage
    // ends at some upper edge: looking at every edge finds both.
    let edges = intervals.iter().flat_map(|i| [i.low(), i.high()]);
    let cover = |x: f64| intervals.iter().filter(|i| i.contains(x)).count();
    let mut best = 0;
    let mut low = f64::INFINITY;
    let mut high = f64::NEG_INFINITY;
    for x in edges {
        let c = cover(x);
        if c > best {
            (best, low, high) = (c, x, x);
        } else if c == best {
            low = low.min(x);
            high = high.max(x);
        }
    }
    if best == 0 || 2 * best <= intervals.len() {
        return Selection::NoMajority;
    }
    let truechimer = intervals
        .iter()
        .map(|i| i.low() <= high && i.high() >= low)
        .collect();
    Selection::Majority {
        truechimer,
        agreeing: best,
        low_ns: low,
        high_ns: high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(offset_ms: f64, distance_ms: f64) -> Interval {
        Interval {
            offset_ns: offset_ms * 1e6,
            distance_ns: distance_ms * 1e6,
        }
    }

    fn chimers(s: &Selection) -> Vec<bool> {
        match s {
            Selection::Majority { truechimer, .. } => truechimer.clone(),
            Selection::NoMajority => panic!("expected a majority"),
        }
    }

    #[test]
    fn two_agreeing_servers_outvote_one_far_off() {
        let s = select(&[iv(0.01, 1.0), iv(250.0, 1.0), iv(-0.02, 1.0)]);
        assert_eq!(chimers(&s), [true, false, true]);
        let Selection::Majority {
            agreeing,
            low_ns,
            high_ns,
            ..
        } = s
        else {
            unreachable!()
        };
        assert_eq!(agreeing, 2);
        // The shared region is where both agreeing intervals overlap.
        assert!((low_ns - (0.01 - 1.0) * 1e6).abs() < 1.0, "{low_ns}");
        assert!((high_ns - (-0.02 + 1.0) * 1e6).abs() < 1.0, "{high_ns}");
    }

    #[test]
    fn one_server_is_its_own_majority() {
        assert_eq!(chimers(&select(&[iv(37.0, 0.5)])), [true]);
    }

    #[test]
    fn two_that_disagree_decide_nothing_and_none_decide_nothing() {
        assert_eq!(
            select(&[iv(0.0, 1.0), iv(250.0, 1.0)]),
            Selection::NoMajority
        );
        assert_eq!(select(&[]), Selection::NoMajority);
        // Four servers split two against two: no majority either.
        assert_eq!(
            select(&[iv(0.0, 1.0), iv(0.5, 1.0), iv(50.0, 1.0), iv(50.5, 1.0)]),
            Selection::NoMajority
        );
    }

    #[test]
    fn a_wide_interval_that_reaches_the_majority_is_a_truechimer() {
        // A distant server (20 ms round trip) overlaps the LAN servers: honest, if vague.
        let s = select(&[iv(0.0, 1.0), iv(0.3, 1.0), iv(8.0, 10.0), iv(-30.0, 1.0)]);
        assert_eq!(chimers(&s), [true, true, true, false]);
    }

    #[test]
    fn touching_intervals_agree() {
        assert_eq!(
            chimers(&select(&[iv(0.0, 1.0), iv(2.0, 1.0), iv(9.0, 1.0)])),
            [true, true, false]
        );
    }
}
