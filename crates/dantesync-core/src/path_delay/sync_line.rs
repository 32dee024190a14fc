//! The Sync offset (T2 − T1) as a line over local time, so it can be read at T3.
//!
//! T3 (our Delay_Req leaves) falls between Syncs, and the offset moves between them at the
//! rate of the local clock against the leader: tens of ppm before the servo settles, i.e.
//! several µs per Sync interval, and the servo slews the clock on top. Taking the nearest Sync
//! as if the offset stood still would add that to the path delay. A least-squares line over the
//! Syncs of the last few seconds gives the offset at T3 with the leader's rate as measured over
//! that short interval; the frequency changes the servo makes within a few seconds are small
//! against it (the residual is the change in ppm times the distance to T3).

use std::collections::VecDeque;

/// Syncs this far (ns, step-free local time) from T3 are used for the line.
pub const SPAN_NS: i64 = 4_000_000_000;
/// Syncs kept: 8 s at the Dante rate of 4 per second.
const KEEP: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SyncPoint {
    t2_sf: i64,
    t1_ns: i128,
}

#[derive(Clone, Debug, Default)]
pub struct SyncLine {
    points: VecDeque<SyncPoint>,
}

impl SyncLine {
    pub fn clear(&mut self) {
        self.points.clear();
    }

    pub fn push(&mut self, t2_sf: i64, t1_ns: i128) {
        if self.points.len() == KEEP {
            self.points.pop_front();
        }
        self.points.push_back(SyncPoint { t2_sf, t1_ns });
    }

    /// The leader's time now, as far as the last Sync tells: T1 plus the local time since.
    pub fn leader_time_at(&self, sf: i64) -> Option<i128> {
        self.points
            .back()
            .map(|p| p.t1_ns + i128::from(sf.saturating_sub(p.t2_sf)))
    }

    /// The offset T2 − T1 (ns) a Sync received at `t3_sf` would have shown: the line through
    /// the Syncs within [`SPAN_NS`] of it, or the nearest Sync when there are fewer than three
    /// or they span less than a second. `None` when no Sync is that close.
    pub fn offset_at(&self, t3_sf: i64) -> Option<i128> {
        let near: Vec<SyncPoint> = self
            .points
            .iter()
            .copied()
            .filter(|p| p.t2_sf.saturating_sub(t3_sf).saturating_abs() <= SPAN_NS)
            .collect();
        let nearest = near
            .iter()
            .min_by_key(|p| p.t2_sf.saturating_sub(t3_sf).saturating_abs())?;
        let reference = i128::from(nearest.t2_sf) - nearest.t1_ns;
        let span = near.last()?.t2_sf - near.first()?.t2_sf;
        if near.len() < 3 || span < 1_000_000_000 {
            return Some(reference);
        }
        // Fit in f64 around the nearest point: x in s, y in ns from the reference offset.
        let n = near.len() as f64;
        let xs: Vec<f64> = near
            .iter()
            .map(|p| (p.t2_sf - nearest.t2_sf) as f64 * 1e-9)
            .collect();
        let ys: Vec<f64> = near
            .iter()
            .map(|p| ((i128::from(p.t2_sf) - p.t1_ns) - reference) as f64)
            .collect();
        let mx = xs.iter().sum::<f64>() / n;
        let my = ys.iter().sum::<f64>() / n;
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let slope = sxy / sxx;
        let x3 = (t3_sf - nearest.t2_sf) as f64 * 1e-9;
        let y3 = my + slope * (x3 - mx);
        Some(reference + y3.round() as i128)
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
            line.push(t2, leader);
        }
        line
    }

    #[test]
    fn the_offset_between_syncs_follows_the_rate() {
        // 100 ppm: the offset grows 25 µs per Sync; halfway between two it has grown 12.5 µs.
        let line = drifting(100.0, 12);
        let at_last = line.offset_at(1_000 * S + 11 * S / 4).unwrap();
        let between = line.offset_at(1_000 * S + 11 * S / 4 + S / 8).unwrap();
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
        assert_eq!(line.offset_at(1_000 * S + S / 100), Some(i128::from(first)));
        assert_eq!(line.offset_at(1_010 * S), None);
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
