//! Path delay to the leader: PTPv1 end-to-end Delay_Req/Delay_Resp, as PTPv1 slaves do.
//!
//! Every few seconds (randomised, so that a room of nodes does not answer the same Sync in
//! step, and never more than once a second) the node sends a Delay_Req and notes when it left
//! (T3, ideally the kernel's transmit timestamp). The leader answers with a Delay_Resp that
//! carries when the request arrived on its timescale (T4) and names the requester's UUID, port
//! and sequence id; only an answer naming ours, from the leader we follow, within a bounded
//! wait, is used. With the Sync offset T2 − T1 = d + o and T4 − T3 = d − o (o: local minus
//! leader time, d: one-way delay, assumed the same both ways), the mean path delay is
//! d = ((T2 − T1) + (T4 − T3)) / 2.
//!
//! The two halves come from different moments, and neither clock stands still against the
//! other: the leader's timescale is its uptime and the local clock is slewed by the servo. So
//! T2 − T1 is read at T3 from a line through the Syncs around it ([`sync_line`]): the leader's
//! rate over those few seconds. What that cannot see is a frequency change within them (an NTP
//! slew starting between T3 and the nearest Syncs): a rate change of Δ ppm at a distance of t
//! seconds adds Δ·t µs, i.e. 0.25 µs for a 1 ppm change 250 ms away; the filter's outlier gate
//! ([`filter`]) absorbs the rare request that straddles one.
//!
//! All times here are on the controller's step-free local axis, so a step of the clock never
//! shows as delay. A new leader means a new timescale and maybe a new path: the measurement
//! restarts. A leader that answers none of [`UNANSWERED_AFTER`] requests in a row leaves the
//! node uncompensated ([`PathDelayState::Unanswered`]), which the status says.

pub mod filter;
pub mod sync_line;

use crate::source::LeaderId;
use crate::time::secs_to_nanos;
use crate::wire::ptpv1::{
    Control, DelayRespBody, Header, Message, Subdomain, SyncBody, Timestamp, Uuid,
    COMMUNICATION_TECHNOLOGY_ETHERNET,
};
use filter::{DelayFilter, Filtered};
use sync_line::SyncLine;

/// The port id this node sends from (it has one PTP port).
pub const OUR_PORT_ID: u16 = 1;
/// Requests are never closer together than this (ns).
pub const MIN_INTERVAL_NS: i64 = 1_000_000_000;
/// How long an answer is waited for (ns): a Dante leader answers within milliseconds.
pub const RESPONSE_TIMEOUT_NS: i64 = 1_000_000_000;
/// This many unanswered requests in a row (with none answered since) make the leader
/// "unanswered".
pub const UNANSWERED_AFTER: u32 = 3;

#[derive(Clone, Debug, PartialEq)]
pub struct PathDelayConfig {
    /// Mean seconds between requests; 0 turns path-delay measurement off.
    pub interval_s: f64,
    /// Our PTP identity (the interface's MAC address).
    pub identity: Uuid,
    /// Seeds the randomised spacing of requests (any value; the daemon uses its start time).
    pub seed: u64,
}

impl Default for PathDelayConfig {
    fn default() -> Self {
        Self {
            interval_s: 4.0,
            identity: Uuid([0x02, 0, 0, 0, 0, 0x01]),
            seed: 1,
        }
    }
}

/// What the status surfaces show as `path_delay_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PathDelayState {
    /// Measurement turned off in the configuration.
    #[default]
    Off,
    /// Requests are going out; not enough answers yet (or no leader yet).
    Measuring,
    /// A filtered path delay is known.
    Ok,
    /// The leader answered none of the last requests: no compensation.
    Unanswered,
}

impl PathDelayState {
    pub const ALL: [PathDelayState; 4] = [
        PathDelayState::Off,
        PathDelayState::Measuring,
        PathDelayState::Ok,
        PathDelayState::Unanswered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PathDelayState::Off => "off",
            PathDelayState::Measuring => "measuring",
            PathDelayState::Ok => "ok",
            PathDelayState::Unanswered => "unanswered",
        }
    }
}

/// Counters and the estimate, for the status surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PathDelayStatus {
    pub state: PathDelayState,
    /// The filtered mean path delay (ns), when `state` is `Ok`.
    pub delay_ns: Option<i64>,
    pub requests_sent: u64,
    pub responses_matched: u64,
    /// Requests no answer came for within the wait.
    pub timeouts: u64,
    /// Delay_Resps naming our identity that matched no request in flight (late or repeated).
    pub responses_unmatched: u64,
    /// Measurements the filter set aside.
    pub outliers: u64,
    /// Requests whose send time came from user space rather than the kernel.
    pub user_space_stamps: u64,
}

/// A Delay_Req for the host to send now, to the leader's event port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayRequest {
    pub sequence_id: u16,
    pub bytes: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    sequence_id: u16,
    deadline_sf: i64,
    /// T3 and the clock's own contributions then, once the host reported it.
    t3_sf: Option<(i64, i64)>,
    /// T4, once the answer came.
    t4_ns: Option<i128>,
}

#[derive(Clone, Debug)]
pub struct PathDelay {
    cfg: PathDelayConfig,
    subdomain: Subdomain,
    rng: u64,
    leader: Option<LeaderId>,
    next_send_sf: Option<i64>,
    next_sequence_id: u16,
    in_flight: Option<InFlight>,
    syncs: SyncLine,
    filter: DelayFilter,
    unanswered_in_row: u32,
    status: PathDelayStatus,
}

impl PathDelay {
    /// Measurement on `subdomain` (the one the PTP source listens to).
    pub fn new(cfg: PathDelayConfig, subdomain: Subdomain) -> Self {
        let state = if cfg.interval_s > 0.0 {
            PathDelayState::Measuring
        } else {
            PathDelayState::Off
        };
        Self {
            // xorshift must not start at zero.
            rng: cfg.seed | 1,
            subdomain,
            cfg,
            leader: None,
            next_send_sf: None,
            next_sequence_id: 0,
            in_flight: None,
            syncs: SyncLine::default(),
            filter: DelayFilter::default(),
            unanswered_in_row: 0,
            status: PathDelayStatus {
                state,
                ..PathDelayStatus::default()
            },
        }
    }

    fn enabled(&self) -> bool {
        self.cfg.interval_s > 0.0
    }

    pub fn status(&self) -> PathDelayStatus {
        self.status
    }

    /// The filtered path delay to use as compensation, if there is one.
    pub fn delay_ns(&self) -> Option<i64> {
        self.status.delay_ns
    }

    /// A Sync of the current leader: T1 on its timescale, T2 on the step-free axis, and what
    /// the clock's own frequency added up to T2 ([`sync_line`]).
    pub fn sync(&mut self, t2_sf: i64, t1_ns: i128, own_ns: i64) {
        self.syncs.push(t2_sf, t1_ns, own_ns);
    }

    /// A new leader: a new timescale, maybe a new path. The first request goes out soon.
    pub fn leader_changed(&mut self, leader: LeaderId, sf: i64) {
        self.leader = Some(leader);
        self.syncs.clear();
        self.filter.clear();
        self.in_flight = None;
        self.unanswered_in_row = 0;
        self.status.delay_ns = None;
        if self.enabled() {
            self.status.state = PathDelayState::Measuring;
            // One Sync interval or two first, so the request can be placed on the new line.
            self.next_send_sf = Some(sf.saturating_add(MIN_INTERVAL_NS));
        }
    }

    /// When [`PathDelay::poll`] next has something to do (a request due or a wait ending).
    pub fn next_deadline(&self) -> Option<i64> {
        if !self.enabled() || self.leader.is_none() {
            return None;
        }
        match self.in_flight {
            Some(f) => Some(f.deadline_sf),
            None => self.next_send_sf,
        }
    }

    /// Ends an expired wait and builds the next request when it is due.
    pub fn poll(&mut self, sf: i64) -> Option<DelayRequest> {
        if !self.enabled() {
            return None;
        }
        let leader = self.leader?;
        if let Some(f) = self.in_flight {
            if sf < f.deadline_sf {
                return None;
            }
            self.in_flight = None;
            self.status.timeouts += 1;
            self.came_to_nothing();
        }
        if self.next_send_sf.is_some_and(|t| sf < t) {
            return None;
        }
        let sequence_id = self.next_sequence_id;
        self.next_sequence_id = sequence_id.wrapping_add(1);
        let gap = self.next_gap_ns();
        self.next_send_sf = Some(sf.saturating_add(gap));
        self.in_flight = Some(InFlight {
            sequence_id,
            deadline_sf: sf.saturating_add(RESPONSE_TIMEOUT_NS),
            t3_sf: None,
            t4_ns: None,
        });
        self.status.requests_sent += 1;
        let message = self.request(leader, sequence_id, sf);
        Some(DelayRequest {
            sequence_id,
            bytes: message.to_bytes(),
        })
    }

    /// The host sent request `sequence_id` at `t3_sf`, when the clock's own frequency had added
    /// `own_ns` ([`sync_line`]); `kernel` says whether the stamp came from the kernel (or the
    /// NIC) rather than from reading the clock around the send.
    pub fn sent(&mut self, sequence_id: u16, t3_sf: i64, own_ns: i64, kernel: bool) {
        if !kernel {
            self.status.user_space_stamps += 1;
        }
        if let Some(f) = self.in_flight.as_mut() {
            if f.sequence_id == sequence_id {
                f.t3_sf = Some((t3_sf, own_ns));
                self.complete();
            }
        }
    }

    /// The host could not send request `sequence_id`: nothing is waited for. It counts as
    /// unanswered (no compensation will come from it): a node that can send none (no route
    /// for the group) is then [`PathDelayState::Unanswered`] like one whose leader is silent,
    /// instead of measuring for ever, which fleet mode would wait on.
    pub fn not_sent(&mut self, sequence_id: u16) {
        if self.in_flight.is_some_and(|f| f.sequence_id == sequence_id) {
            self.in_flight = None;
            self.status.requests_sent = self.status.requests_sent.saturating_sub(1);
            self.came_to_nothing();
        }
    }

    /// A request got no answer (timed out, or could not be sent): after
    /// [`UNANSWERED_AFTER`] in a row the leader is unanswered and there is no compensation.
    fn came_to_nothing(&mut self) {
        self.unanswered_in_row = self.unanswered_in_row.saturating_add(1);
        if self.unanswered_in_row >= UNANSWERED_AFTER {
            self.status.state = PathDelayState::Unanswered;
            self.status.delay_ns = None;
        }
    }

    /// A Delay_Resp from anyone: used only if it is the leader's answer to our request in
    /// flight. Returns whether it was.
    pub fn delay_resp(&mut self, header: &Header, body: &DelayRespBody) -> bool {
        if body.requesting_source_uuid != self.cfg.identity
            || body.requesting_source_port_id != OUR_PORT_ID
        {
            // Another node's answer: Delay_Resp goes to the whole group.
            return false;
        }
        let from_leader = self.leader.is_some_and(|l| {
            header.source_uuid == l.sender && header.source_port_id == l.sender_port
        });
        let Some(f) = self.in_flight.as_mut().filter(|f| {
            from_leader && f.sequence_id == body.requesting_source_sequence_id && f.t4_ns.is_none()
        }) else {
            self.status.responses_unmatched += 1;
            return false;
        };
        f.t4_ns = Some(body.delay_receipt_timestamp.to_nanos());
        self.status.responses_matched += 1;
        self.unanswered_in_row = 0;
        if self.status.state == PathDelayState::Unanswered {
            self.status.state = PathDelayState::Measuring;
        }
        self.complete();
        true
    }

    /// With T3 and T4 both in, one measurement goes to the filter.
    fn complete(&mut self) {
        let Some(InFlight {
            t3_sf: Some((t3, own3)),
            t4_ns: Some(t4),
            ..
        }) = self.in_flight
        else {
            return;
        };
        self.in_flight = None;
        let Some(sync_offset) = self.syncs.offset_at(t3, own3) else {
            return;
        };
        let sum = sync_offset + (t4 - i128::from(t3));
        let Ok(delay) = i64::try_from(sum.div_euclid(2)) else {
            return;
        };
        match self.filter.push(delay) {
            Filtered::Kept | Filtered::Restarted => {}
            Filtered::Outlier => self.status.outliers += 1,
        }
        self.status.delay_ns = self.filter.estimate();
        self.status.state = if self.status.delay_ns.is_some() {
            PathDelayState::Ok
        } else {
            PathDelayState::Measuring
        };
    }

    /// Uniform in [interval/2, 3·interval/2], never under [`MIN_INTERVAL_NS`].
    fn next_gap_ns(&mut self) -> i64 {
        // xorshift64: enough to keep nodes apart, no dependency.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        let mean = secs_to_nanos(self.cfg.interval_s) as f64;
        ((mean * (0.5 + unit)) as i64).max(MIN_INTERVAL_NS)
    }

    /// A Delay_Req as a PTPv1 slave of this leader writes it: our identity and sequence id in
    /// the header, the leader as grandmaster and parent, and (approximately, as the standard
    /// allows) the send time on the leader's timescale.
    fn request(&self, leader: LeaderId, sequence_id: u16, sf: i64) -> Message {
        let mut header = Header::new(Control::DelayReq, self.cfg.identity, sequence_id);
        header.source_port_id = OUR_PORT_ID;
        header.subdomain = self.subdomain;
        let origin = self
            .syncs
            .leader_time_at(sf)
            .map_or(Timestamp::default(), Timestamp::from_nanos);
        let body = SyncBody {
            origin_timestamp: origin,
            grandmaster_communication_technology: COMMUNICATION_TECHNOLOGY_ETHERNET,
            grandmaster_clock_uuid: leader.grandmaster,
            grandmaster_clock_stratum: 255,
            parent_communication_technology: COMMUNICATION_TECHNOLOGY_ETHERNET,
            parent_uuid: leader.sender,
            parent_port_field: leader.sender_port,
            local_steps_removed: 1,
            local_clock_stratum: 255,
            local_clock_identifier: *b"DFLT",
            ..SyncBody::default()
        };
        Message::DelayReq(header, body)
    }
}

#[cfg(test)]
mod tests;
