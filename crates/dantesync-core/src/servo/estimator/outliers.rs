//! Outlier rejection: a sample further than `outlier_k` robust sigmas (1.4826 × the median
//! absolute residual) from the fit takes no part in it. Late packets and spikes are what this
//! removes; the residuals are taken against a fit that itself excludes the previous outliers,
//! twice, so one wild sample cannot drag the line towards itself.

use super::fit::{fit, median};
use super::RateEstimator;

impl RateEstimator {
    /// Least squares, then outlier rejection against a robust sigma, then least squares again.
    pub(super) fn refit(&mut self) {
        let n = self.samples.len();
        if n < 3 {
            self.model = None;
            return;
        }
        if n < self.cfg.min_samples {
            for s in &mut self.samples {
                s.inlier = true;
            }
            self.model = fit(&self.samples, self.knot);
            return;
        }
        for _ in 0..2 {
            let Some(model) = fit(&self.samples, self.knot) else {
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
            let limit = self.cfg.outlier_k * robust.max(self.cfg.noise_floor_us);
            for s in &mut self.samples {
                s.inlier = (s.y - model.predict(s.t)).abs() <= limit;
            }
        }
        self.model = fit(&self.samples, self.knot);
    }
}
