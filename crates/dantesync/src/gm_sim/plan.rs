//! What a run will do, resolved and checked from the command line: the leader's identity,
//! the sockets' endpoints, each follower's addresses, the timescale and when to stop.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use dantesync_core::wire::ptpv1::LeaderIdentity;

use super::args::{GmSimArgs, TxStamps};
use super::dest::Target;
use super::sockets::{self, Endpoints};
use super::uptime::Timebase;

/// The stratum a Dante device set as Preferred Leader was seen advertising.
const PREFERRED_STRATUM: u8 = 121;
/// The stratum of an ordinary Dante leader.
const DANTE_STRATUM: u8 = 153;

/// Everything a run needs, checked.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) identity: LeaderIdentity,
    pub(super) endpoints: Endpoints,
    /// Each follower's Sync and Follow_Up addresses, at least one.
    pub(super) targets: Vec<Target>,
    pub(super) interval: Duration,
    pub(super) uptime_start_ns: i128,
    pub(super) drift_ppm: f64,
    pub(super) rate_step: Option<(f64, f64)>,
    pub(super) timebase: Timebase,
    pub(super) jitter: Duration,
    pub(super) tx_stamps: TxStamps,
    pub(super) duration: Option<Duration>,
    pub(super) count: Option<u64>,
    pub(super) first_sequence_id: u16,
    pub(super) interface: Option<String>,
}

impl Plan {
    pub(super) fn from_args(args: &GmSimArgs) -> Result<Plan, String> {
        args.timebase.check()?;
        if args.dest.iter().any(|d| d.addr.is_unspecified()) {
            return Err("--dest 0.0.0.0 is not a destination".to_owned());
        }
        let mut targets: Vec<Target> = Vec::new();
        for d in &args.dest {
            let target = d.resolve(args.event_port, args.general_port);
            if targets.contains(&target) {
                return Err(format!("--dest {d} is given twice"));
            }
            targets.push(target);
        }
        if targets.is_empty() {
            return Err("--dest names no destination".to_owned());
        }
        let mut dests: Vec<Ipv4Addr> = Vec::new();
        for d in &args.dest {
            if !dests.contains(&d.addr) {
                dests.push(d.addr);
            }
        }
        let any_multicast = dests.iter().any(Ipv4Addr::is_multicast);
        let interval = Duration::from_secs_f64(2f64.powi(i32::from(args.sync_interval_log2)));
        let jitter = Duration::from_micros(u64::from(args.jitter_us));
        // Each destination's Sync may wait up to the jitter: all of them must fit the interval.
        let n = targets.len() as u32;
        if jitter * n >= interval {
            let times = if n == 1 {
                String::new()
            } else {
                format!(" times {n} destinations")
            };
            return Err(format!(
                "--jitter-us {}{times} is not below the Sync interval ({} µs)",
                args.jitter_us,
                interval.as_micros()
            ));
        }
        let interface_address = args
            .interface
            .as_deref()
            .map(sockets::interface_address)
            .transpose()?;
        let bind = args
            .bind
            .or(interface_address)
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        let multicast_if = interface_address
            .or_else(|| args.bind.filter(|b| !b.is_unspecified()))
            .filter(|_| any_multicast);
        let mut identity = LeaderIdentity::dante(args.uuid);
        identity.preferred = args.preferred;
        identity.stratum = args.stratum.unwrap_or(if args.preferred {
            PREFERRED_STRATUM
        } else {
            DANTE_STRATUM
        });
        identity.variance = args.variance;
        identity.sync_interval_log2 = args.sync_interval_log2;
        let first_sequence_id = args.first_sequence_id.unwrap_or_else(|| {
            // As if the leader had been sending since it booted.
            ((args.uptime_start_s / interval.as_secs_f64()) as u64 % 65_536) as u16
        });
        Ok(Plan {
            identity,
            endpoints: Endpoints {
                dests,
                bind,
                multicast_if,
                delay_req_port: args.delay_req_port.unwrap_or(args.event_port),
                ttl: args.ttl,
            },
            targets,
            interval,
            uptime_start_ns: (args.uptime_start_s * 1e9).round() as i128,
            drift_ppm: args.drift_ppm,
            rate_step: args.rate_step_at,
            timebase: args.timebase,
            jitter,
            tx_stamps: args.tx_timestamps,
            duration: args.duration_s.map(Duration::from_secs_f64),
            count: args.count,
            first_sequence_id,
            interface: args.interface.clone(),
        })
    }

    /// Where a Delay_Resp to a requester at `from` goes: every destination that is a group or
    /// has the requester's address; failing that, the requester at the first general port.
    pub(super) fn delay_resp_dests(&self, from: Ipv4Addr) -> Vec<SocketAddrV4> {
        let mut out: Vec<SocketAddrV4> = Vec::new();
        for t in &self.targets {
            let ip = *t.general.ip();
            if (ip.is_multicast() || ip == from) && !out.contains(&t.general) {
                out.push(t.general);
            }
        }
        if out.is_empty() {
            out.push(SocketAddrV4::new(from, self.targets[0].general.port()));
        }
        out
    }
}
