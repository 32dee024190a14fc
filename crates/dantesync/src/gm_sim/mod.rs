//! `dantesync gm-sim`: a Dante leader on real UDP sockets, for tests, demos and lab benches.
//!
//! What it sends is what the Focusrite RedNet AM2 in the shared capture sends, built by
//! [`dantesync_core::wire::ptpv1::LeaderIdentity`]: a two-step Sync to the event port (IP TOS 0xE0)
//! followed by a Follow_Up to the general port (TOS 0xB8), TTL 1, flags 0x000c, stratum 153,
//! variance 28768, `DFLT`, syncInterval −2 written sign-extended (byte 82 = 0xFF), and
//! timestamps on the leader's *uptime* timescale.
//!
//! # Timestamps
//!
//! The uptime runs from this host's monotonic clock at `1 + drift·1e-6` times its rate
//! ([`uptime::Uptime`]). With `--timebase raw` (Linux) it runs from CLOCK_MONOTONIC_RAW
//! instead, which no rate correction touches: a leader with a known drift for a follower that
//! disciplines this same host's clock (scripts/qemu-clock-test.sh), where CLOCK_MONOTONIC would
//! follow the follower's corrections and any servo would "lock" to it. The Sync schedule stays
//! on the monotonic clock either way. For each Sync:
//! - the Sync's own originTimestamp is read first, before the message is encoded: it is
//!   early against the precise one, as on Dante gear (there by tens of µs, here by a few);
//! - the Follow_Up's preciseOriginTimestamp is when the Sync left: on Linux (and by default,
//!   `--tx-timestamps auto`) the kernel's software transmit stamp of the datagram
//!   (SO_TIMESTAMPING, [`txstamp`]), taken when the driver hands it to the device, as a
//!   two-step leader stamps in hardware; the stamp is realtime and is carried to the uptime by
//!   the time elapsed since it. Elsewhere, with `--tx-timestamps user`, or when a stamp does
//!   not come within 20 ms (counted in the final report), it is a reading taken **immediately
//!   before** the Sync is handed to the socket (`send_to`), so it never comes after the
//!   datagram has left; a follower's one-way delay comes out slightly positive, never
//!   negative. A user-space reading is early by the system call and by any preemption in it
//!   (tens of µs, thousands on a loaded machine or under qemu's emulation), in steps: noise on
//!   T1 that real leaders do not have;
//! - with `--jitter-us`, T1 is made early by a random amount (uniform in 0..=jitter): with
//!   user-space readings, a wait of that length between the reading and the send; with kernel
//!   stamps, the same wait before the send and its length subtracted from the stamp. Either way it is the noise a follower sees
//!   from a leader with poor timestamping.
//!
//! Syncs go out on absolute deadlines (start + k × interval on the monotonic clock), so
//! oversleeping once delays one Sync but never the ones after it.
//!
//! # Delay_Req
//!
//! A Delay_Req arriving on the Delay_Req port (the event port unless `--delay-req-port` says
//! otherwise) is answered with a Delay_Resp from the general socket: delayReceiptTimestamp is
//! the uptime read when `recv_from` returns (a user-space timestamp), the requesting fields
//! are copied from the request, and it goes to the group's general port when sending to the
//! group (as PTPv1 does), else to the requester's address at the general port. The
//! Delay_Resp header carries the leader's UUID, flags 0x000c like its other messages (the
//! shared capture holds no Delay_Resp to check this against) and a sequence id of its own
//! that counts Delay_Resps, as ptpd does.
//!
//! On a unicast destination that is this host (loopback tests), a follower already holds the
//! event port, so the Delay_Req listener needs a port of its own: `--delay-req-port`.
//!
//! # Several destinations
//!
//! `--dest` may be given several times (or as a comma list), each `ADDR` or
//! `ADDR:EVENT_PORT:GENERAL_PORT`: one leader timescale reaches several followers, e.g. the
//! nodes of `dantesync demo` on loopback, each on its own ports. Every Sync (one sequence id,
//! one originTimestamp) goes to each destination in turn, and each destination's Follow_Up
//! carries the precise time *its* Sync was sent, so the rule above holds per follower. A Delay_Resp goes to every destination that is a group or has the
//! requester's address (followers pick theirs by the requesting UUID, as on the group), else
//! to the requester's address at the first destination's general port.

mod dest;
mod net;
pub(crate) mod stop;
mod uptime;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use dantesync_core::wire::ptpv1::{
    LeaderIdentity, Message, Subdomain, Timestamp, Uuid, EVENT_PORT, GENERAL_PORT,
};
use rand::Rng;

pub use dest::Dest;
use dest::Target;
use net::{Endpoints, Sockets};
pub use uptime::Timebase;
use uptime::Uptime;

#[cfg(target_os = "linux")]
use crate::sys::txstamp;

/// The stratum a Dante device set as Preferred Leader was seen advertising.
const PREFERRED_STRATUM: u8 = 121;
/// The stratum of an ordinary Dante leader.
const DANTE_STRATUM: u8 = 153;
/// Largest |drift| accepted, ppm: well beyond any real oscillator, still a sane timescale.
const MAX_DRIFT_PPM: f64 = 10_000.0;
/// Largest starting uptime, s: the timestamp's seconds field is 32 bits.
const MAX_UPTIME_START_S: f64 = 4_000_000_000.0;
/// How long the send loop sleeps at most before it looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// The last part of a wait that is spun rather than slept (sleep overshoots by ~50–100 µs).
const SPIN: Duration = Duration::from_micros(200);

#[derive(Debug, Args)]
pub struct GmSimArgs {
    /// Where to send: the PTPv1 group, or a unicast IPv4 address (127.0.0.1 on loopback),
    /// optionally with its own ports (ADDR:EVENT_PORT:GENERAL_PORT). Repeat it, or give a
    /// comma list, to send one timescale to several followers
    #[arg(
        long,
        value_name = "ADDR[:EVENT:GENERAL]",
        value_delimiter = ',',
        default_value = "224.0.1.129"
    )]
    pub dest: Vec<Dest>,
    /// Interface to send multicast on (IP_MULTICAST_IF) and bind to: a name (eth0) or its
    /// IPv4 address [default: the system's choice]
    #[arg(long, value_name = "NAME|IPV4")]
    pub interface: Option<String>,
    /// Source address to bind the sockets to [default: the interface's address, else any]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<Ipv4Addr>,
    /// Destination port of Sync (for destinations that name no ports)
    #[arg(long, value_name = "PORT", default_value_t = EVENT_PORT, value_parser = port)]
    pub event_port: u16,
    /// Destination port of Follow_Up and Delay_Resp (for destinations that name no ports)
    #[arg(long, value_name = "PORT", default_value_t = GENERAL_PORT, value_parser = port)]
    pub general_port: u16,
    /// Port to receive Delay_Req on; 0 = do not answer Delay_Req. On loopback, where the
    /// follower holds the event port, give another one [default: the event port]
    #[arg(long, value_name = "PORT")]
    pub delay_req_port: Option<u16>,
    /// log2 of the Sync interval in seconds, -7..=4 (-2 = 250 ms, as Dante)
    #[arg(long, value_name = "N", default_value_t = -2, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i8).range(-7..=4))]
    pub sync_interval_log2: i8,
    /// The leader's oscillator error: its uptime advances (1 + ppm·1e-6) times as fast as
    /// this host's monotonic clock
    #[arg(long, value_name = "PPM", default_value_t = 0.0, allow_negative_numbers = true,
          value_parser = drift_ppm)]
    pub drift_ppm: f64,
    /// The host clock the leader's uptime runs on: monotonic (CLOCK_MONOTONIC on Linux, which
    /// follows the system clock's rate corrections) or raw (CLOCK_MONOTONIC_RAW, Linux only,
    /// which nothing corrects: for a follower disciplining this same host's clock)
    #[arg(long, value_name = "CLOCK", value_enum, default_value_t = Timebase::Monotonic)]
    pub timebase: Timebase,
    /// The leader's uptime when the first Sync is sent, s
    #[arg(long, value_name = "S", default_value_t = 699.0, value_parser = uptime_start)]
    pub uptime_start_s: f64,
    /// The leader's UUID (MAC address): source, grandmaster and parent UUID
    #[arg(long, value_name = "UUID", default_value = "00:1d:c1:00:53:01")]
    pub uuid: Uuid,
    /// grandmasterClockStratum and localClockStratum [default: 153, or 121 with --preferred]
    #[arg(long, value_name = "N")]
    pub stratum: Option<u8>,
    /// grandmasterClockVariance and localClockVariance
    #[arg(
        long,
        value_name = "N",
        default_value_t = 28768,
        allow_negative_numbers = true
    )]
    pub variance: i16,
    /// Advertise grandmasterPreferred, as a Dante device set as Preferred Leader
    #[arg(long)]
    pub preferred: bool,
    /// Where the Follow_Up's precise T1 comes from: the kernel's transmit stamp of the Sync
    /// (SO_TIMESTAMPING, Linux), a user-space reading just before sending it, or auto (the
    /// kernel's where it stamps, else user-space)
    #[arg(long, value_name = "HOW", value_enum, default_value_t = TxStamps::Auto)]
    pub tx_timestamps: TxStamps,
    /// Random error, uniform in 0..=US µs, on each Follow_Up's T1 (early by that much, as
    /// from a leader with poor timestamping): noise as followers see it. Must be below the
    /// Sync interval
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub jitter_us: u32,
    /// Stop after this many seconds [default: run until Ctrl-C or SIGTERM]
    #[arg(long, value_name = "S", value_parser = duration)]
    pub duration_s: Option<f64>,
    /// Stop after this many Syncs
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// IP TTL of every packet (Dante: 1)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub ttl: u8,
    /// Sequence id of the first Sync [default: uptime / interval, wrapped to 16 bits]
    #[arg(long, value_name = "N")]
    pub first_sequence_id: Option<u16>,
}

fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err("port 0 is not a destination".to_owned()),
        Ok(port) => Ok(port),
        Err(e) => Err(e.to_string()),
    }
}

fn finite(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err("must be a finite number".to_owned())
    }
}

fn drift_ppm(text: &str) -> Result<f64, String> {
    let value = finite(text)?;
    if value.abs() <= MAX_DRIFT_PPM {
        Ok(value)
    } else {
        Err(format!("must be within ±{MAX_DRIFT_PPM} ppm"))
    }
}

fn uptime_start(text: &str) -> Result<f64, String> {
    let value = finite(text)?;
    if (0.0..=MAX_UPTIME_START_S).contains(&value) {
        Ok(value)
    } else {
        Err(format!("must be within 0..={MAX_UPTIME_START_S} s"))
    }
}

fn duration(text: &str) -> Result<f64, String> {
    let value = finite(text)?;
    // Duration::from_secs_f64 panics above ~5.8e11 s; a century is plenty.
    if value > 0.0 && value <= 3.2e9 {
        Ok(value)
    } else {
        Err("must be above 0 and at most 3.2e9 s".to_owned())
    }
}

/// Everything a run needs, checked.
#[derive(Debug)]
struct Plan {
    identity: LeaderIdentity,
    endpoints: Endpoints,
    /// Each follower's Sync and Follow_Up addresses, at least one.
    targets: Vec<Target>,
    interval: Duration,
    uptime_start_ns: i128,
    drift_ppm: f64,
    timebase: Timebase,
    jitter: Duration,
    tx_stamps: TxStamps,
    duration: Option<Duration>,
    count: Option<u64>,
    first_sequence_id: u16,
    interface: Option<String>,
}

/// Where the Follow_Up's precise origin timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TxStamps {
    /// The kernel's stamp where the system gives one, else a user-space reading.
    Auto,
    /// The kernel's software transmit stamp of the Sync (Linux); refused where unavailable.
    Kernel,
    /// A user-space reading immediately before the Sync is handed to the socket.
    User,
}

impl Plan {
    fn from_args(args: &GmSimArgs) -> Result<Plan, String> {
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
            .map(net::interface_address)
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
    fn delay_resp_dests(&self, from: Ipv4Addr) -> Vec<SocketAddrV4> {
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

    /// "Sync to A (TOS 0xe0) and Follow_Up to B (TOS 0xb8)", or the list of destinations.
    fn where_to(&self) -> String {
        match self.targets.as_slice() {
            [one] => format!(
                "Sync to {} (TOS 0x{:02x}) and Follow_Up to {} (TOS 0x{:02x})",
                one.event,
                net::SYNC_TOS,
                one.general,
                net::GENERAL_TOS
            ),
            many => format!(
                "Sync (TOS 0x{:02x}) and Follow_Up (TOS 0x{:02x}) to {} destinations ({})",
                net::SYNC_TOS,
                net::GENERAL_TOS,
                many.len(),
                many.iter()
                    .map(|t| format!("{} and {}", t.event, t.general))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The one line printed at start: what goes where.
    fn banner(&self, sockets: &Sockets, kernel_tx: bool) -> String {
        let id = &self.identity;
        let source = match sockets.event.local_addr() {
            Ok(addr) if !addr.ip().is_unspecified() => addr.ip().to_string(),
            _ => "any address".to_owned(),
        };
        let via = match (&self.interface, self.endpoints.multicast_if) {
            (Some(name), Some(addr)) if name != &addr.to_string() => {
                format!(" via {name} ({addr})")
            }
            (_, Some(addr)) if self.endpoints.any_multicast() => format!(" via {addr}"),
            _ => String::new(),
        };
        let delay_req = match &sockets.delay_req {
            Some(socket) => match socket.local_addr() {
                Ok(addr) => format!("answers Delay_Req on {addr}"),
                Err(_) => format!(
                    "answers Delay_Req on port {}",
                    self.endpoints.delay_req_port
                ),
            },
            None => "does not answer Delay_Req".to_owned(),
        };
        let until = match (self.duration, self.count) {
            (Some(d), Some(n)) => format!("{} s or {}", d.as_secs_f64(), plural(n, "Sync")),
            (Some(d), None) => format!("{} s", d.as_secs_f64()),
            (None, Some(n)) => plural(n, "Sync"),
            (None, None) => "Ctrl-C".to_owned(),
        };
        format!(
            "gm-sim: leader {uuid} (stratum {stratum}, variance {variance}, preferred {pref}) \
             sends {where_to}, TTL {ttl}, every {ms} ms from {source}{via}, first sequence id {seq}; uptime from \
             {up:.6} s at {drift:+.3} ppm of {timebase}, T1 from {t1}, jitter {jitter} µs; {delay_req}; until {until}",
            uuid = id.uuid,
            stratum = id.stratum,
            variance = id.variance,
            pref = if id.preferred { "yes" } else { "no" },
            where_to = self.where_to(),
            ttl = self.endpoints.ttl,
            ms = self.interval.as_secs_f64() * 1e3,
            seq = self.first_sequence_id,
            up = self.uptime_start_ns as f64 / 1e9,
            drift = self.drift_ppm,
            timebase = self.timebase.name(),
            t1 = if kernel_tx {
                "kernel transmit stamps"
            } else {
                "user-space readings"
            },
            jitter = self.jitter.as_micros(),
        )
    }
}

pub fn run(args: &GmSimArgs) -> ExitCode {
    match Plan::from_args(args).and_then(|plan| run_plan(&plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            say_err(&message);
            ExitCode::FAILURE
        }
    }
}

/// What the send loop did.
#[derive(Debug, Default)]
struct SendStats {
    syncs: u64,
    follow_ups: u64,
    send_errors: u64,
    /// Syncs whose kernel transmit stamp did not come in time: their T1 was read in
    /// user space instead.
    late_stamps: u64,
    last_sequence_id: Option<u16>,
    stopped_by: &'static str,
}

fn run_plan(plan: &Plan) -> Result<(), String> {
    let sockets = Sockets::open(&plan.endpoints)?;
    let kernel_tx = kernel_tx_stamps(plan.tx_stamps, &sockets)?;
    stop::install();
    say(&plan.banner(&sockets, kernel_tx));
    let uptime = Uptime::starting_now(plan.timebase, plan.uptime_start_ns, plan.drift_ppm);
    let done = AtomicBool::new(false);
    let (sent, answered) = std::thread::scope(|scope| {
        let responder = sockets.delay_req.as_ref().map(|listener| {
            let (general, done, uptime) = (&sockets.general, &done, &uptime);
            scope.spawn(move || answer_delay_reqs(plan, listener, general, uptime, done))
        });
        let sent = send_loop(plan, &sockets, &uptime, kernel_tx);
        let ended = (Instant::now(), uptime.now());
        done.store(true, Ordering::SeqCst);
        let answered = responder.map_or(0, |handle| handle.join().unwrap_or(0));
        (sent.map(|sent| (sent, ended)), answered)
    });
    let (sent, (ended, ended_uptime)) = sent?;
    let elapsed = ended.duration_since(uptime.origin()).as_secs_f64();
    let sequence = match sent.last_sequence_id {
        Some(last) => format!(" (sequence ids {}..={last})", plan.first_sequence_id),
        None => String::new(),
    };
    let mut errors = if sent.send_errors > 0 {
        format!(", {} send errors", sent.send_errors)
    } else {
        String::new()
    };
    if sent.late_stamps > 0 {
        errors += &format!(
            ", {} without a kernel transmit stamp in time (T1 read in user space)",
            plural(sent.late_stamps, "Sync")
        );
    }
    let fan_out = match plan.targets.len() {
        1 => String::new(),
        n => format!(" to {n} destinations"),
    };
    say(&format!(
        "gm-sim: sent {} and {}{fan_out}{sequence}, answered {} in {elapsed:.3} s{errors}; stopped by {}; \
         leader uptime {:.6} s",
        plural(sent.syncs, "Sync"),
        plural(sent.follow_ups, "Follow_Up"),
        plural(answered, "Delay_Req"),
        sent.stopped_by,
        ended_uptime as f64 / 1e9,
    ));
    Ok(())
}

/// One line on stdout. A closed stdout (`| head -1`) is no reason to stop or panic.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// One line on stderr, prefixed with the command's name.
fn say_err(message: &str) {
    let _ = writeln!(std::io::stderr(), "dantesync gm-sim: {message}");
}

/// "1 Sync", "2 Syncs".
fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Sleeps until `deadline`; false if a stop was requested first.
fn wait_until(deadline: Instant) -> bool {
    loop {
        if stop::requested() {
            return false;
        }
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            return true;
        };
        if left > SPIN {
            std::thread::sleep((left - SPIN).min(STOP_POLL));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Remembers the last send error shown, so a persistent one is reported once.
#[derive(Debug, Default)]
struct ErrorReport {
    last: Option<String>,
}

impl ErrorReport {
    fn show(&mut self, message: String) {
        if self.last.as_ref() != Some(&message) {
            say_err(&format!("{message} (further identical errors not shown)"));
            self.last = Some(message);
        }
    }
}

/// Whether the Sync's kernel transmit stamps are on: turns them on when asked for (or
/// possible, on auto); an explicit `kernel` that cannot be had is an error.
fn kernel_tx_stamps(want: TxStamps, sockets: &Sockets) -> Result<bool, String> {
    if want == TxStamps::User {
        return Ok(false);
    }
    #[cfg(target_os = "linux")]
    let enabled = txstamp::enable(&sockets.event).map_err(|e| e.to_string());
    #[cfg(not(target_os = "linux"))]
    let enabled: Result<(), String> = {
        let _ = sockets;
        Err("this system gives no software transmit stamps to dantesync".to_owned())
    };
    match (enabled, want) {
        (Ok(()), _) => Ok(true),
        (Err(e), TxStamps::Kernel) => Err(format!(
            "--tx-timestamps kernel: cannot turn on transmit stamps on the Sync socket ({e}); \
             use --tx-timestamps user"
        )),
        (Err(_), _) => Ok(false),
    }
}

/// How long to wait for a Sync's kernel transmit stamp before reading T1 in user space.
#[cfg(target_os = "linux")]
const STAMP_WAIT: Duration = Duration::from_millis(20);

/// Sends one Sync to `event_dest`; returns the precise T1 for its Follow_Up (the leader's
/// uptime when it left, less `early`) or the send error. With kernel stamps, a stamp that does
/// not come in time falls back to the user-space reading and counts in `late_stamps`.
fn send_sync(
    sockets: &Sockets,
    sync: &[u8],
    event_dest: SocketAddrV4,
    uptime: &Uptime,
    kernel_tx: bool,
    early: Duration,
    late_stamps: &mut u64,
) -> std::io::Result<i128> {
    if !kernel_tx {
        // T1 before the wait and the send: early by the wait, never later than the departure.
        let precise = Instant::now();
        let precise_uptime = uptime.now();
        if !early.is_zero() {
            wait_until(precise + early);
        }
        sockets.event.send_to(sync, event_dest)?;
        return Ok(precise_uptime);
    }
    #[cfg(target_os = "linux")]
    {
        txstamp::drain(&sockets.event);
        // The wait is kept (and taken off the stamp) so T1 stays after the Sync's own
        // originTimestamp, as with user-space readings.
        let started = Instant::now();
        let fallback = uptime.now();
        if !early.is_zero() {
            wait_until(started + early);
        }
        sockets.event.send_to(sync, event_dest)?;
        if let Ok(Some(sent_rt)) = txstamp::wait(&sockets.event, STAMP_WAIT) {
            // The stamp is CLOCK_REALTIME; the uptime runs on another clock. Both tick at the
            // host's rate (to within the system clock's frequency correction, ≤ 500 ppm of the
            // few µs since the send), so the time since the send carries over.
            let a = txstamp::realtime_ns();
            let now = uptime.now();
            let b = txstamp::realtime_ns();
            let ago = (i128::from(a) + i128::from(b)) / 2 - i128::from(sent_rt);
            return Ok(uptime.before(now, ago.max(0)) - early.as_nanos() as i128);
        }
        *late_stamps += 1;
        Ok(fallback)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = late_stamps;
        unreachable!("kernel_tx_stamps never turns them on off Linux")
    }
}

fn send_loop(
    plan: &Plan,
    sockets: &Sockets,
    uptime: &Uptime,
    kernel_tx: bool,
) -> Result<SendStats, String> {
    let mut stats = SendStats::default();
    let start = uptime.origin();
    let end = plan.duration.map(|d| start + d);
    let mut rng = rand::rng();
    let mut errors = ErrorReport::default();
    let mut sequence_id = plan.first_sequence_id;
    let interval_ns = u64::try_from(plan.interval.as_nanos()).unwrap_or(u64::MAX);
    let jitter_ns = u64::try_from(plan.jitter.as_nanos()).unwrap_or(0);
    let mut deadline = start;
    for k in 1u64.. {
        // k − 1 Syncs were attempted (a failed send counts: --count bounds the run).
        if plan.count.is_some_and(|n| k > n) {
            stats.stopped_by = "--count";
            break;
        }
        if let Some(end) = end.filter(|&end| deadline >= end) {
            stats.stopped_by = if wait_until(end) {
                "--duration-s"
            } else {
                "a signal"
            };
            break;
        }
        if !wait_until(deadline) {
            stats.stopped_by = "a signal";
            break;
        }
        let origin = uptime.now();
        let sync = plan
            .identity
            .sync(sequence_id, Timestamp::from_nanos(origin))
            .to_bytes();
        for target in &plan.targets {
            let (event_dest, general_dest) = (target.event, target.general);
            let early = if plan.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(rng.random_range(0..=jitter_ns))
            };
            let sent = send_sync(
                sockets,
                &sync,
                event_dest,
                uptime,
                kernel_tx,
                early,
                &mut stats.late_stamps,
            );
            match sent {
                Ok(precise_uptime) => {
                    stats.syncs += 1;
                    stats.last_sequence_id = Some(sequence_id);
                    let follow_up = plan
                        .identity
                        .follow_up(sequence_id, Timestamp::from_nanos(precise_uptime))
                        .to_bytes();
                    match sockets.general.send_to(&follow_up, general_dest) {
                        Ok(_) => stats.follow_ups += 1,
                        Err(e) => {
                            stats.send_errors += 1;
                            errors.show(format!("cannot send Follow_Up to {general_dest}: {e}"));
                        }
                    }
                }
                Err(e) if stats.syncs == 0 && stats.send_errors == 0 => {
                    let hint = if event_dest.ip().is_multicast() && plan.interface.is_none() {
                        " (no multicast route? name the interface with --interface)"
                    } else {
                        ""
                    };
                    return Err(format!("cannot send Sync to {event_dest}: {e}{hint}"));
                }
                Err(e) => {
                    stats.send_errors += 1;
                    errors.show(format!("cannot send Sync to {event_dest}: {e}"));
                }
            }
        }
        sequence_id = sequence_id.wrapping_add(1);
        deadline = start + Duration::from_nanos(interval_ns.saturating_mul(k));
    }
    Ok(stats)
}

/// Answers every Delay_Req until `done`; returns how many.
fn answer_delay_reqs(
    plan: &Plan,
    listener: &UdpSocket,
    general: &UdpSocket,
    uptime: &Uptime,
    done: &AtomicBool,
) -> u64 {
    let mut answered = 0u64;
    let mut sequence_id = 0u16;
    let mut buf = [0u8; 1500];
    let mut errors = ErrorReport::default();
    while !done.load(Ordering::SeqCst) && !stop::requested() {
        let (len, from) = match listener.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) => {
                use std::io::ErrorKind::{ConnectionReset, Interrupted, TimedOut, WouldBlock};
                // Timeouts are the poll; Windows reports an earlier ICMP port unreachable
                // as a reset on the next receive.
                if !matches!(
                    e.kind(),
                    WouldBlock | TimedOut | Interrupted | ConnectionReset
                ) {
                    errors.show(format!("cannot receive Delay_Req: {e}"));
                    std::thread::sleep(net::LISTEN_POLL);
                }
                continue;
            }
        };
        let receipt = uptime.now();
        let Ok(Message::DelayReq(request, _)) = Message::parse(&buf[..len]) else {
            continue;
        };
        if request.subdomain != Subdomain::DEFAULT {
            continue;
        }
        let std::net::SocketAddr::V4(from) = from else {
            continue;
        };
        let response = plan
            .identity
            .delay_resp(sequence_id, &request, Timestamp::from_nanos(receipt))
            .to_bytes();
        sequence_id = sequence_id.wrapping_add(1);
        let mut sent = false;
        for to in plan.delay_resp_dests(*from.ip()) {
            match general.send_to(&response, to) {
                Ok(_) => sent = true,
                Err(e) => errors.show(format!("cannot send Delay_Resp to {to}: {e}")),
            }
        }
        answered += u64::from(sent);
    }
    answered
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: GmSimArgs,
    }

    fn parse(args: &[&str]) -> Result<GmSimArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("gm-sim").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_are_a_dante_leader_on_the_ptp_group() {
        let plan = Plan::from_args(&parse(&[]).unwrap()).unwrap();
        assert_eq!(plan.targets.len(), 1);
        assert_eq!(plan.targets[0].event, "224.0.1.129:319".parse().unwrap());
        assert_eq!(plan.targets[0].general, "224.0.1.129:320".parse().unwrap());
        assert_eq!(plan.endpoints.delay_req_port, 319);
        assert_eq!(plan.endpoints.bind, Ipv4Addr::UNSPECIFIED);
        assert_eq!(plan.endpoints.multicast_if, None);
        assert_eq!(plan.endpoints.ttl, 1);
        assert_eq!(plan.interval, Duration::from_millis(250));
        assert_eq!(plan.uptime_start_ns, 699_000_000_000);
        assert_eq!(plan.identity.stratum, 153);
        assert_eq!(plan.identity.variance, 28768);
        assert!(!plan.identity.preferred);
        assert_eq!(plan.identity.uuid.to_string(), "00:1d:c1:00:53:01");
        // 699 s / 0.25 s.
        assert_eq!(plan.first_sequence_id, 2796);
        assert_eq!((plan.duration, plan.count), (None, None));
    }

    #[test]
    fn the_timebase_is_monotonic_unless_raw_is_asked_for() {
        let plan = Plan::from_args(&parse(&[]).unwrap()).unwrap();
        assert_eq!(plan.timebase, Timebase::Monotonic);
        assert!(parse(&["--timebase", "realtime"]).is_err());
        let raw = Plan::from_args(
            &parse(&[
                "--timebase",
                "raw",
                "--dest",
                "127.0.0.1",
                "--bind",
                "127.0.0.1",
                "--delay-req-port",
                "0",
            ])
            .unwrap(),
        );
        #[cfg(target_os = "linux")]
        {
            let plan = raw.unwrap();
            assert_eq!(plan.timebase, Timebase::Raw);
            let sockets = Sockets::open(&plan.endpoints).unwrap();
            let banner = plan.banner(&sockets, false);
            assert!(
                banner.contains("+0.000 ppm of CLOCK_MONOTONIC_RAW, T1 from user-space"),
                "{banner}"
            );
            // auto turns the kernel's stamps on where it gives them; user never does.
            assert!(kernel_tx_stamps(TxStamps::Auto, &sockets).unwrap());
            assert!(!kernel_tx_stamps(TxStamps::User, &sockets).unwrap());
            assert!(plan
                .banner(&sockets, true)
                .contains("T1 from kernel transmit stamps"));
        }
        #[cfg(not(target_os = "linux"))]
        assert!(raw.unwrap_err().contains("only Linux"));
    }

    #[test]
    fn preferred_leader_advertises_stratum_121_unless_told() {
        let plan = Plan::from_args(&parse(&["--preferred"]).unwrap()).unwrap();
        assert_eq!(
            (plan.identity.stratum, plan.identity.preferred),
            (121, true)
        );
        let plan = Plan::from_args(&parse(&["--preferred", "--stratum", "99"]).unwrap()).unwrap();
        assert_eq!(plan.identity.stratum, 99);
    }

    #[test]
    fn options_reach_the_plan() {
        let args = parse(&[
            "--dest",
            "127.0.0.1",
            "--bind",
            "127.0.0.1",
            "--event-port",
            "40319",
            "--general-port",
            "40320",
            "--delay-req-port",
            "0",
            "--sync-interval-log2",
            "-5",
            "--drift-ppm",
            "-33.7",
            "--uptime-start-s",
            "12.5",
            "--uuid",
            "00-1D-C1-A1-72-3C",
            "--variance",
            "-4000",
            "--jitter-us",
            "1000",
            "--duration-s",
            "1.5",
            "--count",
            "7",
            "--ttl",
            "4",
            "--first-sequence-id",
            "65535",
        ])
        .unwrap();
        let plan = Plan::from_args(&args).unwrap();
        assert_eq!(plan.targets[0].event, "127.0.0.1:40319".parse().unwrap());
        assert_eq!(plan.targets[0].general, "127.0.0.1:40320".parse().unwrap());
        assert_eq!(plan.endpoints.bind, Ipv4Addr::LOCALHOST);
        // Unicast: no multicast interface to set.
        assert_eq!(plan.endpoints.multicast_if, None);
        let args = parse(&["--bind", "10.200.0.1"]).unwrap();
        let plan_multicast = Plan::from_args(&args).unwrap();
        assert_eq!(
            plan_multicast.endpoints.multicast_if,
            Some(Ipv4Addr::new(10, 200, 0, 1))
        );
        assert_eq!(plan.endpoints.delay_req_port, 0);
        assert_eq!(plan.endpoints.ttl, 4);
        assert_eq!(plan.interval, Duration::from_micros(31_250));
        assert_eq!(plan.drift_ppm, -33.7);
        assert_eq!(plan.uptime_start_ns, 12_500_000_000);
        assert_eq!(plan.identity.uuid.to_string(), "00:1d:c1:a1:72:3c");
        assert_eq!(plan.identity.variance, -4000);
        assert_eq!(plan.identity.sync_interval_log2, -5);
        assert_eq!(plan.jitter, Duration::from_millis(1));
        assert_eq!(plan.duration, Some(Duration::from_millis(1500)));
        assert_eq!(plan.count, Some(7));
        assert_eq!(plan.first_sequence_id, 65535);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            &["--sync-interval-log2", "5"][..],
            &["--sync-interval-log2", "-8"],
            &["--drift-ppm", "NaN"],
            &["--drift-ppm", "20000"],
            &["--uptime-start-s", "-1"],
            &["--uptime-start-s", "5e9"],
            &["--duration-s", "0"],
            &["--duration-s", "inf"],
            &["--count", "0"],
            &["--ttl", "0"],
            &["--event-port", "0"],
            &["--uuid", "00:1d:c1"],
            &["--dest", "ptp.example"],
            &["--stratum", "256"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_combinations_are_refused() {
        let jitter = Plan::from_args(&parse(&["--jitter-us", "250000"]).unwrap()).unwrap_err();
        assert_eq!(
            jitter,
            "--jitter-us 250000 is not below the Sync interval (250000 µs)"
        );
        let dest = Plan::from_args(&parse(&["--dest", "0.0.0.0"]).unwrap()).unwrap_err();
        assert!(dest.contains("not a destination"), "{dest}");
    }

    #[test]
    fn several_destinations_each_with_their_ports_or_the_defaults() {
        let args = parse(&[
            "--dest",
            "127.0.0.1:40001:40002,127.0.0.1",
            "--dest",
            "127.0.0.1:40003:40004",
            "--event-port",
            "41319",
            "--general-port",
            "41320",
            "--delay-req-port",
            "0",
        ])
        .unwrap();
        let plan = Plan::from_args(&args).unwrap();
        let pairs: Vec<(String, String)> = plan
            .targets
            .iter()
            .map(|t| (t.event.to_string(), t.general.to_string()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("127.0.0.1:40001", "127.0.0.1:40002"),
                ("127.0.0.1:41319", "127.0.0.1:41320"),
                ("127.0.0.1:40003", "127.0.0.1:40004"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(plan.endpoints.dests, [Ipv4Addr::LOCALHOST]);
        // A Delay_Resp from 127.0.0.1 goes to every follower there; from elsewhere, to the
        // requester at the first general port.
        assert_eq!(plan.delay_resp_dests(Ipv4Addr::LOCALHOST).len(), 3);
        assert_eq!(
            plan.delay_resp_dests(Ipv4Addr::new(10, 0, 0, 7)),
            ["10.0.0.7:40002".parse().unwrap()]
        );
    }

    #[test]
    fn fan_out_is_checked() {
        let twice = parse(&[
            "--dest",
            "127.0.0.1:5000:5001",
            "--dest",
            "127.0.0.1:5000:5001",
        ]);
        let error = Plan::from_args(&twice.unwrap()).unwrap_err();
        assert_eq!(error, "--dest 127.0.0.1:5000:5001 is given twice");
        // Three destinations each waiting up to 100 ms do not fit a 250 ms interval.
        let args = parse(&[
            "--dest",
            "127.0.0.1:5000:5001,127.0.0.1:5002:5003,127.0.0.1",
        ]);
        let mut args = args.unwrap();
        args.jitter_us = 100_000;
        let error = Plan::from_args(&args).unwrap_err();
        assert_eq!(
            error,
            "--jitter-us 100000 times 3 destinations is not below the Sync interval (250000 µs)"
        );
        assert!(parse(&["--dest", "127.0.0.1:319"]).is_err());
    }
}
