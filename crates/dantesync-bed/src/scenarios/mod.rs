//! The scenarios of issue #12, each with its asserted numbers. A scenario builds its own bed
//! (so one's leftovers never bias the next), drives it, and records figures measured from
//! outside ([`crate::truth`]) next to what the nodes say about themselves.
//!
//! To add one (the fleet-timescale work will): write `fn name(ctx: &mut Ctx) -> Result<(),
//! String>` and list it in [`ALL`].

use std::time::Duration;

use crate::bed::{Bed, LeaderSpec, Role, Spec};
use crate::link::Impairment;
use crate::scenario::{run_for, wait_for, wait_locked, Ctx, Limit, Scenario};
use crate::sys;
use crate::truth::{self, Sample, NTP_ONLY};

mod fleet;
mod fleet_events;
mod hostile;
mod ntp;
mod ptp;

use fleet::fleet_steady;
use fleet_events::{
    fleet_failover, fleet_freq_step, fleet_scheduled, fleet_slew, fleet_upstream_off,
};
use hostile::{abuse, foreign};
use ntp::{falseticker, upstream_gone};
use ptp::{cable, failover, leader_gone, restart, steady, steady_direct, trouble};

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "steady",
        typical_s: 122,
        title: "1. Steady: every node locks, true rate within 0.1 ppm of the leader's, clients within 200 µs of the master",
        run: steady,
    },
    Scenario {
        name: "steady-direct",
        typical_s: 117,
        title: "1b. Steady without the link emulator (every node's veth on the bridge): what the emulator's own noise costs",
        run: steady_direct,
    },
    Scenario {
        name: "failover",
        typical_s: 167,
        title: "2. Leader failover: the preferred leader stops, a +3 ppm one takes over; it returns: one switch back",
        run: failover,
    },
    Scenario {
        name: "leader-gone",
        typical_s: 124,
        title: "3. Leader gone: NTP-ONLY within 10 s on every surface, holdover rate within 0.1 ppm for 60 s",
        run: leader_gone,
    },
    Scenario {
        name: "upstream-gone",
        typical_s: 122,
        title: "4. Upstream NTP gone: PTP lock unaffected, the master keeps serving honestly, clients follow it",
        run: upstream_gone,
    },
    Scenario {
        name: "falseticker",
        typical_s: 207,
        title: "5. Falseticker: of three upstreams one jumps 250 ms: nobody follows; one upstream that jumps: no step on a single check",
        run: falseticker,
    },
    Scenario {
        name: "trouble",
        typical_s: 133,
        title: "6. Network trouble: 10 % loss and 200 µs jitter on a client's link, locked, rate within 0.3 ppm",
        run: trouble,
    },
    Scenario {
        name: "cable",
        typical_s: 57,
        title: "7. Cable pull: a client's link down 20 s; locked again within 20 s of its return",
        run: cable,
    },
    Scenario {
        name: "restart",
        typical_s: 90,
        title: "8. Restart: a restarted client locks within 5 s from its saved frequency",
        run: restart,
    },
    Scenario {
        name: "abuse",
        typical_s: 39,
        title: "9. Abuse: garbage, PTPv2, oversized, truncated and spoofed floods for 10 s: no crash, drops counted, still locked",
        run: abuse,
    },
    Scenario {
        name: "foreign",
        typical_s: 122,
        title: "10. Foreign leaders (another subnet, another subdomain): ignored with source_allowlist; else one choice on every node",
        run: foreign,
    },
    Scenario {
        name: "fleet-steady",
        typical_s: 480,
        title: "F1. Fleet steady: link delays 0/100/300 µs + 100 µs jitter: spread of true time between all nodes ≤ 10 µs; classic mode's spread beside it",
        run: fleet_steady,
    },
    Scenario {
        name: "fleet-scheduled",
        typical_s: 300,
        title: "F2. Fleet scheduled: a forced 200 ms correction of D (`dantesync fleet correct`) lands on every node at once: spread ≤ 20 µs right after",
        run: fleet_scheduled,
    },
    Scenario {
        name: "fleet-slew",
        typical_s: 360,
        title: "F3. Fleet slew: D moves at 20 ppm; spread of true time between all nodes ≤ 10 µs meanwhile",
        run: fleet_slew,
    },
    Scenario {
        name: "fleet-failover",
        typical_s: 360,
        title: "F4. Fleet failover: gm1 stops, gm2 (another uptime, +3 ppm) takes over: spread ≤ 50 µs during and after, no clock jumps",
        run: fleet_failover,
    },
    Scenario {
        name: "fleet-freq-step",
        typical_s: 300,
        title: "F5. Fleet leader frequency step: the leader's rate steps by 25 ppm: spread ≤ 50 µs throughout",
        run: fleet_freq_step,
    },
    Scenario {
        name: "fleet-upstream-off",
        typical_s: 1000,
        title: "F6. Fleet without upstream NTP for 10 min (long): spread unchanged, UTC error grows at the leader's rate error alone; the master restarts: the fleet's time does not move",
        run: fleet_upstream_off,
    },
];

/// The fleet timescale's scenarios (issue #14): run by `run fleet` or by name, not by a bare
/// `run`, which keeps to the ten of issue #12 and their time budget.
pub fn is_fleet(s: &Scenario) -> bool {
    s.name.starts_with("fleet-")
}

/// Looks a scenario up by name (or by its number, "1"...).
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter()
        .find(|s| s.name == name || s.title.split('.').next() == Some(name))
}

/// Builds the venue and waits until every node is locked and has settled for `settle`.
/// Returns the bed and the time to first lock of every node.
pub(super) fn locked_venue(ctx: &mut Ctx, spec: Spec, settle: Duration) -> Result<Bed, String> {
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    let nodes = bed.node_names();
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    run_for(&mut bed, settle)?;
    Ok(bed)
}

pub(super) fn secs_since(t0: i64, s: Option<Sample>) -> f64 {
    s.map_or(f64::INFINITY, |x| (x.raw - t0) as f64 / 1e9)
}

pub(super) const LOCK_LIMIT: Duration = Duration::from_secs(120);

/// Leader `name`'s true rate against raw: what nodes' rates are compared with. gm-sim runs
/// with `--timebase raw --drift-ppm` this rate, and each Follow_Up's T1 is its uptime at the
/// Sync's kernel transmit stamp, so the timescale the nodes receive advances at exactly this
/// rate (a leader with `--rate-step-at` changes it; see [`probe_rate`] there). The probe's
/// measurement over [from, to] is recorded beside it as a check of the bed: it pairs each
/// Follow_Up with its Sync's arrival after the leader's relay, whose changing latency moves
/// its slope by a few hundredths of a ppm over a minute or two, as much as the 0.1 ppm limits
/// measured against it can afford.
pub(super) fn leader_rate(ctx: &mut Ctx, bed: &Bed, name: &str, from: i64, to: i64) -> f64 {
    let nominal = bed.leader_raw_ppm(name);
    ctx.figure(
        format!("{name}: true rate against CLOCK_MONOTONIC_RAW (gm-sim's setting)"),
        nominal,
        "ppm",
        Limit::Info,
    );
    probe_rate(ctx, bed, name, from, to);
    nominal
}

/// Leader `name`'s rate over [from, to] as the probe measured it, recorded; NaN without
/// enough points.
pub(super) fn probe_rate(ctx: &mut Ctx, bed: &Bed, name: &str, from: i64, to: i64) -> f64 {
    let ppm = bed.leader_probe_ppm(name, from, to).unwrap_or(f64::NAN);
    ctx.figure(
        format!("{name}: rate against CLOCK_MONOTONIC_RAW measured by the probe (a check)"),
        ppm,
        "ppm",
        Limit::Info,
    );
    ppm
}

/// Records, per node, the largest |true rate − leader's rate| over 20 s windows in [from, to],
/// asserted at most `limit_ppm` (shown only without one).
pub(super) fn rate_figures(
    ctx: &mut Ctx,
    bed: &Bed,
    nodes: &[String],
    leader_ppm: f64,
    (from, to): (i64, i64),
    limit_ppm: Option<f64>,
    label: &str,
) {
    for n in nodes {
        let r = truth::rates(&bed.samples(n), from, to, 20.0);
        let errs: Vec<f64> = r.iter().map(|(_, ppm)| ppm - leader_ppm).collect();
        if errs.is_empty() {
            ctx.figure(
                format!("{n}: 20 s rate windows with 5 s free of NTP corrections ({label})"),
                0.0,
                "",
                Limit::AtLeast(1.0),
            );
            continue;
        }
        ctx.figure(
            format!(
                "{n}: max |true rate − leader| over {} windows ({label})",
                errs.len()
            ),
            truth::max_abs(&errs),
            "ppm",
            limit_ppm.map_or(Limit::Info, Limit::AtMost),
        );
    }
}

/// Records, per client, the largest |client − master| from its first NTP correction to `to`.
pub(super) fn offset_figures(
    ctx: &mut Ctx,
    bed: &Bed,
    master: &str,
    clients: &[String],
    (from, to): (i64, i64),
    limit_us: f64,
) {
    let m = bed.samples(master);
    for c in clients {
        let s = bed.samples(c);
        let Some(first) = truth::first_after(&s, 0, |x| x.corrections > 0) else {
            ctx.figure(
                format!("{c}: NTP corrections"),
                0.0,
                "",
                Limit::AtLeast(1.0),
            );
            continue;
        };
        // The correction's own sample may still be mid-slew; from the next one on, and not
        // before `from` (a first correction made before PTP lock is followed by the rate
        // acquisition, which moves the time on purpose).
        let d: Vec<f64> = truth::differences(&s, &m, (first.raw + 1).max(from), to)
            .iter()
            .map(|ns| ns / 1e3)
            .collect();
        ctx.figure(
            format!(
                "{c} − {master}: max |Δ| after its first NTP correction, in the window ({} samples)",
                d.len()
            ),
            truth::max_abs(&d),
            "µs",
            Limit::AtMost(limit_us),
        );
        ctx.figure(
            format!("{c} − {master}: RMS"),
            truth::rms(&d),
            "µs",
            Limit::Info,
        );
    }
}

/// The share (0..1) of samples in [from, to] in which `pred` holds, per node, worst node.
pub(super) fn worst_share(
    bed: &Bed,
    nodes: &[String],
    from: i64,
    to: i64,
    pred: impl Fn(&Sample) -> bool,
) -> f64 {
    nodes
        .iter()
        .map(|n| {
            let s: Vec<Sample> = bed
                .samples(n)
                .into_iter()
                .filter(|x| x.raw >= from && x.raw <= to)
                .collect();
            if s.is_empty() {
                0.0
            } else {
                s.iter().filter(|x| pred(x)).count() as f64 / s.len() as f64
            }
        })
        .fold(1.0, f64::min)
}

pub(super) fn lock_figures(ctx: &mut Ctx, times: &[(String, f64)]) {
    for (n, t) in times {
        ctx.figure(format!("{n}: time to first LOCK"), *t, "s", Limit::Info);
    }
}

/// Dantesync daemons (master, clients) of a spec, without the NTP server nodes.
pub(super) fn sync_nodes(spec: &Spec) -> Vec<String> {
    spec.nodes
        .iter()
        .filter(|n| !matches!(n.role, Role::Server))
        .map(|n| n.name.clone())
        .collect()
}

/// Decodes a capture of the bed with tshark: how many PTP and NTP packets it holds, and how
/// many frames tshark calls malformed (must be none: everything on the wire is ours).
pub(super) fn capture_figures(ctx: &mut Ctx, pcap: &std::path::Path) -> Result<(), String> {
    let count = |filter: &str| -> Result<f64, String> {
        let out = std::process::Command::new("tshark")
            .arg("-r")
            .arg(pcap)
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .map_err(|e| format!("tshark: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tshark -r {}: {}",
                pcap.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().count() as f64)
    };
    ctx.figure(
        "capture on the switch (30 s): PTP packets tshark decodes",
        count("ptp")?,
        "",
        Limit::AtLeast(100.0),
    );
    ctx.figure(
        "capture on the switch (30 s): NTP packets tshark decodes",
        count("ntp")?,
        "",
        Limit::AtLeast(2.0),
    );
    ctx.figure(
        "capture on the switch (30 s): malformed frames",
        count("_ws.malformed")?,
        "",
        Limit::Equal(0.0),
    );
    Ok(())
}
