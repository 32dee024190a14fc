//! The local oscillator and the clock disciplined on it, in true time.

use std::convert::Infallible;

use dantesync_core::controller::ClockControl;
use dantesync_core::LocalTime;

use crate::rng::SimRng;

/// Parameters of the local oscillator.
#[derive(Clone, Debug, PartialEq)]
pub struct OscillatorModel {
    /// Natural frequency error against true time (ppm, positive = runs fast).
    pub drift_ppm: f64,
    /// Initial clock offset from true time (ns, positive = ahead).
    pub offset_ns: f64,
    /// Random-walk frequency wander, ppm per √s.
    pub wander_ppm_per_sqrt_s: f64,
    /// Steps of the natural frequency: (true seconds since start, ppm added).
    pub steps: Vec<(f64, f64)>,
    /// The frequency range of the clock (the kernel clamps beyond it).
    pub max_frequency_ppm: f64,
}

impl Default for OscillatorModel {
    fn default() -> Self {
        Self {
            drift_ppm: 50.0,
            offset_ns: 0.0,
            wander_ppm_per_sqrt_s: 0.0,
            steps: Vec::new(),
            max_frequency_ppm: 500.0,
        }
    }
}

/// The simulated clock. Its phase is integrated exactly between events.
#[derive(Debug)]
pub struct Oscillator {
    model: OscillatorModel,
    rng: SimRng,
    start_ns: i64,
    /// Local clock minus true time, ns.
    phase_ns: f64,
    natural_ppm: f64,
    applied_ppm: f64,
    at_ns: i64,
    next_step: usize,
    frequency_changes: u64,
    steps_made: u64,
}

impl Oscillator {
    pub fn new(model: OscillatorModel, start_ns: i64, rng: SimRng) -> Self {
        Self {
            phase_ns: model.offset_ns,
            natural_ppm: model.drift_ppm,
            model,
            rng,
            start_ns,
            applied_ppm: 0.0,
            at_ns: start_ns,
            next_step: 0,
            frequency_changes: 0,
            steps_made: 0,
        }
    }

    /// Moves the oscillator to true time `t_ns` (never backwards).
    pub fn advance(&mut self, t_ns: i64) {
        while self.at_ns < t_ns {
            let step_at = self
                .model
                .steps
                .get(self.next_step)
                .map(|(s, _)| self.start_ns + (s * 1e9) as i64)
                .filter(|&at| at <= t_ns);
            let until = step_at.unwrap_or(t_ns).max(self.at_ns);
            let dt = (until - self.at_ns) as f64;
            self.phase_ns += (self.natural_ppm + self.applied_ppm) * 1e-6 * dt;
            if self.model.wander_ppm_per_sqrt_s > 0.0 && dt > 0.0 {
                self.natural_ppm +=
                    self.model.wander_ppm_per_sqrt_s * (dt * 1e-9).sqrt() * self.rng.gaussian();
            }
            self.at_ns = until;
            if let Some(at) = step_at {
                if at <= self.at_ns {
                    self.natural_ppm += self.model.steps[self.next_step].1;
                    self.next_step += 1;
                }
            }
        }
    }

    /// The local clock's reading at true time `t_ns`.
    pub fn read(&mut self, t_ns: i64) -> LocalTime {
        self.advance(t_ns);
        LocalTime::from_nanos(t_ns + self.phase_ns.round() as i64)
    }

    /// The true time, after `now_ns`, at which the local clock is predicted to read `local`
    /// (for timers). A prediction from the present rate: it never moves the oscillator, and it
    /// is always later than `now_ns`, so a timer can fire a hair early but never loop in place.
    pub fn true_time_of(&mut self, local: LocalTime, now_ns: i64) -> i64 {
        self.advance(now_ns);
        let rate = (self.natural_ppm + self.applied_ppm) * 1e-6;
        let predict = |t: i64| t + (self.phase_ns + rate * (t - now_ns) as f64).round() as i64;
        let ahead = (local.nanos() - predict(now_ns)) as f64 / (1.0 + rate);
        let mut t = now_ns + ahead.max(1.0).ceil() as i64;
        while predict(t) < local.nanos() {
            t += 1;
        }
        t
    }

    pub fn set_frequency(&mut self, t_ns: i64, ppm: f64) {
        self.advance(t_ns);
        let limit = self.model.max_frequency_ppm;
        self.applied_ppm = ppm.clamp(-limit, limit);
        self.frequency_changes += 1;
    }

    pub fn step(&mut self, t_ns: i64, nanos: i64) {
        self.advance(t_ns);
        self.phase_ns += nanos as f64;
        self.steps_made += 1;
    }

    /// Someone else steps the clock (an admin's `date -s`, a VM resume, another time
    /// service): the value jumps by `nanos`, not counted as one of the controller's steps.
    pub fn external_step(&mut self, t_ns: i64, nanos: i64) {
        self.advance(t_ns);
        self.phase_ns += nanos as f64;
    }

    /// The oscillator as a clock the controller's actions act on at true time `t_ns`.
    pub fn at(&mut self, t_ns: i64) -> OscillatorAt<'_> {
        OscillatorAt { osc: self, t_ns }
    }

    pub fn natural_ppm(&self) -> f64 {
        self.natural_ppm
    }

    pub fn applied_ppm(&self) -> f64 {
        self.applied_ppm
    }

    /// Local clock minus true time at the last advance, ns.
    pub fn phase_ns(&self) -> f64 {
        self.phase_ns
    }

    pub fn frequency_changes(&self) -> u64 {
        self.frequency_changes
    }

    pub fn steps_made(&self) -> u64 {
        self.steps_made
    }
}

/// The oscillator at one true instant: what [`dantesync_core::controller::execute`] adjusts.
#[derive(Debug)]
pub struct OscillatorAt<'a> {
    osc: &'a mut Oscillator,
    t_ns: i64,
}

impl ClockControl for OscillatorAt<'_> {
    type Error = Infallible;
    /// Beyond the model's range the frequency is clamped, as the kernel does.
    fn set_frequency(&mut self, ppm: f64) -> Result<(), Infallible> {
        self.osc.set_frequency(self.t_ns, ppm);
        Ok(())
    }
    fn step(&mut self, nanos: i64) -> Result<(), Infallible> {
        self.osc.step(self.t_ns, nanos);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_integrates_drift_and_applied_frequency_exactly() {
        let model = OscillatorModel {
            drift_ppm: 50.0,
            offset_ns: 1000.0,
            ..OscillatorModel::default()
        };
        let mut o = Oscillator::new(model, 0, SimRng::new(1));
        assert_eq!(
            o.read(10_000_000_000).nanos(),
            10_000_000_000 + 1000 + 500_000
        );
        o.set_frequency(10_000_000_000, -50.0);
        assert_eq!(o.read(20_000_000_000).nanos(), 20_000_000_000 + 501_000);
        o.step(20_000_000_000, -501_000);
        assert_eq!(o.read(30_000_000_000).nanos(), 30_000_000_000);
    }

    #[test]
    fn predicting_a_timer_leaves_the_oscillator_where_it_is() {
        let model = OscillatorModel {
            drift_ppm: 100.0,
            steps: vec![(5.0, 2.0)],
            ..OscillatorModel::default()
        };
        let mut o = Oscillator::new(model, 0, SimRng::new(1));
        let at = o.true_time_of(LocalTime::from_nanos(10_000_000_000), 1_000_000_000);
        // 10 s of local time at +100 ppm is reached 1 ms early in true time.
        assert!((at - 9_999_000_100).abs() <= 1, "{at}");
        assert_eq!(
            o.natural_ppm(),
            100.0,
            "the step at 5 s must not have happened yet"
        );
        assert_eq!(o.read(2_000_000_000).nanos(), 2_000_200_000);
        assert!(o.true_time_of(LocalTime::from_nanos(0), 3_000_000_000) > 3_000_000_000);
    }

    #[test]
    fn frequency_steps_happen_at_their_time() {
        let model = OscillatorModel {
            drift_ppm: 0.0,
            steps: vec![(5.0, 2.0)],
            ..OscillatorModel::default()
        };
        let mut o = Oscillator::new(model, 0, SimRng::new(1));
        // 5 s at 0 ppm, then 5 s at +2 ppm = 10 µs.
        assert_eq!(o.read(10_000_000_000).nanos(), 10_000_010_000);
        assert_eq!(o.natural_ppm(), 2.0);
    }
}
