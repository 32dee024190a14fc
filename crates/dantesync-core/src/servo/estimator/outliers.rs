//! Outlier rejection: a sample further than `outlier_k` robust sigmas (1.4826 × the median
//! absolute residual) from the fit takes no part in it. Late packets and spikes are what this
//! removes; the residuals are taken against a fit that itself excludes the previous outliers,
//! twice, so one wild sample cannot drag the line towards itself. Across a level shift each
//! segment has its own robust sigma (the shift often brings more noise), and the fit weighs
//! the quieter segment by the ratio of their variances.

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
            self.model = fit(&self.samples, self.extra());
            return;
        }
        let floor = self.cfg.noise_floor_us;
        for _ in 0..2 {
            let Some(model) = fit(&self.samples, self.extra()) else {
                self.model = None;
                return;
            };
            // Before the shift (if any) and from it on; without one, the whole window.
            let at = self.shift.unwrap_or(f64::NEG_INFINITY);
            let mut robust = [0.0f64; 2];
            for (segment, sigma) in robust.iter_mut().enumerate() {
                self.scratch.clear();
                self.scratch.extend(
                    self.samples
                        .iter()
                        .filter(|s| (s.t >= at) == (segment == 1))
                        .map(|s| (s.y - model.predict(s.t)).abs()),
                );
                *sigma = (1.4826 * median(&mut self.scratch)).max(floor);
            }
            if self.shift.is_some() {
                self.pre_weight = (robust[1] / robust[0]).powi(2);
            }
            for s in &mut self.samples {
                let sigma = robust[usize::from(s.t >= at)];
                s.inlier = (s.y - model.predict(s.t)).abs() <= self.cfg.outlier_k * sigma;
            }
        }
        self.model = fit(&self.samples, self.extra());
    }
}
