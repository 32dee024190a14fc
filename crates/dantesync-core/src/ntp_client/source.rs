//! One configured server: what the last check made of it, and when to ask it again.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::burst::BurstResult;

/// Requests in one check's burst to a server.
pub const BURST: usize = 4;

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
    failures: u32,
    backoff: Option<Duration>,
    retry_at: Option<Duration>,
}

impl Source {
    pub fn new(name: String) -> Self {
        Self {
            name,
            address: None,
            state: SourceState::Pending,
            last: None,
            gentle: false,
            failures: 0,
            backoff: None,
            retry_at: None,
        }
    }

    /// Whether a check at `now` (monotonic) asks this server.
    pub fn due(&self, now: Duration) -> bool {
        self.state != SourceState::Denied && self.retry_at.is_none_or(|t| now >= t)
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn back_off_doubles_up_to_the_cap_and_an_answer_resets_it() {
        let mut s = Source::new("ntp.lan".into());
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
        let mut s = Source::new("ntp.lan".into());
        assert_eq!(s.back_off(Duration::ZERO, BACKOFF_RATE_MIN), 60 * S);
        s.state = SourceState::Denied;
        assert!(!s.due(Duration::from_secs(1_000_000)));
    }
}
