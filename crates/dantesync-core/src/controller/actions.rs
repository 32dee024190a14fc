//! What the controller asks its host to do, and what it tells it.

use crate::mode::Mode;
use crate::source::LeaderId;
use crate::time::LocalTime;

use super::ntp_gate::Method;

/// A decision for the host (daemon or simulator) to carry out, in order, before it hands the
/// controller the next event.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set the clock's frequency adjustment to this absolute value (ppm, positive = faster).
    SetFrequency { ppm: f64 },
    /// Move the clock's value by this much (positive = forward), leaving its rate alone.
    Step { nanos: i64 },
    /// Run one NTP check and report it with `handle_ntp_result` or `handle_ntp_failure`.
    StartNtpCheck,
    /// Call `tick` at (or soon after) this local time.
    SetTimer { at: LocalTime },
    /// Send this PTPv1 Delay_Req to the leader's event port now, and report when it left with
    /// `delay_req_sent` (or `delay_req_not_sent`).
    SendDelayReq { sequence_id: u16, bytes: Vec<u8> },
    /// Something worth a log line or a status update.
    Notice(Notice),
}

/// Events for logs and status surfaces; they change nothing by themselves.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    ModeChanged {
        from: Mode,
        to: Mode,
    },
    LeaderChanged {
        previous: Option<LeaderId>,
        current: LeaderId,
    },
    /// The leader's offset jumped (it restarted, or its timescale changed): estimate restarted.
    TimescaleJump,
    /// The local oscillator's rate changed inside the window.
    RateChange,
    /// The path delay from the leader stepped (its offsets moved together): the estimate
    /// models the step and keeps its data.
    DelayStep {
        step_ns: i64,
    },
    NtpCorrection {
        offset_ns: i64,
        method: Method,
    },
    /// The NTP offset was beyond the panic threshold and was not applied.
    NtpRefused {
        offset_ns: i64,
    },
    /// Someone else stepped the local clock by this much (positive = forward): the rate
    /// estimate restarted on the new timescale and the time waits for NTP to confirm it again.
    ExternalStep {
        nanos: i64,
    },
    /// Fleet mode stepped the clock by this much: the one start-up step to the fleet's time,
    /// or (`scheduled`) an operator's correction of D at its announced leader instant.
    FleetStep {
        nanos: i64,
        scheduled: bool,
    },
    /// Fleet mode saw the phase ramp as a leader's frequency step does: the frequency moved by
    /// `applied_ppm` at once (the fitted `rate_ppm` less its uncertainty, opposite sign) and
    /// `phase_ns` already lost is slewed back.
    LeaderFrequencyStep {
        rate_ppm: f64,
        sigma_ppm: f64,
        applied_ppm: f64,
        phase_ns: f64,
    },
}
