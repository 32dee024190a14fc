//! What the server says about its own clock: the header fields that do not depend on the
//! request.

use std::net::IpAddr;

use crate::controller::Status;
use crate::time::LocalTime;
use crate::wire::ntp::{Leap, ReferenceId};

/// RFC 5905's PHI: the frequency tolerance a server assumes of its clock since it was last
/// set, 15 ppm. It makes the advertised root dispersion grow with the time since the last
/// correction, so clients see an ageing reference as less exact. (A PTP-disciplined clock is
/// far better than this between corrections; the standard bound is kept because clients
/// interpret the field with it.)
pub const PHI_PPM: f64 = 15.0;

/// Stratum announced by an unsynchronised server.
const UNSYNCHRONISED_STRATUM: u8 = 16;
/// Root dispersion announced while unsynchronised: RFC 5905's MAXDISP, 16 s.
const MAXDISP_S: f64 = 16.0;

/// The upstream server this node's NTP client last got a good sample from, as its reply said.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstreamInfo {
    pub stratum: u8,
    pub addr: IpAddr,
    /// The upstream's own root delay and dispersion (from its reply header), s.
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    /// The leap second the upstream servers' majority announces (see
    /// [`crate::ntp_client::client::majority_leap`]).
    pub leap: Leap,
}

/// The civil UTC date (year, month 1–12, day 1–31) of a time on the Unix timescale
/// (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
pub fn utc_date(now: LocalTime) -> (i64, u32, u32) {
    let days = now.nanos().div_euclid(86_400_000_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The leap indicator to pass on at `now`: a leap second is only ever inserted or deleted at
/// the end of June or December (IERS Bulletin C), so an announcement is passed on during
/// those months only. After midnight it ends by itself, even before the upstream's next
/// answer clears it: a stale LI would announce a second leap a month or six later.
pub fn leap_in_force(leap: Leap, now: LocalTime) -> Leap {
    match leap {
        Leap::InsertSecond | Leap::DeleteSecond => match utc_date(now).1 {
            6 | 12 => leap,
            _ => Leap::NoWarning,
        },
        other => other,
    }
}

/// The server's configuration, as far as the header is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// A fixed stratum to announce while synchronised to the upstream (raised to the
    /// upstream's plus one when it is not above it); `None` announces the upstream's plus one.
    pub stratum: Option<u8>,
    /// Serve the local clock as its own reference at this stratum (reference id `LOCL`), like
    /// chrony's `local stratum`, whenever the node is not synchronised to an upstream. The host
    /// sets it only for a node without any upstream server (a lab or demo master).
    pub local_stratum: Option<u8>,
    /// log2 of the clock's read precision in seconds (−20 ≈ 1 µs).
    pub precision: i8,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            stratum: None,
            local_stratum: None,
            precision: -20,
        }
    }
}

/// The request-independent header fields of a reply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerState {
    pub synchronised: bool,
    pub stratum: u8,
    pub reference_id: ReferenceId,
    /// When the clock was last set or confirmed; `None` is sent as the zero timestamp.
    pub reference_time: Option<LocalTime>,
    pub root_delay_s: f64,
    pub root_dispersion_s: f64,
    pub precision: i8,
    pub leap: Leap,
}

impl ServerState {
    /// LI = 3, stratum 16, reference id `INIT`: what a server says before it knows the time.
    pub fn unsynchronised(precision: i8) -> Self {
        ServerState {
            synchronised: false,
            stratum: UNSYNCHRONISED_STRATUM,
            reference_id: ReferenceId::INIT,
            reference_time: None,
            root_delay_s: 0.0,
            root_dispersion_s: MAXDISP_S,
            precision,
            leap: Leap::Unsynchronized,
        }
    }

    /// The clock's own reference at `stratum` (chrony's `local stratum`).
    pub fn local(stratum: u8, now: LocalTime, precision: i8) -> Self {
        ServerState {
            synchronised: true,
            stratum: stratum.clamp(1, 15),
            reference_id: ReferenceId::from_bytes(*b"LOCL"),
            reference_time: Some(now),
            root_delay_s: 0.0,
            root_dispersion_s: 0.0,
            precision,
            leap: Leap::NoWarning,
        }
    }

    /// The state to serve at `now`, from the controller's status and the upstream server the
    /// NTP client last heard.
    ///
    /// - Synchronised (`status.time_synchronised`, an upstream known whose stratum is 1–14):
    ///   stratum = the configured one or upstream + 1, reference id = the upstream's IPv4
    ///   address (an IPv6 upstream: a hash of its address, see [`reference_id_of`]), reference
    ///   time = the last NTP correction (or the last confirmation, before any correction was
    ///   needed), root delay = upstream's + the measured round trip, root dispersion =
    ///   upstream's + [`PHI_PPM`] × the time since NTP last confirmed the clock
    ///   (`status.time_confirmed`: a check that found the time within the correction threshold
    ///   counts, the clock was verified then), at most MAXDISP (16 s). While the upstream is
    ///   unreachable nothing confirms the time, so the dispersion grows by 15 µs per second
    ///   until the controller stops calling the time synchronised.
    /// - Otherwise, with `cfg.local_stratum`: [`ServerState::local`].
    /// - Otherwise: [`ServerState::unsynchronised`].
    pub fn from_status(
        status: &Status,
        upstream: Option<UpstreamInfo>,
        now: LocalTime,
        cfg: &ServerConfig,
    ) -> Self {
        let upstream = upstream.filter(|u| (1..=14).contains(&u.stratum));
        match upstream {
            Some(u) if status.time_synchronised => {
                let confirmed = status.time_confirmed.or(status.ntp.map(|n| n.at));
                let reference_time = status.last_correction.or(confirmed);
                let verified = reference_time.max(confirmed);
                let elapsed_s = verified.map_or(0.0, |t| now.secs_since(t).max(0.0));
                let measured_delay_s = status.ntp.map_or(0.0, |n| n.delay_ns.max(0) as f64 * 1e-9);
                ServerState {
                    synchronised: true,
                    // Never at or below the upstream's: clients could loop through this node.
                    stratum: cfg
                        .stratum
                        .map_or(u.stratum + 1, |s| s.max(u.stratum + 1))
                        .clamp(1, 15),
                    reference_id: reference_id_of(u.addr),
                    reference_time,
                    root_delay_s: u.root_delay_s.max(0.0) + measured_delay_s,
                    root_dispersion_s: (u.root_dispersion_s.max(0.0) + PHI_PPM * 1e-6 * elapsed_s)
                        .min(MAXDISP_S),
                    precision: cfg.precision,
                    leap: leap_in_force(u.leap, now),
                }
            }
            _ => match cfg.local_stratum {
                Some(stratum) => ServerState::local(stratum, now, cfg.precision),
                None => ServerState::unsynchronised(cfg.precision),
            },
        }
    }
}

/// The reference id naming an upstream server (RFC 5905 §7.3): its IPv4 address; for IPv6,
/// the first four bytes of the MD5 digest of its address, which is what clients compare with
/// their own address to detect a timing loop through this server.
pub fn reference_id_of(addr: IpAddr) -> ReferenceId {
    use md5::{Digest, Md5};
    match super::access::canonical(addr) {
        IpAddr::V4(v4) => ReferenceId::from_ipv4(v4),
        IpAddr::V6(v6) => {
            let digest = Md5::digest(v6.octets());
            ReferenceId::from_bytes([digest[0], digest[1], digest[2], digest[3]])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status::NtpStatus;
    use std::net::Ipv4Addr;

    const T0: i64 = 1_785_427_891_000_000_000;
    const S: i64 = 1_000_000_000;

    fn status(synchronised: bool) -> Status {
        let controller =
            crate::controller::Controller::new(Default::default(), LocalTime::from_nanos(T0), 0.0);
        Status {
            time_synchronised: synchronised,
            ..controller.status()
        }
    }

    fn upstream(stratum: u8) -> UpstreamInfo {
        UpstreamInfo {
            stratum,
            addr: IpAddr::V4(Ipv4Addr::new(10, 77, 8, 2)),
            root_delay_s: 0.010,
            root_dispersion_s: 0.020,
            leap: Leap::NoWarning,
        }
    }

    #[test]
    fn civil_dates_of_unix_times() {
        assert_eq!(utc_date(LocalTime::from_nanos(0)), (1970, 1, 1));
        assert_eq!(utc_date(LocalTime::from_nanos(T0)), (2026, 7, 30));
        // The last leap second so far: 2016-12-31T23:59:60Z, then 2017-01-01.
        assert_eq!(
            utc_date(LocalTime::from_nanos(1_483_228_799 * S)),
            (2016, 12, 31)
        );
        assert_eq!(
            utc_date(LocalTime::from_nanos(1_483_228_800 * S)),
            (2017, 1, 1)
        );
        assert_eq!(
            utc_date(LocalTime::from_nanos(951_782_400 * S)),
            (2000, 2, 29)
        );
        assert_eq!(utc_date(LocalTime::from_nanos(-S)), (1969, 12, 31));
    }

    #[test]
    fn the_upstreams_leap_warning_is_served_in_june_and_december_only() {
        let mut st = status(true);
        st.time_confirmed = Some(LocalTime::from_nanos(T0));
        let inserting = UpstreamInfo {
            leap: Leap::InsertSecond,
            ..upstream(2)
        };
        let cfg = ServerConfig::default();
        let serve = |u: UpstreamInfo, unix_s: i64| {
            ServerState::from_status(&st, Some(u), LocalTime::from_nanos(unix_s * S), &cfg).leap
        };
        // 2016-12-31 12:00 and the leap second's last instant before midnight.
        assert_eq!(serve(inserting, 1_483_185_600), Leap::InsertSecond);
        assert_eq!(serve(inserting, 1_483_228_799), Leap::InsertSecond);
        // 2017-01-01 00:00:01: over, whatever the last answer said.
        assert_eq!(serve(inserting, 1_483_228_801), Leap::NoWarning);
        // 2017-03-15: no leap second can be at the end of March.
        assert_eq!(serve(inserting, 1_489_536_000), Leap::NoWarning);
        let deleting = UpstreamInfo {
            leap: Leap::DeleteSecond,
            ..upstream(2)
        };
        // 2026-06-30 20:00.
        assert_eq!(serve(deleting, 1_782_849_600), Leap::DeleteSecond);
        assert_eq!(serve(upstream(2), 1_782_849_600), Leap::NoWarning);
        // Not synchronised: LI = 3 whatever the upstream says.
        let unsync = ServerState::from_status(
            &status(false),
            Some(inserting),
            LocalTime::from_nanos(1_483_185_600 * S),
            &cfg,
        );
        assert_eq!(unsync.leap, Leap::Unsynchronized);
    }

    #[test]
    fn synchronised_to_an_upstream() {
        let mut st = status(true);
        st.last_correction = Some(LocalTime::from_nanos(T0));
        st.ntp = Some(NtpStatus {
            offset_ns: 1_000,
            delay_ns: 400_000,
            at: LocalTime::from_nanos(T0),
        });
        let now = LocalTime::from_nanos(T0 + 100 * S);
        let s = ServerState::from_status(&st, Some(upstream(2)), now, &ServerConfig::default());
        assert!(s.synchronised);
        assert_eq!(s.leap, Leap::NoWarning);
        assert_eq!(s.stratum, 3);
        assert_eq!(s.reference_id.to_bytes(), [10, 77, 8, 2]);
        assert_eq!(s.reference_time, Some(LocalTime::from_nanos(T0)));
        assert!(
            (s.root_delay_s - 0.0104).abs() < 1e-12,
            "{}",
            s.root_delay_s
        );
        // 20 ms + 15 ppm × 100 s = 21.5 ms.
        assert!(
            (s.root_dispersion_s - 0.0215).abs() < 1e-12,
            "{}",
            s.root_dispersion_s
        );
        assert_eq!(s.precision, -20);
        // A configured stratum replaces upstream + 1.
        let cfg = ServerConfig {
            stratum: Some(5),
            ..ServerConfig::default()
        };
        assert_eq!(
            ServerState::from_status(&st, Some(upstream(2)), now, &cfg).stratum,
            5
        );
    }

    #[test]
    fn dispersion_grows_from_the_last_confirmation_while_the_reference_is_the_last_correction() {
        let cfg = ServerConfig::default();
        let mut st = status(true);
        st.last_correction = Some(LocalTime::from_nanos(T0));
        // A later check confirmed the time without a correction...
        st.time_confirmed = Some(LocalTime::from_nanos(T0 + 3600 * S));
        // ...and a still later one was not confirmed yet (it disagreed; the gate waits).
        st.ntp = Some(NtpStatus {
            offset_ns: 5_000_000,
            delay_ns: 400_000,
            at: LocalTime::from_nanos(T0 + 3630 * S),
        });
        let at = |s: i64| {
            ServerState::from_status(
                &st,
                Some(upstream(2)),
                LocalTime::from_nanos(T0 + s * S),
                &cfg,
            )
        };
        let fresh = at(3600);
        assert_eq!(fresh.reference_time, Some(LocalTime::from_nanos(T0)));
        assert!((fresh.root_dispersion_s - 0.020).abs() < 1e-12);
        // The unconfirmed check does not refresh it.
        assert!((at(3630).root_dispersion_s - 0.02045).abs() < 1e-12);
        // The upstream goes silent: 15 µs more per second without a check...
        let later = at(3600 + 1000);
        assert!((later.root_dispersion_s - 0.035).abs() < 1e-12);
        assert_eq!(later.root_delay_s, fresh.root_delay_s);
        // ...up to MAXDISP.
        assert_eq!(at(3600 + 10_000_000).root_dispersion_s, 16.0);
    }

    #[test]
    fn unsynchronised_without_time_or_upstream() {
        let cfg = ServerConfig::default();
        let now = LocalTime::from_nanos(T0);
        let unsync = ServerState::unsynchronised(-20);
        assert_eq!(unsync.stratum, 16);
        assert_eq!(unsync.leap, Leap::Unsynchronized);
        assert_eq!(unsync.reference_id, ReferenceId::INIT);
        assert_eq!(
            ServerState::from_status(&status(false), Some(upstream(2)), now, &cfg),
            unsync
        );
        assert_eq!(
            ServerState::from_status(&status(true), None, now, &cfg),
            unsync
        );
        // An upstream at stratum 15 (or an unsynchronised one) cannot be served from.
        assert_eq!(
            ServerState::from_status(&status(true), Some(upstream(15)), now, &cfg),
            unsync
        );
        assert_eq!(
            ServerState::from_status(&status(true), Some(upstream(16)), now, &cfg),
            unsync
        );
    }

    #[test]
    fn local_stratum_serves_the_own_clock() {
        let cfg = ServerConfig {
            local_stratum: Some(8),
            ..ServerConfig::default()
        };
        let now = LocalTime::from_nanos(T0);
        let s = ServerState::from_status(&status(false), None, now, &cfg);
        assert!(s.synchronised);
        assert_eq!(s.stratum, 8);
        assert_eq!(s.leap, Leap::NoWarning);
        assert_eq!(s.reference_id.as_ascii(), Some("LOCL"));
        assert_eq!(s.reference_time, Some(now));
        // A synchronised upstream wins over the local reference.
        let st = status(true);
        let s = ServerState::from_status(&st, Some(upstream(1)), now, &cfg);
        assert_eq!(s.stratum, 2);
    }

    #[test]
    fn ipv6_upstreams_get_a_stable_hashed_id() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(reference_id_of(a), reference_id_of(a));
        assert_ne!(reference_id_of(a), reference_id_of(b));
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
        assert_eq!(reference_id_of(mapped).to_bytes(), [10, 0, 0, 1]);
    }

    #[test]
    fn an_ipv6_upstream_is_named_by_the_first_four_bytes_of_its_md5() {
        // RFC 5905 §7.3; the digests were computed independently (Python's hashlib).
        for (addr, want) in [
            ("2001:db8::1", [0x39, 0xab, 0x9b, 0x37]),
            ("fd00::53", [0x12, 0x7d, 0x67, 0x6e]),
        ] {
            let id = reference_id_of(addr.parse().unwrap());
            assert_eq!(id.to_bytes(), want, "{addr}");
        }
        // An IPv4-mapped address is the IPv4 server it names.
        let mapped: IpAddr = "::ffff:10.77.8.2".parse().unwrap();
        assert_eq!(
            reference_id_of(mapped),
            ReferenceId::from_ipv4(Ipv4Addr::new(10, 77, 8, 2))
        );
    }

    #[test]
    fn the_announced_stratum_is_never_at_or_below_the_upstreams() {
        let mut st = status(true);
        st.ntp = Some(NtpStatus {
            offset_ns: 0,
            delay_ns: 0,
            at: LocalTime::from_nanos(T0),
        });
        let now = LocalTime::from_nanos(T0 + S);
        for configured in [1u8, 2, 3] {
            let cfg = ServerConfig {
                stratum: Some(configured),
                ..ServerConfig::default()
            };
            // Announcing 1, 2 or 3 while following a stratum-3 server would put this node at
            // or above its own source: clients could loop through it.
            let s = ServerState::from_status(&st, Some(upstream(3)), now, &cfg);
            assert_eq!(s.stratum, 4, "configured {configured}");
        }
    }
}
