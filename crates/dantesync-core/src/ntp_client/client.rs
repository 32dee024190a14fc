//! The NTP client's decisions across its servers: who is asked in a check, what each answer
//! makes of its server, which servers are followed, and the combined offset the controller
//! gets. The host does the asking (one burst per due server) and reports what came back.

use std::net::IpAddr;
use std::time::Duration;

use super::burst::BurstResult;
use super::reply::Kiss;
use super::select::{select, Interval, Selection};
use super::source::{
    spacing, Locality, NtpSourceStatus, Source, SourceState, BACKOFF_RATE_MIN, BURST,
};
use crate::controller::NtpMeasurement;
use crate::ntp_server::UpstreamInfo;
use crate::wire::ntp::Leap;

/// Added to every server's correctness interval (ns): a floor for the error a server's own
/// header does not own up to (a LAN server that claims zero root dispersion is still not
/// perfect). One millisecond keeps honest LAN servers overlapping and a server a few ms off
/// out of the majority.
pub const MIN_DISTANCE_NS: f64 = 1e6;

/// What one server's burst came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// At least one reply was a usable sample.
    Answered { address: IpAddr, burst: BurstResult },
    /// Replies came, but none usable: the server says it has no time (reason given).
    Unsynchronised { address: IpAddr, why: String },
    /// The server sent a Kiss-o'-Death.
    Kissed { address: IpAddr, kiss: Kiss },
    /// No reply, or the name did not resolve (reason given).
    NoReply {
        address: Option<IpAddr>,
        why: String,
    },
}

/// A server whose state changed in a check: what to log (changes only, never every check).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub name: String,
    pub address: Option<IpAddr>,
    pub from: SourceState,
    pub to: SourceState,
    /// What happened and what follows from it, for the log.
    pub message: String,
}

/// A check's combined result: the controller's measurement, and the server it mostly rests on
/// (the truechimer with the least distance), for the built-in NTP server's header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    pub measurement: NtpMeasurement,
    pub upstream: UpstreamInfo,
    /// Truechimers the offset was combined from.
    pub truechimers: usize,
}

/// What a completed check gives the host.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReport {
    /// The combined measurement, or why there is none.
    pub result: Result<Combined, String>,
    pub changes: Vec<Change>,
}

/// The servers and their books.
#[derive(Clone, Debug)]
pub struct NtpClient {
    sources: Vec<Source>,
}

impl NtpClient {
    /// A client of the servers `names`, in configured order, each on the LAN or not by its
    /// address.
    pub fn new<I: IntoIterator<Item = String>>(names: I) -> Self {
        Self::with_locality(names.into_iter().map(|n| (n, Locality::ByAddress)))
    }

    /// A client of the servers given with where each counts as being, in configured order.
    pub fn with_locality<I: IntoIterator<Item = (String, Locality)>>(servers: I) -> Self {
        Self {
            sources: servers
                .into_iter()
                .map(|(name, locality)| Source::new(name, locality))
                .collect(),
        }
    }

    /// The servers (indexes into the configured list) a check at `now` asks; `now` is any
    /// monotonic time, the same axis for every call.
    pub fn due(&self, now: Duration) -> Vec<usize> {
        (0..self.sources.len())
            .filter(|&i| self.sources[i].due(now))
            .collect()
    }

    /// A check at `now` asks no server, and at least one rests between its polls (a server
    /// outside the LAN): the check learns nothing and nothing failed, so the host reports it
    /// as such, neither a measurement nor a failure. With no server resting (every one backing
    /// off after failures, or refused) a check that asks none is a failure, as before.
    pub fn nothing_due(&self, now: Duration) -> bool {
        self.due(now).is_empty() && self.sources.iter().any(|s| s.rests(now))
    }

    /// How many requests a check's burst sends server `i`: [`BURST`]; one to a server outside
    /// the LAN past its initial burst, or to a server that sent Kiss-o'-Death RATE (a server
    /// that rate-limits bursts would refuse every one).
    pub fn requests(&self, i: usize) -> usize {
        match self.sources.get(i) {
            Some(s) if s.gentle || s.polled() => 1,
            _ => BURST,
        }
    }

    /// The gap between the requests of a burst to server `i`, whose name now resolved to
    /// `address`: short on the LAN, 2 s to a server outside it.
    pub fn spacing(&self, i: usize, address: IpAddr) -> Duration {
        spacing(self.locality(i), address)
    }

    /// Where server `i` counts as being, as configured.
    pub fn locality(&self, i: usize) -> Locality {
        self.sources
            .get(i)
            .map_or(Locality::ByAddress, |s| s.locality)
    }

    pub fn status(&self) -> Vec<NtpSourceStatus> {
        self.sources.iter().map(Source::status).collect()
    }

    /// Takes the outcome of each server asked in the check (index, outcome), decides which are
    /// followed, and combines their offsets.
    pub fn complete(&mut self, now: Duration, outcomes: Vec<(usize, Outcome)>) -> CheckReport {
        let before: Vec<SourceState> = self.sources.iter().map(|s| s.state).collect();
        let mut messages: Vec<Option<String>> = vec![None; self.sources.len()];
        let mut answered: Vec<(usize, BurstResult)> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        // One outcome per server: a later one for the same server replaces an earlier one (two
        // answers from one server must not vote as two servers).
        let mut latest: Vec<Option<Outcome>> = (0..self.sources.len()).map(|_| None).collect();
        for (i, outcome) in outcomes {
            if let Some(slot) = latest.get_mut(i) {
                *slot = Some(outcome);
            }
        }
        let asked = latest.iter().flatten().count();
        for (i, outcome) in latest.into_iter().enumerate() {
            let (Some(outcome), Some(src)) = (outcome, self.sources.get_mut(i)) else {
                continue;
            };
            src.asked(now);
            match outcome {
                Outcome::Answered { address, burst } => {
                    src.address = Some(address);
                    src.last = Some(burst);
                    src.answered();
                    answered.push((i, burst));
                }
                Outcome::Unsynchronised { address, why } => {
                    src.address = Some(address);
                    src.answered();
                    src.state = SourceState::Unsynchronised;
                    failures.push(format!("{}: {why}", src.name));
                    messages[i] = Some(format!("{why}; not followed until it has time to give"));
                }
                Outcome::Kissed { address, kiss } => {
                    src.address = Some(address);
                    match kiss {
                        Kiss::Rate => {
                            let wait = src.back_off(now, BACKOFF_RATE_MIN);
                            src.state = SourceState::RateLimited;
                            src.gentle = true;
                            failures.push(format!("{}: Kiss-o'-Death RATE", src.name));
                            messages[i] = Some(format!(
                                "sent Kiss-o'-Death RATE (it finds it is asked too often): not \
                                 asked again for {} s, then with one request per check",
                                wait.as_secs()
                            ));
                        }
                        Kiss::Deny | Kiss::Rstr => {
                            src.state = SourceState::Denied;
                            failures.push(format!("{}: Kiss-o'-Death {}", src.name, kiss.code()));
                            messages[i] = Some(format!(
                                "sent Kiss-o'-Death {}: it refuses this client, so it is dropped \
                                 and not asked again until dantesync restarts (allow this client \
                                 on that server, or remove it from ntp_server)",
                                kiss.code()
                            ));
                        }
                    }
                }
                Outcome::NoReply { address, why } => {
                    if address.is_some() {
                        src.address = address;
                    }
                    let wait = src.back_off(now, Duration::ZERO);
                    src.state = SourceState::Unreachable;
                    failures.push(format!("{}: {why}", src.name));
                    messages[i] = Some(format!(
                        "{why}: backing off, asked again in {} s (doubling up to {} s while it \
                         stays silent)",
                        wait.as_secs(),
                        super::source::BACKOFF_MAX.as_secs()
                    ));
                }
            }
        }
        let result = self.decide(&answered, asked, &failures, &mut messages);
        let changes = self
            .sources
            .iter()
            .zip(before)
            .zip(messages)
            .filter(|((s, was), _)| s.state != *was)
            .map(|((s, was), message)| Change {
                name: s.name.clone(),
                address: s.address,
                from: was,
                to: s.state,
                message: message.unwrap_or_default(),
            })
            .collect();
        CheckReport { result, changes }
    }

    /// Selection among the servers that answered, and the combined offset of the truechimers.
    fn decide(
        &mut self,
        answered: &[(usize, BurstResult)],
        asked: usize,
        failures: &[String],
        messages: &mut [Option<String>],
    ) -> Result<Combined, String> {
        if answered.is_empty() {
            return Err(if asked == 0 {
                "every NTP server is backing off or has refused this client".to_owned()
            } else {
                format!("no usable NTP answer ({})", failures.join("; "))
            });
        }
        let intervals: Vec<Interval> = answered
            .iter()
            .map(|(_, b)| Interval {
                offset_ns: b.offset_ns as f64,
                distance_ns: distance_ns(b),
            })
            .collect();
        let n = answered.len();
        let ms = |ns: f64| ns * 1e-6;
        let Selection::Majority {
            truechimer,
            agreeing,
            low_ns,
            high_ns,
        } = select(&intervals)
        else {
            let offsets: Vec<String> = answered
                .iter()
                .map(|(i, b)| {
                    format!(
                        "{} {:+.3} ms",
                        self.sources[*i].name,
                        ms(b.offset_ns as f64)
                    )
                })
                .collect();
            for (i, b) in answered {
                self.sources[*i].state = SourceState::Undecided;
                messages[*i] = Some(format!(
                    "answers {:+.3} ms, but the {n} servers that answered do not agree and no \
                     majority decides which is right: none is followed",
                    ms(b.offset_ns as f64)
                ));
            }
            return Err(format!(
                "the {n} NTP servers that answered disagree ({}) and no majority decides",
                offsets.join(", ")
            ));
        };
        let region = format!(
            "{agreeing} of {n} servers agree on {:+.3}..{:+.3} ms",
            ms(low_ns),
            ms(high_ns)
        );
        let mut sum = 0.0;
        let mut weights = 0.0;
        let mut best: Option<(f64, usize, BurstResult)> = None;
        for ((i, b), (&chimer, iv)) in answered.iter().zip(truechimer.iter().zip(&intervals)) {
            let src = &mut self.sources[*i];
            if chimer {
                src.state = SourceState::Truechimer;
                messages[*i] = Some(format!(
                    "{:+.3} ms ± {:.3} ms, {region}: followed",
                    ms(iv.offset_ns),
                    ms(iv.distance_ns)
                ));
                let w = 1.0 / iv.distance_ns;
                sum += w * iv.offset_ns;
                weights += w;
                if best.is_none_or(|(d, _, _)| iv.distance_ns < d) {
                    best = Some((iv.distance_ns, *i, *b));
                }
            } else {
                src.state = SourceState::Falseticker;
                messages[*i] = Some(format!(
                    "{:+.3} ms ± {:.3} ms is outside the agreement ({region}): not followed",
                    ms(iv.offset_ns),
                    ms(iv.distance_ns)
                ));
            }
        }
        let Some((_, peer, peer_burst)) = best else {
            return Err("no truechimer".to_owned());
        };
        let leap = majority_leap(
            answered
                .iter()
                .zip(&truechimer)
                .filter(|(_, &chimer)| chimer)
                .map(|((_, b), _)| b.leap),
        );
        let address = self.sources[peer]
            .address
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(Combined {
            measurement: NtpMeasurement {
                offset_ns: (sum / weights).round() as i64,
                delay_ns: peer_burst.delay_ns,
            },
            upstream: UpstreamInfo {
                stratum: peer_burst.stratum,
                addr: address,
                root_delay_s: peer_burst.root_delay_ns as f64 * 1e-9,
                root_dispersion_s: peer_burst.root_dispersion_ns as f64 * 1e-9,
                leap,
            },
            truechimers: truechimer.iter().filter(|&&t| t).count(),
        })
    }
}

/// The leap second the truechimers announce: one that more than half of them announce, else
/// none. A single server announcing a leap its peers do not know of (a misconfigured or
/// stale server) is not passed on, neither to this node's clients nor to the kernel.
pub fn majority_leap(truechimers: impl IntoIterator<Item = Leap>) -> Leap {
    let (mut n, mut insert, mut delete) = (0usize, 0usize, 0usize);
    for leap in truechimers {
        n += 1;
        match leap {
            Leap::InsertSecond => insert += 1,
            Leap::DeleteSecond => delete += 1,
            Leap::NoWarning | Leap::Unsynchronized => {}
        }
    }
    if insert * 2 > n {
        Leap::InsertSecond
    } else if delete * 2 > n {
        Leap::DeleteSecond
    } else {
        Leap::NoWarning
    }
}

/// Half-width of a server's correctness interval (ns): half its round trip, its own distance
/// to UTC (half its root delay plus its root dispersion), the burst's spread, and the floor.
pub fn distance_ns(b: &BurstResult) -> f64 {
    let own = b.delay_ns.max(0) as f64 / 2.0
        + b.root_delay_ns.max(0) as f64 / 2.0
        + b.root_dispersion_ns.max(0) as f64
        + b.spread_ns.max(0) as f64;
    own + MIN_DISTANCE_NS
}
