//! The simulator's one source of randomness: seeded, portable, reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An independent stream for one model, so adding draws in one model leaves the others'
    /// numbers unchanged.
    pub fn fork(&mut self, stream: u64) -> Self {
        let seed = self.0.random::<u64>() ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self::new(seed)
    }

    pub fn gaussian(&mut self) -> f64 {
        StandardNormal.sample(&mut self.0)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }
}
