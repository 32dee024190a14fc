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

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "steady",
        title: "1. Steady: every node locks, true rate within 0.1 ppm of the leader's, clients within 200 µs of the master",
        run: steady,
    },
    Scenario {
        name: "steady-direct",
        title: "1b. Steady without the link emulator (every node's veth on the bridge): what the emulator's own noise costs",
        run: steady_direct,
    },
    Scenario {
        name: "failover",
        title: "2. Leader failover: the preferred leader stops, a +3 ppm one takes over; it returns: one switch back",
        run: failover,
    },
    Scenario {
        name: "leader-gone",
        title: "3. Leader gone: NTP-ONLY within 10 s on every surface, holdover rate within 0.1 ppm for 60 s",
        run: leader_gone,
    },
    Scenario {
        name: "upstream-gone",
        title: "4. Upstream NTP gone: PTP lock unaffected, the master keeps serving honestly, clients follow it",
        run: upstream_gone,
    },
    Scenario {
        name: "falseticker",
        title: "5. Falseticker: of three upstreams one jumps 250 ms: nobody follows; one upstream that jumps: no step on a single check",
        run: falseticker,
    },
    Scenario {
        name: "trouble",
        title: "6. Network trouble: 10 % loss and 200 µs jitter on a client's link, locked, rate within 0.3 ppm",
        run: trouble,
    },
    Scenario {
        name: "cable",
        title: "7. Cable pull: a client's link down 20 s; locked again within 20 s of its return",
        run: cable,
    },
    Scenario {
        name: "restart",
        title: "8. Restart: a restarted client locks within 5 s from its saved frequency",
        run: restart,
    },
    Scenario {
        name: "abuse",
        title: "9. Abuse: garbage, PTPv2, oversized, truncated and spoofed floods for 10 s: no crash, drops counted, still locked",
        run: abuse,
    },
    Scenario {
        name: "foreign",
        title: "10. Foreign leaders (another subnet, another subdomain): ignored with source_allowlist; else one choice on every node",
        run: foreign,
    },
];

/// Looks a scenario up by name (or by its number, "1"...).
pub fn find(name: &str) -> Option<&'static Scenario> {
    ALL.iter()
        .find(|s| s.name == name || s.title.split('.').next() == Some(name))
}

/// Builds the venue and waits until every node is locked and has settled for `settle`.
/// Returns the bed and the time to first lock of every node.
fn locked_venue(ctx: &mut Ctx, spec: Spec, settle: Duration) -> Result<Bed, String> {
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    let nodes = bed.node_names();
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    run_for(&mut bed, settle)?;
    Ok(bed)
}

fn secs_since(t0: i64, s: Option<Sample>) -> f64 {
    s.map_or(f64::INFINITY, |x| (x.raw - t0) as f64 / 1e9)
}

const LOCK_LIMIT: Duration = Duration::from_secs(120);

/// Leader `name`'s true rate over [from, to] (the probe's measurement), recorded next to its
/// nominal setting; what nodes' rates are compared with.
fn leader_rate(ctx: &mut Ctx, bed: &Bed, name: &str, from: i64, to: i64) -> f64 {
    let (ppm, measured) = bed.leader_true_ppm(name, from, to);
    ctx.figure(
        format!("{name}: nominal rate against CLOCK_MONOTONIC_RAW"),
        bed.leader_raw_ppm(name),
        "ppm",
        Limit::Info,
    );
    ctx.figure(
        format!("{name}: true rate against CLOCK_MONOTONIC_RAW, measured by the probe"),
        if measured { ppm } else { f64::NAN },
        "ppm",
        Limit::Info,
    );
    ppm
}

/// Records, per node, the largest |true rate − leader's rate| over 20 s windows in [from, to].
fn rate_figures(
    ctx: &mut Ctx,
    bed: &Bed,
    nodes: &[String],
    leader_ppm: f64,
    (from, to): (i64, i64),
    limit_ppm: f64,
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
            Limit::AtMost(limit_ppm),
        );
    }
}

/// Records, per client, the largest |client − master| from its first NTP correction to `to`.
fn offset_figures(
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
fn worst_share(
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

fn lock_figures(ctx: &mut Ctx, times: &[(String, f64)]) {
    for (n, t) in times {
        ctx.figure(format!("{n}: time to first LOCK"), *t, "s", Limit::Info);
    }
}

/// 1. Steady.
fn steady(ctx: &mut Ctx) -> Result<(), String> {
    steady_in(ctx, Spec::venue())
}

/// 1b. Steady with no relay between the nodes and the bridge: the same assertions, so a
/// difference from scenario 1 is the emulator's doing, not the daemon's.
fn steady_direct(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = Spec::venue();
    for n in &mut spec.nodes {
        n.emulated = false;
    }
    steady_in(ctx, spec)
}

fn steady_in(ctx: &mut Ctx, spec: Spec) -> Result<(), String> {
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    ctx.figure(
        "this host's realtime against CLOCK_MONOTONIC_RAW",
        bed.host_rate_ppm,
        "ppm",
        Limit::Info,
    );
    let nodes = bed.node_names();
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    // Steady state: assessed from 30 s after the last node locked (the estimator is still
    // narrowing right after LOCK, which its own uncertainty shows).
    run_for(&mut bed, Duration::from_secs(30))?;
    let from = sys::raw_ns();
    let pcap = bed.dir.join("switch.pcap");
    bed.capture("switch", &pcap, 30)?;
    run_for(&mut bed, Duration::from_secs(80))?;
    let to = sys::raw_ns();
    capture_figures(ctx, &pcap)?;
    let leader_ppm = leader_rate(ctx, &bed, "gm1", from, to);
    ctx.figure(
        "share of samples in LOCK/NANO from 30 s after every node locked (worst node)",
        worst_share(&bed, &nodes, from, to, Sample::locked),
        "",
        Limit::Equal(1.0),
    );
    rate_figures(ctx, &bed, &nodes, leader_ppm, (from, to), 0.1, "steady");
    let clients: Vec<String> = nodes.iter().filter(|n| *n != "m").cloned().collect();
    offset_figures(ctx, &bed, "m", &clients, (from, to), 200.0);
    ctx.finish(&bed);
    Ok(())
}

/// 3. Leader gone.
fn leader_gone(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = locked_venue(ctx, Spec::venue(), Duration::from_secs(40))?;
    let nodes = bed.node_names();
    let stop = sys::raw_ns();
    // The rate the nodes must hold: the leader's over the 40 s before it went.
    let leader_ppm = leader_rate(ctx, &bed, "gm1", stop - 40_000_000_000, stop);
    bed.stop("gm1");
    // The leader is gone from its last Sync on, as the probe heard it.
    let gone = bed
        .probe
        .points(bed.leader_uuid("gm1"))
        .last()
        .map_or(stop, |p| p.0);
    wait_for(
        &mut bed,
        Duration::from_secs(20),
        "every node NTP-ONLY",
        |b| {
            nodes
                .iter()
                .all(|n| b.pollers[n].latest(1.0).is_some_and(|s| s.mode == NTP_ONLY))
        },
    )?;
    for n in &nodes {
        let t = secs_since(
            gone,
            truth::first_after(&bed.samples(n), gone, |x| x.mode == NTP_ONLY),
        );
        ctx.figure(
            format!("{n}: NTP-ONLY after the leader's last Sync (UDP mode byte, polled at 10 Hz)"),
            t,
            "s",
            Limit::AtMost(10.0),
        );
        let status: serde_json::Value = serde_json::from_str(&bed.http_get(n, "/api/status")?)
            .map_err(|e| format!("{n}: /api/status: {e}"))?;
        let http_ok = status["status"]["mode"] == "NTP-ONLY";
        ctx.figure(
            format!("{n}: HTTP /api/status says NTP-ONLY (1 = yes)"),
            f64::from(u8::from(http_ok)),
            "",
            Limit::Equal(1.0),
        );
        let metrics = bed.http_get(n, "/metrics")?;
        let code = metrics
            .lines()
            .find_map(|l| l.strip_prefix("dantesync_mode_code "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        ctx.figure(
            format!("{n}: /metrics dantesync_mode_code"),
            code,
            "",
            Limit::Equal(5.0),
        );
    }
    let from = sys::raw_ns();
    run_for(&mut bed, Duration::from_secs(60))?;
    let to = sys::raw_ns();
    ctx.figure(
        "share of samples in NTP-ONLY during the 60 s holdover (worst node)",
        worst_share(&bed, &nodes, from, to, |x| x.mode == NTP_ONLY),
        "",
        Limit::Equal(1.0),
    );
    rate_figures(ctx, &bed, &nodes, leader_ppm, (from, to), 0.1, "holdover");
    ctx.finish(&bed);
    Ok(())
}

/// 7. Cable pull.
fn cable(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = locked_venue(ctx, Spec::venue(), Duration::from_secs(20))?;
    let pulled = sys::raw_ns();
    bed.set_cable("c1", false)?;
    run_for(&mut bed, Duration::from_secs(20))?;
    let s = bed.samples("c1");
    let worst = s
        .iter()
        .filter(|x| x.raw >= pulled)
        .map(|x| x.mode)
        .max()
        .unwrap_or(0);
    ctx.figure(
        "c1: mode reached while unplugged (5 = NTP-ONLY)",
        f64::from(worst),
        "",
        Limit::Info,
    );
    let back = sys::raw_ns();
    bed.set_cable("c1", true)?;
    let relock = wait_for(
        &mut bed,
        Duration::from_secs(40),
        "c1 locked after the cable returned",
        |b| b.pollers["c1"].latest(1.0).is_some_and(|x| x.locked()),
    );
    let t = secs_since(
        back,
        truth::first_after(&bed.samples("c1"), back, |x| {
            x.locked() && x.ptp_received > 0
        }),
    );
    ctx.figure(
        "c1: locked again after the cable returned",
        t,
        "s",
        Limit::AtMost(20.0),
    );
    relock.map(|_| ())?;
    let others: Vec<String> = vec!["m".into(), "c2".into()];
    ctx.figure(
        "other nodes in LOCK/NANO throughout (worst share)",
        worst_share(&bed, &others, pulled, sys::raw_ns(), Sample::locked),
        "",
        Limit::Equal(1.0),
    );
    ctx.finish(&bed);
    Ok(())
}

/// 8. Restart.
fn restart(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = locked_venue(ctx, Spec::venue(), Duration::from_secs(40))?;
    let clean = bed.stop("c1");
    ctx.figure(
        "c1: exited by itself on SIGTERM (1 = yes)",
        f64::from(u8::from(clean)),
        "",
        Limit::Equal(1.0),
    );
    let started = sys::raw_ns();
    bed.start_node("c1")?;
    let r = wait_for(
        &mut bed,
        Duration::from_secs(30),
        "c1 locked after its restart",
        |b| {
            b.pollers["c1"]
                .latest(1.0)
                .is_some_and(|x| x.raw > started && x.locked())
        },
    );
    let s = bed.samples("c1");
    let first = truth::first_after(&s, started, |x| x.locked());
    ctx.figure(
        "c1: locked after its restart",
        secs_since(started, first),
        "s",
        Limit::AtMost(5.0),
    );
    let prior = truth::first_after(&s, started, |_| true).is_some_and(|x| x.flags & (1 << 3) != 0);
    ctx.figure(
        "c1: says a frequency learned in an earlier run contributes (flag bit 3; 1 = yes)",
        f64::from(u8::from(prior)),
        "",
        Limit::Equal(1.0),
    );
    r?;
    // Honest: LOCK means |drift| < 5 µs/s, so the true rate in the 30 s after the relock
    // (5 s windows) must be within 5 ppm of the leader's.
    let from = first.map_or(started, |x| x.raw);
    run_for(&mut bed, Duration::from_secs(30))?;
    let leader_ppm = leader_rate(ctx, &bed, "gm1", from, from + 30_000_000_000);
    let r = truth::rates(&bed.samples("c1"), from, from + 30_000_000_000, 5.0);
    let errs: Vec<f64> = r.iter().map(|(_, p)| p - leader_ppm).collect();
    ctx.figure(
        format!(
            "c1: max |true rate − leader| in the 30 s after it said LOCK ({} windows of 5 s)",
            errs.len()
        ),
        if errs.is_empty() {
            f64::INFINITY
        } else {
            truth::max_abs(&errs)
        },
        "ppm",
        Limit::AtMost(5.0),
    );
    ctx.finish(&bed);
    Ok(())
}

/// 2. Leader failover.
fn failover(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = Spec::venue();
    spec.leaders[0].preferred = true;
    spec.leaders.push(LeaderSpec::new(
        "gm2",
        2,
        3.0,
        86_400 * 3 + 17,
        "00:1d:c1:00:53:02",
    ));
    let gm2_uuid = [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x02];
    let gm1_uuid = [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01];
    let mut bed = locked_venue(ctx, spec, Duration::from_secs(30))?;
    let nodes = bed.node_names();
    let now = sys::raw_ns();
    let r1 = leader_rate(ctx, &bed, "gm1", now - 30_000_000_000, now);
    let r2 = leader_rate(ctx, &bed, "gm2", now - 30_000_000_000, now);
    for n in &nodes {
        let on_gm1 = bed.pollers[n].latest(1.0).is_some_and(|x| x.gm == gm1_uuid);
        ctx.figure(
            format!("{n}: follows the preferred leader gm1 before (1 = yes)"),
            f64::from(u8::from(on_gm1)),
            "",
            Limit::Equal(1.0),
        );
    }
    let stop = sys::raw_ns();
    bed.stop("gm1");
    let _ = wait_for(
        &mut bed,
        Duration::from_secs(30),
        "every node locked to gm2",
        |b| {
            nodes.iter().all(|n| {
                b.pollers[n]
                    .latest(1.0)
                    .is_some_and(|x| x.gm == gm2_uuid && x.locked())
            })
        },
    );
    run_for(&mut bed, Duration::from_secs(10))?;
    let after = sys::raw_ns();
    for n in &nodes {
        let s = bed.samples(n);
        let t = secs_since(
            stop,
            truth::first_after(&s, stop, |x| x.gm == gm2_uuid && x.locked()),
        );
        ctx.figure(
            format!("{n}: LOCK on gm2 after gm1 stopped"),
            t,
            "s",
            Limit::AtMost(15.0),
        );
        // Excursion: how far the true rate (5 s windows) left the band between the two leaders.
        let (lo, hi) = (r1.min(r2), r1.max(r2));
        let exc = truth::rates(&s, stop, after, 5.0)
            .iter()
            .map(|(_, p)| (lo - p).max(p - hi).max(0.0))
            .fold(0.0, f64::max);
        ctx.figure(
            format!("{n}: frequency excursion outside [gm1, gm2] during the change"),
            exc,
            "ppm",
            Limit::AtMost(5.0),
        );
    }
    // The preferred leader returns: one switch back after the hold, then no flapping.
    let back = sys::raw_ns();
    bed.start_leader("gm1")?;
    run_for(&mut bed, Duration::from_secs(100))?;
    for n in &nodes {
        let s: Vec<Sample> = bed
            .samples(n)
            .into_iter()
            .filter(|x| x.raw >= back)
            .collect();
        let switches = s.windows(2).filter(|w| w[0].gm != w[1].gm).count();
        ctx.figure(
            format!("{n}: leader switches in the 80 s after gm1 returned"),
            switches as f64,
            "",
            Limit::Equal(1.0),
        );
        let t = secs_since(back, s.iter().copied().find(|x| x.gm == gm1_uuid));
        ctx.figure(
            format!("{n}: back on gm1 after it returned"),
            t,
            "s",
            Limit::Info,
        );
        let end_ok = s.last().is_some_and(|x| x.gm == gm1_uuid && x.locked());
        ctx.figure(
            format!("{n}: on gm1 and locked at the end (1 = yes)"),
            f64::from(u8::from(end_ok)),
            "",
            Limit::Equal(1.0),
        );
    }
    ctx.finish(&bed);
    Ok(())
}

/// 6. Network trouble.
fn trouble(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = locked_venue(ctx, Spec::venue(), Duration::from_secs(20))?;
    let bad = Impairment {
        delay_us: 0.0,
        jitter_us: 200.0,
        loss: 0.10,
    };
    bed.set_link("c1", bad, bad);
    let from = sys::raw_ns();
    run_for(&mut bed, Duration::from_secs(100))?;
    let to = sys::raw_ns();
    let c1 = vec!["c1".to_string()];
    ctx.figure(
        "c1: share of samples in LOCK/NANO under trouble",
        worst_share(&bed, &c1, from, to, Sample::locked),
        "",
        Limit::Equal(1.0),
    );
    let leader_ppm = leader_rate(ctx, &bed, "gm1", from, to);
    // The first 20 s let the estimator absorb the new noise.
    rate_figures(
        ctx,
        &bed,
        &c1,
        leader_ppm,
        (from + 20_000_000_000, to),
        0.3,
        "10 % loss, 200 µs jitter",
    );
    let (up, down) = bed.link("c1").dropped();
    ctx.figure(
        "c1's link: frames dropped by the emulator (up + down)",
        (up + down) as f64,
        "",
        Limit::AtLeast(1.0),
    );
    ctx.finish(&bed);
    Ok(())
}

/// 4. Upstream NTP gone.
fn upstream_gone(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = locked_venue(ctx, Spec::venue(), Duration::from_secs(20))?;
    let nodes = bed.node_names();
    wait_for(
        &mut bed,
        Duration::from_secs(60),
        "every node corrected by NTP",
        |b| {
            nodes
                .iter()
                .all(|n| b.pollers[n].latest(1.0).is_some_and(|x| x.corrections > 0))
        },
    )?;
    let before = bed.ntp_query("c1", "m");
    bed.stop("ntp");
    let from = sys::raw_ns();
    run_for(&mut bed, Duration::from_secs(45))?;
    let mid = bed.ntp_query("c1", "m");
    run_for(&mut bed, Duration::from_secs(45))?;
    let after = bed.ntp_query("c1", "m");
    let to = sys::raw_ns();
    ctx.figure(
        "share of samples in LOCK/NANO without upstream (worst node)",
        worst_share(&bed, &nodes, from, to, Sample::locked),
        "",
        Limit::Equal(1.0),
    );
    let answered = [before, mid, after]
        .iter()
        .filter(|r| r.is_some_and(|(li, st, _)| li != 3 && st < 16))
        .count();
    ctx.figure(
        "master answers as synchronised (of 3 queries: before, +45 s, +90 s)",
        answered as f64,
        "",
        Limit::Equal(3.0),
    );
    let disp: Vec<f64> = [before, mid, after]
        .iter()
        .map(|r| r.map_or(f64::NAN, |x| x.2 * 1e3))
        .collect();
    ctx.figure(
        "master root dispersion before upstream loss",
        disp[0],
        "ms",
        Limit::Info,
    );
    ctx.figure(
        "master root dispersion growth, +45 s → +90 s",
        disp[2] - disp[1],
        "ms",
        Limit::AtLeast(0.0001),
    );
    ctx.figure(
        "master root dispersion growth, before → +90 s",
        disp[2] - disp[0],
        "ms",
        Limit::AtLeast(0.0001),
    );
    let clients: Vec<String> = nodes.iter().filter(|n| *n != "m").cloned().collect();
    offset_figures(ctx, &bed, "m", &clients, (from, to), 200.0);
    for c in &clients {
        let s = bed.samples(c);
        let corr = |t: i64| truth::first_after(&s, t, |_| true).map_or(0, |x| x.corrections);
        ctx.figure(
            format!("{c}: checks against the master failing at the end (flag bit 2; 1 = failing)"),
            s.last()
                .map_or(1.0, |x| f64::from(u8::from(x.flags & 4 != 0))),
            "",
            Limit::Equal(0.0),
        );
        ctx.figure(
            format!("{c}: NTP corrections without upstream"),
            (corr(to - 1_000_000_000) - corr(from)) as f64,
            "",
            Limit::Info,
        );
    }
    ctx.finish(&bed);
    Ok(())
}

/// Dantesync daemons (master, clients) of a spec, without the NTP server nodes.
fn sync_nodes(spec: &Spec) -> Vec<String> {
    spec.nodes
        .iter()
        .filter(|n| !matches!(n.role, Role::Server))
        .map(|n| n.name.clone())
        .collect()
}

/// Restarts server node `name` with its clock `offset_ms` off: a server whose time jumps.
fn jump_server(bed: &mut Bed, name: &str, offset_ms: f64) -> Result<(), String> {
    bed.spec.node_mut(name).offset_ms = offset_ms;
    bed.stop(name);
    bed.start_node(name)
}

/// Steps (|Δ phase| > 100 ms between consecutive samples) after `from`, and the number of NTP
/// checks the node completed from `from` up to and including the first step.
fn steps_after(s: &[Sample], from: i64) -> (usize, Option<usize>) {
    let after: Vec<&Sample> = s.iter().filter(|x| x.raw >= from).collect();
    let mut steps = 0;
    let mut checks_at_first = None;
    for w in after.windows(2) {
        if (w[1].phase() - w[0].phase()).abs() > 100_000_000 {
            steps += 1;
            if checks_at_first.is_none() {
                let mut seen: Vec<u64> = after
                    .iter()
                    .filter(|x| x.raw <= w[1].raw && x.last_check != 0)
                    .map(|x| x.last_check)
                    .collect();
                seen.dedup();
                // The first value is the check before the jump.
                checks_at_first = Some(seen.len().saturating_sub(1));
            }
        }
    }
    (steps, checks_at_first)
}

/// 5. Falseticker.
fn falseticker(ctx: &mut Ctx) -> Result<(), String> {
    // Three upstreams: chronyd, and two daemons serving simulated clocks (u2, u3).
    let mut spec = Spec::venue();
    spec.add_server("u2", 6, 0.0);
    spec.add_server("u3", 7, 0.0);
    spec.node_mut("m").role = Role::Master {
        upstreams: vec!["ntp".into(), "u2".into(), "u3".into()],
    };
    let nodes = sync_nodes(&spec);
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    run_for(&mut bed, Duration::from_secs(15))?;
    // Every node has its time from NTP before the jump (a first correction may step).
    wait_for(
        &mut bed,
        Duration::from_secs(60),
        "every node corrected by NTP",
        |b| {
            nodes
                .iter()
                .all(|n| b.pollers[n].latest(1.0).is_some_and(|x| x.corrections > 0))
        },
    )?;
    let jump = sys::raw_ns();
    jump_server(&mut bed, "u3", 250.0)?;
    run_for(&mut bed, Duration::from_secs(75))?;
    for n in &nodes {
        let (steps, _) = steps_after(&bed.samples(n), jump);
        ctx.figure(
            format!("{n}: steps > 100 ms in 75 s after u3 jumped 250 ms (3 upstreams)"),
            steps as f64,
            "",
            Limit::Equal(0.0),
        );
    }
    let d: Vec<f64> =
        truth::differences(&bed.samples("c1"), &bed.samples("m"), jump, sys::raw_ns())
            .iter()
            .map(|x| x / 1e3)
            .collect();
    ctx.figure(
        "c1 − m after the jump: max |Δ|",
        truth::max_abs(&d),
        "µs",
        Limit::AtMost(200.0),
    );
    ctx.finish(&bed);
    drop(bed);

    // One upstream, and it jumps: the master may follow only after more than one check.
    let mut spec = Spec::venue();
    spec.upstreams.clear();
    spec.add_server("u3", 7, 0.0);
    spec.node_mut("m").role = Role::Master {
        upstreams: vec!["u3".into()],
    };
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    run_for(&mut bed, Duration::from_secs(15))?;
    // Every node has its time from NTP before the jump (a first correction may step).
    wait_for(
        &mut bed,
        Duration::from_secs(60),
        "every node corrected by NTP",
        |b| {
            nodes
                .iter()
                .all(|n| b.pollers[n].latest(1.0).is_some_and(|x| x.corrections > 0))
        },
    )?;
    let jump = sys::raw_ns();
    jump_server(&mut bed, "u3", 250.0)?;
    run_for(&mut bed, Duration::from_secs(75))?;
    for n in &nodes {
        let (steps, checks) = steps_after(&bed.samples(n), jump);
        ctx.figure(
            format!("{n}: steps > 100 ms in 75 s after its only upstream jumped"),
            steps as f64,
            "",
            Limit::Info,
        );
        if let Some(c) = checks {
            ctx.figure(
                format!("{n}: NTP checks up to its first step (a step on a single check = 1)"),
                c as f64,
                "",
                Limit::AtLeast(2.0),
            );
        }
    }
    ctx.finish(&bed);
    Ok(())
}

/// 9. Abuse.
fn abuse(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = Spec::venue();
    spec.extra_hosts.push(("evil".into(), 66));
    let mut bed = locked_venue(ctx, spec, Duration::from_secs(10))?;
    let nodes = bed.node_names();
    let count = |bed: &Bed, n: &str| -> Result<(f64, f64, f64), String> {
        Ok((
            bed.metric_sum(n, "dantesync_ptp_packets_dropped_total")?,
            bed.metric_sum(n, "dantesync_ntp_server_requests_dropped_total")?,
            bed.pollers[n]
                .latest(2.0)
                .map_or(f64::NAN, |x| x.query_dropped as f64),
        ))
    };
    let before: Vec<(f64, f64, f64)> = nodes
        .iter()
        .map(|n| count(&bed, n))
        .collect::<Result<_, _>>()?;
    let targets: Vec<std::net::Ipv4Addr> = nodes.iter().map(|n| bed.addr(n)).collect();
    let (ns, local) = (bed.ns("evil").to_owned(), bed.addr("evil"));
    let subnet = {
        let o = local.octets();
        [o[0], o[1], o[2]]
    };
    let from = sys::raw_ns();
    let (t1, t2) = (targets.clone(), ns.clone());
    let flood = std::thread::spawn(move || crate::abuse::spoofed_flood(&t2, subnet, t1, 10.0));
    let sent = crate::abuse::malformed(&ns, local, targets, 10.0)?;
    let spoofed = flood.join().map_err(|_| "flood thread panicked")??;
    run_for(&mut bed, Duration::from_secs(5))?;
    let to = sys::raw_ns();
    ctx.figure(
        "malformed datagrams sent (all nodes and the PTP group, 4 ports)",
        sent as f64,
        "",
        Limit::Info,
    );
    ctx.figure(
        "spoofed-source compact queries sent to 31900",
        spoofed as f64,
        "",
        Limit::Info,
    );
    for (n, b) in nodes.iter().zip(&before) {
        let a = count(&bed, n)?;
        ctx.figure(
            format!("{n}: PTP datagrams dropped during the abuse (metrics)"),
            a.0 - b.0,
            "",
            Limit::AtLeast(1.0),
        );
        // Only the master serves NTP; the clients' port 123 is closed.
        if n == "m" {
            ctx.figure(
                format!("{n}: NTP requests dropped during the abuse (metrics)"),
                a.1 - b.1,
                "",
                Limit::AtLeast(1.0),
            );
        }
        ctx.figure(
            format!("{n}: query datagrams dropped during the abuse (reply)"),
            a.2 - b.2,
            "",
            Limit::AtLeast(1.0),
        );
    }
    ctx.figure(
        "share of samples in LOCK/NANO during and after (worst node)",
        worst_share(&bed, &nodes, from, to, Sample::locked),
        "",
        Limit::Equal(1.0),
    );
    ctx.figure(
        "processes that exited (crashed)",
        bed.crashed().len() as f64,
        "",
        Limit::Equal(0.0),
    );
    ctx.finish(&bed);
    Ok(())
}

/// The venue with two foreign leaders that start later, both better by the best-master rule
/// (Preferred Leader): `fx` on another subnet, `fs` on subdomain _ALT1 (224.0.1.130).
fn foreign_spec(set: u8, allowlist: bool) -> Spec {
    let mut spec = Spec::venue();
    let mut fx = LeaderSpec::new("fx", 0, 1.0, 5000, "00:1d:c1:00:53:0f");
    fx.addr = Some(std::net::Ipv4Addr::new(10, 232, set, 1));
    fx.preferred = true;
    fx.start = false;
    let mut fs = LeaderSpec::new("fs", 3, 2.0, 6000, "00:1d:c1:00:53:0e");
    fs.preferred = true;
    fs.start = false;
    fs.args = vec!["--dest".into(), "224.0.1.130".into()];
    spec.leaders.push(fx);
    spec.leaders.push(fs);
    if allowlist {
        for n in &mut spec.nodes {
            n.extra =
                serde_json::json!({"ptp": {"source_allowlist": [format!("10.231.{set}.0/24")]}});
        }
    }
    spec
}

/// 10. Foreign leaders.
fn foreign(ctx: &mut Ctx) -> Result<(), String> {
    let gm1 = [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x01];
    let fx = [0x00, 0x1d, 0xc1, 0x00, 0x53, 0x0f];
    for allowlist in [true, false] {
        let label = if allowlist {
            "with source_allowlist"
        } else {
            "without allowlist"
        };
        let mut bed = locked_venue(
            ctx,
            foreign_spec(ctx.set, allowlist),
            Duration::from_secs(10),
        )?;
        let nodes = bed.node_names();
        let from = sys::raw_ns();
        bed.start_leader("fx")?;
        bed.start_leader("fs")?;
        run_for(&mut bed, Duration::from_secs(40))?;
        let mut finals = Vec::new();
        for n in &nodes {
            let s: Vec<Sample> = bed
                .samples(n)
                .into_iter()
                .filter(|x| x.raw >= from)
                .collect();
            let switches = s.windows(2).filter(|w| w[0].gm != w[1].gm).count();
            let last = s.last().map(|x| x.gm).unwrap_or_default();
            finals.push(last);
            if allowlist {
                ctx.figure(
                    format!("{n}: leader switches ({label})"),
                    switches as f64,
                    "",
                    Limit::Equal(0.0),
                );
                ctx.figure(
                    format!("{n}: follows gm1 at the end ({label}; 1 = yes)"),
                    f64::from(u8::from(last == gm1)),
                    "",
                    Limit::Equal(1.0),
                );
            } else {
                ctx.figure(
                    format!("{n}: leader switches ({label})"),
                    switches as f64,
                    "",
                    Limit::AtMost(1.0),
                );
                ctx.figure(format!("{n}: follows the other-subnet leader fx, better by the best-master rule ({label}; 1 = yes)"), f64::from(u8::from(last == fx)), "", Limit::Info);
            }
        }
        if !allowlist {
            finals.sort();
            finals.dedup();
            ctx.figure(
                format!("distinct leaders followed at the end ({label})"),
                finals.len() as f64,
                "",
                Limit::Equal(1.0),
            );
        }
        ctx.finish(&bed);
    }
    Ok(())
}

/// Decodes a capture of the bed with tshark: how many PTP and NTP packets it holds, and how
/// many frames tshark calls malformed (must be none: everything on the wire is ours).
fn capture_figures(ctx: &mut Ctx, pcap: &std::path::Path) -> Result<(), String> {
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
