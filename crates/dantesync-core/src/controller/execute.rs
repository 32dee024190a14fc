//! The one place where the controller's actions meet a clock.
//!
//! Every host (the daemon, the simulator, the replay) carries out the clock part of an
//! [`Action`] the same way: through [`execute`], against anything that implements
//! [`ClockControl`]. What is not the clock's (a timer, an NTP check, a notice) comes back as a
//! [`Task`] for the host, which alone knows how to keep time, reach a server or log.
//!
//! The trait lives here, in the sans-IO core, so that the simulator's virtual oscillator (which
//! depends on nothing but this crate) and the real clock backends implement the same thing. It
//! is deliberately the smallest part of a clock the actions need; reading the clock and the
//! operating-system extras stay with `dantesync-clock`'s `Clock`.

use super::actions::{Action, Notice};
use crate::time::LocalTime;

/// What the controller's actions ask of a clock.
pub trait ClockControl {
    /// Why the clock refused an adjustment; simulated clocks never do (`Infallible`).
    type Error;

    /// Sets the frequency adjustment to `ppm` (absolute, positive = the clock runs faster).
    fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error>;

    /// Moves the clock's value by `nanos` (positive = forward), leaving its rate alone.
    fn step(&mut self, nanos: i64) -> Result<(), Self::Error>;
}

/// An action that is the host's to carry out, not the clock's.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Run one NTP check and report it with `handle_ntp_result` or `handle_ntp_failure`.
    StartNtpCheck,
    /// Call `tick` at (or soon after) this local time.
    SetTimer { at: LocalTime },
    /// Send a PTPv1 Delay_Req to the leader's event port and report its send time with
    /// `delay_req_sent`.
    SendDelayReq { sequence_id: u16, bytes: Vec<u8> },
    /// Something worth a log line or a status update.
    Notice(Notice),
}

/// What became of one action.
#[derive(Debug, PartialEq)]
pub enum Executed<E> {
    /// The clock now runs at `ppm`.
    FrequencySet { ppm: f64 },
    /// The clock refused the frequency; it runs at whatever it ran at before.
    FrequencyRefused { ppm: f64, error: E },
    /// The clock's value moved by `nanos`.
    Stepped { nanos: i64 },
    /// The clock refused the step; its value did not move.
    StepRefused { nanos: i64, error: E },
    /// Not the clock's: the host carries it out.
    Task(Task),
}

/// Carries out `action`: a clock action on `clock`, anything else handed back as a [`Task`].
pub fn execute<C: ClockControl + ?Sized>(clock: &mut C, action: Action) -> Executed<C::Error> {
    match action {
        Action::SetFrequency { ppm } => match clock.set_frequency(ppm) {
            Ok(()) => Executed::FrequencySet { ppm },
            Err(error) => Executed::FrequencyRefused { ppm, error },
        },
        Action::Step { nanos } => match clock.step(nanos) {
            Ok(()) => Executed::Stepped { nanos },
            Err(error) => Executed::StepRefused { nanos, error },
        },
        Action::StartNtpCheck => Executed::Task(Task::StartNtpCheck),
        Action::SetTimer { at } => Executed::Task(Task::SetTimer { at }),
        Action::SendDelayReq { sequence_id, bytes } => {
            Executed::Task(Task::SendDelayReq { sequence_id, bytes })
        }
        Action::Notice(notice) => Executed::Task(Task::Notice(notice)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that records what it was told and refuses steps while `refuse_steps` is set.
    #[derive(Default)]
    struct Recorder {
        ppm: f64,
        offset_ns: i64,
        refuse_steps: bool,
    }

    impl ClockControl for Recorder {
        type Error = &'static str;
        fn set_frequency(&mut self, ppm: f64) -> Result<(), Self::Error> {
            if ppm.abs() > 500.0 {
                return Err("out of range");
            }
            self.ppm = ppm;
            Ok(())
        }
        fn step(&mut self, nanos: i64) -> Result<(), Self::Error> {
            if self.refuse_steps {
                return Err("no steps");
            }
            self.offset_ns += nanos;
            Ok(())
        }
    }

    #[test]
    fn clock_actions_reach_the_clock_unchanged() {
        let mut c = Recorder::default();
        assert_eq!(
            execute(&mut c, Action::SetFrequency { ppm: -37.25 }),
            Executed::FrequencySet { ppm: -37.25 }
        );
        assert_eq!(
            execute(
                &mut c,
                Action::Step {
                    nanos: -1_500_000_000
                }
            ),
            Executed::Stepped {
                nanos: -1_500_000_000
            }
        );
        assert_eq!(c.ppm, -37.25);
        assert_eq!(c.offset_ns, -1_500_000_000);
    }

    #[test]
    fn refusals_come_back_with_the_clock_untouched() {
        let mut c = Recorder {
            ppm: 12.0,
            refuse_steps: true,
            ..Recorder::default()
        };
        assert_eq!(
            execute(&mut c, Action::SetFrequency { ppm: 600.0 }),
            Executed::FrequencyRefused {
                ppm: 600.0,
                error: "out of range"
            }
        );
        assert_eq!(
            execute(&mut c, Action::Step { nanos: 5_000 }),
            Executed::StepRefused {
                nanos: 5_000,
                error: "no steps"
            }
        );
        assert_eq!(c.ppm, 12.0);
        assert_eq!(c.offset_ns, 0);
    }

    #[test]
    fn the_rest_is_handed_back_without_touching_the_clock() {
        let mut c = Recorder::default();
        let at = LocalTime::from_nanos(5);
        assert_eq!(
            execute(&mut c, Action::StartNtpCheck),
            Executed::Task(Task::StartNtpCheck)
        );
        assert_eq!(
            execute(&mut c, Action::SetTimer { at }),
            Executed::Task(Task::SetTimer { at })
        );
        assert_eq!(
            execute(&mut c, Action::Notice(Notice::RateChange)),
            Executed::Task(Task::Notice(Notice::RateChange))
        );
        assert_eq!((c.ppm, c.offset_ns), (0.0, 0));
    }
}
