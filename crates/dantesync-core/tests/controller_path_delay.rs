//! Path delay through the controller the engine drives: the controller asks for Delay_Reqs
//! at the configured rate while a leader is followed, pairs the leader's Delay_Resps, and its
//! status shows the true path delay while the servo is slewing the clock; with measurement off
//! (the default) it never asks. In fleet mode the start-up step waits for the path delay, so
//! that it does not leave the node one path delay off the fleet's time.

use dantesync_core::fleet::{FleetTimescale, SyncMode};
use dantesync_core::path_delay::{PathDelayConfig, PathDelayState};
use dantesync_core::wire::ptpv1::{
    Control, DelayRespBody, Flags, FollowUpBody, Header, Message, SyncBody, Timestamp, Uuid,
};
use dantesync_core::{Action, Controller, ControllerConfig, LocalTime};

const S: i64 = 1_000_000_000;
const STEP: i64 = 10_000_000;
const LEADER: Uuid = Uuid([0x00, 0x1d, 0xc1, 0x10, 0x20, 0x30]);
const ME: Uuid = Uuid([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);

fn sync_pair(seq: u16, t1_ns: i128) -> [Vec<u8>; 2] {
    let mut header = Header::new(Control::Sync, LEADER, seq);
    header.flags = Flags::ASSIST;
    let mut body = SyncBody {
        origin_timestamp: Timestamp::from_nanos(t1_ns),
        grandmaster_clock_uuid: LEADER,
        grandmaster_clock_identifier: *b"DFLT",
        grandmaster_clock_stratum: 4,
        ..SyncBody::default()
    };
    body.set_sync_interval(-2);
    let sync = Message::Sync(header, body).to_bytes();
    let mut header = Header::new(Control::FollowUp, LEADER, seq);
    header.flags = Flags::ASSIST;
    let body = FollowUpBody {
        associated_sequence_id: seq,
        precise_origin_timestamp: Timestamp::from_nanos(t1_ns),
        ..FollowUpBody::default()
    };
    [sync, Message::FollowUp(header, body).to_bytes()]
}

/// A node `natural_ppm` fast against a leader (uptime 700 s at true time 0), `delay_ns` away
/// each way; the leader answers Delay_Reqs when `answers`.
struct Net {
    c: Controller,
    natural_ppm: f64,
    applied_ppm: f64,
    phase_ns: f64,
    true_ns: i64,
    delay_ns: i64,
    answers: bool,
    seq: u16,
    resp_seq: u16,
    timer: Option<LocalTime>,
    /// Datagrams on their way to the node: arrival (true ns) and bytes.
    to_node: Vec<(i64, Vec<u8>)>,
    requests: Vec<i64>,
    /// Steps the controller asked for (only fleet mode may: no NTP here).
    steps: Vec<i64>,
}

impl Net {
    fn new(path_delay: Option<PathDelayConfig>, delay_ns: i64, answers: bool) -> Self {
        Self::with(path_delay, delay_ns, answers, SyncMode::Classic)
    }

    fn with(
        path_delay: Option<PathDelayConfig>,
        delay_ns: i64,
        answers: bool,
        sync_mode: SyncMode,
    ) -> Self {
        let cfg = ControllerConfig {
            ntp: None,
            path_delay,
            sync_mode,
            ..ControllerConfig::default()
        };
        let start = LocalTime::from_nanos(1_785_000_000 * S);
        let mut c = Controller::new(cfg, start, 0.0);
        let actions = c.start(start);
        let mut net = Self {
            c,
            natural_ppm: 40.0,
            applied_ppm: 0.0,
            phase_ns: 0.0,
            true_ns: 0,
            delay_ns,
            answers,
            seq: 0,
            resp_seq: 0,
            timer: None,
            to_node: Vec::new(),
            requests: Vec::new(),
            steps: Vec::new(),
        };
        net.carry_out(actions);
        net
    }

    fn local(&self, true_ns: i64) -> LocalTime {
        LocalTime::from_nanos(1_785_000_000 * S + true_ns + self.phase_ns.round() as i64)
    }

    fn leader(true_ns: i64) -> i128 {
        700 * i128::from(S) + i128::from(true_ns)
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SetFrequency { ppm } => self.applied_ppm = ppm,
                Action::SetTimer { at } => self.timer = Some(at),
                Action::SendDelayReq { sequence_id, bytes } => {
                    self.requests.push(self.true_ns);
                    let tx = self.local(self.true_ns);
                    let more = self.c.delay_req_sent(sequence_id, tx, true);
                    let Ok(Message::DelayReq(request, _)) = Message::parse(&bytes) else {
                        panic!("the controller asked to send something else");
                    };
                    assert_eq!(request.sequence_id, sequence_id);
                    if self.answers {
                        let t4 = Self::leader(self.true_ns + self.delay_ns);
                        let mut header = Header::new(Control::DelayResp, LEADER, self.resp_seq);
                        header.flags = Flags::ASSIST;
                        self.resp_seq = self.resp_seq.wrapping_add(1);
                        let body = DelayRespBody {
                            delay_receipt_timestamp: Timestamp::from_nanos(t4),
                            requesting_source_communication_technology: 1,
                            requesting_source_uuid: request.source_uuid,
                            requesting_source_port_id: request.source_port_id,
                            requesting_source_sequence_id: request.sequence_id,
                            ..DelayRespBody::default()
                        };
                        let resp = Message::DelayResp(header, body).to_bytes();
                        self.to_node.push((self.true_ns + 2 * self.delay_ns, resp));
                    }
                    self.carry_out(more);
                }
                Action::Step { nanos } => {
                    assert_eq!(self.c.status().sync_mode, SyncMode::Fleet, "no NTP here");
                    self.steps.push(nanos);
                    self.phase_ns += nanos as f64;
                }
                Action::StartNtpCheck | Action::Notice(_) => {}
            }
        }
    }

    fn run(&mut self, secs: i64) {
        let end = self.true_ns + secs * S;
        while self.true_ns < end {
            self.phase_ns += (self.natural_ppm + self.applied_ppm) * 1e-6 * STEP as f64;
            self.true_ns += STEP;
            if self.true_ns % (S / 4) == 0 {
                self.seq = self.seq.wrapping_add(1);
                for bytes in sync_pair(self.seq, Self::leader(self.true_ns)) {
                    self.to_node.push((self.true_ns + self.delay_ns, bytes));
                }
            }
            let now = self.true_ns + STEP;
            let (due, later): (Vec<_>, Vec<_>) =
                self.to_node.drain(..).partition(|(at, _)| *at < now);
            self.to_node = later;
            for (at, bytes) in due {
                let rx = self.local(at);
                let actions = self.c.handle_ptp(&bytes, rx);
                self.carry_out(actions);
            }
            if self.timer.is_some_and(|t| t <= self.local(self.true_ns)) {
                self.timer = None;
                let actions = self.c.tick(self.local(self.true_ns));
                self.carry_out(actions);
            }
        }
    }
}

fn every(secs: f64) -> Option<PathDelayConfig> {
    Some(PathDelayConfig {
        interval_s: secs,
        identity: ME,
        seed: 3,
    })
}

#[test]
fn the_status_shows_the_true_path_delay_while_the_servo_slews() {
    let mut net = Net::new(every(2.0), 250_000, true);
    net.run(60);
    let pd = net.c.status().path_delay;
    assert_eq!(pd.state, PathDelayState::Ok);
    let delay = pd.delay_ns.unwrap();
    // 250 µs; the 10 ms model of the phase and the 1 ns rounding leave well under 1 µs.
    assert!((delay - 250_000).abs() < 1_000, "{delay}");
    // A request every 2 s on average from 1 s after the leader was chosen: ~30 in 60 s.
    assert!(
        (22..=38).contains(&pd.requests_sent),
        "{}",
        pd.requests_sent
    );
    assert_eq!(pd.responses_matched, pd.requests_sent);
    assert_eq!(pd.timeouts, 0);
    assert_eq!(pd.user_space_stamps, 0);
    // The servo did act meanwhile: the clock no longer runs 40 ppm fast.
    assert!((net.applied_ppm + 40.0).abs() < 2.0, "{}", net.applied_ppm);
    let gaps: Vec<i64> = net.requests.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| g >= S - STEP), "{gaps:?}");
}

#[test]
fn a_silent_leader_shows_unanswered_and_no_delay() {
    let mut net = Net::new(every(1.0), 250_000, false);
    net.run(20);
    let pd = net.c.status().path_delay;
    assert_eq!(pd.state, PathDelayState::Unanswered);
    assert_eq!(pd.delay_ns, None);
    assert_eq!(pd.responses_matched, 0);
    assert!(pd.timeouts >= 10, "{}", pd.timeouts);
}

#[test]
fn off_by_default_nothing_is_sent() {
    let mut net = Net::new(None, 250_000, true);
    net.run(30);
    assert!(net.requests.is_empty());
    assert_eq!(net.c.status().path_delay.state, PathDelayState::Off);
}

#[test]
fn a_fleet_node_takes_its_start_up_step_with_the_path_delay_in_it() {
    // 3 ms each way, as behind a few switches and the bed's link emulator; the node starts
    // 40 ms ahead of the fleet's time. A step taken before the first Delay_Resp would use 0
    // for the path delay and leave the node 3 ms early, to be slewed away for minutes.
    let mut net = Net::with(every(4.0), 3_000_000, true, SyncMode::Fleet);
    net.phase_ns = 40_000_000.0;
    net.run(1);
    let leader = net.c.status().leader.expect("a leader").id;
    // The node's local time is 1_785_000_000 s + true time + phase; the leader's is 700 s + true
    // time: with this D the fleet's time is the node's clock without its phase.
    let ts = FleetTimescale {
        leader,
        epoch: 1,
        d_ns: 1_785_000_000 * S - 700 * S,
        at_leader_ns: 700 * S + net.true_ns,
        rate_ppb: 0,
        pending: None,
    };
    let now = net.local(net.true_ns);
    let actions = net.c.set_fleet_timescale(ts, now);
    net.carry_out(actions);
    net.run(20);
    assert_eq!(net.steps.len(), 1, "one start-up step: {:?}", net.steps);
    let s = net.c.status();
    assert_eq!(s.path_delay.state, PathDelayState::Ok);
    assert!(s.fleet.path_delay_used);
    // Left after the step: the 40 ms the step removed, up to the first measurements' error and
    // what the slewing rate servo added meanwhile, not the 3 ms of path.
    assert!(net.phase_ns.abs() < 200_000.0, "{} ns", net.phase_ns);
}
