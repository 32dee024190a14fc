//! Least squares of the unwrapped offset against time: a straight line, or a continuous
//! broken line with one kink, with the slope's variance factor and the residual noise.

use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) t: f64,
    pub(super) y: f64,
    pub(super) inlier: bool,
    /// Weight in the fit: 1, or less (more) where the noise is much larger (smaller) than
    /// in most of the window (see `weights`).
    pub(super) w: f64,
}

/// A fitted model y = a + b·(t − tm) + c·max(0, t − knot) + d·[t > step]: a line, with at
/// most one kink (a rate change) and one step (of the path delay).
#[derive(Clone, Copy, Debug)]
pub(super) struct Model {
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) c: f64,
    pub(super) tm: f64,
    pub(super) knot: Option<f64>,
    pub(super) d: f64,
    pub(super) step: Option<f64>,
    /// Variance factor of the current slope (b, or b + c after the knot); times σ² = variance.
    /// With unequal weights it is the weighted fit's variance over σ², so that σ² times it
    /// is still the slope's variance.
    pub(super) slope_var: f64,
    /// The unweighted spread of the inliers around the fit.
    pub(super) sigma: f64,
    pub(super) inliers: usize,
}

impl Model {
    pub(super) fn predict(&self, t: f64) -> f64 {
        let kink = match self.knot {
            Some(k) if t > k => self.c * (t - k),
            _ => 0.0,
        };
        self.a + self.b * (t - self.tm) + kink + self.step_at(t)
    }

    /// The step's part of the model at `t`: d after the step, 0 before it.
    pub(super) fn step_at(&self, t: f64) -> f64 {
        match self.step {
            Some(s) if t > s => self.d,
            _ => 0.0,
        }
    }

    /// Parameters fitted: intercept and slope, and the kink's and the step's if present.
    pub(super) fn params(&self) -> usize {
        2 + usize::from(self.knot.is_some()) + usize::from(self.step.is_some())
    }

    pub(super) fn slope(&self) -> f64 {
        match self.knot {
            Some(_) => self.b + self.c,
            None => self.b,
        }
    }
}

/// Weighted least squares over the inliers, with an optional kink and an optional step. None
/// when degenerate.
pub(super) fn fit(
    samples: &VecDeque<Sample>,
    knot: Option<f64>,
    step: Option<f64>,
) -> Option<Model> {
    let used = || samples.iter().filter(|s| s.inlier);
    let n = used().count();
    let params = 2 + usize::from(knot.is_some()) + usize::from(step.is_some());
    if n < params + 1 {
        return None;
    }
    let nf = n as f64;
    let tm = used().map(|s| s.t).sum::<f64>() / nf;
    let k = knot.unwrap_or(f64::INFINITY);
    let st = step.unwrap_or(f64::INFINITY);
    // Columns: 1, t − tm, then the kink's hinge and the step's indicator when present.
    let columns = |t: f64| {
        let mut x = [1.0, t - tm, 0.0, 0.0];
        let mut i = 2;
        if knot.is_some() {
            x[i] = if t > k { t - k } else { 0.0 };
            i += 1;
        }
        if step.is_some() {
            x[i] = if t > st { 1.0 } else { 0.0 };
        }
        x
    };
    let mut m = [[0.0f64; 4]; 4];
    let mut r = [0.0f64; 4];
    for s in used() {
        let x = columns(s.t);
        for i in 0..params {
            r[i] += s.w * x[i] * s.y;
            for j in 0..params {
                m[i][j] += s.w * x[i] * x[j];
            }
        }
    }
    let inv = invert(&m, params)?;
    let coef: [f64; 4] = std::array::from_fn(|i| (0..params).map(|j| inv[i][j] * r[j]).sum());
    // The slope now: b, or b + c after a kink.
    let slope_var = if knot.is_some() {
        inv[1][1] + 2.0 * inv[1][2] + inv[2][2]
    } else {
        inv[1][1]
    };
    let c = if knot.is_some() { coef[2] } else { 0.0 };
    let d = if step.is_some() {
        coef[params - 1]
    } else {
        0.0
    };
    let mut model = Model {
        a: coef[0],
        b: coef[1],
        c,
        tm,
        knot,
        d,
        step,
        slope_var,
        sigma: 0.0,
        inliers: n,
    };
    let (mut sse, mut weighted_sse) = (0.0, 0.0);
    for s in used() {
        let r2 = (s.y - model.predict(s.t)).powi(2);
        sse += r2;
        weighted_sse += s.w * r2;
    }
    model.sigma = (sse / (nf - params as f64)).sqrt();
    if sse > 0.0 {
        // The weighted fit's slope variance is its unit-weight variance (weighted SSE over
        // the degrees of freedom) times the inverse's entry; carried as a factor of σ². With
        // every weight 1 the two sums are the same number and the factor is exactly 1.
        model.slope_var *= weighted_sse / sse;
    }
    (model.slope_var.is_finite() && model.slope_var > 0.0).then_some(model)
}

/// The inverse of the leading `p`×`p` block of `m` (Gauss-Jordan with partial pivoting);
/// None when it is singular or nearly so.
fn invert(m: &[[f64; 4]; 4], p: usize) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0f64; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate().take(p) {
        row[i] = 1.0;
    }
    let scale = (0..p).map(|i| m[i][i].abs()).fold(0.0, f64::max);
    for col in 0..p {
        let pivot = (col..p).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if !a[pivot][col].is_finite() || a[pivot][col].abs() <= scale * 1e-13 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let f = 1.0 / a[col][col];
        for j in 0..p {
            a[col][j] *= f;
            inv[col][j] *= f;
        }
        for row in 0..p {
            if row != col {
                let g = a[row][col];
                if g != 0.0 {
                    for j in 0..p {
                        a[row][j] -= g * a[col][j];
                        inv[row][j] -= g * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

pub(super) fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1];
    let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2];
    let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0];
    let det = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02;
    let scale = m[0][0].abs() * m[1][1].abs() * m[2][2].abs();
    if !det.is_finite() || det.abs() <= scale * 1e-12 {
        return None;
    }
    let inv_det = 1.0 / det;
    Some([
        [
            c00 * inv_det,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det,
        ],
        [
            c01 * inv_det,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det,
        ],
        [
            c02 * inv_det,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det,
        ],
    ])
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Student-t quantiles at the 3σ level (one-sided 0.99865, two-sided 99.73 %) for 1..=60
/// degrees of freedom, computed by integrating the t density.
const T_3SIGMA: [f64; 60] = [
    235.8015, 19.2067, 9.2189, 6.6202, 5.5071, 4.9041, 4.5300, 4.2766, 4.0943, 3.9569, 3.8499,
    3.7643, 3.6942, 3.6358, 3.5864, 3.5441, 3.5075, 3.4755, 3.4472, 3.4222, 3.3997, 3.3796, 3.3613,
    3.3448, 3.3296, 3.3158, 3.3030, 3.2913, 3.2804, 3.2703, 3.2609, 3.2522, 3.2440, 3.2363, 3.2291,
    3.2223, 3.2159, 3.2099, 3.2042, 3.1988, 3.1936, 3.1888, 3.1841, 3.1797, 3.1755, 3.1715, 3.1677,
    3.1640, 3.1605, 3.1571, 3.1539, 3.1508, 3.1479, 3.1450, 3.1423, 3.1396, 3.1371, 3.1346, 3.1322,
    3.1299,
];

/// The factor by which a fitted noise with `dof` degrees of freedom is widened before it backs
/// a claim. A slope fitted with a noise that is itself estimated from ν residuals is
/// t-distributed, not Gaussian: with 8 samples (ν = 6) the true slope lies beyond 3 estimated
/// standard errors in 1.4 % of fits instead of the 0.27 % a "3σ" claim promises, beyond 4.90
/// in 0.27 %. So the noise is widened by the t quantile over the Gaussian one at the 3σ level
/// (t_ν/3: 1.63 at ν = 6, 1.25 at 12, 1.09 at 30), and never by less than half the noise
/// estimate's own standard error (1 + 0.5/√(2ν)), the larger from about 54 degrees of freedom
/// on, which is every settled window.
pub(super) fn noise_inflation(dof: f64) -> f64 {
    let chi = 1.0 + 0.5 / (2.0 * dof.max(1.0)).sqrt();
    // Rounding down is conservative: fewer degrees of freedom, a wider quantile.
    let nu = dof.floor().max(1.0) as usize;
    let t = T_3SIGMA.get(nu - 1).map_or(1.0, |q| q / 3.0);
    chi.max(t)
}

/// Up to this many samples a claim resting on the data alone is held to the early-look
/// boundary of [`early_look_factor`]; from here on to the single look's 3σ.
pub(super) const SEQUENTIAL_SAMPLES: f64 = 20.0;

/// The LOCK and NANO claims are a test repeated with every sample, and a small fit is looked
/// at a dozen times before it has the precision to back a claim: with the one look's 3σ at
/// each of them (Student-t widened), 0.1 % of 2000 runs at 5 µs showed LOCK at 5.3–6.7 ppm,
/// on fits of 12–16 samples whose fitted noise was a third of the true one for several
/// samples in a row. So a look at n samples is held to O'Brien–Fleming's group-sequential
/// boundary, 3·√(I(N)/I(n)) with I ∝ n³ the information of an evenly spaced slope fit: very
/// strict on the first looks, the one look's 3σ from N = `SEQUENTIAL_SAMPLES` on, which keeps
/// the false claims of all the early looks together near those of the single look at N. The
/// factor returned multiplies the standard error.
pub(super) fn early_look_factor(samples: usize) -> f64 {
    let n = (samples.max(1) as f64).min(SEQUENTIAL_SAMPLES);
    (SEQUENTIAL_SAMPLES / n).powf(1.5)
}
