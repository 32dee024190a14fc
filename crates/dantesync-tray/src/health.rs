//! What the tray shows, judged from the polls: the daemon's mode when its status is fresh, red
//! when it is unreachable or its status has stopped moving.
//!
//! "The connection succeeded" is not "the daemon is alive": a reading counts as fresh only when
//! the daemon's own uptime counter has advanced since the previous one (a frozen responder or a
//! caching proxy repeats the same document), and a mode that follows PTP with the last PTP
//! datagram older than [`ENGINE_SILENT_S`] is a snapshot the engine stopped updating (a live
//! engine leaves those modes for NTP-only after 10 s without PTP). Time here is the tray's own
//! monotonic clock in seconds, passed in, so the rules are tested with exact numbers.

use crate::status::{follows_ptp, Mode, Reading};

/// A status older than this (no fresh reading for so long) shows red.
pub const STALE_AFTER_S: f64 = 3.5;
/// Age of the last PTP datagram beyond which a PTP mode cannot come from a running engine.
pub const ENGINE_SILENT_S: f64 = 20.0;

/// The state the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The tray has no answer yet, or the daemon is in INIT.
    Starting,
    Lock,
    Nano,
    /// ACQ or PROD: following a leader, not locked yet.
    Acquiring,
    NtpOnly,
    /// No answer: connection refused, timed out, or not a dantesync status.
    Unreachable,
    /// Answers, but the status has stopped moving.
    Stale,
}

impl Shown {
    pub fn from_mode(mode: Mode) -> Shown {
        match mode {
            Mode::Init => Shown::Starting,
            Mode::Acq | Mode::Prod => Shown::Acquiring,
            Mode::Lock => Shown::Lock,
            Mode::Nano => Shown::Nano,
            Mode::NtpOnly => Shown::NtpOnly,
        }
    }

    pub fn is_offline(self) -> bool {
        matches!(self, Shown::Unreachable | Shown::Stale)
    }

    /// One word for the tooltip's first line.
    pub fn label(self) -> &'static str {
        match self {
            Shown::Starting => "starting",
            Shown::Lock => "LOCK",
            Shown::Nano => "NANO",
            Shown::Acquiring => "acquiring",
            Shown::NtpOnly => "NTP only (no PTP leader)",
            Shown::Unreachable => "OFFLINE (daemon not answering)",
            Shown::Stale => "OFFLINE (status not updating)",
        }
    }
}

/// What the last poll gave, and when.
#[derive(Debug, Clone)]
struct Fresh {
    reading: Reading,
    /// When the daemon's uptime was last seen to advance (tray clock, s).
    at_s: f64,
}

/// Follows the polls; [`Watch::shown`] is the judgement at a given instant.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    fresh: Option<Fresh>,
    /// The last reading received, fresh or not (for the tooltip).
    last: Option<Reading>,
    /// The error of the last poll, cleared by a reading.
    error: Option<String>,
}

impl Watch {
    pub fn new() -> Watch {
        Watch::default()
    }

    pub fn on_reading(&mut self, now_s: f64, reading: Reading) {
        self.error = None;
        let advanced = match &self.last {
            None => true,
            // Backwards: the daemon restarted, a new process with a new counter.
            Some(prev) => reading.uptime_s != prev.uptime_s,
        };
        if advanced {
            self.fresh = Some(Fresh {
                reading: reading.clone(),
                at_s: now_s,
            });
        }
        self.last = Some(reading);
    }

    pub fn on_error(&mut self, error: String) {
        self.error = Some(error);
    }

    /// The last reading received (possibly stale), for the tooltip and menu.
    pub fn last_reading(&self) -> Option<&Reading> {
        self.last.as_ref()
    }

    pub fn last_error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Seconds since the daemon's status last moved, `None` before the first reading.
    pub fn age_s(&self, now_s: f64) -> Option<f64> {
        self.fresh.as_ref().map(|f| now_s - f.at_s)
    }

    pub fn shown(&self, now_s: f64) -> Shown {
        let Some(fresh) = &self.fresh else {
            return match self.error {
                Some(_) => Shown::Unreachable,
                None => Shown::Starting,
            };
        };
        if now_s - fresh.at_s > STALE_AFTER_S {
            return match self.error {
                Some(_) => Shown::Unreachable,
                None => Shown::Stale,
            };
        }
        let r = &fresh.reading;
        let silent = r.last_ptp_packet_age_s.is_none_or(|a| a > ENGINE_SILENT_S);
        if follows_ptp(r.mode) && silent {
            return Shown::Stale;
        }
        Shown::from_mode(r.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn reading(mode: Mode, uptime_s: f64) -> Reading {
        Reading {
            mode,
            drift_ppm: Some(0.3),
            error_bound_ppm: Some(1.0),
            applied_ppm: 50.0,
            leader: Some("00:1d:c1:00:00:01".into()),
            ntp_server: Some("127.0.0.1".into()),
            ntp_offset_us: Some(12.0),
            ntp_failing: false,
            accumulated_phase_us: 1.5,
            uptime_s,
            last_ptp_packet_age_s: Some(0.25),
            sync_mode: None,
            fleet_phase_error_us: None,
            hostname: Some("pc".into()),
        }
    }

    #[test]
    fn grey_before_the_first_answer_red_after_a_refusal() {
        let mut w = Watch::new();
        assert_eq!(w.shown(0.0), Shown::Starting);
        w.on_error("connection refused".into());
        assert_eq!(w.shown(0.1), Shown::Unreachable);
        assert_eq!(w.last_error(), Some("connection refused"));
    }

    #[test]
    fn every_mode_maps_to_its_state() {
        for (mode, shown) in [
            (Mode::Init, Shown::Starting),
            (Mode::Acq, Shown::Acquiring),
            (Mode::Prod, Shown::Acquiring),
            (Mode::Lock, Shown::Lock),
            (Mode::Nano, Shown::Nano),
            (Mode::NtpOnly, Shown::NtpOnly),
        ] {
            let mut w = Watch::new();
            w.on_reading(10.0, reading(mode, 5.0));
            assert_eq!(w.shown(10.5), shown, "{mode:?}");
        }
    }

    #[test]
    fn a_status_whose_uptime_stops_goes_red_after_the_stale_limit() {
        let mut w = Watch::new();
        w.on_reading(0.0, reading(Mode::Lock, 100.0));
        // The same document again and again: a hung daemon behind a cache, or a frozen server.
        for t in 1..=3 {
            w.on_reading(f64::from(t), reading(Mode::Lock, 100.0));
        }
        assert_eq!(w.shown(3.0), Shown::Lock);
        assert_eq!(w.shown(3.5), Shown::Lock);
        w.on_reading(4.0, reading(Mode::Lock, 100.0));
        assert_eq!(w.shown(4.0), Shown::Stale);
        assert_eq!(w.age_s(4.0), Some(4.0));
        // It moves again: green at once.
        w.on_reading(5.0, reading(Mode::Lock, 105.0));
        assert_eq!(w.shown(5.0), Shown::Lock);
    }

    #[test]
    fn no_answer_for_a_few_seconds_is_red_even_without_an_error() {
        // A poll that hangs gives neither a reading nor an error.
        let mut w = Watch::new();
        w.on_reading(0.0, reading(Mode::Nano, 50.0));
        assert_eq!(w.shown(3.4), Shown::Nano);
        assert_eq!(w.shown(3.6), Shown::Stale);
    }

    #[test]
    fn one_failed_poll_inside_the_limit_does_not_flash_red() {
        let mut w = Watch::new();
        w.on_reading(0.0, reading(Mode::Lock, 50.0));
        w.on_error("timed out".into());
        assert_eq!(w.shown(1.0), Shown::Lock);
        assert_eq!(w.shown(3.6), Shown::Unreachable);
    }

    #[test]
    fn a_restarted_daemon_with_a_smaller_uptime_is_fresh() {
        let mut w = Watch::new();
        w.on_reading(0.0, reading(Mode::Lock, 900.0));
        w.on_reading(10.0, reading(Mode::Init, 0.5));
        assert_eq!(w.shown(10.0), Shown::Starting);
    }

    #[test]
    fn a_ptp_mode_with_ptp_silent_for_20_s_is_a_snapshot_nobody_updates() {
        let mut w = Watch::new();
        let mut r = reading(Mode::Lock, 10.0);
        r.last_ptp_packet_age_s = Some(19.0);
        w.on_reading(0.0, r.clone());
        assert_eq!(w.shown(0.0), Shown::Lock);
        r.uptime_s = 11.0;
        r.last_ptp_packet_age_s = Some(21.0);
        w.on_reading(1.0, r.clone());
        assert_eq!(w.shown(1.0), Shown::Stale);
        // NTP-only with PTP long gone is the honest state, not a stale one.
        r.mode = Mode::NtpOnly;
        r.uptime_s = 12.0;
        w.on_reading(2.0, r);
        assert_eq!(w.shown(2.0), Shown::NtpOnly);
    }
}
