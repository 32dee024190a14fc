//! The Sync offset (T2 − T1) as a line over local time, so it can be read at T3.
//!
//! T3 (our Delay_Req leaves) falls between Syncs, and the offset moves between them at the
//! rate of the local clock against the leader: tens of ppm before the servo settles, i.e.
//! several µs per Sync interval, and the servo slews the clock on top. Taking the nearest Sync
//! as if the offset stood still would add that to the path delay. A least-squares line over the
//! Syncs of the last few seconds gives the offset at T3 with the leader's rate as measured over
//! that short interval.
//!
//! The line is drawn through the offsets with the clock's own frequency taken out (`own`: what
//! the servo's frequencies added to the clock, integrated, exactly known to the controller), so
//! it follows the oscillator alone, which does not turn corners; `own` at T3 is added back.
//! Without that, each frequency change of the servo within a few seconds of a request bent the
//! line: in the bed the first minutes' measurements (ACQ and PROD change the frequency by tens
//! of ppm) came out 10-15 µs short and held the mean down for as long as they stayed in it.

use std::collections::VecDeque;

/// Syncs this far (ns, step-free local time) from T3 are used for the line.
pub const SPAN_NS: i64 = 4_000_000_000;
/// Syncs kept: 8 s at the Dante rate of 4 per second.
const KEEP: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SyncPoint {
    t2_sf: i64,
    t1_ns: i128,
    /// The clock's own frequency contributions integrated up to T2 (ns).
    own_ns: i64,
}

impl SyncPoint {
    /// T2 − T1 without the clock's own contributions: the oscillator's offset.
    fn natural(&self) -> i128 {
        i128::from(self.t2_sf) - self.t1_ns - i128::from(self.own_ns)
    }
}

#[derive(Clone, Debug, Default)]
pub struct SyncLine {
    points: VecDeque<SyncPoint>,
}

impl SyncLine {
    pub fn clear(&mut self) {
        self.points.clear();
    }

    /// A Sync: T2 on the step-free axis, T1 on the leader's timescale, and `own_ns`, what the
    /// clock's own frequency (the servo's) added to it up to T2, integrated.
    pub fn push(&mut self, t2_sf: i64, t1_ns: i128, own_ns: i64) {
        if self.points.len() == KEEP {
            self.points.pop_front();
        }
        self.points.push_back(SyncPoint {
            t2_sf,
            t1_ns,
            own_ns,
        });
    }

    /// The leader's time now, as far as the last Sync tells: T1 plus the local time since.
    pub fn leader_time_at(&self, sf: i64) -> Option<i128> {
        self.points
            .back()
            .map(|p| p.t1_ns + i128::from(sf.saturating_sub(p.t2_sf)))
    }

    /// The leader's time (ns) at step-free `sf` as the line through the Syncs around it gives
    /// it, `own_ns` being the clock's own contributions there: `sf − offset_at(sf)`.
    pub fn leader_time_on_line(&self, sf: i64, own_ns: i64) -> Option<i64> {
        i64::try_from(i128::from(sf) - self.offset_at(sf, own_ns)?).ok()
    }

    /// The offset T2 − T1 (ns) a Sync received at `t3_sf` would have shown, the clock's own
    /// contributions being `own_ns` there: the line through the Syncs within [`SPAN_NS`] of
    /// it, or the nearest Sync when there are fewer than three or they span less than a
    /// second. `None` when no Sync is that close.
    pub fn offset_at(&self, t3_sf: i64, own_ns: i64) -> Option<i128> {
        let near: Vec<SyncPoint> = self
            .points
            .iter()
            .copied()
            .filter(|p| p.t2_sf.saturating_sub(t3_sf).saturating_abs() <= SPAN_NS)
            .collect();
        let nearest = near
            .iter()
            .min_by_key(|p| p.t2_sf.saturating_sub(t3_sf).saturating_abs())?;
        let reference = nearest.natural();
        let own = i128::from(own_ns);
        let span = near.last()?.t2_sf - near.first()?.t2_sf;
        if near.len() < 3 || span < 1_000_000_000 {
            // The nearest Sync, moved on by what the clock's own frequency did since.
            return Some(reference + own);
        }
        // Fit in f64 around the nearest point: x in s, y in ns from the reference offset.
        let n = near.len() as f64;
        let xs: Vec<f64> = near
            .iter()
            .map(|p| (p.t2_sf - nearest.t2_sf) as f64 * 1e-9)
            .collect();
        let ys: Vec<f64> = near
            .iter()
            .map(|p| (p.natural() - reference) as f64)
            .collect();
        let mx = xs.iter().sum::<f64>() / n;
        let my = ys.iter().sum::<f64>() / n;
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let slope = sxy / sxx;
        let x3 = (t3_sf - nearest.t2_sf) as f64 * 1e-9;
        let y3 = my + slope * (x3 - mx);
        Some(reference + y3.round() as i128 + own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    /// Syncs every 250 ms of a local clock `ppm` fast against the leader, from local 1000 s.
    fn drifting(ppm: f64, count: i64) -> SyncLine {
        let mut line = SyncLine::default();
        for k in 0..count {
            let t2 = 1_000 * S + k * S / 4;
            let leader =
                700 * i128::from(S) + (k as f64 * 0.25e9 / (1.0 + ppm * 1e-6)).round() as i128;
            line.push(t2, leader, 0);
        }
        line
    }

    #[test]
    fn the_offset_between_syncs_follows_the_rate() {
        // 100 ppm: the offset grows 25 µs per Sync; halfway between two it has grown 12.5 µs.
        let line = drifting(100.0, 12);
        let at_last = line.offset_at(1_000 * S + 11 * S / 4, 0).unwrap();
        let between = line.offset_at(1_000 * S + 11 * S / 4 + S / 8, 0).unwrap();
        assert!(
            ((between - at_last) - 12_500).abs() <= 2,
            "{}",
            between - at_last
        );
    }

    #[test]
    fn too_few_syncs_give_the_nearest_offset_and_none_far_away() {
        let line = drifting(100.0, 2);
        let first = 1_000 * S - 700 * S;
        assert_eq!(
            line.offset_at(1_000 * S + S / 100, 0),
            Some(i128::from(first))
        );
        assert_eq!(line.offset_at(1_010 * S, 0), None);
    }

    #[test]
    fn a_frequency_change_of_the_clock_does_not_bend_the_line() {
        // The oscillator 30 ppm fast; from 1002 s on the servo takes 30 ppm off. The offset
        // at 1002.9 s is what the oscillator gave (+30 ppm over 2.9 s) plus what the servo
        // took since 1002 s (-30 ppm over 0.9 s).
        let own = |t2: i64| -> i64 { -((t2 - 1_002 * S).max(0) as f64 * 30e-6).round() as i64 };
        let mut line = SyncLine::default();
        for k in 0..17 {
            let t2 = 1_000 * S + k * S / 4;
            let natural = ((t2 - 1_000 * S) as f64 * 30e-6).round() as i64;
            let offset = natural + own(t2);
            line.push(t2, i128::from(t2 - offset), own(t2));
        }
        let t3 = 1_002 * S + 9 * S / 10;
        let truth = i128::from(87_000 - 27_000);
        let got = line.offset_at(t3, own(t3)).unwrap();
        assert!((got - truth).abs() <= 2, "{got} vs {truth}");
    }

    #[test]
    fn leader_time_runs_on_from_the_last_sync() {
        let line = drifting(0.0, 4);
        assert_eq!(
            line.leader_time_at(1_000 * S + 3 * S / 4 + 1_000),
            Some(700 * i128::from(S) + 3 * i128::from(S) / 4 + 1_000)
        );
    }
}
