//! The PTPv1 source: turns received datagrams into (T1, T2) samples of the chosen leader.

pub mod leader;
pub mod pairing;

use crate::time::LocalTime;
use crate::wire::ptpv1::{Control, Flags, Message, ParseError, Subdomain, Uuid};
pub use leader::{LeaderId, LeaderQuality, LeaderSelector, Preference};
use pairing::{FollowUpOutcome, Pair, Pairer};

/// Configuration of the PTP side.
#[derive(Clone, Debug, PartialEq)]
pub struct PtpConfig {
    /// Only this subdomain is listened to (`_DFLT` on Dante).
    pub subdomain: Subdomain,
    /// If not empty, only these senders may lead.
    pub leader_allowlist: Vec<Uuid>,
    /// No usable sample for this long: NtpOnly.
    pub offline_timeout_s: f64,
    /// A sender not heard for this long (or for four of its own Sync intervals, if longer)
    /// is no longer a leader candidate.
    pub leader_expiry_s: f64,
    /// If not empty, these senders lead before any other, most preferred first.
    pub leader_preference: Vec<Uuid>,
    /// How long a more preferred leader that came back must be heard, qualified, before the
    /// source returns to it.
    pub leader_preference_hold_s: f64,
}

impl Default for PtpConfig {
    fn default() -> Self {
        Self {
            subdomain: Subdomain::from_name("_DFLT"),
            leader_allowlist: Vec::new(),
            offline_timeout_s: 10.0,
            leader_expiry_s: 3.0,
            leader_preference: Vec::new(),
            leader_preference_hold_s: 60.0,
        }
    }
}

/// Counters of what arrived, for the status surfaces. Every dropped packet is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtpCounters {
    pub received: u64,
    pub samples: u64,
    pub not_v1: u64,
    pub malformed: u64,
    pub other_subdomain: u64,
    pub not_leader: u64,
    pub unmatched_follow_up: u64,
    pub ignored_other: u64,
    pub leader_changes: u64,
}

/// What one datagram produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceEvent {
    /// Nothing usable (counted).
    Nothing,
    /// A new leader was chosen: a new timescale begins. A sample may follow in later packets.
    LeaderChanged {
        previous: Option<LeaderId>,
        current: LeaderId,
    },
    /// A complete sample of the current leader.
    Sample(Pair),
}

#[derive(Debug)]
pub struct PtpSource {
    cfg: PtpConfig,
    selector: LeaderSelector,
    pairer: Pairer,
    counters: PtpCounters,
    last_sync_interval: Option<i8>,
}

impl PtpSource {
    pub fn new(cfg: PtpConfig) -> Self {
        let expiry = (cfg.leader_expiry_s * 1e9) as i64;
        let preference = Preference {
            order: cfg.leader_preference.clone(),
            hold_ns: (cfg.leader_preference_hold_s * 1e9) as i64,
        };
        let selector =
            LeaderSelector::with_preference(cfg.leader_allowlist.clone(), preference, expiry);
        Self {
            cfg,
            selector,
            pairer: Pairer::default(),
            counters: PtpCounters::default(),
            last_sync_interval: None,
        }
    }

    pub fn config(&self) -> &PtpConfig {
        &self.cfg
    }

    pub fn counters(&self) -> PtpCounters {
        self.counters
    }

    pub fn leader(&self) -> Option<(LeaderId, Option<LeaderQuality>)> {
        self.selector
            .current()
            .map(|id| (id, self.selector.quality_of(&id)))
    }

    /// The leader's advertised Sync interval, log2 seconds.
    pub fn sync_interval_log2(&self) -> Option<i8> {
        self.last_sync_interval
    }

    /// Handles one datagram received at `rx` (local clock) / `rx_step_free_ns`.
    pub fn handle(&mut self, bytes: &[u8], rx: LocalTime, rx_step_free_ns: i64) -> SourceEvent {
        self.handle_message(Message::parse(bytes), rx, rx_step_free_ns)
    }

    /// Like [`Self::handle`], for a datagram the host already parsed with [`Message::parse`]
    /// (a host that looks at the message on its way needs to parse it only once).
    pub fn handle_message(
        &mut self,
        parsed: Result<Message, ParseError>,
        rx: LocalTime,
        rx_step_free_ns: i64,
    ) -> SourceEvent {
        self.counters.received += 1;
        let msg = match parsed {
            Ok(m) => m,
            Err(ParseError::NotVersion1 { .. }) => {
                self.counters.not_v1 += 1;
                return SourceEvent::Nothing;
            }
            Err(_) => {
                self.counters.malformed += 1;
                return SourceEvent::Nothing;
            }
        };
        if msg.header().subdomain != self.cfg.subdomain {
            self.counters.other_subdomain += 1;
            return SourceEvent::Nothing;
        }
        match &msg {
            Message::Sync(header, body) => {
                let id = LeaderId::from_sync(header, body);
                let previous = self.selector.current();
                let current = self.selector.observe(
                    id,
                    LeaderQuality::from_sync(body),
                    body.sync_interval,
                    rx_step_free_ns,
                );
                if current != Some(id) {
                    self.counters.not_leader += 1;
                    return SourceEvent::Nothing;
                }
                self.last_sync_interval = Some(body.sync_interval);
                let changed = previous != current;
                if changed {
                    self.pairer.clear();
                    self.counters.leader_changes += 1;
                }
                if header.flags.contains(Flags::ASSIST) {
                    let early = self
                        .pairer
                        .sync_received(header.sequence_id, rx, rx_step_free_ns);
                    self.counters.unmatched_follow_up += self.pairer.take_dropped();
                    if changed {
                        return SourceEvent::LeaderChanged {
                            previous,
                            current: id,
                        };
                    }
                    match early {
                        Some(pair) => {
                            self.counters.samples += 1;
                            SourceEvent::Sample(pair)
                        }
                        None => SourceEvent::Nothing,
                    }
                } else {
                    // One-step sender: the Sync's own timestamp is T1.
                    if changed {
                        return SourceEvent::LeaderChanged {
                            previous,
                            current: id,
                        };
                    }
                    self.counters.samples += 1;
                    SourceEvent::Sample(Pair {
                        sequence_id: header.sequence_id,
                        t1_ns: body.origin_timestamp.to_nanos(),
                        rx,
                        rx_step_free_ns,
                    })
                }
            }
            Message::FollowUp(header, body) => {
                let Some(leader) = self.selector.current() else {
                    self.counters.not_leader += 1;
                    return SourceEvent::Nothing;
                };
                if header.source_uuid != leader.sender
                    || header.source_port_id != leader.sender_port
                {
                    self.counters.not_leader += 1;
                    return SourceEvent::Nothing;
                }
                let t1 = body.precise_origin_timestamp.to_nanos();
                let outcome = self.pairer.follow_up_received(
                    body.associated_sequence_id,
                    t1,
                    rx_step_free_ns,
                );
                self.counters.unmatched_follow_up += self.pairer.take_dropped();
                match outcome {
                    FollowUpOutcome::Paired(pair) => {
                        self.counters.samples += 1;
                        SourceEvent::Sample(pair)
                    }
                    FollowUpOutcome::TooLate => {
                        self.counters.unmatched_follow_up += 1;
                        SourceEvent::Nothing
                    }
                    FollowUpOutcome::Held => SourceEvent::Nothing,
                }
            }
            _ => {
                // Delay_Req/Delay_Resp/Management carry nothing the rate servo needs.
                debug_assert!(!matches!(
                    msg.header().control,
                    Control::Sync | Control::FollowUp
                ));
                self.counters.ignored_other += 1;
                SourceEvent::Nothing
            }
        }
    }
}
