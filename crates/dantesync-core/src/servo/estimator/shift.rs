//! Level shifts: the path's delay changes at once (link trouble, a route change, a congested
//! port) and every later offset sits higher or lower by the same amount. The leader's rate did
//! not change, so the samples before the shift still say what the rate is: they are kept, and
//! the samples after the shift get an intercept of their own, with one common slope (least
//! squares with a segment dummy). The slope then rests on the variation within each segment
//! only, so the unknown size of the shift cannot bias it, and its standard error is that of
//! the pooled fit, each segment weighed at its own noise (a shift often brings more noise).
//!
//! A change of the leader's or the oscillator's *rate* makes the residuals grow linearly and
//! can look like a shift at first. Three guards keep such a ramp out of a shift:
//! - a shift is adopted only where two parallel lines fit the data better than the best
//!   continuous broken line (a kink) does; a ramp fits a kink;
//! - the timescale-jump detector's consistent outliers become a shift only on the same test,
//!   and only when smaller than `max_shift_us` (a rebooted leader restarts its uptime by
//!   seconds: the estimate restarts from the recent samples as before), and where the kink
//!   fits them better they are a ramp and restart it as before too;
//! - with every check, the slope of the samples after the shift alone must agree with the
//!   slope before it within `flat_k` standard errors of their difference; a shift whose later
//!   samples keep drifting away was a rate change after all, and the estimate restarts from
//!   the samples after it (as the jump detector did before shifts were kept).

use super::fit::{line_slope, median, Extra};
use super::kink::{scan, KinkScan};
use super::RateEstimator;

/// A level shift is adopted only while it is at most this old (seconds).
const RECENT_STEP_S: f64 = 30.0;

impl RateEstimator {
    /// Where the newest segment of the model starts: its kink, its shift, or the window.
    pub(super) fn segment_start(&self) -> f64 {
        self.knot.or(self.shift).unwrap_or(f64::NEG_INFINITY)
    }

    /// The extra column of the fit in force.
    pub(super) fn extra(&self) -> Extra {
        match (self.knot, self.shift) {
            (Some(k), _) => Extra::Knot(k),
            (None, Some(at)) => Extra::Shift(at, self.pre_weight),
            (None, None) => Extra::None,
        }
    }

    /// The samples of the newest segment within `max_shift_us` of the model, outliers
    /// included (after a shift most of the new level's samples are outliers of the old one),
    /// and the scan of them for the best phase step and the best kink. Kinks may sit as close
    /// to the newest samples as one second, as steps may: a ramp that has just begun must be
    /// able to win against a step.
    fn step_or_kink(&self) -> Option<KinkScan> {
        let model = self.model?;
        let from = self.segment_start();
        let limit = self.cfg.max_shift_us;
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.t >= from && (s.y - model.predict(s.t)).abs() <= limit)
            .map(|s| (s.t, s.y))
            .collect();
        let last = points.last()?.0;
        scan(
            &points,
            last - self.cfg.change_scan_s,
            f64::INFINITY,
            1.0,
            model.sigma,
        )
    }

    /// Looks for a level shift in the newest segment: a recent phase step that fits better
    /// than any kink and better than the plain line by `change_k` standard errors (as a kink
    /// must), with `min_samples` samples after it and nearly all of them near the model, seen
    /// on two consecutive checks at about the same place. Adopts it and returns true then;
    /// meanwhile a candidate widens the slope's uncertainty (`shift_spread`).
    pub(super) fn detect_shift(&mut self) -> bool {
        self.shift_spread = 0.0;
        let (Some(best), Some(model)) = (self.step_or_kink(), self.model) else {
            self.pending_shift = None;
            return false;
        };
        // The noise's wander at a segment's timescale, as the kink test takes it, but as it
        // was before the candidate step: a level shift inside the window is itself the most
        // persistent of wanders, and must not hide behind it.
        let wander = self.wander_factor(&model, best.step_at);
        let sigma2 = model.sigma * model.sigma * wander;
        let gain = (best.line_sse - best.step_sse) / sigma2;
        let k = self.cfg.change_k;
        // Better than a kink by a margin (3σ): early in a ramp a step can fit about as well.
        // Not before the wander can be measured ahead of the step (8 blocks at the kink
        // test's scale: early stretches of correlated noise look like steps), and only a
        // recent step: a shift shows within seconds, an old "step" that only slowly became
        // significant is the noise's wander (S-corr took both kinds for shifts).
        let window_start = self.samples.front().map_or(f64::INFINITY, |s| s.t);
        let newest = self.samples.back().map_or(0.0, |s| s.t);
        let measurable = best.step_at - window_start >= 8.0 * self.cfg.min_segment_s;
        let recent = newest - best.step_at <= RECENT_STEP_S;
        // A new level of the path, not garbage: nearly all samples after the step lie within
        // `max_shift_us` of the model (timestamps scattered over milliseconds mostly do not).
        let after = self.samples.iter().filter(|s| s.t >= best.step_at).count();
        let coherent = best.step_samples as f64 >= 0.8 * after as f64;
        let found = measurable
            && recent
            && coherent
            && best.kink_sse - best.step_sse > 9.0 * sigma2
            && gain > k * k
            && best.step_samples >= self.cfg.min_samples
            && best.step_at.is_finite();
        if measurable && recent && coherent && gain > k * k && best.step_slope.is_finite() {
            // Until the step is adopted or dismissed, the slope is uncertain by as much as the
            // two readings of the data differ: the claims must not rest on either alone.
            self.shift_spread = (best.step_slope - best.line_slope).abs();
        }
        if !found {
            self.pending_shift = None;
            return false;
        }
        let confirmed = self
            .pending_shift
            .is_some_and(|p| (p - best.step_at).abs() <= 3.0);
        if !confirmed {
            self.pending_shift = Some(best.step_at);
            return false;
        }
        self.pending_shift = None;
        self.shift_spread = 0.0;
        self.adopt_shift(best.step_at);
        true
    }

    /// The newest `jump_samples` samples are consistent outliers. A shift of the path when
    /// they are within `max_shift_us` and a phase step fits the segment better than a kink
    /// does; the caller restarts otherwise.
    pub(super) fn shift_from_jump(&mut self) -> bool {
        let Some(model) = self.model else {
            return false;
        };
        let j = self.cfg.jump_samples;
        self.scratch.clear();
        self.scratch.extend(
            self.samples
                .iter()
                .rev()
                .take(j)
                .map(|s| s.y - model.predict(s.t)),
        );
        let mut residuals = self.scratch.clone();
        if median(&mut residuals).abs() > self.cfg.max_shift_us {
            return false;
        }
        let Some(best) = self.step_or_kink() else {
            return false;
        };
        // A ramp (the kink fits better) is a rate change: the caller restarts, as before.
        if best.step_sse.partial_cmp(&best.kink_sse) != Some(std::cmp::Ordering::Less) {
            return false;
        }
        if best.step_samples < j.min(self.cfg.min_samples) {
            return false;
        }
        self.adopt_shift(best.step_at);
        true
    }

    /// Gives the samples from `at` on an intercept of their own. The model holds one kink or
    /// one shift: the data before an earlier kink or shift are history and are dropped. With
    /// too little data before `at` to carry a slope, that is a restart from `at`.
    fn adopt_shift(&mut self, at: f64) {
        if let Some(old) = self.knot.or(self.shift) {
            while self.samples.front().is_some_and(|s| s.t < old) {
                self.samples.pop_front();
            }
        }
        self.knot = None;
        self.pending_kink = None;
        self.knot_slope_spread = 0.0;
        self.shift_spread = 0.0;
        self.pre_weight = 1.0;
        let before = self.samples.iter().filter(|s| s.t < at).count();
        let span = self.samples.front().map_or(0.0, |s| at - s.t);
        if before < self.cfg.min_samples || span < self.cfg.min_segment_s {
            while self.samples.front().is_some_and(|s| s.t < at) {
                self.samples.pop_front();
            }
            self.shift = None;
            self.counters.restarts += 1;
        } else {
            self.shift = Some(at);
            self.level_shifts += 1;
        }
        // The samples after the shift are judged again against their own intercept.
        for s in self.samples.iter_mut().filter(|s| s.t >= at) {
            s.inlier = true;
        }
        self.refit();
        self.rejudge_recent();
    }

    /// The verdicts of the newest samples against the model now in force (a shift turns what
    /// looked like outliers into the new level's samples).
    fn rejudge_recent(&mut self) {
        let len = self.recent_len.min(self.samples.len() as u32);
        self.recent = self
            .samples
            .iter()
            .rev()
            .take(len as usize)
            .enumerate()
            .fold(0u32, |acc, (i, s)| acc | (u32::from(!s.inlier) << i));
        self.recent_len = len;
    }

    /// Whether the samples after the shift still run parallel to those before it: their own
    /// slopes agree within `flat_k` standard errors of the difference (each at its segment's
    /// noise around its own line, widened by the measured wander). Always true without a shift or before the newer
    /// segment holds `min_samples` samples over `min_segment_s`.
    pub(super) fn shift_is_flat(&self) -> bool {
        let Some(at) = self.shift else {
            return true;
        };
        let pre = || {
            self.samples
                .iter()
                .filter(move |s| s.inlier && s.t < at)
                .map(|s| (s.t, s.y))
        };
        let post = || {
            self.samples
                .iter()
                .filter(move |s| s.inlier && s.t >= at)
                .map(|s| (s.t, s.y))
        };
        let post_n = post().count();
        let post_span =
            post().next_back().map_or(0.0, |p| p.0) - post().next().map_or(0.0, |p| p.0);
        if post_n < self.cfg.min_samples || post_span < self.cfg.min_segment_s {
            return true;
        }
        let (Some((b_pre, v_pre, s_pre)), Some((b_post, v_post, s_post))) =
            (line_slope(pre()), line_slope(post()))
        else {
            return true;
        };
        // Each segment at the noise around its own line: the model's noise grows with the very
        // misfit this test looks for (a ramp read as a shift).
        let floor = self.cfg.noise_floor_us;
        let wander = self.wander.max(1.0);
        let var_pre = s_pre.max(floor).powi(2) * wander;
        let var_post = s_post.max(floor).powi(2) * wander;
        let se = (var_pre * v_pre + var_post * v_post).sqrt();
        (b_post - b_pre).abs() <= self.cfg.flat_k * se
    }

    /// The shift was a rate change: the estimate restarts from the samples after it.
    pub(super) fn restart_from_shift(&mut self) {
        let Some(at) = self.shift.take() else {
            return;
        };
        while self.samples.front().is_some_and(|s| s.t < at) {
            self.samples.pop_front();
        }
        self.pre_weight = 1.0;
        self.counters.restarts += 1;
        self.refit();
        self.rejudge_recent();
    }
}
