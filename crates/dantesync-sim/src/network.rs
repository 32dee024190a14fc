//! The path from the leader to the node's receive timestamp: delay, jitter, spikes, loss.

use crate::rng::SimRng;

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkModel {
    /// Fixed one-way delay, µs.
    pub base_delay_us: f64,
    /// Gaussian receive-timestamp jitter, µs (σ).
    pub jitter_us: f64,
    /// Probability that a Sync is late by `spike_us` (a busy host, a USB NIC).
    pub spike_probability: f64,
    pub spike_us: f64,
    /// Probability of an extra exponentially distributed queueing delay with this mean.
    pub tail_probability: f64,
    pub tail_mean_us: f64,
    /// Independent loss probability of each Sync/Follow_Up pair.
    pub loss: f64,
    /// Probability that a burst of losses starts at a Sync, and its length in Syncs.
    pub burst_probability: f64,
    pub burst_len: u32,
    /// Changes of the base delay: (true seconds since start, new base delay µs).
    pub delay_steps: Vec<(f64, f64)>,
    /// Correlated timestamp error, µs (σ): a loaded host or a queue that runs late or early
    /// together for seconds at a time, an Ornstein-Uhlenbeck process (AR(1) sample to sample)
    /// with correlation time `queue_tau_s`. 0 = none.
    pub queue_us: f64,
    pub queue_tau_s: f64,
}

impl Default for NetworkModel {
    fn default() -> Self {
        Self {
            base_delay_us: 120.0,
            jitter_us: 20.0,
            spike_probability: 0.0,
            spike_us: 0.0,
            tail_probability: 0.0,
            tail_mean_us: 0.0,
            loss: 0.0,
            burst_probability: 0.0,
            burst_len: 0,
            delay_steps: Vec::new(),
            queue_us: 0.0,
            queue_tau_s: 1.0,
        }
    }
}

/// What happened to one Sync.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delivery {
    Lost,
    /// Delivered: the true one-way delay, and the error added to its receive timestamp (ns).
    Delivered {
        delay_ns: i64,
        timestamp_error_ns: i64,
    },
}

#[derive(Debug)]
pub struct Network {
    model: NetworkModel,
    rng: SimRng,
    burst_left: u32,
    /// The correlated error now, µs, and when it was last drawn (true seconds).
    queue: Option<(f64, f64)>,
}

impl Network {
    pub fn new(model: NetworkModel, rng: SimRng) -> Self {
        Self {
            model,
            rng,
            burst_left: 0,
            queue: None,
        }
    }

    pub fn deliver(&mut self, since_start_s: f64) -> Delivery {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Delivery::Lost;
        }
        if self.rng.chance(self.model.burst_probability) {
            self.burst_left = self.model.burst_len.saturating_sub(1);
            return Delivery::Lost;
        }
        if self.rng.chance(self.model.loss) {
            return Delivery::Lost;
        }
        let base = self
            .model
            .delay_steps
            .iter()
            .rev()
            .find(|(at, _)| since_start_s >= *at)
            .map_or(self.model.base_delay_us, |(_, d)| *d);
        let mut error_us = self.model.jitter_us * self.rng.gaussian();
        if self.rng.chance(self.model.spike_probability) {
            error_us += self.model.spike_us;
        }
        if self.rng.chance(self.model.tail_probability) {
            error_us += self.rng.exponential(self.model.tail_mean_us);
        }
        // Drawn only when modelled, so that every other scenario keeps its random sequence.
        if self.model.queue_us > 0.0 {
            error_us += self.queue_error_us(since_start_s);
        }
        Delivery::Delivered {
            delay_ns: (base * 1e3) as i64,
            timestamp_error_ns: (error_us * 1e3).round() as i64,
        }
    }

    /// The Ornstein-Uhlenbeck step from the last draw to `t_s`, exact for any interval: the
    /// old value decays by e^(−dt/τ) and fresh noise fills the variance back to σ².
    fn queue_error_us(&mut self, t_s: f64) -> f64 {
        let sigma = self.model.queue_us;
        let q = match self.queue {
            None => sigma * self.rng.gaussian(),
            Some((q, at)) => {
                let keep = (-(t_s - at).max(0.0) / self.model.queue_tau_s).exp();
                q * keep + sigma * (1.0 - keep * keep).sqrt() * self.rng.gaussian()
            }
        };
        self.queue = Some((q, t_s));
        q
    }
}
