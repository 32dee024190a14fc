//! Fleet mode's plumbing: the NTP master answers fleet requests on the query port (the
//! announcement of D, and a coordinated correction asked from loopback), persists its D beside
//! the state file so a restart does not move the fleet's time, and a fleet client polls its
//! authority every few seconds and hands each announcement to its controller.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use dantesync_core::fleet::{AuthorityStatus, CorrectRefused, FleetTimescale, PendingCorrection};
use dantesync_core::query_server::FleetDecision;
use dantesync_core::source::LeaderId;
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::wire::query::{
    FleetKind, FleetReply, FleetRequest, FleetResult, FLEET_LEN, FLEET_VERSION,
};
use dantesync_core::{Action, Controller, Moment, Status};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::shared::{Event, Shared};

/// How long the query task waits for the engine to schedule a correction.
const CORRECT_WAIT: Duration = Duration::from_secs(2);
/// A fleet client's attempts per poll, and how long it waits for each.
pub const POLL_ATTEMPTS: u32 = 3;
pub const POLL_WAIT: Duration = Duration::from_millis(500);

/// What an engine answers to a correction request.
pub type CorrectAnswer = oneshot::Sender<Result<PendingCorrection, CorrectRefused>>;

fn result_of(r: Result<PendingCorrection, CorrectRefused>) -> FleetResult {
    match r {
        Ok(_) => FleetResult::Ok,
        Err(CorrectRefused::NoTimescale) => FleetResult::NoAnnouncement,
        Err(CorrectRefused::NoEstimate) => FleetResult::NoEstimate,
        Err(CorrectRefused::Pending) => FleetResult::Pending,
        Err(CorrectRefused::NothingToCorrect) => FleetResult::NothingToCorrect,
    }
}

/// The reply to `request` from the status snapshot; `result` overrides the plain one.
pub fn reply_from(
    request: &FleetRequest,
    status: &Status,
    result: Option<FleetResult>,
) -> FleetReply {
    let Some(a) = status.fleet_authority else {
        return FleetReply::empty(request, FleetResult::NotAuthority);
    };
    let plain = if a.timescale.is_some() {
        FleetResult::Ok
    } else {
        FleetResult::NoAnnouncement
    };
    FleetReply {
        result: result.unwrap_or(plain),
        policy: Some(a.policy),
        timescale: a.timescale,
        steps_last_24h: a.steps_last_24h,
        too_often: a.too_often,
        d_age_ms: a
            .age_s
            .and_then(|s| u32::try_from((s * 1e3).round() as i64).ok())
            .filter(|&ms| ms != u32::MAX),
        ..FleetReply::empty(request, FleetResult::Ok)
    }
}

/// Answers one fleet request the gate let through. A correction goes to the engine (which
/// owns the controller) and is answered once it is scheduled or refused.
pub async fn answer(
    decision: FleetDecision,
    shared: &Shared,
    events: Option<&mpsc::Sender<Event>>,
) -> FleetReply {
    let FleetDecision {
        request,
        may_correct,
    } = decision;
    match request.kind {
        FleetKind::Announcement => reply_from(&request, &shared.status(), None),
        FleetKind::CorrectNow if !may_correct => {
            reply_from(&request, &shared.status(), Some(FleetResult::NotLoopback))
        }
        FleetKind::CorrectNow => {
            if shared.status().fleet_authority.is_none() {
                return FleetReply::empty(&request, FleetResult::NotAuthority);
            }
            let (tx, rx) = oneshot::channel();
            let asked = match events {
                Some(events) => events.send(Event::FleetCorrect(tx)).await.is_ok(),
                None => false,
            };
            let outcome = if asked {
                tokio::time::timeout(CORRECT_WAIT, rx)
                    .await
                    .ok()
                    .and_then(Result::ok)
            } else {
                None
            };
            match outcome {
                Some(r) => {
                    let result = result_of(r);
                    if let Ok(p) = r {
                        tracing::info!(
                            "fleet: correction of D by {:+.3} ms asked on loopback, at leader \
                             time {} ns (epoch {})",
                            p.delta_ns as f64 * 1e-6,
                            p.at_leader_ns,
                            p.epoch
                        );
                    }
                    reply_from(&request, &shared.status(), Some(result))
                }
                None => FleetReply::empty(&request, FleetResult::NoAnnouncement),
            }
        }
        FleetKind::Other(_) => FleetReply::empty(&request, FleetResult::UnknownKind),
    }
}

/// Hands an announcement heard from the authority to the controller; what it decides (a
/// start-up step, a frequency) is for the engine to execute.
pub fn hand_to_controller(
    controller: &mut Controller,
    ts: FleetTimescale,
    now: Moment,
) -> Vec<Action> {
    tracing::trace!("fleet: announcement epoch {} D {} ns", ts.epoch, ts.d_ns);
    controller.set_fleet_timescale(ts, now)
}

// --- persistence -------------------------------------------------------------------------

/// The authority's D as kept beside the state file (`fleet.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedD {
    pub version: u32,
    pub leader_sender: String,
    pub leader_port: u16,
    pub leader_grandmaster: String,
    pub epoch: u32,
    pub d_ns: i64,
    pub at_leader_ns: i64,
    pub rate_ppb: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<(i64, i64, u32)>,
}

impl SavedD {
    pub fn from_timescale(ts: &FleetTimescale) -> Self {
        SavedD {
            version: 1,
            leader_sender: ts.leader.sender.to_string(),
            leader_port: ts.leader.sender_port,
            leader_grandmaster: ts.leader.grandmaster.to_string(),
            epoch: ts.epoch,
            d_ns: ts.d_ns,
            at_leader_ns: ts.at_leader_ns,
            rate_ppb: ts.rate_ppb,
            pending: ts.pending.map(|p| (p.at_leader_ns, p.delta_ns, p.epoch)),
        }
    }

    pub fn timescale(&self) -> Option<FleetTimescale> {
        Some(FleetTimescale {
            leader: LeaderId {
                sender: self.leader_sender.parse::<Uuid>().ok()?,
                sender_port: self.leader_port,
                grandmaster: self.leader_grandmaster.parse::<Uuid>().ok()?,
            },
            epoch: self.epoch,
            d_ns: self.d_ns,
            at_leader_ns: self.at_leader_ns,
            rate_ppb: self.rate_ppb,
            pending: self
                .pending
                .map(|(at_leader_ns, delta_ns, epoch)| PendingCorrection {
                    at_leader_ns,
                    delta_ns,
                    epoch,
                }),
        })
    }
}

/// `fleet.json` in the state file's directory.
pub fn saved_d_path(state_file: &Path) -> PathBuf {
    state_file.with_file_name("fleet.json")
}

pub fn load_d(path: &Path) -> Option<FleetTimescale> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<SavedD>(&text) {
        Ok(saved) => saved.timescale(),
        Err(e) => {
            tracing::warn!("fleet: {} ignored: {e}", path.display());
            None
        }
    }
}

/// Under `slew` the announcement is re-anchored at every NTP measurement; a D read back that
/// old, extrapolated at its rate, is still within the slew's own error, and flash storage in
/// small PCs should not be written every few seconds.
const CONTINUOUS_SAVE_EVERY: Duration = Duration::from_secs(600);

/// Writes the authority's D: at once when it changes discontinuously (a leader, an epoch, a
/// pending correction), at most every ten minutes when it only moves on.
#[derive(Debug)]
pub struct DPersister {
    path: PathBuf,
    saved: Option<FleetTimescale>,
    saved_at: Option<Instant>,
}

/// Whether `new` differs from `old` in what a restart must not lose at once.
fn discontinuous(old: Option<FleetTimescale>, new: &FleetTimescale) -> bool {
    old.is_none_or(|o| o.leader != new.leader || o.epoch != new.epoch || o.pending != new.pending)
}

impl DPersister {
    pub fn new(path: PathBuf, on_disk: Option<FleetTimescale>) -> Self {
        DPersister {
            path,
            saved: on_disk,
            saved_at: None,
        }
    }

    /// At exit: whatever the announcement is now, written if it is not yet.
    pub fn flush(&mut self, ts: Option<FleetTimescale>) {
        self.saved_at = None;
        self.offer(ts);
    }

    pub fn offer(&mut self, ts: Option<FleetTimescale>) {
        let Some(ts) = ts.filter(|t| Some(*t) != self.saved) else {
            return;
        };
        let recent = self
            .saved_at
            .is_some_and(|t| t.elapsed() < CONTINUOUS_SAVE_EVERY);
        if recent && !discontinuous(self.saved, &ts) {
            return;
        }
        match dantesync_clock::state::save_json(&self.path, &SavedD::from_timescale(&ts)) {
            Ok(()) => {
                tracing::info!(
                    "fleet: D {} ns (epoch {}) saved to {}",
                    ts.d_ns,
                    ts.epoch,
                    self.path.display()
                );
                self.saved = Some(ts);
                self.saved_at = Some(Instant::now());
            }
            Err(e) => tracing::warn!("fleet: cannot save D: {e}"),
        }
    }
}

/// Says in the log what the authority did to D: a correction announced, D changed under a new
/// epoch (a correction applied, or a new leader), and a warning when corrections come more
/// often than the configuration thinks healthy.
#[derive(Debug, Default)]
pub struct AuthorityLog {
    epoch: Option<u32>,
    pending: Option<PendingCorrection>,
    too_often: bool,
}

impl AuthorityLog {
    pub fn note(&mut self, a: Option<AuthorityStatus>) {
        let Some(a) = a else { return };
        let Some(ts) = a.timescale else { return };
        if ts.pending.is_some() && ts.pending != self.pending {
            if let Some(p) = ts.pending {
                tracing::info!(
                    "fleet: correction of D by {:+.3} ms announced, at leader time {} ns \
                     (epoch {})",
                    p.delta_ns as f64 * 1e-6,
                    p.at_leader_ns,
                    p.epoch
                );
            }
        }
        if self.epoch.is_some_and(|e| e != ts.epoch) {
            tracing::info!(
                "fleet: {}; {} correction(s) in the last 24 h",
                describe(&ts),
                a.steps_last_24h
            );
        }
        if a.too_often && !self.too_often {
            tracing::warn!(
                "fleet: {} corrections of D in the last 24 h: more than healthy; check the \
                 upstream NTP servers and fleet.emergency_limit_ms (docs/fleet.md)",
                a.steps_last_24h
            );
        }
        self.epoch = Some(ts.epoch);
        self.pending = ts.pending;
        self.too_often = a.too_often;
    }
}

// --- the client ----------------------------------------------------------------------------

/// What a fleet client last heard from its authority.
#[derive(Clone, Debug, Default)]
pub struct Heard {
    pub authority: String,
    pub last: Option<(FleetReply, Instant)>,
    pub polls_failed: u64,
}

pub type HeardShared = Arc<Mutex<Heard>>;

/// "epoch 3, D 1785… ns at leader 700… ns, rate 0 ppb, pending -200.000 ms at leader … ns
/// (epoch 4)": what the log says of an announcement.
pub fn describe(ts: &FleetTimescale) -> String {
    let mut out = format!(
        "leader {}, epoch {}, D {} ns at leader {} ns, rate {} ppb",
        ts.leader.grandmaster, ts.epoch, ts.d_ns, ts.at_leader_ns, ts.rate_ppb
    );
    match ts.pending {
        Some(p) => out.push_str(&format!(
            ", pending {:+.3} ms at leader {} ns (epoch {})",
            p.delta_ns as f64 * 1e-6,
            p.at_leader_ns,
            p.epoch
        )),
        None => out.push_str(", nothing pending"),
    }
    out
}

/// One request to `to` with up to [`POLL_ATTEMPTS`] attempts; the reply that answers it.
pub async fn ask(
    sock: &UdpSocket,
    to: SocketAddr,
    kind: FleetKind,
    request_id: u32,
    wait: Duration,
) -> Option<FleetReply> {
    let request = FleetRequest {
        version: FLEET_VERSION,
        kind,
        request_id,
        client_tx: 0,
    };
    let bytes = request.to_bytes();
    let mut buf = vec![0u8; 2 * FLEET_LEN];
    for _ in 0..POLL_ATTEMPTS {
        if sock.send_to(&bytes, to).await.is_err() {
            continue;
        }
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Ok((n, from))) =
            tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            match FleetReply::parse(&buf[..n]) {
                Ok(r) if from == to && r.request_id == request_id => return Some(r),
                _ => continue,
            }
        }
    }
    None
}

/// Polls the authority at `host:port` every `every`, keeps what it heard in `heard`, and
/// sends each announcement to the engine.
pub async fn poll_authority(
    host: String,
    port: u16,
    every: Duration,
    heard: HeardShared,
    events: mpsc::Sender<Event>,
) {
    let name = format!("{host}:{port}");
    heard
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .authority = name.clone();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut request_id: u32 = rand::random();
    let mut said_failure = false;
    let mut last: Option<FleetTimescale> = None;
    loop {
        tick.tick().await;
        let to = match tokio::net::lookup_host(name.as_str()).await {
            Ok(mut addrs) => addrs.next(),
            Err(_) => None,
        };
        let reply = match to {
            Some(to) => {
                let local: SocketAddr = if to.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                match UdpSocket::bind(local).await {
                    Ok(sock) => {
                        request_id = request_id.wrapping_add(1);
                        ask(&sock, to, FleetKind::Announcement, request_id, POLL_WAIT).await
                    }
                    Err(_) => None,
                }
            }
            None => None,
        };
        {
            let mut h = heard.lock().unwrap_or_else(PoisonError::into_inner);
            match reply {
                Some(r) => h.last = Some((r, Instant::now())),
                None => h.polls_failed += 1,
            }
        }
        match reply {
            Some(r) => {
                if said_failure {
                    tracing::info!("fleet: the authority {name} answers again");
                    said_failure = false;
                }
                if let (FleetResult::Ok, Some(ts)) = (r.result, r.timescale) {
                    if last != Some(ts) {
                        tracing::info!("fleet: announcement from {name}: {}", describe(&ts));
                        last = Some(ts);
                    }
                    if events.send(Event::FleetAnnouncement(ts)).await.is_err() {
                        return;
                    }
                }
            }
            None if !said_failure => {
                tracing::warn!(
                    "fleet: no answer from the authority {name} ({POLL_ATTEMPTS} attempts); \
                     keeping the last announcement"
                );
                said_failure = true;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_d_round_trips() {
        let ts = FleetTimescale {
            leader: LeaderId {
                sender: Uuid([0, 0x1d, 0xc1, 1, 2, 3]),
                sender_port: 1,
                grandmaster: Uuid([0, 0x1d, 0xc1, 4, 5, 6]),
            },
            epoch: 3,
            d_ns: 1_785_000_000_000_000_000,
            at_leader_ns: 77,
            rate_ppb: -5,
            pending: Some(PendingCorrection {
                at_leader_ns: 99,
                delta_ns: -200_000_000,
                epoch: 4,
            }),
        };
        let dir = std::env::temp_dir().join(format!("dantesync-fleet-{}", std::process::id()));
        let path = saved_d_path(&dir.join("state.json"));
        let mut p = DPersister::new(path.clone(), None);
        p.offer(Some(ts));
        assert_eq!(load_d(&path), Some(ts));
        // Moving on at its rate: not written again at once; a new epoch is.
        let moved = FleetTimescale {
            d_ns: ts.d_ns + 1_000,
            at_leader_ns: ts.at_leader_ns + 1_000_000,
            ..ts
        };
        p.offer(Some(moved));
        assert_eq!(load_d(&path), Some(ts));
        let stepped = FleetTimescale {
            epoch: 4,
            pending: None,
            ..moved
        };
        p.offer(Some(stepped));
        assert_eq!(load_d(&path), Some(stepped));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
