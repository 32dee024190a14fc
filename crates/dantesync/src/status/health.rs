//! What version 2 of the extended reply adds: whether the node can be trusted as the machine's
//! time daemon right now (how fresh its PTP is, steps and interference by others, a leap
//! second pending, what the kernel was told). A node that predates version 2 answers in
//! version 1, and each of these shows as unknown rather than as a reassuring zero.

use dantesync_core::wire::query::{ExtendedHealth, ExtendedReply, KernelSync, LeapPending};
use serde_json::{json, Value};

const UNKNOWN: &str = "unknown (the node answers in query version 1: an older dantesync)";

/// Adds the version-2 keys to the `--json` object: `null` for what the node did not say.
pub fn add_json(r: &ExtendedReply, v: &mut Value) {
    let h = r.health;
    v["query_version"] = json!(r.version);
    v["since_last_ptp_packet_s"] = json!(h.and_then(|h| h.since_last_ptp_s()));
    v["ptp_packets_per_s"] = json!(h.and_then(|h| h.ptp_packets_per_s()));
    v["leap_pending"] = json!(h.map(|h| h.leap_pending.name()));
    v["kernel_synchronised"] = json!(h.and_then(|h| h.kernel_sync.as_bool()));
    v["counters"]["external_steps"] = json!(h.map(|h| h.external_steps));
    v["counters"]["clock_interference"] = json!(h.map(|h| h.clock_interference));
}

fn ptp_line(h: &ExtendedHealth) -> String {
    match (h.since_last_ptp_s(), h.ptp_packets_per_s()) {
        (None, _) => "none received yet".to_owned(),
        (Some(age), rate) => format!(
            "{age:.2} s ago, {} per second over the last 10 s",
            rate.map_or("unknown".to_owned(), |r| format!("{r:.1}"))
        ),
    }
}

fn kernel_line(k: KernelSync) -> String {
    match k {
        KernelSync::Synchronised => "synchronised (STA_UNSYNC clear)".to_owned(),
        KernelSync::Unsynchronised => "not synchronised (STA_UNSYNC set)".to_owned(),
        KernelSync::NotApplicable => {
            "not applicable (a simulated clock, or Windows: no such status)".to_owned()
        }
        KernelSync::Other(c) => format!("unknown (code {c})"),
    }
}

fn leap_line(l: LeapPending) -> String {
    match l {
        LeapPending::None => "none announced".to_owned(),
        LeapPending::Insert => "insert at the end of this month (23:59:60)".to_owned(),
        LeapPending::Delete => "delete at the end of this month (no 23:59:59)".to_owned(),
        LeapPending::Other(c) => format!("unknown (code {c})"),
    }
}

/// The table's lines, named as `print::text` names its lines.
pub fn lines(r: &ExtendedReply) -> Vec<(&'static str, String)> {
    let Some(h) = r.health else {
        return [
            "Last PTP datagram",
            "Kernel sync",
            "Leap second",
            "Clock events",
        ]
        .map(|name| (name, UNKNOWN.to_owned()))
        .to_vec();
    };
    vec![
        ("Last PTP datagram", ptp_line(&h)),
        ("Kernel sync", kernel_line(h.kernel_sync)),
        ("Leap second", leap_line(h.leap_pending)),
        (
            "Clock events",
            format!(
                "{} external steps (someone else stepped the clock), {} interference (another \
                 program changed its frequency or status)",
                h.external_steps, h.clock_interference
            ),
        ),
    ]
}
