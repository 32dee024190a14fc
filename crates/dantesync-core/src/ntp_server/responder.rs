//! From a request datagram to the reply, a Kiss-o'-Death, or silence.

use std::net::IpAddr;

use super::access::AccessList;
use super::rate_limit::{RateLimit, RateLimiter, Verdict};
use super::reply::{kiss_of_death, reply};
use super::state::ServerState;
use crate::time::{LocalTime, Moment};
use crate::wire::ntp::{classify, Mode, NtpHeader, PacketKind, ParseError, HEADER_LEN};

/// What to do with one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Send these 48 bytes back to the source. (An array, not a `Vec`: answering allocates
    /// nothing.)
    Reply([u8; HEADER_LEN]),
    /// Send this Kiss-o'-Death (48 bytes, stratum 0, `RATE`) back to the source.
    KissOfDeath([u8; HEADER_LEN]),
    /// Send nothing.
    Drop(DropReason),
}

/// Why a datagram got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The source is not in the allow list, or is in the deny list.
    NotAllowed,
    /// Empty, or shorter than the 48-byte header.
    TooShort,
    /// A version other than 3 or 4 (or not a version at all: garbage).
    UnsupportedVersion,
    /// Mode 6 (ntpq): never answered.
    ControlMessage,
    /// Mode 7 (ntpdc, monlist): never answered.
    PrivateMessage,
    /// A time packet that is not a client request (a server reply, broadcast, symmetric...).
    NotClientMode,
    /// A v4 request whose bytes after the header are neither extension fields nor a MAC.
    MalformedExtensions,
    /// Over the source's rate limit, with its KoD allowance spent.
    RateLimited,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::NotAllowed,
        DropReason::TooShort,
        DropReason::UnsupportedVersion,
        DropReason::ControlMessage,
        DropReason::PrivateMessage,
        DropReason::NotClientMode,
        DropReason::MalformedExtensions,
        DropReason::RateLimited,
    ];

    /// Its slot in the counters: its place in the declaration (and in [`Self::ALL`]).
    const fn index(self) -> usize {
        self as usize
    }
}

/// What the responder has seen since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub received: u64,
    /// Replies carrying the time.
    pub answered: u64,
    /// KoD RATE packets sent.
    pub kiss_of_death: u64,
    /// Requests over their source's limit: KoD'd or dropped.
    pub rate_limited: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// The responder's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponderConfig {
    pub access: AccessList,
    /// Per-source limits; `None` answers every request (for benchmarks only: one source can
    /// then make the server send as fast as it can receive).
    pub rate_limit: Option<RateLimit>,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            access: AccessList::default(),
            rate_limit: Some(RateLimit::default()),
        }
    }
}

/// Answers NTP client requests; holds the rate-limit table and the counters.
#[derive(Clone, Debug)]
pub struct Responder {
    access: AccessList,
    limiter: Option<RateLimiter>,
    counters: Counters,
}

impl Responder {
    pub fn new(cfg: ResponderConfig) -> Self {
        Responder {
            access: cfg.access,
            limiter: cfg.rate_limit.map(RateLimiter::new),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The response to `request` from `src`, received at `rx`, answered with the clock read
    /// at `tx` (as late as the host can; see [`patch_transmit`]). The rules are in the module
    /// documentation. The rate limit measures its intervals on `rx`'s monotonic axis when it
    /// has one, so a step of the clock neither refills nor empties a source's allowance.
    pub fn respond(
        &mut self,
        request: &[u8],
        src: IpAddr,
        rx: impl Into<Moment>,
        state: &ServerState,
        tx: LocalTime,
    ) -> Response {
        let rx = rx.into();
        self.counters.received += 1;
        let response = self.decide(request, src, rx, state, tx);
        match &response {
            Response::Reply(_) => self.counters.answered += 1,
            Response::KissOfDeath(_) => {
                self.counters.kiss_of_death += 1;
                self.counters.rate_limited += 1;
            }
            Response::Drop(reason) => {
                self.counters.dropped[reason.index()] += 1;
                if *reason == DropReason::RateLimited {
                    self.counters.rate_limited += 1;
                }
            }
        }
        response
    }

    fn decide(
        &mut self,
        request: &[u8],
        src: IpAddr,
        rx: Moment,
        state: &ServerState,
        tx: LocalTime,
    ) -> Response {
        if !self.access.allows(src) {
            return Response::Drop(DropReason::NotAllowed);
        }
        let request = match parse_request(request) {
            Ok(h) => h,
            Err(reason) => return Response::Drop(reason),
        };
        // The limiter only measures intervals: any axis does, the monotonic one best.
        let limit_at = LocalTime::from_nanos(rx.mono.map_or(rx.local.nanos(), |m| m.nanos()));
        let verdict = match &mut self.limiter {
            Some(limiter) => limiter.check(src, limit_at),
            None => Verdict::Answer,
        };
        match verdict {
            Verdict::Answer => Response::Reply(reply(&request, rx.local, state, tx)),
            Verdict::KissOfDeath => Response::KissOfDeath(kiss_of_death(&request, state)),
            Verdict::Drop => Response::Drop(DropReason::RateLimited),
        }
    }
}

/// The request's header if it is one this server answers: NTPv3/v4, mode 3, at least 48 bytes,
/// any bytes after the header well formed.
fn parse_request(datagram: &[u8]) -> Result<NtpHeader, DropReason> {
    // The header parser takes NTPv1 to v4 and sorts out empty, control and private packets
    // itself; this server answers only v3 and v4.
    if let Ok(PacketKind::Time { version, .. }) = classify(datagram) {
        if !(3..=4).contains(&version) {
            return Err(DropReason::UnsupportedVersion);
        }
    }
    let (header, _extensions) = NtpHeader::parse(datagram).map_err(|e| match e {
        ParseError::TooShort { .. } | ParseError::Empty => DropReason::TooShort,
        ParseError::ControlMessage => DropReason::ControlMessage,
        ParseError::PrivateMessage => DropReason::PrivateMessage,
        ParseError::UnsupportedVersion(_) => DropReason::UnsupportedVersion,
        ParseError::MalformedExtension { .. } => DropReason::MalformedExtensions,
    })?;
    if header.mode != Mode::Client {
        return Err(DropReason::NotClientMode);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp_server::patch_transmit;
    use crate::ntp_server::{Subnet, UpstreamInfo};
    use crate::wire::ntp::{Leap, NtpTimestamp, ReferenceId};
    use std::net::Ipv4Addr;

    const T1: i64 = 1_785_427_891_123_456_789;
    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 77, 8, 40));

    fn rx() -> LocalTime {
        LocalTime::from_nanos(T1 + 37_000_000)
    }
    fn tx() -> LocalTime {
        LocalTime::from_nanos(T1 + 37_000_050)
    }

    /// A client request as ntpdig sends it: v4, mode 3, poll 0... with our own values.
    fn request(version: u8, mode: u8) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        b[0] = (version << 3) | mode;
        b[2] = 6; // poll 64 s
        b[3] = 0xec; // precision −20
        b[40..48].copy_from_slice(&NtpTimestamp::from_unix_nanos(T1).to_bits().to_be_bytes());
        b
    }

    fn synced() -> ServerState {
        ServerState {
            synchronised: true,
            stratum: 3,
            reference_id: ReferenceId::from_ipv4(Ipv4Addr::new(10, 77, 8, 2)),
            reference_time: Some(LocalTime::from_nanos(1_785_427_800_000_000_000)),
            root_delay_s: 0.5,
            root_dispersion_s: 0.25,
            precision: -20,
            leap: Leap::NoWarning,
        }
    }

    fn responder() -> Responder {
        Responder::new(ResponderConfig::default())
    }

    fn answered(r: Response) -> Vec<u8> {
        match r {
            Response::Reply(b) => b.to_vec(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn a_v4_client_request_gets_an_exact_reply() {
        let mut r = responder();
        let req = request(4, 3);
        let bytes = answered(r.respond(&req, CLIENT, rx(), &synced(), tx()));
        let ts = |t: i64| NtpTimestamp::from_unix_nanos(t).to_bits().to_be_bytes();
        let mut expected = vec![
            0x24, // LI 0, VN 4, mode 4
            3,    // stratum
            6,    // poll copied
            0xec, // precision −20
            0x00, 0x00, 0x80, 0x00, // root delay 0.5 s
            0x00, 0x00, 0x40, 0x00, // root dispersion 0.25 s
            10, 77, 8, 2, // reference id
        ];
        expected.extend(ts(1_785_427_800_000_000_000));
        expected.extend(&req[40..48]); // origin = the request's transmit
        expected.extend(ts(T1 + 37_000_000));
        expected.extend(ts(T1 + 37_000_050));
        assert_eq!(bytes, expected);
        let (h, _) = NtpHeader::parse(&bytes).unwrap();
        assert_eq!(h.mode, Mode::Server);
        assert_eq!(h.receive_ts.to_unix_nanos(T1), T1 + 37_000_000);
        assert_eq!(h.transmit_ts.to_unix_nanos(T1), T1 + 37_000_050);
        assert_eq!(r.counters().received, 1);
        assert_eq!(r.counters().answered, 1);
    }

    #[test]
    fn a_v3_request_gets_a_v3_reply() {
        let mut r = responder();
        let bytes = answered(r.respond(&request(3, 3), CLIENT, rx(), &synced(), tx()));
        assert_eq!(bytes[0], 0x1c, "LI 0, VN 3, mode 4");
    }

    #[test]
    fn the_minimal_sntp_request_is_answered() {
        // Many SNTP clients send 0x1b and 47 zero bytes: origin 0 is echoed as 0.
        let mut req = vec![0u8; 48];
        req[0] = 0x1b;
        let mut r = responder();
        let bytes = answered(r.respond(&req, CLIENT, rx(), &synced(), tx()));
        assert_eq!(bytes[0], 0x1c);
        assert_eq!(&bytes[24..32], &[0; 8]);
    }

    #[test]
    fn unsynchronised_says_so() {
        let mut r = responder();
        let state = ServerState::unsynchronised(-20);
        let bytes = answered(r.respond(&request(4, 3), CLIENT, rx(), &state, tx()));
        assert_eq!(bytes[0], 0xe4, "LI 3, VN 4, mode 4");
        assert_eq!(bytes[1], 16);
        assert_eq!(&bytes[12..16], b"INIT");
        assert_eq!(&bytes[16..24], &[0; 8], "no reference time");
        assert_eq!(&bytes[8..12], &[0x00, 0x10, 0x00, 0x00], "16 s dispersion");
        // Even a state that claims a stratum is sent as 16 while not synchronised.
        let lying = ServerState {
            synchronised: false,
            ..synced()
        };
        let bytes = answered(r.respond(&request(4, 3), CLIENT, rx(), &lying, tx()));
        assert_eq!((bytes[0] >> 6, bytes[1]), (3, 16));
    }

    #[test]
    fn the_state_from_status_reaches_the_wire() {
        let status = crate::controller::Controller::new(Default::default(), rx(), 0.0).status();
        let upstream = UpstreamInfo {
            stratum: 1,
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            root_delay_s: 0.0,
            root_dispersion_s: 0.0,
            leap: crate::wire::ntp::Leap::NoWarning,
        };
        let cfg = crate::ntp_server::ServerConfig {
            local_stratum: Some(8),
            ..Default::default()
        };
        // Not synchronised to the upstream: the local reference.
        let state = ServerState::from_status(&status, Some(upstream), rx(), &cfg);
        let bytes = answered(responder().respond(&request(4, 3), CLIENT, rx(), &state, tx()));
        assert_eq!((bytes[0], bytes[1]), (0x24, 8));
        assert_eq!(&bytes[12..16], b"LOCL");
        assert_eq!(&bytes[16..24], &bytes[32..40], "reference time = now = rx");
    }

    #[test]
    fn only_client_requests_are_answered() {
        let mut r = responder();
        for (mode, reason) in [
            (0, DropReason::NotClientMode),
            (1, DropReason::NotClientMode),
            (2, DropReason::NotClientMode),
            (4, DropReason::NotClientMode),
            (5, DropReason::NotClientMode),
            (6, DropReason::ControlMessage),
            (7, DropReason::PrivateMessage),
        ] {
            assert_eq!(
                r.respond(&request(4, mode), CLIENT, rx(), &synced(), tx()),
                Response::Drop(reason),
                "mode {mode}"
            );
        }
        // A real ntpq readvar (mode 6, 12 bytes) and ntpdc monlist (mode 7, v2).
        let ntpq = [0x16, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            r.respond(&ntpq, CLIENT, rx(), &synced(), tx()),
            Response::Drop(DropReason::ControlMessage)
        );
        let mut monlist = vec![0u8; 192];
        monlist[..4].copy_from_slice(&[0x17, 0x00, 0x03, 0x2a]);
        assert_eq!(
            r.respond(&monlist, CLIENT, rx(), &synced(), tx()),
            Response::Drop(DropReason::PrivateMessage)
        );
        assert_eq!(r.counters().answered, 0);
        assert_eq!(r.counters().dropped(DropReason::ControlMessage), 2);
        assert_eq!(r.counters().dropped(DropReason::PrivateMessage), 2);
        assert_eq!(r.counters().dropped(DropReason::NotClientMode), 5);
        assert_eq!(r.counters().received, 9);
    }

    #[test]
    fn short_garbage_and_old_versions_are_dropped() {
        let mut r = responder();
        let req = request(4, 3);
        let cases: Vec<(Vec<u8>, DropReason)> = vec![
            (vec![], DropReason::TooShort),
            (req[..47].to_vec(), DropReason::TooShort),
            (req[..1].to_vec(), DropReason::TooShort),
            (request(2, 3), DropReason::UnsupportedVersion),
            (request(1, 3), DropReason::UnsupportedVersion),
            (request(0, 3), DropReason::UnsupportedVersion),
            (request(5, 3), DropReason::UnsupportedVersion),
            (vec![0xff; 48], DropReason::UnsupportedVersion),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
                DropReason::UnsupportedVersion,
            ),
            // v4 with 7 bytes after the header: neither an extension field nor a MAC.
            (
                [req.clone(), vec![0; 7]].concat(),
                DropReason::MalformedExtensions,
            ),
        ];
        for (bytes, reason) in cases {
            assert_eq!(
                r.respond(&bytes, CLIENT, rx(), &synced(), tx()),
                Response::Drop(reason),
                "{bytes:02x?}"
            );
        }
        assert_eq!(r.counters().answered, 0);
        assert_eq!(r.counters().dropped_total(), 10);
    }

    #[test]
    fn the_reply_is_never_longer_than_the_request() {
        let mut r = responder();
        // An extension field (type 0x0104, NTS unique identifier, 36 bytes) and a 20-byte MAC.
        let mut ext = vec![0x01, 0x04, 0x00, 0x24];
        ext.extend([0xab; 32]);
        let mac = vec![0x5a; 20];
        for tail in [vec![], ext, mac] {
            let req = [request(4, 3), tail].concat();
            let bytes = answered(r.respond(&req, CLIENT, rx(), &synced(), tx()));
            assert_eq!(bytes.len(), 48);
            assert!(bytes.len() <= req.len());
            assert_eq!(&bytes[24..32], &req[40..48]);
        }
    }

    #[test]
    fn allow_and_deny_lists() {
        let mut r = Responder::new(ResponderConfig {
            access: AccessList {
                allow: vec![Subnet::new(IpAddr::V4(Ipv4Addr::new(10, 77, 8, 0)), 24)],
                deny: vec![Subnet::new(IpAddr::V4(Ipv4Addr::new(10, 77, 8, 66)), 32)],
            },
            ..Default::default()
        });
        let req = request(4, 3);
        assert!(matches!(
            r.respond(&req, CLIENT, rx(), &synced(), tx()),
            Response::Reply(_)
        ));
        let outsider = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5));
        let denied = IpAddr::V4(Ipv4Addr::new(10, 77, 8, 66));
        for src in [outsider, denied] {
            assert_eq!(
                r.respond(&req, src, rx(), &synced(), tx()),
                Response::Drop(DropReason::NotAllowed)
            );
        }
        assert_eq!(r.counters().dropped(DropReason::NotAllowed), 2);
    }

    #[test]
    fn a_flood_gets_kod_rate_then_silence_and_others_are_still_answered() {
        let mut r = Responder::new(ResponderConfig {
            rate_limit: Some(RateLimit {
                burst: 4,
                interval_ns: 1_000_000_000,
                kod_burst: 2,
                ..RateLimit::default()
            }),
            ..Default::default()
        });
        let req = request(4, 3);
        let mut replies = 0;
        let mut kods = Vec::new();
        for _ in 0..100 {
            match r.respond(&req, CLIENT, rx(), &synced(), tx()) {
                Response::Reply(_) => replies += 1,
                Response::KissOfDeath(b) => kods.push(b),
                Response::Drop(d) => assert_eq!(d, DropReason::RateLimited),
            }
        }
        assert_eq!(replies, 4);
        assert_eq!(kods.len(), 2);
        let kod = &kods[0];
        assert_eq!(kod.len(), 48);
        assert_eq!(kod[0], 0xe4, "LI 3, VN 4, mode 4");
        assert_eq!(kod[1], 0, "stratum 0");
        assert_eq!(kod[2], 6, "poll copied");
        assert_eq!(&kod[12..16], b"RATE");
        assert_eq!(&kod[24..32], &req[40..48], "origin = request transmit");
        assert_eq!(&kod[32..48], &[0; 16], "no receive or transmit time");
        let (h, _) = NtpHeader::parse(kod).unwrap();
        assert_eq!(h.kiss_code(), Some(*b"RATE"));
        let c = r.counters();
        assert_eq!((c.received, c.answered, c.kiss_of_death), (100, 4, 2));
        assert_eq!(c.rate_limited, 96);
        assert_eq!(c.dropped(DropReason::RateLimited), 94);
        // Another client is answered meanwhile.
        let other = IpAddr::V4(Ipv4Addr::new(10, 77, 8, 41));
        assert!(matches!(
            r.respond(&req, other, rx(), &synced(), tx()),
            Response::Reply(_)
        ));
    }

    #[test]
    fn a_step_of_the_clock_does_not_refill_a_flooding_sources_allowance() {
        use crate::time::MonoTime;
        let limit = RateLimit {
            burst: 4,
            interval_ns: 1_000_000_000,
            kod_burst: 2,
            ..RateLimit::default()
        };
        let mut r = Responder::new(ResponderConfig {
            rate_limit: Some(limit),
            ..Default::default()
        });
        let req = request(4, 3);
        // 20 requests a second for 2 s; someone steps the clock 60 s forward after 1 s.
        let mut replies = 0;
        for i in 0..40i64 {
            let mono = i * 50_000_000;
            let step = if i >= 20 { 60_000_000_000 } else { 0 };
            let at = Moment::new(
                LocalTime::from_nanos(T1 + mono + step),
                MonoTime::from_nanos(mono),
            );
            if matches!(
                r.respond(&req, CLIENT, at, &synced(), tx()),
                Response::Reply(_)
            ) {
                replies += 1;
            }
        }
        // The burst, then one a second: the step bought the flood nothing.
        assert_eq!(replies, 5);
    }

    #[test]
    fn without_a_rate_limit_every_request_is_answered() {
        let mut r = Responder::new(ResponderConfig {
            rate_limit: None,
            ..Default::default()
        });
        for _ in 0..1000 {
            answered(r.respond(&request(4, 3), CLIENT, rx(), &synced(), tx()));
        }
        // Garbage is still dropped.
        assert!(matches!(
            r.respond(&request(4, 6), CLIENT, rx(), &synced(), tx()),
            Response::Drop(DropReason::ControlMessage)
        ));
        assert_eq!(r.counters().answered, 1000);
        assert_eq!(r.counters().rate_limited, 0);
    }

    #[test]
    fn garbage_does_not_spend_a_sources_budget() {
        let mut r = Responder::new(ResponderConfig {
            rate_limit: Some(RateLimit {
                burst: 1,
                ..RateLimit::default()
            }),
            ..Default::default()
        });
        for _ in 0..10 {
            r.respond(&request(4, 6), CLIENT, rx(), &synced(), tx());
        }
        assert!(matches!(
            r.respond(&request(4, 3), CLIENT, rx(), &synced(), tx()),
            Response::Reply(_)
        ));
    }

    #[test]
    fn patching_the_transmit_time() {
        let mut r = responder();
        let mut bytes = answered(r.respond(&request(4, 3), CLIENT, rx(), &synced(), tx()));
        let before = bytes.clone();
        let later = LocalTime::from_nanos(T1 + 37_500_000);
        assert!(patch_transmit(&mut bytes, later));
        assert_eq!(&bytes[..40], &before[..40]);
        assert_eq!(
            &bytes[40..48],
            &NtpTimestamp::from_unix_nanos(T1 + 37_500_000)
                .to_bits()
                .to_be_bytes()
        );
        assert!(!patch_transmit(&mut bytes[..47], later));
    }
}
