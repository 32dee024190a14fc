//! Rate changes: a change of the oscillator's rate (a temperature step, a bumped machine) is a
//! kink in the otherwise straight line of the unwrapped offset. A scan over candidate kink
//! times fits a continuous broken line at each; a significant kink, confirmed by two
//! consecutive checks, is kept in the model. The same pass fits the best phase step (two
//! parallel lines), so that a step of the path delay, which also looks like a kink at first,
//! is told apart and not taken for a change of rate.

use super::fit::{invert3, Model};
use super::RateEstimator;

impl RateEstimator {
    /// Looks for a kink after the present one; accepts it once two consecutive checks agree on
    /// it (a single check's best candidate is the one noise flattered most, so its slope is
    /// biased). With a kink in place, moves it to where the broken line fits best.
    pub(super) fn find_kink(&mut self) -> bool {
        let Some(model) = self.model else {
            return false;
        };
        let min_seg = self.cfg.min_segment_s;
        let mut changed = false;
        if let Some(knot) = self.knot {
            // Refine the kink's position: its error biases the new slope.
            let seg = self.inlier_points(f64::NEG_INFINITY);
            if let Some(best) = scan(&seg, knot - 10.0, knot + 10.0, min_seg, model.sigma) {
                self.knot_slope_spread = best.slope_spread;
                if (best.tau_min_sse - knot).abs() > 1e-9 {
                    self.knot = Some(best.tau_min_sse);
                    changed = true;
                }
            }
        }
        let from = self.knot.unwrap_or(f64::NEG_INFINITY);
        let seg = self.inlier_points(from);
        if seg.len() < 2 * self.cfg.min_samples {
            return changed;
        }
        let last = seg[seg.len() - 1].0;
        // Judged against the noise at the timescale of a segment, not sample to sample: a
        // loaded host delays timestamps together for seconds, and such a stretch bends the
        // line as a rate change would.
        let sigma = model.sigma * self.wander_factor(&model).sqrt();
        let Some(best) = scan(
            &seg,
            last - self.cfg.change_scan_s,
            f64::INFINITY,
            min_seg,
            sigma,
        ) else {
            return changed;
        };
        // A delay step of the path (parallel lines) is not a change of the oscillator's rate;
        // a significant one that fits clearly better than any kink (a fresh rate change fits
        // a step about as well for a while), seen by two consecutive checks, joins the model
        // (its height fitted with the line's): a straight line across a step tilts by up to
        // 1.5·step/window, and dropping the data before it would throw away their rate.
        // Both against the noise left around the step fit, at a segment's timescale: the
        // wander the step itself adds to a straight line's residuals is no measure of it.
        let step_var = self.step_fit_noise(&seg, &best);
        let step_z = best.step / (step_var.sqrt() * best.step_se);
        let clear = self.cfg.change_k * self.cfg.change_k * step_var;
        if step_z.abs() > self.cfg.change_k && best.kink_sse - best.step_sse > clear {
            self.pending_kink = None;
            let confirmed = self
                .pending_step
                .is_some_and(|p| (p - best.step_tau).abs() <= 3.0);
            if !confirmed {
                self.pending_step = Some(best.step_tau);
                return changed;
            }
            self.pending_step = None;
            if let Some(old) = self.step {
                // The model holds one step: the older one, well measured by now, goes into
                // the data after it.
                for s in self.samples.iter_mut().filter(|s| s.t > old) {
                    s.y -= model.d;
                }
            }
            self.step = Some(best.step_tau);
            self.counters.delay_steps += 1;
            return true;
        }
        self.pending_step = None;
        if best.z <= self.cfg.change_k || best.step_sse <= best.kink_sse {
            self.pending_kink = None;
            return changed;
        }
        let confirmed = self
            .pending_kink
            .is_some_and(|p| (p - best.tau_max_z).abs() <= 3.0);
        if !confirmed {
            self.pending_kink = Some(best.tau_max_z);
            return changed;
        }
        self.pending_kink = None;
        if let Some(old) = self.knot {
            while self.samples.front().is_some_and(|s| s.t < old) {
                self.samples.pop_front();
            }
        }
        self.knot = Some(best.tau_min_sse);
        self.knot_slope_spread = best.slope_spread;
        self.counters.kinks += 1;
        true
    }

    /// How much more the residuals wander over a segment's timescale than white noise of
    /// their sample-to-sample spread would: the variance of their means over blocks of
    /// `min_segment_s` and of twice that, times the samples per block, over σ² (1 for white
    /// noise, about (1 + ρ)/(1 − ρ) for noise correlated sample to sample by ρ over a shorter
    /// time than the block). The larger of the two, never below 1; 1 while the window holds
    /// fewer than 16 blocks, too few to tell. The kink statistic's noise is widened by its
    /// square root: a kink must stand out of the noise at the scale the kink is seen at.
    pub(super) fn wander_factor(&self, model: &Model) -> f64 {
        let (residuals, start) = self.model_residuals(model);
        self.segment_wander(&residuals, start, model.sigma * model.sigma)
    }

    /// The model's residuals (time, residual) over the window's inliers, and the window's
    /// first sample time (where the blocks start).
    fn model_residuals(&self, model: &Model) -> (Vec<(f64, f64)>, f64) {
        let residuals = self
            .samples
            .iter()
            .filter(|s| s.inlier)
            .map(|s| (s.t, s.y - model.predict(s.t)))
            .collect();
        (residuals, self.samples.front().map_or(0.0, |s| s.t))
    }

    /// `wander_factor` of any residuals (time, residual) whose white variance is `var`, in
    /// blocks from `start`.
    fn segment_wander(&self, residuals: &[(f64, f64)], start: f64, var: f64) -> f64 {
        if var <= 0.0 {
            return 1.0;
        }
        let mut worst = 1.0f64;
        for block_s in [self.cfg.min_segment_s, 2.0 * self.cfg.min_segment_s] {
            let (ratio, blocks) = block_variance_ratio(residuals, start, block_s, var);
            if blocks < 8 {
                continue;
            }
            worst = worst.max(ratio);
        }
        worst
    }

    /// The variance of the residuals around the scan's best step fit (two parallel lines),
    /// widened by their wander at a segment's timescale, as `wander_factor` does for the
    /// model: correlated noise must not make a step of a stretch of late timestamps.
    fn step_fit_noise(&self, seg: &[(f64, f64)], best: &KinkScan) -> f64 {
        let [c0, c1, tm, ym] = best.step_line;
        let residuals: Vec<(f64, f64)> = seg
            .iter()
            .map(|&(t, y)| {
                let d = if t > best.step_tau { best.step } else { 0.0 };
                (t, (y - ym) - c0 - c1 * (t - tm) - d)
            })
            .collect();
        let var = best.step_sse / (seg.len() as f64 - 3.0).max(1.0);
        let start = seg.first().map_or(0.0, |p| p.0);
        var * self.segment_wander(&residuals, start, var)
    }

    /// The variance inflation of the slope under correlated noise: the residuals' means over
    /// blocks of 1, 2, 4 and 8 s (those the window holds at least 4 complete blocks of) vary
    /// more than white noise of their sample-to-sample spread allows by this factor. A
    /// block scale counts only where its excess is beyond what as many blocks of white noise
    /// show by chance (the 99 % point of their variance ratio, 1 + 2.33·√(2/(k − 1))), so a
    /// white window keeps 1 and its lock times.
    pub(super) fn slope_wander(&self, model: &Model) -> f64 {
        let var = model.sigma * model.sigma;
        if var <= 0.0 {
            return 1.0;
        }
        let (residuals, start) = self.model_residuals(model);
        let mut worst = 1.0f64;
        for block_s in [1.0, 2.0, 4.0, 8.0] {
            let (ratio, blocks) = block_variance_ratio(&residuals, start, block_s, var);
            if blocks < 4 {
                break;
            }
            let k = blocks as f64;
            if ratio > 1.0 + 2.33 * (2.0 / (k - 1.0)).sqrt() {
                worst = worst.max(ratio);
            }
        }
        worst
    }

    /// The inliers from `from` on, with the model's delay step taken out (the scans look for
    /// what the model does not hold yet).
    pub(super) fn inlier_points(&self, from: f64) -> Vec<(f64, f64)> {
        let step = |t: f64| self.model.map_or(0.0, |m| m.step_at(t));
        self.samples
            .iter()
            .filter(|s| s.inlier && s.t >= from)
            .map(|s| (s.t, s.y - step(s.t)))
            .collect()
    }
}

/// The means of residuals (time, residual) over consecutive blocks of `block_s` seconds from
/// `start` (the newest block, still filling, left out): their variance against
/// what white noise of variance `var` would give them, and how many blocks there were (the
/// ratio means nothing below two).
fn block_variance_ratio(
    residuals: &[(f64, f64)],
    start: f64,
    block_s: f64,
    var: f64,
) -> (f64, usize) {
    let mut blocks: Vec<(f64, f64)> = Vec::new();
    let mut current: Option<(i64, f64, f64)> = None;
    for &(t, r) in residuals {
        let id = ((t - start) / block_s).floor() as i64;
        match current.as_mut() {
            Some((b, sum, n)) if *b == id => {
                *sum += r;
                *n += 1.0;
            }
            _ => {
                if let Some((_, sum, n)) = current.take() {
                    blocks.push((sum / n, n));
                }
                current = Some((id, r, 1.0));
            }
        }
    }
    let k = blocks.len() as f64;
    let mean_n = blocks.iter().map(|b| b.1).sum::<f64>() / k;
    let mean = blocks.iter().map(|b| b.0).sum::<f64>() / k;
    let spread = blocks.iter().map(|b| (b.0 - mean).powi(2)).sum::<f64>() / (k - 1.0);
    (spread * mean_n / var, blocks.len())
}

/// The outcome of a kink scan over one segment.
#[derive(Clone, Copy, Debug)]
struct KinkScan {
    /// Largest |c / se(c)| over the candidates, and where.
    z: f64,
    tau_max_z: f64,
    /// Where the broken line fits best (least squared residuals).
    tau_min_sse: f64,
    /// Spread (max − min) of the slope after the kink over the positions whose squared
    /// residuals are within 4σ² of the best: a two-sigma profile interval of the position.
    slope_spread: f64,
    /// Squared residuals of the best broken line, and of the best phase step (two parallel
    /// lines): a delay step on the path looks like a kink at first, but fits a step better.
    kink_sse: f64,
    step_sse: f64,
    /// The best phase step: after which sample time, its height (µs), and its standard
    /// error per unit of noise.
    step_tau: f64,
    step: f64,
    step_se: f64,
    /// The rest of that fit: intercept and slope about the centre (tm, ym) of the segment.
    step_line: [f64; 4],
}

/// Fits a continuous broken line y = a + b·t + c·max(0, t − τ) for every candidate τ (the
/// sample times within [lo, hi], keeping `min_seg` seconds of data on both sides) in one pass,
/// using suffix sums; `sigma` is the timestamp noise for the z statistic.
fn scan(seg: &[(f64, f64)], lo: f64, hi: f64, min_seg: f64, sigma: f64) -> Option<KinkScan> {
    if seg.len() < 8 {
        return None;
    }
    let (first, last) = (seg[0].0, seg[seg.len() - 1].0);
    let lo = lo.max(first + min_seg);
    let hi = hi.min(last - min_seg);
    if lo > hi {
        return None;
    }
    let n = seg.len() as f64;
    let tm = seg.iter().map(|p| p.0).sum::<f64>() / n;
    let ym = seg.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut suu, mut suy, mut syy) = (0.0, 0.0, 0.0);
    for &(t, y) in seg {
        let (u, w) = (t - tm, y - ym);
        suu += u * u;
        suy += u * w;
        syy += w * w;
    }
    // With centred t and y, the intercept decouples only in the plain line; the 3×3 system
    // below keeps it explicit (its right-hand side Σw is zero).
    let (mut ns, mut sus, mut suus, mut sws, mut suws) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut best: Option<KinkScan> = None;
    let mut best_sse = f64::INFINITY;
    let mut fits: Vec<(f64, f64)> = Vec::new();
    // The best phase step: y = a + b·u + d·[t > τ], two parallel lines.
    let mut best_step_sse = f64::INFINITY;
    let (mut step_tau, mut step) = (f64::NAN, (0.0, f64::INFINITY));
    let mut step_line = [0.0; 4];
    for i in (1..seg.len()).rev() {
        let (t, y) = seg[i];
        let (u, w) = (t - tm, y - ym);
        ns += 1.0;
        sus += u;
        suus += u * u;
        sws += w;
        suws += u * w;
        let tau = seg[i - 1].0;
        if tau < lo {
            continue;
        }
        // A phase step may sit anywhere, up to the newest samples: a delay step that just
        // happened is exactly what must not be read as a kink.
        if ns >= 2.0 {
            let ms = [[n, 0.0, ns], [0.0, suu, sus], [ns, sus, ns]];
            if let Some(inv) = invert3(&ms) {
                let rhs = [0.0, suy, sws];
                let [c0, c1, c2]: [f64; 3] =
                    std::array::from_fn(|k| (0..3).map(|j| inv[k][j] * rhs[j]).sum());
                let sse = syy - (c1 * suy + c2 * sws);
                if sse < best_step_sse {
                    best_step_sse = sse;
                    step_tau = tau;
                    step = (c2, inv[2][2].sqrt());
                    step_line = [c0, c1, tm, ym];
                }
            }
        }
        if tau > hi {
            continue;
        }
        let v = tau - tm;
        let s02 = sus - v * ns;
        let s12 = suus - v * sus;
        let s22 = suus - 2.0 * v * sus + v * v * ns;
        let r2 = suws - v * sws;
        let m = [[n, 0.0, s02], [0.0, suu, s12], [s02, s12, s22]];
        let Some(inv) = invert3(&m) else { continue };
        let rhs = [0.0, suy, r2];
        let coef: [f64; 3] = std::array::from_fn(|k| (0..3).map(|j| inv[k][j] * rhs[j]).sum());
        let z = (coef[2] / (sigma * inv[2][2].sqrt())).abs();
        let sse = syy - (coef[1] * suy + coef[2] * r2);
        if !z.is_finite() || !sse.is_finite() {
            continue;
        }
        fits.push((sse, coef[1] + coef[2]));
        let entry = best.get_or_insert(KinkScan {
            z,
            tau_max_z: tau,
            tau_min_sse: tau,
            slope_spread: 0.0,
            kink_sse: f64::INFINITY,
            step_sse: f64::INFINITY,
            step_tau: f64::NAN,
            step: 0.0,
            step_se: f64::INFINITY,
            step_line: [0.0; 4],
        });
        if z > entry.z {
            entry.z = z;
            entry.tau_max_z = tau;
        }
        if sse < best_sse {
            best_sse = sse;
            entry.tau_min_sse = tau;
        }
        entry.kink_sse = entry.kink_sse.min(sse);
    }
    let limit = best_sse + 4.0 * sigma * sigma;
    let (lo_slope, hi_slope) = fits.iter().filter(|(sse, _)| *sse <= limit).fold(
        (f64::INFINITY, f64::NEG_INFINITY),
        |(lo, hi), &(_, slope)| (lo.min(slope), hi.max(slope)),
    );
    if let Some(b) = best.as_mut() {
        b.step_sse = best_step_sse;
        b.step_tau = step_tau;
        (b.step, b.step_se) = step;
        b.step_line = step_line;
        b.slope_spread = if hi_slope >= lo_slope {
            hi_slope - lo_slope
        } else {
            0.0
        };
    }
    best
}
