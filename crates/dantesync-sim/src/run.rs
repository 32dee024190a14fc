//! The virtual-time event loop: leader, network, NTP server and controller, with the
//! controller's actions applied to the simulated oscillator.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use dantesync_core::controller::{self, Executed, NtpMeasurement, Task};
use dantesync_core::{Action, Controller, Mode, Moment, MonoTime, Notice, Status};

use crate::leader::Leader;
use crate::network::{Delivery, Network};
use crate::ntp_server::{NtpAnswer, NtpServer};
use crate::oscillator::Oscillator;
use crate::rng::SimRng;
use crate::scenario::Scenario;

/// True time at which every simulation starts (late 2026), ns since the Unix epoch.
pub const SIM_EPOCH_NS: i64 = 1_795_000_000_000_000_000;

/// How often the truth is sampled for the metrics.
pub const OBSERVE_EVERY_NS: i64 = 250_000_000;

/// The truth and the controller's claims at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Seconds since the start.
    pub t_s: f64,
    pub mode: Mode,
    /// True frequency error of the disciplined clock against the current leader, ppm, without
    /// what fleet mode adds on purpose (as an NTP slew is deliberate): the rate servo's error,
    /// which the modes' claims are about.
    pub error_ppm: f64,
    /// True phase error of the clock against UTC (local − true), ns.
    pub phase_ns: f64,
    /// What the controller believes the residual drift is, ppm.
    pub claimed_drift_ppm: Option<f64>,
    pub claimed_bound_ppm: Option<f64>,
    /// Total frequency applied to the clock (servo plus any NTP slew), ppm.
    pub applied_ppm: f64,
    /// The part of `applied_ppm` that is an NTP slew (deliberate, not a servo error).
    pub slew_ppm: f64,
    /// Fleet scenarios: true phase error of the clock against leader + D of the announcement
    /// in force (ns); `None` without one for the current leader.
    pub fleet_phase_ns: Option<f64>,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct Trace {
    pub observations: Vec<Observation>,
    pub notices: Vec<(f64, Notice)>,
    pub final_status: Status,
    pub frequency_changes: u64,
    pub steps: u64,
    pub packets_delivered: u64,
    /// True times (s since start) at which PTP datagrams reached the node.
    pub packet_times_s: Vec<f64>,
    /// NTP checks the controller asked for, and those whose result reached it.
    pub ntp_requests: u64,
    pub ntp_checks: u64,
    /// Steps of the clock made by someone else.
    pub external_steps: u64,
    /// The controller's mode beside the true frequency error, recorded after every event that
    /// changed either: a step function, exact between events (unlike the 250 ms
    /// observations, which can miss a claim that lasts one 125 ms Sync).
    pub claims: Vec<Claim>,
}

/// From `t_s` until the next claim, the controller showed `mode` while the true frequency
/// error was `error_ppm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Claim {
    pub t_s: f64,
    pub mode: Mode,
    pub error_ppm: f64,
}

impl Trace {
    /// The first time at or after `from_s` that the controller switched into a mode `pred`
    /// accepts (exact, from the controller's notices).
    pub fn first_switch(&self, from_s: f64, pred: impl Fn(Mode) -> bool) -> Option<f64> {
        self.mode_changes()
            .find(|(t, _, to)| *t >= from_s && pred(*to))
            .map(|(t, _, _)| t)
    }

    /// Seconds (exact, from the claims up to `end_s`) during which LOCK was shown while the
    /// true error was at or above `lock_ppm`, and NANO while it was at or above `nano_ppm`.
    pub fn dishonest_claims_s(&self, lock_ppm: f64, nano_ppm: f64, end_s: f64) -> f64 {
        let ends = self.claims.iter().skip(1).map(|c| c.t_s).chain([end_s]);
        self.claims
            .iter()
            .zip(ends)
            .filter(|(c, _)| {
                (c.mode.is_locked() && c.error_ppm.abs() >= lock_ppm)
                    || (c.mode == Mode::Nano && c.error_ppm.abs() >= nano_ppm)
            })
            .map(|(c, until)| (until.min(end_s) - c.t_s).max(0.0))
            .sum()
    }

    pub fn mode_changes(&self) -> impl Iterator<Item = (f64, Mode, Mode)> + '_ {
        self.notices.iter().filter_map(|(t, n)| match n {
            Notice::ModeChanged { from, to } => Some((*t, *from, *to)),
            _ => None,
        })
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: i64,
    seq: u64,
    kind: Kind,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    SyncTx {
        leader: usize,
    },
    PacketRx {
        bytes: Vec<u8>,
        timestamp_error_ns: i64,
    },
    Tick {
        generation: u64,
    },
    NtpDone,
    Observe,
    ExternalStep {
        nanos: i64,
    },
    /// The fleet's authority announces D.
    Announce,
    /// The controller's Delay_Req leaves now.
    DelayReqTx {
        sequence_id: u16,
        bytes: Vec<u8>,
    },
}

struct World {
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
}

impl World {
    fn push(&mut self, at: i64, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            at,
            seq: self.seq,
            kind,
        }));
    }
}

/// Runs a scenario to its end and returns what happened.
pub fn run(scenario: &Scenario) -> Trace {
    let mut root = SimRng::new(scenario.seed);
    let mut osc = Oscillator::new(scenario.oscillator.clone(), SIM_EPOCH_NS, root.fork(1));
    let mut net = Network::new(scenario.network.clone(), root.fork(2));
    let mut ntp = scenario
        .ntp
        .clone()
        .map(|m| NtpServer::new(m, root.fork(3)));
    let mut garbage_rng = root.fork(4);
    // Forked last, so the streams above stay what they were.
    let mut reverse = Network::new(scenario.network.clone(), root.fork(5));
    let to_ns = |s: f64| SIM_EPOCH_NS + (s * 1e9).round() as i64;
    let mut leaders: Vec<Leader> = scenario
        .leaders
        .iter()
        .map(|span| Leader::new(span.model.clone(), to_ns(span.from_s)))
        .collect();

    let mut world = World {
        queue: BinaryHeap::new(),
        seq: 0,
    };
    for (i, span) in scenario.leaders.iter().enumerate() {
        world.push(
            to_ns(span.from_s + span.first_sync_after_s),
            Kind::SyncTx { leader: i },
        );
    }
    world.push(SIM_EPOCH_NS, Kind::Observe);
    let mut authority = scenario.fleet.clone().map(|cfg| {
        world.push(to_ns(1.0), Kind::Announce);
        crate::fleet::Authority::new(cfg)
    });
    for &(at_s, nanos) in &scenario.external_steps {
        world.push(to_ns(at_s), Kind::ExternalStep { nanos });
    }

    // The monotonic axis is true time: nobody steps it.
    let moment = |osc: &mut Oscillator, t: i64| Moment::new(osc.read(t), MonoTime::from_nanos(t));
    let mut controller = Controller::new(
        scenario.controller.clone(),
        moment(&mut osc, SIM_EPOCH_NS),
        scenario.initial_ppm,
    );
    if let Some((ppm, sigma, leader)) = scenario.learned {
        controller = controller.with_learned_frequency(ppm, sigma, Some(leader));
    }
    let mut trace = Trace {
        observations: Vec::new(),
        notices: Vec::new(),
        final_status: controller.status(),
        frequency_changes: 0,
        steps: 0,
        packets_delivered: 0,
        packet_times_s: Vec::new(),
        ntp_requests: 0,
        ntp_checks: 0,
        external_steps: 0,
        claims: Vec::new(),
    };
    let mut timer_generation = 0u64;
    let end_ns = to_ns(scenario.duration_s);
    let actions = controller.start(moment(&mut osc, SIM_EPOCH_NS));
    apply(
        actions,
        SIM_EPOCH_NS,
        &mut osc,
        &mut world,
        &mut timer_generation,
        ntp.as_mut(),
        &mut trace,
    );

    while let Some(Reverse(ev)) = world.queue.pop() {
        let now = ev.at;
        if now > end_ns {
            break;
        }
        let since_s = (now - SIM_EPOCH_NS) as f64 * 1e-9;
        // Every event that can change the mode or the frequency has moved the oscillator to
        // `now` (it read the clock), so its truth is exact here without advancing it again
        // (which would draw the random walk at other instants and change every run).
        let claims_may_change = matches!(
            ev.kind,
            Kind::PacketRx { .. }
                | Kind::Tick { .. }
                | Kind::NtpDone
                | Kind::ExternalStep { .. }
                | Kind::Announce
        );
        let actions = match ev.kind {
            Kind::SyncTx { leader } => {
                let span = &scenario.leaders[leader];
                let interval = leaders[leader].model.sync_interval_ns();
                if since_s < span.to_s {
                    world.push(now + interval, Kind::SyncTx { leader });
                    let (sync, follow_up) = leaders[leader].send(now);
                    let silent = scenario
                        .silences
                        .iter()
                        .any(|&(a, b)| since_s >= a && since_s < b);
                    if !silent {
                        if let Delivery::Delivered {
                            delay_ns,
                            timestamp_error_ns,
                        } = net.deliver(since_s)
                        {
                            let mut error = timestamp_error_ns;
                            if scenario
                                .garbage
                                .iter()
                                .any(|&(a, b)| since_s >= a && since_s < b)
                            {
                                error += ((garbage_rng.uniform() - 0.5) * 20e6) as i64;
                            }
                            world.push(
                                now + delay_ns,
                                Kind::PacketRx {
                                    bytes: sync,
                                    timestamp_error_ns: error,
                                },
                            );
                            world.push(
                                now + delay_ns + 300_000,
                                Kind::PacketRx {
                                    bytes: follow_up,
                                    timestamp_error_ns: 0,
                                },
                            );
                        }
                    }
                }
                Vec::new()
            }
            Kind::PacketRx {
                bytes,
                timestamp_error_ns,
            } => {
                trace.packets_delivered += 1;
                trace.packet_times_s.push(since_s);
                // As the daemon does: the receive timestamp's monotonic time is derived from
                // it, so the two axes differ by what the clocks differ by now.
                let rx = Moment::new(
                    osc.read(now).add_nanos(timestamp_error_ns),
                    MonoTime::from_nanos(now + timestamp_error_ns),
                );
                controller.handle_ptp(&bytes, rx)
            }
            Kind::Tick { generation } if generation == timer_generation => {
                controller.tick(moment(&mut osc, now))
            }
            Kind::Tick { .. } => Vec::new(),
            Kind::NtpDone => {
                trace.ntp_checks += 1;
                let local = moment(&mut osc, now);
                match ntp.as_mut().map(|s| s.answer(osc.phase_ns())) {
                    Some(NtpAnswer::Offset {
                        offset_ns,
                        delay_ns,
                    }) => controller.handle_ntp_result(
                        local,
                        NtpMeasurement {
                            offset_ns,
                            delay_ns,
                        },
                    ),
                    _ => controller.handle_ntp_failure(local),
                }
            }
            Kind::ExternalStep { nanos } => {
                trace.external_steps += 1;
                osc.external_step(now, nanos);
                Vec::new()
            }
            Kind::DelayReqTx { sequence_id, bytes } => {
                // The simulated clock is read exactly: a kernel-grade transmit stamp.
                let sent = controller.delay_req_sent(sequence_id, moment(&mut osc, now), true);
                let leader = current_leader(scenario, since_s).map(|i| &leaders[i]);
                if let Some(leader) = leader.filter(|_| scenario.delay_req_answered) {
                    if let Some((at, bytes)) =
                        crate::delay_req::answer(leader, &mut reverse, now, since_s, &bytes)
                    {
                        let timestamp_error_ns = 0;
                        world.push(
                            at,
                            Kind::PacketRx {
                                bytes,
                                timestamp_error_ns,
                            },
                        );
                    }
                }
                sent
            }
            Kind::Announce => {
                let Some(auth) = authority.as_mut() else {
                    continue;
                };
                world.push(
                    now + (auth.cfg.announce_every_s * 1e9) as i64,
                    Kind::Announce,
                );
                match current_leader(scenario, since_s) {
                    Some(i)
                        if since_s - scenario.leaders[i].from_s >= auth.cfg.reannounce_after_s =>
                    {
                        let ts = auth.announce(&leaders[i], now, SIM_EPOCH_NS);
                        controller.set_fleet_timescale(ts, moment(&mut osc, now))
                    }
                    _ => Vec::new(),
                }
            }
            Kind::Observe => {
                world.push(now + OBSERVE_EVERY_NS, Kind::Observe);
                osc.advance(now);
                let fleet_phase_ns = authority.as_ref().and_then(|a| {
                    let i = current_leader(scenario, since_s)?;
                    a.phase_error_ns(&leaders[i], now, osc.phase_ns())
                });
                let leader_drift = current_leader_drift(scenario, since_s);
                let status = controller.status();
                trace.observations.push(Observation {
                    t_s: since_s,
                    mode: status.mode,
                    error_ppm: osc.natural_ppm() + osc.applied_ppm()
                        - status.fleet.added_ppm
                        - leader_drift,
                    phase_ns: osc.phase_ns(),
                    claimed_drift_ppm: status.drift_ppm,
                    claimed_bound_ppm: status.error_bound_ppm,
                    applied_ppm: osc.applied_ppm(),
                    slew_ppm: status.slew_ppm,
                    fleet_phase_ns,
                });
                Vec::new()
            }
        };
        trace.notices.extend(actions.iter().filter_map(|a| match a {
            Action::Notice(n) => Some((since_s, n.clone())),
            _ => None,
        }));
        apply(
            actions,
            now,
            &mut osc,
            &mut world,
            &mut timer_generation,
            ntp.as_mut(),
            &mut trace,
        );
        if claims_may_change {
            let claim = Claim {
                t_s: since_s,
                mode: controller.mode(),
                error_ppm: osc.natural_ppm() + osc.applied_ppm()
                    - fleet_added_ppm(&controller, scenario)
                    - current_leader_drift(scenario, since_s),
            };
            let last = trace.claims.last();
            if last.is_none_or(|c| c.mode != claim.mode || c.error_ppm != claim.error_ppm) {
                trace.claims.push(claim);
            }
        }
    }
    trace.final_status = controller.status();
    trace
}

/// What fleet mode adds to the rate servo's frequency on purpose (0 outside fleet scenarios,
/// where the snapshot is not worth taking).
fn fleet_added_ppm(controller: &Controller, scenario: &Scenario) -> f64 {
    if scenario.fleet.is_some() {
        controller.status().fleet.added_ppm
    } else {
        0.0
    }
}

/// The leader sending at `t_s` that started last, by index.
fn current_leader(scenario: &Scenario, t_s: f64) -> Option<usize> {
    scenario
        .leaders
        .iter()
        .enumerate()
        .filter(|(_, l)| l.from_s <= t_s && t_s < l.to_s)
        .max_by(|(_, a), (_, b)| a.from_s.total_cmp(&b.from_s))
        .map(|(i, _)| i)
}

/// The drift of the leader the node should follow at `t_s`: the latest one to have started.
fn current_leader_drift(scenario: &Scenario, t_s: f64) -> f64 {
    scenario
        .leaders
        .iter()
        .filter(|l| l.from_s <= t_s)
        .max_by(|a, b| a.from_s.total_cmp(&b.from_s))
        .or(scenario.leaders.first())
        .map_or(0.0, |l| l.model.drift_at(t_s - l.from_s))
}

fn apply(
    actions: Vec<Action>,
    now: i64,
    osc: &mut Oscillator,
    world: &mut World,
    timer_generation: &mut u64,
    mut ntp: Option<&mut NtpServer>,
    trace: &mut Trace,
) {
    for action in actions {
        let done = controller::execute(&mut osc.at(now), action);
        match done {
            Executed::FrequencySet { .. } => trace.frequency_changes += 1,
            Executed::Stepped { .. } => trace.steps += 1,
            Executed::FrequencyRefused { error, .. } | Executed::StepRefused { error, .. } => {
                match error {}
            }
            Executed::Task(Task::StartNtpCheck) => {
                trace.ntp_requests += 1;
                let lost = ntp.as_deref_mut().is_some_and(NtpServer::loses_report);
                if !lost {
                    let after = ntp.as_deref().map_or(50_000_000, NtpServer::check_ns);
                    world.push(now + after, Kind::NtpDone);
                }
            }
            Executed::Task(Task::SetTimer { at }) => {
                *timer_generation += 1;
                let when = osc.true_time_of(at, now);
                world.push(
                    when,
                    Kind::Tick {
                        generation: *timer_generation,
                    },
                );
            }
            Executed::Task(Task::SendDelayReq { sequence_id, bytes }) => {
                world.push(now, Kind::DelayReqTx { sequence_id, bytes });
            }
            Executed::Task(Task::Notice(_)) => {}
        }
    }
}
