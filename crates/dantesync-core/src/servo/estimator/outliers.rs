//! Outlier rejection: a sample further than `outlier_k` robust sigmas (1.4826 × the median
//! absolute residual) from the fit takes no part in it. Late packets and spikes are what this
//! removes; the residuals are taken against a fit that itself excludes the previous outliers,
//! twice, so one wild sample cannot drag the line towards itself.
//!
//! The window's median follows a change of the network's noise only once half the window
//! (minutes) has the new noise. Until then the newest samples would all be outliers: the node
//! would call its input degraded, and eight of them that happened to sit close together would
//! look like a timescale jump. So the robust sigma is at least the spread of the newest
//! `jump_samples` residuals around their own median (noisier samples scatter; a jump or a
//! delay step moves them together and leaves that spread small), when that spread is within
//! `noise_change_cap_us`: beyond that it is garbage, not a network, and is left out.

use super::fit::{fit, median};
use super::RateEstimator;

impl RateEstimator {
    /// Least squares, then outlier rejection against a robust sigma and weights from the
    /// noise of each stretch (`weights`), then least squares again.
    pub(super) fn refit(&mut self) {
        let n = self.samples.len();
        if n < 3 {
            self.model = None;
            return;
        }
        if n < self.cfg.min_samples {
            for s in &mut self.samples {
                s.inlier = true;
                s.w = 1.0;
            }
            self.model = fit(&self.samples, self.knot, self.step);
            return;
        }
        for _ in 0..2 {
            let Some(model) = fit(&self.samples, self.knot, self.step) else {
                self.model = None;
                return;
            };
            self.scratch.clear();
            self.scratch.extend(
                self.samples
                    .iter()
                    .map(|s| (s.y - model.predict(s.t)).abs()),
            );
            let robust = 1.4826 * median(&mut self.scratch);
            let recent = self.recent_spread(&model);
            let recent = if recent <= self.cfg.noise_change_cap_us {
                recent
            } else {
                0.0
            };
            let limit = self.cfg.outlier_k * robust.max(recent).max(self.cfg.noise_floor_us);
            for s in &mut self.samples {
                s.inlier = (s.y - model.predict(s.t)).abs() <= limit;
            }
            self.reweight(&model);
        }
        self.model = fit(&self.samples, self.knot, self.step);
    }
}

impl RateEstimator {
    /// 1.4826 × the median absolute deviation of the newest `jump_samples` residuals from
    /// their own median: the noise of the newest samples, blind to a shift they share.
    fn recent_spread(&mut self, model: &super::fit::Model) -> f64 {
        let j = self.cfg.jump_samples;
        if j < 4 || self.samples.len() < j {
            return 0.0;
        }
        self.recent_centre_and_spread(model).1
    }

    /// The median of the newest `jump_samples` residuals, and 1.4826 × their median absolute
    /// deviation from it.
    pub(super) fn recent_centre_and_spread(&mut self, model: &super::fit::Model) -> (f64, f64) {
        let j = self.cfg.jump_samples;
        self.scratch.clear();
        self.scratch.extend(
            self.samples
                .iter()
                .rev()
                .take(j)
                .map(|s| s.y - model.predict(s.t)),
        );
        let centre = median(&mut self.scratch);
        self.scratch
            .iter_mut()
            .for_each(|r| *r = (*r - centre).abs());
        (centre, 1.4826 * median(&mut self.scratch))
    }
}
