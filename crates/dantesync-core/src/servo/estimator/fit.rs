//! Least squares of the unwrapped offset against time: a straight line, or a continuous
//! broken line with one kink, with the slope's variance factor and the residual noise.

use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) t: f64,
    pub(super) y: f64,
    pub(super) inlier: bool,
}

/// A fitted model y = a + b·(t − tm) + c·max(0, t − knot).
#[derive(Clone, Copy, Debug)]
pub(super) struct Model {
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) c: f64,
    pub(super) tm: f64,
    pub(super) knot: Option<f64>,
    /// Variance factor of the current slope (b, or b + c after the knot); times σ² = variance.
    pub(super) slope_var: f64,
    pub(super) sigma: f64,
    pub(super) inliers: usize,
}

impl Model {
    pub(super) fn predict(&self, t: f64) -> f64 {
        let kink = match self.knot {
            Some(k) if t > k => self.c * (t - k),
            _ => 0.0,
        };
        self.a + self.b * (t - self.tm) + kink
    }

    pub(super) fn slope(&self) -> f64 {
        match self.knot {
            Some(_) => self.b + self.c,
            None => self.b,
        }
    }
}

/// Least squares over the inliers, with an optional kink. None when degenerate.
pub(super) fn fit(samples: &VecDeque<Sample>, knot: Option<f64>) -> Option<Model> {
    let used = || samples.iter().filter(|s| s.inlier);
    let n = used().count();
    let params = if knot.is_some() { 3 } else { 2 };
    if n < params + 1 {
        return None;
    }
    let nf = n as f64;
    let tm = used().map(|s| s.t).sum::<f64>() / nf;
    let k = knot.unwrap_or(f64::INFINITY);
    let hinge = |t: f64| if t > k { t - k } else { 0.0 };
    let mut m = [[0.0f64; 3]; 3];
    let mut r = [0.0f64; 3];
    for s in used() {
        let x = [1.0, s.t - tm, hinge(s.t)];
        for i in 0..3 {
            r[i] += x[i] * s.y;
            for j in 0..3 {
                m[i][j] += x[i] * x[j];
            }
        }
    }
    let (a, b, c, slope_var) = if knot.is_some() {
        let inv = invert3(&m)?;
        let coef: Vec<f64> = (0..3)
            .map(|i| (0..3).map(|j| inv[i][j] * r[j]).sum())
            .collect();
        let var = inv[1][1] + 2.0 * inv[1][2] + inv[2][2];
        (coef[0], coef[1], coef[2], var)
    } else {
        // Centred time makes the intercept and slope independent.
        if m[1][1] <= 0.0 {
            return None;
        }
        (r[0] / nf, r[1] / m[1][1], 0.0, 1.0 / m[1][1])
    };
    let mut model = Model {
        a,
        b,
        c,
        tm,
        knot,
        slope_var,
        sigma: 0.0,
        inliers: n,
    };
    let sse: f64 = used().map(|s| (s.y - model.predict(s.t)).powi(2)).sum();
    model.sigma = (sse / (nf - params as f64)).sqrt();
    (model.slope_var.is_finite() && model.slope_var > 0.0).then_some(model)
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
