//! `dantesync replay`: runs a packet capture through the same controller the daemon uses.
//!
//! It answers "what would dantesync make of this network?" from a capture alone: which
//! leader it follows, how fast the capturing host's clock runs against it, how noisy the
//! timestamps are and which modes the servo goes through. Only PTP is replayed (NTP is off),
//! so the controller never steps the clock and its rate estimate is the capture host's own.

mod clock;
pub mod print;

use std::path::Path;

use dantesync_core::controller::{self, Executed, Task};
use dantesync_core::{Action, Controller, ControllerConfig, LocalTime, Mode, Notice};
use dantesync_pcap::Datagram;
use serde::Serialize;

pub use clock::DisciplinedClock;

/// PTPv1 event messages (Sync, Delay_Req) go to this UDP port.
pub const PTP_EVENT_PORT: u16 = 319;
/// PTPv1 general messages (Follow_Up, Delay_Resp, Management) go to this UDP port.
pub const PTP_GENERAL_PORT: u16 = 320;

/// What a replay found. Serialised as is by `--json`, so field names are an interface.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The capture, as named on the command line.
    pub file: String,
    /// UDP datagrams in the capture.
    pub udp_datagrams: usize,
    /// Datagrams to UDP port 319 or 320, handed to the controller.
    pub packets: usize,
    /// Datagrams to other ports, not replayed.
    pub skipped: usize,
    /// Replayed datagrams stamped earlier than one before them in the file; the replay feeds
    /// them in timestamp order, because the controller's time never runs backwards.
    pub out_of_order: usize,
    /// From the first to the last replayed datagram, s.
    pub duration_s: f64,
    /// Sync/Follow_Up pairs of the leader that reached the estimator.
    pub pairs: u64,
    /// The grandmaster the final leader relays.
    pub gm_uuid: Option<String>,
    /// The sender of the final leader's Syncs (the grandmaster itself on plain Dante).
    pub leader_uuid: Option<String>,
    /// The final leader's advertised Sync period, ms.
    pub sync_interval_ms: Option<f64>,
    /// The capturing host's clock rate against the leader, ppm; positive = the host runs fast.
    pub rate_ppm: Option<f64>,
    /// Standard error of `rate_ppm`.
    pub rate_sigma_ppm: Option<f64>,
    /// Scatter of the arrival times around the fitted rate, µs.
    pub jitter_us: Option<f64>,
    /// Samples in the estimator's final window (outliers excluded).
    pub window_samples: usize,
    /// Modes in the order the controller went through them, the initial one first.
    pub modes: Vec<&'static str>,
    /// When each mode in `modes` was entered, s after the first replayed datagram.
    pub mode_entered_s: Vec<f64>,
    /// When LOCK (or better) was first reached, s after the first replayed datagram.
    pub lock_after_s: Option<f64>,
    /// The frequency the controller ended up applying, ppm (≈ −rate_ppm once converged).
    pub applied_ppm: Option<f64>,
    /// Frequencies the controller set after the starting one.
    pub frequency_changes: u64,
    /// Switches from one leader to another (choosing the first leader is not one).
    pub leader_changes: u64,
    /// Restarts of the estimate because the leader's timescale jumped.
    pub timescale_jumps: u64,
    /// Changes of the host oscillator's rate detected inside the window.
    pub rate_changes: u64,
    /// Samples rejected as outliers by the estimator.
    pub outliers: u64,
    /// Replayed datagrams that were another PTP version (PTPv2 shares the ports).
    pub not_v1: u64,
    /// PTPv1 datagrams that failed to parse.
    pub malformed: u64,
    pub other_subdomain: u64,
    /// Messages from senders that were not the leader.
    pub not_leader: u64,
    pub unmatched_follow_up: u64,
    /// Delay_Req, Delay_Resp and Management messages, which the rate servo does not use.
    pub ignored_other: u64,
}

impl ReplayReport {
    /// Why the replay could not measure a rate, if it could not.
    pub fn problem(&self) -> Option<String> {
        if self.packets == 0 {
            return Some(format!(
                "no datagrams to UDP port {PTP_EVENT_PORT} or {PTP_GENERAL_PORT} ({} other UDP datagrams)",
                self.udp_datagrams
            ));
        }
        if self.pairs == 0 {
            return Some(format!(
                "no PTPv1 samples: no Sync/Follow_Up pair from a leader in {} PTP datagrams \
                 ({} not PTPv1, {} malformed, {} other subdomain)",
                self.packets, self.not_v1, self.malformed, self.other_subdomain
            ));
        }
        if self.rate_ppm.is_none() {
            return Some(format!(
                "{} Sync/Follow_Up pairs are too few for a rate estimate",
                self.pairs
            ));
        }
        None
    }
}

/// Replays the capture at `path`.
pub fn replay_file(path: &Path) -> Result<ReplayReport, dantesync_pcap::Error> {
    let datagrams = dantesync_pcap::read_udp(path)?;
    Ok(replay_datagrams(&path.display().to_string(), &datagrams))
}

/// Replays `datagrams` (in file order) from a capture named `file`.
pub fn replay_datagrams(file: &str, datagrams: &[Datagram]) -> ReplayReport {
    let mut ptp: Vec<&Datagram> = datagrams
        .iter()
        .filter(|d| matches!(d.dst.port(), PTP_EVENT_PORT | PTP_GENERAL_PORT))
        .collect();
    let mut latest = i64::MIN;
    let mut out_of_order = 0;
    for d in &ptp {
        if d.ts_nanos < latest {
            out_of_order += 1;
        }
        latest = latest.max(d.ts_nanos);
    }
    ptp.sort_by_key(|d| d.ts_nanos);

    let mut report = ReplayReport {
        file: file.to_owned(),
        udp_datagrams: datagrams.len(),
        packets: ptp.len(),
        skipped: datagrams.len() - ptp.len(),
        out_of_order,
        duration_s: 0.0,
        pairs: 0,
        gm_uuid: None,
        leader_uuid: None,
        sync_interval_ms: None,
        rate_ppm: None,
        rate_sigma_ppm: None,
        jitter_us: None,
        window_samples: 0,
        modes: Vec::new(),
        mode_entered_s: Vec::new(),
        lock_after_s: None,
        applied_ppm: None,
        frequency_changes: 0,
        leader_changes: 0,
        timescale_jumps: 0,
        rate_changes: 0,
        outliers: 0,
        not_v1: 0,
        malformed: 0,
        other_subdomain: 0,
        not_leader: 0,
        unmatched_follow_up: 0,
        ignored_other: 0,
    };
    let (Some(first), Some(last)) = (ptp.first(), ptp.last()) else {
        return report;
    };
    let mut run = Run::new(first.ts_nanos);
    for d in &ptp {
        run.datagram(d);
    }
    run.finish(last.ts_nanos);
    run.fill(&mut report, last.ts_nanos);
    report
}

/// One replay in progress: the controller, the clock it believes it disciplines, and what
/// it said along the way.
struct Run {
    controller: Controller,
    clock: DisciplinedClock,
    start_ns: i64,
    timer: Option<LocalTime>,
    modes: Vec<(Mode, i64)>,
    frequency_changes: u64,
    leader_changes: u64,
    timescale_jumps: u64,
    rate_changes: u64,
}

impl Run {
    fn new(start_ns: i64) -> Self {
        let clock = DisciplinedClock::new(start_ns);
        let now = clock.read(start_ns);
        let cfg = ControllerConfig {
            ntp: None,
            ..ControllerConfig::default()
        };
        let controller = Controller::new(cfg, now, 0.0);
        let mut run = Self {
            modes: vec![(controller.mode(), start_ns)],
            controller,
            clock,
            start_ns,
            timer: None,
            frequency_changes: 0,
            leader_changes: 0,
            timescale_jumps: 0,
            rate_changes: 0,
        };
        let actions = run.controller.start(now);
        run.apply(actions, start_ns);
        // Setting the starting frequency is not a correction.
        run.frequency_changes = 0;
        run
    }

    fn datagram(&mut self, d: &Datagram) {
        self.ticks_due(d.ts_nanos);
        let rx = self.clock.read(d.ts_nanos);
        let actions = self.controller.handle_ptp(&d.payload, rx);
        self.apply(actions, d.ts_nanos);
    }

    /// Ticks the controller asked for that fall before capture time `ts_ns`. A tick may set
    /// the frequency, which moves the clock's reading of `ts_ns`, hence the re-reading.
    fn ticks_due(&mut self, ts_ns: i64) {
        while let Some(at) = self.timer.filter(|&at| at <= self.clock.read(ts_ns)) {
            self.timer = None;
            let at_ns = self.clock.capture_time_of(at).min(ts_ns);
            let actions = self.controller.tick(at);
            self.apply(actions, at_ns);
        }
    }

    /// The controller evaluates once more at the last datagram's time, so the final mode
    /// reflects the whole capture. It is not ticked beyond it: the capture's end is not a
    /// silence of the leader.
    fn finish(&mut self, last_ns: i64) {
        let now = self.clock.read(last_ns);
        let actions = self.controller.tick(now);
        self.apply(actions, last_ns);
    }

    fn apply(&mut self, actions: Vec<Action>, at_ns: i64) {
        for action in actions {
            // A step is not asked for while NTP is off; it is honoured anyway, so the books
            // stay right.
            match controller::execute(&mut self.clock.at(at_ns), action) {
                Executed::FrequencySet { .. } => self.frequency_changes += 1,
                // A replay sends nothing (its controller measures no path delay).
                Executed::Stepped { .. }
                | Executed::Task(Task::StartNtpCheck | Task::SendDelayReq { .. }) => {}
                Executed::FrequencyRefused { error, .. } | Executed::StepRefused { error, .. } => {
                    match error {}
                }
                Executed::Task(Task::SetTimer { at }) => self.timer = Some(at),
                Executed::Task(Task::Notice(notice)) => self.notice(notice, at_ns),
            }
        }
    }

    fn notice(&mut self, notice: Notice, at_ns: i64) {
        match notice {
            Notice::ModeChanged { to, .. } => self.modes.push((to, at_ns)),
            Notice::LeaderChanged {
                previous: Some(_), ..
            } => self.leader_changes += 1,
            Notice::TimescaleJump => self.timescale_jumps += 1,
            Notice::RateChange => self.rate_changes += 1,
            Notice::LeaderChanged { previous: None, .. }
            | Notice::NtpCorrection { .. }
            | Notice::NtpRefused { .. }
            | Notice::ExternalStep { .. }
            | Notice::DelayStep { .. }
            | Notice::FleetStep { .. }
            | Notice::LeaderFrequencyStep { .. } => {}
        }
    }

    fn seconds(&self, at_ns: i64) -> f64 {
        // Dividing keeps whole microseconds exact in the JSON (88 µs is 8.8e-5, not
        // 8.800000000000001e-5).
        (at_ns - self.start_ns) as f64 / 1e9
    }

    fn fill(&self, report: &mut ReplayReport, last_ns: i64) {
        let status = self.controller.status();
        report.duration_s = self.seconds(last_ns);
        report.pairs = status.ptp.samples;
        if let Some(leader) = status.leader {
            report.gm_uuid = Some(leader.id.grandmaster.to_string());
            report.leader_uuid = Some(leader.id.sender.to_string());
            report.sync_interval_ms = leader
                .sync_interval_log2
                .map(|log2| 2f64.powi(i32::from(log2)) * 1000.0);
        }
        report.rate_ppm = status.natural_rate_ppm;
        report.rate_sigma_ppm = status.drift_sigma_ppm;
        report.jitter_us = status.noise_us;
        report.window_samples = status.window_samples;
        report.modes = self.modes.iter().map(|(m, _)| m.name()).collect();
        report.mode_entered_s = self.modes.iter().map(|&(_, t)| self.seconds(t)).collect();
        report.lock_after_s = self
            .modes
            .iter()
            .find(|(m, _)| m.is_locked())
            .map(|&(_, t)| self.seconds(t));
        report.applied_ppm = Some(status.applied_ppm);
        report.frequency_changes = self.frequency_changes;
        report.leader_changes = self.leader_changes;
        report.timescale_jumps = self.timescale_jumps;
        report.rate_changes = self.rate_changes;
        report.outliers = status.estimator.outliers;
        report.not_v1 = status.ptp.not_v1;
        report.malformed = status.ptp.malformed;
        report.other_subdomain = status.ptp.other_subdomain;
        report.not_leader = status.ptp.not_leader;
        report.unmatched_follow_up = status.ptp.unmatched_follow_up;
        report.ignored_other = status.ptp.ignored_other;
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use dantesync_core::wire::ptpv1::{
        Control, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
    };

    use super::*;

    const LEADER: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x01, 0x02, 0x03]);
    const T0: i64 = 1_785_427_891_000_000_000;

    fn datagram(ts_nanos: i64, port: u16, message: &Message) -> Datagram {
        let src: SocketAddr = "192.168.1.20:319".parse().unwrap();
        Datagram {
            ts_nanos,
            src,
            dst: SocketAddr::new("224.0.1.129".parse().unwrap(), port),
            payload: message.to_bytes(),
        }
    }

    /// A two-step leader sending every 250 ms for `secs`, received by a host whose clock runs
    /// `host_ppm` against it, with a deterministic ±`jitter_ns` on the Sync arrivals.
    fn capture(host_ppm: f64, secs: i64, jitter_ns: i64) -> Vec<Datagram> {
        let mut out = Vec::new();
        let mut lcg: u64 = 0x2545_f491_4f6c_dd1d;
        for n in 0..secs * 4 {
            let t1 = 700_000_000_000 + n * 250_000_000;
            let elapsed = t1 - 700_000_000_000;
            lcg = lcg
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let noise = (lcg >> 33) as i64 % (2 * jitter_ns + 1) - jitter_ns;
            let rx = T0 + elapsed + (host_ppm * 1e-6 * elapsed as f64).round() as i64 + noise;
            let seq = n as u16;
            let mut header = Header::new(Control::Sync, LEADER, seq);
            header.flags = Flags::ASSIST;
            let mut body = SyncBody {
                origin_timestamp: Timestamp::from_nanos(i128::from(t1)),
                grandmaster_clock_uuid: LEADER,
                grandmaster_clock_identifier: *b"DFLT",
                grandmaster_clock_stratum: 4,
                ..SyncBody::default()
            };
            body.set_sync_interval(-2);
            out.push(datagram(rx, PTP_EVENT_PORT, &Message::Sync(header, body)));
            let mut header = Header::new(Control::FollowUp, LEADER, seq);
            header.flags = Flags::ASSIST;
            let body = FollowUpBody {
                associated_sequence_id: seq,
                precise_origin_timestamp: Timestamp::from_nanos(i128::from(t1)),
                ..FollowUpBody::default()
            };
            out.push(datagram(
                rx + 90_000,
                PTP_GENERAL_PORT,
                &Message::FollowUp(header, body),
            ));
        }
        out
    }

    /// The controller corrects the frequency as it goes; were the capture's timestamps fed
    /// undisciplined, its estimate would drift by what it applied. It must come out as the
    /// host's rate, and the frequency it settles on must cancel that rate.
    #[test]
    fn the_rate_is_the_capture_hosts_whatever_the_servo_applied() {
        for host_ppm in [-33.7, 0.0, 120.0] {
            let report = replay_datagrams("synthetic", &capture(host_ppm, 60, 5_000));
            let rate = report.rate_ppm.unwrap();
            assert!((rate - host_ppm).abs() < 0.05, "{host_ppm}: {rate}");
            let applied = report.applied_ppm.unwrap();
            assert!((applied + host_ppm).abs() < 0.5, "{host_ppm}: {applied}");
            assert!(report.frequency_changes >= 2, "{report:?}");
            assert_eq!(report.pairs, 240);
            assert_eq!(report.modes[..2], ["INIT", "ACQ"]);
            assert!(report.modes.contains(&"LOCK"), "{:?}", report.modes);
            assert_eq!(report.problem(), None);
        }
    }

    #[test]
    fn reports_the_leader_and_its_sync_period() {
        let report = replay_datagrams("synthetic", &capture(-10.0, 20, 0));
        assert_eq!(report.gm_uuid.as_deref(), Some("00:1d:c1:01:02:03"));
        assert_eq!(report.leader_uuid.as_deref(), Some("00:1d:c1:01:02:03"));
        assert_eq!(report.sync_interval_ms, Some(250.0));
        assert_eq!(report.packets, 160);
        assert_eq!(report.leader_changes, 0);
        assert!(
            (report.duration_s - 19.749_892_5).abs() < 1e-9,
            "{}",
            report.duration_s
        );
    }

    #[test]
    fn only_ports_319_and_320_are_replayed_in_timestamp_order() {
        let mut datagrams = capture(25.0, 10, 2_000);
        let mut other = datagrams[0].clone();
        other.dst.set_port(5353);
        datagrams.insert(3, other);
        datagrams.swap(10, 11);
        let report = replay_datagrams("synthetic", &datagrams);
        assert_eq!(report.udp_datagrams, 81);
        assert_eq!(report.skipped, 1);
        assert_eq!(report.packets, 80);
        assert_eq!(report.out_of_order, 1);
        assert_eq!(report.pairs, 40);
        assert_eq!(report.unmatched_follow_up, 0);
    }

    /// The silence timer the controller sets must fire inside a gap of the capture, at the
    /// time it asked for, not when the next packet finally arrives.
    #[test]
    fn a_silent_leader_is_noticed_at_the_timeout_inside_the_gap() {
        let datagrams: Vec<Datagram> = capture(-20.0, 60, 1_000)
            .into_iter()
            .filter(|d| {
                let s = (d.ts_nanos - T0) as f64 / 1e9;
                !(20.0..40.0).contains(&s)
            })
            .collect();
        let report = replay_datagrams("gap", &datagrams);
        let entered = |mode: &str| {
            report
                .modes
                .iter()
                .position(|&m| m == mode)
                .map(|i| report.mode_entered_s[i])
        };
        // The last Sync before the gap, sent at 20 s, arrives at 19.9996 s of a host running
        // at −20 ppm; the timeout is 10 s of the disciplined clock, which the servo has sped
        // up by ≈ 20 ppm, so 9.9998 s of capture time.
        let offline = entered("NTP-ONLY").expect("the silence is noticed");
        assert!((offline - 29.9994).abs() < 5e-6, "{offline}");
        // At one Sync a second the first fit's few samples pass PROD on the way to LOCK: a
        // small fit's repeated looks are held to the early-look boundary (docs/servo.md).
        // After the silence the old rate is only a prior: LOCK at once, NANO on new data.
        assert_eq!(
            report.modes,
            ["INIT", "ACQ", "PROD", "LOCK", "NANO", "NTP-ONLY", "LOCK", "NANO"]
        );
        assert!((report.rate_ppm.unwrap() - -20.0).abs() < 0.05);
    }

    #[test]
    fn an_empty_capture_names_the_missing_ports() {
        let report = replay_datagrams("empty", &[]);
        assert_eq!(report.packets, 0);
        assert!(report.modes.is_empty());
        assert_eq!(
            report.problem().as_deref(),
            Some("no datagrams to UDP port 319 or 320 (0 other UDP datagrams)")
        );
    }

    #[test]
    fn too_few_pairs_for_a_rate_is_a_problem() {
        let report = replay_datagrams("short", &capture(5.0, 1, 0));
        assert_eq!(report.pairs, 4);
        assert_eq!(report.rate_ppm, None);
        assert_eq!(
            report.problem().as_deref(),
            Some("4 Sync/Follow_Up pairs are too few for a rate estimate")
        );
    }
}
