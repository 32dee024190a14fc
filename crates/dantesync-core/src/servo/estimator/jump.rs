//! Timescale jumps: when the newest `jump_samples` samples are all outliers and agree with
//! each other, the leader's offset jumped (it restarted, or its timescale changed); the old
//! data are dropped and the estimate restarts from those samples.

use super::RateEstimator;

impl RateEstimator {
    /// The newest samples are all outliers and agree with each other: a jump, not noise.
    pub(super) fn offset_jumped(&mut self) -> bool {
        let j = self.cfg.jump_samples;
        if j == 0 || self.recent_len < j as u32 || self.samples.len() < 2 * j {
            return false;
        }
        let mask = (1u32 << j) - 1;
        if self.recent & mask != mask {
            return false;
        }
        let Some(model) = self.model else {
            return false;
        };
        let (centre, spread) = self.recent_centre_and_spread(&model);
        spread < 0.25 * centre.abs()
    }

    pub(super) fn restart_from_recent(&mut self) {
        let keep = self.cfg.jump_samples.min(self.samples.len());
        let drop = self.samples.len() - keep;
        self.samples.drain(..drop);
        for s in &mut self.samples {
            s.inlier = true;
            s.w = 1.0;
        }
        self.knot = None;
        self.step = None;
        self.recent = 0;
        self.recent_len = 0;
        self.counters.restarts += 1;
        self.refit();
    }
}
