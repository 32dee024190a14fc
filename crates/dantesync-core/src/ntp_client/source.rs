//! One configured server: what the last check made of it, and when to ask it again.
//!
//! How often a server is asked depends on where it is. A server on the local network (the
//! Dante LAN's NTP master, a site server) is ours to ask: it gets a burst at every check the
//! controller plans (every 10 to 30 s), which keeps the phase tight. A server outside the LAN
//! (a public pool, an ISP's server) belongs to someone who serves thousands of clients and
//! asks each for no more than one request per 64 s (the pool's rule, NTP's default minimum
//! poll): it gets an initial burst, like ntpd's and chrony's `iburst`, in the first two checks
//! (the gate needs a measurement and its confirmation), its requests 2 s apart (ntpd's default
//! `discard minimum`, so a rate-limiting server does not drop them), and from then on one
//! request at a time, never sooner than 64 s after the last check that asked it. Between its
//! polls it rests: a check that finds every server resting learned nothing and lost nothing.
//! The rate between NTP checks is PTP's, so a 64 s poll costs little accuracy.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::burst::BurstResult;

/// Requests in one check's burst to a server.
pub const BURST: usize = 4;

/// The gap between the requests of a burst to a server on the LAN.
pub const LAN_SPACING: Duration = Duration::from_millis(50);
/// The gap between the requests of a burst to a server outside the LAN (ntpd's default
/// `discard minimum`: closer requests are dropped or kissed by a rate-limiting server).
pub const OUTSIDE_SPACING: Duration = Duration::from_secs(2);
/// The shortest time between two checks that ask a server outside the LAN.
pub const OUTSIDE_POLL: Duration = Duration::from_secs(64);
/// The checks a server outside the LAN is asked in with a full burst, at the controller's
/// pace, before it is polled every [`OUTSIDE_POLL`] with single requests: a measurement and
/// the one that confirms it.
pub const INITIAL_CHECKS: u32 = 2;

/// Whether a server counts as on the LAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locality {
    /// By the address its name resolves to ([`is_lan_address`]); outside until one is known.
    ByAddress,
    /// On the LAN, whatever its address.
    Lan,
    /// Outside the LAN, whatever its address.
    Outside,
}

impl Locality {
    /// Whether a server of this locality at `address` (if known) counts as on the LAN.
    pub fn is_lan(self, address: Option<IpAddr>) -> bool {
        match self {
            Locality::Lan => true,
            Locality::Outside => false,
            Locality::ByAddress => address.is_some_and(is_lan_address),
        }
    }
}

/// The gap between the requests of a burst to a server of `locality` whose name resolved to
/// `address`.
pub fn spacing(locality: Locality, address: IpAddr) -> Duration {
    if locality.is_lan(Some(address)) {
        LAN_SPACING
    } else {
        OUTSIDE_SPACING
    }
}

/// The addresses of a local network: IPv4 private (RFC 1918), link-local and loopback; IPv6
/// loopback, link-local (fe80::/10) and unique local (fc00::/7); an IPv4-mapped IPv6 address
/// as its IPv4 one. Anything else (including the carrier-grade NAT range 100.64/10, which is
/// the ISP's side) is outside.
pub fn is_lan_address(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(a) => a.is_private() || a.is_link_local() || a.is_loopback(),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_lan_address(IpAddr::V4(v4));
            }
            let first = a.segments()[0];
            a.is_loopback() || (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
        }
    }
}

/// The first back-off after a server stops answering; each further failure doubles it.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(15);
/// The longest back-off: a server that comes back is asked again within this long.
pub const BACKOFF_MAX: Duration = Duration::from_secs(480);
/// The least back-off after a Kiss-o'-Death RATE (the server asked us to slow down).
pub const BACKOFF_RATE_MIN: Duration = Duration::from_secs(60);

/// What a server is, as of the last check that asked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// Not asked yet.
    Pending,
    /// Agrees with the majority: followed.
    Truechimer,
    /// Disagrees with the majority: not followed.
    Falseticker,
    /// Answered, but the servers that answered have no majority: not followed.
    Undecided,
    /// Answers, but says it has no time to give (leap 3, stratum 0/16).
    Unsynchronised,
    /// No reply (or its name does not resolve): backing off.
    Unreachable,
    /// Sent Kiss-o'-Death RATE: backing off.
    RateLimited,
    /// Sent Kiss-o'-Death DENY or RSTR: never asked again in this run.
    Denied,
}

impl SourceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceState::Pending => "pending",
            SourceState::Truechimer => "truechimer",
            SourceState::Falseticker => "falseticker",
            SourceState::Undecided => "undecided",
            SourceState::Unsynchronised => "unsynchronised",
            SourceState::Unreachable => "unreachable",
            SourceState::RateLimited => "rate_limited",
            SourceState::Denied => "denied",
        }
    }
}

impl fmt::Display for SourceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One server as the status surfaces show it.
#[derive(Clone, Debug, PartialEq)]
pub struct NtpSourceStatus {
    /// The server as configured (`host` or `host:port`).
    pub name: String,
    /// The address the name last resolved to.
    pub address: Option<IpAddr>,
    pub state: SourceState,
    /// The last burst that got answers (kept across later failures, for the record).
    pub last: Option<BurstResult>,
    /// The present back-off (s) while the server is skipped, else `None`.
    pub backoff_s: Option<f64>,
    /// Whether the server counts as on the LAN (see [`Locality`]).
    pub lan: bool,
    /// The least time between the checks that ask it (s): [`OUTSIDE_POLL`] once a server
    /// outside the LAN has had its initial burst; `None` while it is asked at every check.
    pub poll_s: Option<f64>,
}

/// The book-keeping of one server.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub name: String,
    pub address: Option<IpAddr>,
    pub state: SourceState,
    pub last: Option<BurstResult>,
    /// Sent Kiss-o'-Death RATE once: asked with one request per check from then on.
    pub gentle: bool,
    pub locality: Locality,
    failures: u32,
    backoff: Option<Duration>,
    retry_at: Option<Duration>,
    /// Checks that asked this server.
    checks: u32,
    /// When the last check that asked it ended.
    last_asked: Option<Duration>,
}

impl Source {
    pub fn new(name: String, locality: Locality) -> Self {
        Self {
            name,
            address: None,
            state: SourceState::Pending,
            last: None,
            gentle: false,
            locality,
            failures: 0,
            backoff: None,
            retry_at: None,
            checks: 0,
            last_asked: None,
        }
    }

    pub fn is_lan(&self) -> bool {
        self.locality.is_lan(self.address)
    }

    /// Past its initial burst and outside the LAN: polled every [`OUTSIDE_POLL`], one
    /// request at a time.
    pub fn polled(&self) -> bool {
        !self.is_lan() && self.checks >= INITIAL_CHECKS
    }

    /// Whether a check at `now` (monotonic) asks this server.
    pub fn due(&self, now: Duration) -> bool {
        self.may_ask(now) && !self.resting(now)
    }

    /// Neither refused nor backing off after a failure.
    fn may_ask(&self, now: Duration) -> bool {
        self.state != SourceState::Denied && self.retry_at.is_none_or(|t| now >= t)
    }

    /// Waiting out its poll interval.
    fn resting(&self, now: Duration) -> bool {
        self.polled() && self.last_asked.is_some_and(|t| now < t + OUTSIDE_POLL)
    }

    /// Waiting out its poll interval at `now` (and not refused). Whatever else it waits for
    /// (a back-off), its last check's outcome was reported when that check ended.
    pub fn rests(&self, now: Duration) -> bool {
        self.state != SourceState::Denied && self.resting(now)
    }

    /// A check that asked this server ended at `now`.
    pub fn asked(&mut self, now: Duration) {
        self.checks = self.checks.saturating_add(1);
        self.last_asked = Some(now);
    }

    /// The server answered: no back-off.
    pub fn answered(&mut self) {
        self.failures = 0;
        self.backoff = None;
        self.retry_at = None;
    }

    /// The server failed this check: skip it for a doubling while, at least `floor`.
    pub fn back_off(&mut self, now: Duration, floor: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doubled = BACKOFF_FIRST
            .checked_mul(1u32 << (self.failures - 1).min(16))
            .unwrap_or(BACKOFF_MAX);
        let wait = doubled.max(floor).min(BACKOFF_MAX.max(floor));
        self.backoff = Some(wait);
        self.retry_at = Some(now + wait);
        wait
    }

    pub fn status(&self) -> NtpSourceStatus {
        NtpSourceStatus {
            name: self.name.clone(),
            address: self.address,
            state: self.state,
            last: self.last,
            backoff_s: self.backoff.map(|d| d.as_secs_f64()),
            lan: self.is_lan(),
            poll_s: self.polled().then_some(OUTSIDE_POLL.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn back_off_doubles_up_to_the_cap_and_an_answer_resets_it() {
        let mut s = Source::new("ntp.lan".into(), Locality::ByAddress);
        let t0 = 100 * S;
        assert!(s.due(t0));
        let waits: Vec<u64> = (0..8)
            .map(|_| s.back_off(t0, Duration::ZERO).as_secs())
            .collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 480, 480]);
        assert!(!s.due(t0 + 479 * S));
        assert!(s.due(t0 + 480 * S));
        assert_eq!(s.status().backoff_s, Some(480.0));
        s.answered();
        assert!(s.due(t0));
        assert_eq!(s.status().backoff_s, None);
        assert_eq!(s.back_off(t0, Duration::ZERO), 15 * S, "starts over");
    }

    #[test]
    fn a_floor_lengthens_the_first_back_off_and_denied_is_never_due() {
        let mut s = Source::new("ntp.lan".into(), Locality::ByAddress);
        assert_eq!(s.back_off(Duration::ZERO, BACKOFF_RATE_MIN), 60 * S);
        s.state = SourceState::Denied;
        assert!(!s.due(Duration::from_secs(1_000_000)));
    }
}
