//! Weights for a window whose noise is not the same throughout. When a network's jitter
//! grows (a busy switch, a congested link), its one-sided delays also move the mean delay:
//! a step in the offsets. Until the step is seen and joins the model, an unweighted line
//! across it tilts by up to 1.5·step/window; weighted by the inverse of each stretch's
//! variance, the noisy stretch moves the line by its share of the information, not of the
//! samples (and the fit is the best linear unbiased one again).
//!
//! The residuals are cut into blocks of `BLOCK` inliers from the newest back; each block's
//! standard deviation (around its own mean, so a step it shares does not count) is compared
//! with the median block's. A block more than `BAND` times noisier or quieter than that weighs
//! the ratio's inverse square; every other block weighs 1, so a window of one noise keeps the
//! plain least squares exactly (for white noise of 16 samples a block falls outside the band
//! about once in a million).

use super::fit::{median, Model};
use super::RateEstimator;

/// Inliers per block.
const BLOCK: usize = 16;
/// How far (as a ratio of standard deviations) a block's noise must be from the median
/// block's before it is weighted.
const BAND: f64 = 3.0;
/// Fewer blocks than this are too few for a median to stand for the window.
const MIN_BLOCKS: usize = 4;

impl RateEstimator {
    /// Sets every sample's weight from the residuals of `model` (see the module's text).
    pub(super) fn reweight(&mut self, model: &Model) {
        let floor = self.cfg.noise_floor_us;
        // (index of the block's oldest sample, its standard deviation), newest block first.
        let mut blocks: Vec<(usize, f64)> = Vec::new();
        let (mut n, mut sum, mut sum2) = (0usize, 0.0f64, 0.0f64);
        for (i, s) in self.samples.iter().enumerate().rev() {
            if !s.inlier {
                continue;
            }
            let r = s.y - model.predict(s.t);
            n += 1;
            sum += r;
            sum2 += r * r;
            if n == BLOCK {
                let k = n as f64;
                let mean = sum / k;
                let var = ((sum2 - k * mean * mean) / (k - 1.0)).max(0.0);
                blocks.push((i, var.sqrt().max(floor)));
                (n, sum, sum2) = (0, 0.0, 0.0);
            }
        }
        if blocks.len() < MIN_BLOCKS {
            self.samples.iter_mut().for_each(|s| s.w = 1.0);
            return;
        }
        let mut sds: Vec<f64> = blocks.iter().map(|b| b.1).collect();
        let typical = median(&mut sds);
        let mut b = 0;
        for (i, s) in self.samples.iter_mut().enumerate().rev() {
            // The oldest samples, short of a block, share their newer neighbours' block.
            while b + 1 < blocks.len() && i < blocks[b].0 {
                b += 1;
            }
            let sd = blocks[b].1;
            s.w = if sd > BAND * typical || sd * BAND < typical {
                (typical / sd).powi(2)
            } else {
                1.0
            };
        }
    }
}
