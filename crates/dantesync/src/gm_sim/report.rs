//! What gm-sim prints: the banner at start, the summary at the end, and send errors on
//! stderr, each persistent one once.

use std::io::Write;

use super::plan::Plan;
use super::schedule::SendStats;
use super::sockets::{self, Sockets};

impl Plan {
    /// "Sync to A (TOS 0xe0) and Follow_Up to B (TOS 0xb8)", or the list of destinations.
    pub(super) fn where_to(&self) -> String {
        match self.targets.as_slice() {
            [one] => format!(
                "Sync to {} (TOS 0x{:02x}) and Follow_Up to {} (TOS 0x{:02x})",
                one.event,
                sockets::SYNC_TOS,
                one.general,
                sockets::GENERAL_TOS
            ),
            many => format!(
                "Sync (TOS 0x{:02x}) and Follow_Up (TOS 0x{:02x}) to {} destinations ({})",
                sockets::SYNC_TOS,
                sockets::GENERAL_TOS,
                many.len(),
                many.iter()
                    .map(|t| format!("{} and {}", t.event, t.general))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The one line printed at start: what goes where.
    pub(super) fn banner(&self, sockets: &Sockets, kernel_tx: bool) -> String {
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

/// The line printed at the end: what was sent and answered, and why the run stopped.
pub(super) fn summary(
    plan: &Plan,
    sent: &SendStats,
    answered: u64,
    elapsed: f64,
    ended_uptime: i128,
) -> String {
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
    format!(
        "gm-sim: sent {} and {}{fan_out}{sequence}, answered {} in {elapsed:.3} s{errors}; stopped by {}; \
         leader uptime {:.6} s",
        plural(sent.syncs, "Sync"),
        plural(sent.follow_ups, "Follow_Up"),
        plural(answered, "Delay_Req"),
        sent.stopped_by,
        ended_uptime as f64 / 1e9,
    )
}

/// One line on stdout. A closed stdout (`| head -1`) is no reason to stop or panic.
pub(super) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// One line on stderr, prefixed with the command's name.
pub(super) fn say_err(message: &str) {
    let _ = writeln!(std::io::stderr(), "dantesync gm-sim: {message}");
}

/// "1 Sync", "2 Syncs".
pub(super) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Remembers the last send error shown, so a persistent one is reported once.
#[derive(Debug, Default)]
pub(super) struct ErrorReport {
    last: Option<String>,
}

impl ErrorReport {
    pub(super) fn show(&mut self, message: String) {
        if self.last.as_ref() != Some(&message) {
            say_err(&format!("{message} (further identical errors not shown)"));
            self.last = Some(message);
        }
    }
}
