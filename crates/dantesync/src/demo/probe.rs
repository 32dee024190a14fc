//! What the demo learns from its nodes over UDP: their query API replies, the phase of each
//! node's clock against the master's, and whether the master serves NTP.
//!
//! # Phase between two nodes
//!
//! Each DSYR reply carries the node's clock (`system_time_ns`) and the host's monotonic
//! counter (`monotonic_counter`), read back to back as the reply is built. The demo's nodes
//! share one host, so `system_time − monotonic` of X minus the same of A is X − A at the
//! same instant, whatever the delays of the two queries: exact up to the few hundred ns
//! between the two readings inside each daemon. Only when a reply has no counter in the same
//! unit (zero, or a frequency other than 1 GHz) does the demo fall back to the round trip:
//! it takes each reply's clock reading as made at the midpoint of its query's round trip,
//! which is off by at most half the two round trips together.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dantesync_core::wire::ntp::{Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId};
use dantesync_core::wire::query::{QueryReply, QueryRequest};

/// How long a query or an NTP request waits for its answer.
const REPLY_TIMEOUT: Duration = Duration::from_millis(200);
/// Query pairs per phase estimate; the median is kept.
const PHASE_PAIRS: usize = 5;

/// A reply and when (on the demo's monotonic clock) its query went out and it came back.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    pub reply: QueryReply,
    pub sent: Instant,
    pub received: Instant,
}

/// Asks the query API on 127.0.0.1 through one socket of the demo's.
#[derive(Debug)]
pub struct Prober {
    socket: UdpSocket,
    next_id: u32,
}

impl Prober {
    pub fn new() -> Result<Prober, String> {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot open a UDP socket on 127.0.0.1: {e}"))?;
        socket
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| format!("cannot set a receive timeout: {e}"))?;
        Ok(Prober { socket, next_id: 1 })
    }

    /// One query to the node whose API is on `port`; `None` if it did not answer in time.
    pub fn query(&mut self, port: u16) -> Option<Timed> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let sent = Instant::now();
        self.socket
            .send_to(&QueryRequest::Compact { request_id: id }.to_bytes(), to)
            .ok()?;
        let deadline = sent + REPLY_TIMEOUT;
        let mut buf = [0u8; 256];
        loop {
            let (len, from) = self.socket.recv_from(&mut buf).ok()?;
            let received = Instant::now();
            // A late answer to an earlier query is skipped, not taken for this one.
            if from == to {
                if let Ok(reply) = QueryReply::parse(&buf[..len]) {
                    if reply.request_id == id {
                        return Some(Timed {
                            reply,
                            sent,
                            received,
                        });
                    }
                }
            }
            if received >= deadline {
                return None;
            }
        }
    }

    /// X − A in ns (X's clock minus A's at one instant), median of a few back-to-back query
    /// pairs; `None` if too few were answered.
    pub fn phase(&mut self, a_port: u16, x_port: u16) -> Option<f64> {
        let mut estimates: Vec<f64> = (0..PHASE_PAIRS)
            .filter_map(|_| {
                let a = self.query(a_port)?;
                let x = self.query(x_port)?;
                Some(phase_between(&a, &x))
            })
            .collect();
        if estimates.len() * 2 < PHASE_PAIRS {
            return None;
        }
        estimates.sort_by(f64::total_cmp);
        Some(estimates[estimates.len() / 2])
    }
}

/// X − A from one reply of each (see the module's documentation).
pub fn phase_between(a: &Timed, x: &Timed) -> f64 {
    let same_counter =
        |r: &QueryReply| r.monotonic_counter != 0 && r.monotonic_frequency_hz == 1_000_000_000;
    if same_counter(&a.reply) && same_counter(&x.reply) {
        let a_off = i128::from(a.reply.system_time_ns) - i128::from(a.reply.monotonic_counter);
        let x_off = i128::from(x.reply.system_time_ns) - i128::from(x.reply.monotonic_counter);
        return (x_off - a_off) as f64;
    }
    let mid = |t: &Timed| t.sent + (t.received - t.sent) / 2;
    // The demo's own clock between the two midpoints, ns (x's query follows a's).
    let between = mid(x).saturating_duration_since(mid(a)).as_nanos() as f64
        - mid(a).saturating_duration_since(mid(x)).as_nanos() as f64;
    (i128::from(x.reply.system_time_ns) - i128::from(a.reply.system_time_ns)) as f64 - between
}

/// What an NTP server said about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtpAnswer {
    pub stratum: u8,
    pub synchronised: bool,
    pub reference_id: ReferenceId,
}

impl NtpAnswer {
    /// "stratum 8, refid LOCL".
    pub fn describe(&self) -> String {
        let refid = match self.reference_id.as_ascii() {
            Some(text) => text.to_owned(),
            None => self.reference_id.to_ipv4().to_string(),
        };
        let sync = if self.synchronised {
            ""
        } else {
            ", not synchronised"
        };
        format!("stratum {}, refid {refid}{sync}", self.stratum)
    }
}

/// One NTP client request to 127.0.0.1:`port`; the server's answer, if it gave one.
pub fn ntp_probe(port: u16) -> Option<NtpAnswer> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(REPLY_TIMEOUT)).ok()?;
    socket.connect(("127.0.0.1", port)).ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let transmit = NtpTimestamp::from_unix_nanos(now);
    let request = NtpHeader::client_request(transmit);
    socket.send(&request.to_bytes()).ok()?;
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf).ok()?;
    let (reply, _) = NtpHeader::parse(&buf[..len]).ok()?;
    (reply.mode == Mode::Server && reply.origin_ts == transmit).then_some(NtpAnswer {
        stratum: reply.stratum,
        synchronised: reply.leap != Leap::Unsynchronized && (1..=15).contains(&reply.stratum),
        reference_id: reply.reference_id,
    })
}

#[cfg(test)]
mod tests {
    use dantesync_core::wire::query::{AccumulatedPhase, ReplyFlags};
    use dantesync_core::Mode as SyncMode;

    use super::*;

    fn reply(system_time_ns: u64, monotonic_counter: u64) -> QueryReply {
        QueryReply {
            request_id: 1,
            system_time_ns,
            monotonic_counter,
            ptp_offset_ns: 0,
            drift_rate_ppb: 0,
            frequency_adjustment_ppb: 0,
            mode: SyncMode::Lock,
            is_locked: true,
            grandmaster_uuid: [0; 6],
            monotonic_frequency_hz: 1_000_000_000,
            last_ntp_offset_us: 0,
            accumulated_phase: AccumulatedPhase::ZERO,
            flags: ReplyFlags::new(false, true),
        }
    }

    fn timed(r: QueryReply, sent: Instant, rtt_us: u64) -> Timed {
        Timed {
            reply: r,
            sent,
            received: sent + Duration::from_micros(rtt_us),
        }
    }

    #[test]
    fn the_shared_counter_gives_the_phase_whatever_the_delays() {
        let t0 = Instant::now();
        // A read at counter 5_000_000 with its clock at 1e18; X read 300 µs later on the
        // counter with its clock 6 ms + 300 µs further: X is 6 ms ahead of A.
        let a = timed(reply(1_000_000_000_000_000_000, 5_000_000), t0, 900);
        let x = timed(
            reply(1_000_000_000_006_300_000, 5_300_000),
            t0 + Duration::from_micros(900),
            5_000,
        );
        assert_eq!(phase_between(&a, &x), 6_000_000.0);
        assert_eq!(phase_between(&x, &a), -6_000_000.0);
    }

    #[test]
    fn without_a_counter_the_round_trip_midpoints_are_used() {
        let t0 = Instant::now();
        let mut ra = reply(1_000_000_000_000_000_000, 0);
        ra.monotonic_counter = 0;
        let rx = reply(1_000_000_000_009_000_000, 0);
        // Midpoints 100 µs and 1100 µs after t0: 1 ms apart on the demo's clock.
        let a = timed(ra, t0, 200);
        let x = timed(rx, t0 + Duration::from_micros(1_000), 200);
        assert_eq!(phase_between(&a, &x), 8_000_000.0);
    }

    #[test]
    fn an_ntp_answer_says_what_it_is() {
        let answer = NtpAnswer {
            stratum: 8,
            synchronised: true,
            reference_id: ReferenceId::from_bytes(*b"LOCL"),
        };
        assert_eq!(answer.describe(), "stratum 8, refid LOCL");
        let unsync = NtpAnswer {
            stratum: 16,
            synchronised: false,
            reference_id: ReferenceId::from_bytes([127, 0, 0, 1]),
        };
        assert_eq!(
            unsync.describe(),
            "stratum 16, refid 127.0.0.1, not synchronised"
        );
    }

    #[test]
    fn a_port_where_nobody_serves_gives_no_answer() {
        let port = crate::demo::nodes::free_ports(1).unwrap()[0];
        assert_eq!(ntp_probe(port), None);
    }
}
