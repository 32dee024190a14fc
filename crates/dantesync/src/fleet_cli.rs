//! `dantesync fleet show|correct [HOST]`: the fleet authority's announcement of D, and an
//! operator's coordinated correction of D now (accepted from loopback only, so run it on the
//! NTP master itself).

use std::net::{ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use dantesync_core::wire::query::{
    FleetKind, FleetReply, FleetRequest, FleetResult, FLEET_LEN, FLEET_VERSION,
};

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Show the authority's D: leader, epoch, value, rate, pending correction, corrections in
    /// the last 24 h. Exit 0 with an announcement, 1 without, 3 without an answer.
    Show(FleetArgs),
    /// Ask the authority for a coordinated correction of D now: it is announced ahead and
    /// applied at one leader instant by every node. Accepted from loopback only.
    /// Exit 0 when scheduled, 1 when refused, 3 without an answer.
    Correct(FleetArgs),
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The authority (the NTP master)
    #[arg(value_name = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Its query API port (query_api.port)
    #[arg(long, value_name = "PORT", default_value_t = 31900)]
    pub port: u16,
    /// How long to wait for each of the three attempts, ms
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub timeout_ms: u64,
}

const ATTEMPTS: u32 = 3;

fn ask(args: &FleetArgs, kind: FleetKind) -> Result<FleetReply, String> {
    let to = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", args.host))?
        .next()
        .ok_or_else(|| format!("{}: no address", args.host))?;
    let local: std::net::SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    sock.set_read_timeout(Some(Duration::from_millis(args.timeout_ms.max(1))))
        .map_err(|e| e.to_string())?;
    let request_id: u32 = rand::random();
    let bytes = FleetRequest {
        version: FLEET_VERSION,
        kind,
        request_id,
        client_tx: 0,
    }
    .to_bytes();
    let mut buf = [0u8; 2 * FLEET_LEN];
    for _ in 0..ATTEMPTS {
        sock.send_to(&bytes, to)
            .map_err(|e| format!("cannot send to {to}: {e}"))?;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Ok(r) = FleetReply::parse(&buf[..n]) {
                if from == to && r.request_id == request_id {
                    return Ok(r);
                }
            }
        }
    }
    Err(format!(
        "no answer from {to} ({ATTEMPTS} attempts): is it a dantesync NTP master with its query \
         API on?"
    ))
}

/// The announcement in a few lines.
pub fn describe(r: &FleetReply) -> String {
    let mut out = String::new();
    if let Some(p) = r.policy {
        out.push_str(&format!("policy:         {}\n", p.name()));
    }
    match r.timescale {
        Some(ts) => {
            out.push_str(&format!("leader:         {}\n", ts.leader.grandmaster));
            out.push_str(&format!("epoch:          {}\n", ts.epoch));
            out.push_str(&format!(
                "D:              {} ns at leader time {} ns\n",
                ts.d_ns, ts.at_leader_ns
            ));
            out.push_str(&format!("rate:           {} ppb\n", ts.rate_ppb));
            match ts.pending {
                Some(p) => out.push_str(&format!(
                    "next correction: {:+.3} ms at leader time {} ns (epoch {})\n",
                    p.delta_ns as f64 * 1e-6,
                    p.at_leader_ns,
                    p.epoch
                )),
                None => out.push_str("next correction: none pending\n"),
            }
        }
        None => out.push_str("D:              none announced yet\n"),
    }
    if let Some(ms) = r.d_age_ms {
        out.push_str(&format!(
            "measured:       {:.1} s ago\n",
            f64::from(ms) / 1e3
        ));
    }
    out.push_str(&format!(
        "corrections:    {} in the last 24 h{}\n",
        r.steps_last_24h,
        if r.too_often { " (too often)" } else { "" }
    ));
    out
}

pub fn run(command: &FleetCommand) -> ExitCode {
    let (args, kind) = match command {
        FleetCommand::Show(a) => (a, FleetKind::Announcement),
        FleetCommand::Correct(a) => (a, FleetKind::CorrectNow),
    };
    match ask(args, kind) {
        Ok(r) => {
            let ok = r.result == FleetResult::Ok;
            if !ok {
                eprintln!("dantesync fleet: {}", r.result.describe());
            }
            if kind == FleetKind::CorrectNow && ok {
                println!("correction scheduled");
            }
            print!("{}", describe(&r));
            ExitCode::from(if ok { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("dantesync fleet: {e}");
            ExitCode::from(3)
        }
    }
}
