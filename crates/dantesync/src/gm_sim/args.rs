//! The `gm-sim` command line: every option, its default, and the checks of single values
//! (combinations are checked when the plan is made, [`super::plan`]).

use std::net::Ipv4Addr;

use clap::Args;
use dantesync_core::wire::ptpv1::{Uuid, EVENT_PORT, GENERAL_PORT};

use super::dest::Dest;
use super::uptime::Timebase;

/// Largest |drift| accepted, ppm: well beyond any real oscillator, still a sane timescale.
const MAX_DRIFT_PPM: f64 = 10_000.0;
/// Largest starting uptime, s: the timestamp's seconds field is 32 bits.
const MAX_UPTIME_START_S: f64 = 4_000_000_000.0;

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
    /// A step of the leader's rate while it runs: S seconds after the first Sync its
    /// oscillator error becomes drift-ppm + PPM (the uptime stays continuous), as a real
    /// leader whose oscillator changes with temperature or is swapped for another device
    #[arg(long, value_name = "S:PPM", value_parser = rate_step, allow_hyphen_values = true)]
    pub rate_step_at: Option<(f64, f64)>,
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

/// `S:PPM` of `--rate-step-at`.
pub(super) fn rate_step(text: &str) -> Result<(f64, f64), String> {
    let (at, ppm) = text
        .split_once(':')
        .ok_or_else(|| "expected S:PPM, e.g. 60:25".to_owned())?;
    let at = finite(at)?;
    if !(0.0..=3.2e9).contains(&at) {
        return Err("S must be within 0..=3.2e9 s".to_owned());
    }
    Ok((at, drift_ppm(ppm)?))
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
