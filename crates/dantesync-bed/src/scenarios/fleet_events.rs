//! Fleet mode under events (issue #14): a coordinated correction of D, D slewing, a leader
//! failover and a leader's frequency step, each in the fleet venue of [`super::fleet`], with
//! the spread of true time between all nodes measured from outside throughout.

use serde_json::{json, Value};

use super::fleet::{fleet_spec, fleet_venue, spread_figures, status};
use super::*;

const NS: f64 = 1e9;

/// The fleet venue whose master starts with an announcement of D `off_ms` behind UTC, kept
/// from an earlier run (`fleet.json` beside its state file), under UTC policy `policy`: a
/// master whose D is wrong by a known amount, which its measurement then finds, without
/// touching any upstream. The leader starts only once that file is written, so D is known:
/// UTC now minus its starting uptime.
fn off_d_venue(ctx: &mut Ctx, policy: &str, off_ms: f64) -> Result<Bed, String> {
    let mut spec = fleet_spec("fleet");
    spec.leaders[0].start = false;
    spec.node_mut("m").extra = json!({"sync_mode": "fleet", "fleet": {"utc_policy": policy}});
    let uptime_ns = spec.leaders[0].uptime_s as i64 * 1_000_000_000;
    let uuid = spec.leaders[0].uuid.clone();
    let t0 = sys::raw_ns();
    let mut bed = ctx.bed(spec)?;
    // The master ran for a moment without a leader: nothing to keep. Restart it on the file.
    bed.stop("m");
    let d_ns = sys::realtime_ns() - uptime_ns - (off_ms * 1e6) as i64;
    let saved = json!({
        "version": 1,
        "leader_sender": uuid,
        "leader_port": 1,
        "leader_grandmaster": uuid,
        "epoch": 1,
        "d_ns": d_ns,
        "at_leader_ns": uptime_ns,
        "rate_ppb": 0,
    });
    let path = bed.dir.join("m").join("fleet.json");
    std::fs::write(&path, saved.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    bed.start_leader("gm1")?;
    bed.start_node("m")?;
    ctx.figure(
        "master's kept D, behind UTC by (as written; the leader started right after)",
        off_ms,
        "ms",
        Limit::Info,
    );
    finish_venue(ctx, bed, t0)
}

/// Waits for lock, tracking and convergence on an already built fleet bed, then 30 s more.
fn finish_venue(ctx: &mut Ctx, mut bed: Bed, t0: i64) -> Result<Bed, String> {
    super::fleet::impair_links(ctx, &bed);
    let nodes = sync_nodes(&bed.spec);
    let times = wait_locked(&mut bed, &nodes, t0, LOCK_LIMIT)?;
    lock_figures(ctx, &times);
    super::fleet::wait_tracking(&mut bed, &nodes, Duration::from_secs(240))?;
    super::fleet::wait_converged(&mut bed, &nodes, Duration::from_secs(300))?;
    ctx.figure(
        "every node using its path delay and within 20 µs by its own word, after the bed started",
        (sys::raw_ns() - t0) as f64 / 1e9,
        "s",
        Limit::Info,
    );
    run_for(&mut bed, Duration::from_secs(30))?;
    Ok(bed)
}

/// `dantesync fleet ARGS...` in node `node`'s namespace: (exit code, stdout).
fn fleet_cli(bed: &Bed, node: &str, args: &[&str]) -> Result<(i32, String), String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", bed.ns(node)])
        .arg(&bed.bin)
        .arg("fleet")
        .args(args)
        .output()
        .map_err(|e| format!("dantesync fleet: {e}"))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// Each node's step in [from, to]: the consecutive samples whose phase moved more than
/// `min_ns`: (raw of the sample after it, how much, ns).
fn steps(s: &[Sample], from: i64, to: i64, min_ns: f64) -> Vec<(i64, f64)> {
    s.windows(2)
        .filter(|p| p[1].raw >= from && p[1].raw <= to)
        .filter_map(|p| {
            let d = (p[1].phase() - p[0].phase()) as f64;
            (d.abs() > min_ns).then_some((p[1].raw, d))
        })
        .collect()
}

/// The largest move of a node's true time between consecutive readings beyond what a rate of
/// `ppm` ± `slack_ppm` explains, µs, in [from, to].
fn worst_jump_us(s: &[Sample], from: i64, to: i64, ppm: f64, slack_ppm: f64) -> f64 {
    s.windows(2)
        .filter(|p| p[0].raw >= from && p[1].raw <= to)
        .map(|p| {
            let dt = (p[1].raw - p[0].raw) as f64;
            let d = (p[1].phase() - p[0].phase()) as f64 - ppm * 1e-6 * dt;
            (d.abs() - slack_ppm * 1e-6 * dt).max(0.0) / 1e3
        })
        .fold(0.0, f64::max)
}

/// F2. `scheduled`: an operator's correction of D, 200 ms, lands on every node at once.
pub(super) fn fleet_scheduled(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = off_d_venue(ctx, "scheduled", 240.0)?;
    let nodes = sync_nodes(&bed.spec);
    let a = &status(&bed, "m")?["status"]["fleet_authority"];
    ctx.figure(
        "master: measured minus announced D before the correction",
        a["error_ns"].as_f64().unwrap_or(f64::NAN) / 1e6,
        "ms",
        Limit::Info,
    );
    let asked = sys::raw_ns();
    let (code, out) = fleet_cli(&bed, "m", &["correct"])?;
    ctx.note(format!(
        "`dantesync fleet correct` on the master: exit {code}\n{out}"
    ));
    ctx.figure(
        "`dantesync fleet correct` on the master's loopback accepted (exit code)",
        f64::from(code),
        "",
        Limit::Equal(0.0),
    );
    let announced_ms = out
        .lines()
        .find_map(|l| l.strip_prefix("next correction:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    ctx.figure(
        "correction announced",
        announced_ms,
        "ms",
        Limit::Equal(200.0),
    );
    for n in &nodes {
        bed.pollers[n].set_pause_ms(20);
    }
    // Announced `lead_s` (30 s) ahead; then a margin.
    run_for(&mut bed, Duration::from_secs(40))?;
    let end = sys::raw_ns();
    let mut landed = Vec::new();
    for n in &nodes {
        let st = steps(&bed.samples(n), asked, end, 100e6);
        let moved = st.first().map_or(f64::NAN, |x| x.1);
        ctx.figure(
            format!("{n}: steps of more than 100 ms after the request"),
            st.len() as f64,
            "",
            Limit::Equal(1.0),
        );
        // Between two readings 20 ms apart, 20 ppm of slew is 0.4 µs.
        ctx.figure(
            format!("{n}: |moved − 200 ms| (moved {:.6} ms)", moved / 1e6),
            (moved - 200e6).abs() / 1e3,
            "µs",
            Limit::AtMost(20.0),
        );
        if let Some(x) = st.first() {
            landed.push(x.0);
        }
    }
    // A node that did not step stays in the spread below, 200 ms off the others.
    let (Some(&first), Some(&last)) = (landed.iter().min(), landed.iter().max()) else {
        ctx.finish(&bed);
        return Err("no node stepped".into());
    };
    ctx.figure(
        "first to last node's step, by raw time of the reading after it (resolution 20 ms)",
        (last - first) as f64 / 1e6,
        "ms",
        Limit::Info,
    );
    ctx.figure(
        "request to the last node's step",
        (last - asked) as f64 / NS,
        "s",
        Limit::Info,
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (last + 1, last + 2_000_000_000),
        Some(20.0),
        "in the 2 s right after the correction",
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (last + 2_000_000_000, end),
        Some(20.0),
        "after that",
    );
    ctx.finish(&bed);
    Ok(())
}

/// F3. `slew`: D follows UTC at 20 ppm; the nodes follow it together.
pub(super) fn fleet_slew(ctx: &mut Ctx) -> Result<(), String> {
    let mut bed = off_d_venue(ctx, "slew", 240.0)?;
    let nodes = sync_nodes(&bed.spec);
    let rate = |b: &Bed| -> Result<f64, String> {
        let v: Value = status(b, "m")?;
        Ok(v["status"]["fleet_authority"]["rate_ppb"]
            .as_f64()
            .unwrap_or(f64::NAN)
            / 1e3)
    };
    // D starts to move once the master has measured its error (the announcement then carries
    // the rate); the nodes' phase loops then take up the new rate: 120 s for that.
    let mut r0 = f64::NAN;
    wait_for(
        &mut bed,
        Duration::from_secs(180),
        "D announced moving",
        |b| {
            r0 = rate(b).unwrap_or(f64::NAN);
            r0 >= 19.0
        },
    )?;
    run_for(&mut bed, Duration::from_secs(120))?;
    let r0 = rate(&bed)?.min(r0);
    let from = sys::raw_ns();
    run_for(&mut bed, Duration::from_secs(120))?;
    let to = sys::raw_ns();
    let r1 = rate(&bed)?;
    ctx.figure(
        "D's announced rate at the window's start (fleet.utc_slew_max_ppm 20)",
        r0,
        "ppm",
        Limit::AtLeast(19.0),
    );
    ctx.figure(
        "D's announced rate at the window's end",
        r1,
        "ppm",
        Limit::AtLeast(19.0),
    );
    let leader_ppm = leader_rate(ctx, &bed, "gm1", from, to);
    for n in &nodes {
        let r = truth::rates(&bed.samples(n), from, to, 20.0);
        let v: Vec<f64> = r.iter().map(|(_, p)| p - leader_ppm).collect();
        ctx.figure(
            format!("{n}: true rate − leader's, mean over the window (D's rate)"),
            v.iter().sum::<f64>() / v.len().max(1) as f64,
            "ppm",
            Limit::Info,
        );
    }
    spread_figures(ctx, &bed, &nodes, (from, to), Some(10.0), "while D slews");
    ctx.finish(&bed);
    Ok(())
}

/// F4. Leader failover: gm1 stops, gm2 (another uptime, +3 ppm) takes over.
pub(super) fn fleet_failover(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = fleet_spec("fleet");
    spec.leaders[0].preferred = true;
    spec.leaders.push(LeaderSpec::new(
        "gm2",
        2,
        3.0,
        86_400 * 3 + 17,
        "00:1d:c1:00:53:02",
    ));
    let mut bed = fleet_venue(ctx, spec, Duration::from_secs(60))?;
    let nodes = sync_nodes(&bed.spec);
    let before = sys::raw_ns();
    let r1 = leader_rate(ctx, &bed, "gm1", before - 60_000_000_000, before);
    bed.stop("gm1");
    let stop = sys::raw_ns();
    run_for(&mut bed, Duration::from_secs(150))?;
    let end = sys::raw_ns();
    let r2 = leader_rate(ctx, &bed, "gm2", stop + 30_000_000_000, end);
    for n in &nodes {
        let v = status(&bed, n)?;
        ctx.figure(
            format!(
                "{n}: fleet state at the end tracking (1 = yes; it says {})",
                v["status"]["fleet_state"]
            ),
            f64::from(u8::from(v["status"]["fleet_state"] == "tracking")),
            "",
            Limit::Equal(1.0),
        );
        // The rate the clock may run at: either leader's, plus the phase loop's bound.
        let mid = (r1 + r2) / 2.0;
        ctx.figure(
            format!(
                "{n}: largest move between consecutive readings beyond the leaders' rate + 20 ppm"
            ),
            worst_jump_us(
                &bed.samples(n),
                before - 30_000_000_000,
                end,
                mid,
                (r2 - r1).abs() / 2.0 + 20.0,
            ),
            "µs",
            Limit::AtMost(20.0),
        );
    }
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (before - 30_000_000_000, stop),
        Some(50.0),
        "before the failover",
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (stop, stop + 60_000_000_000),
        Some(50.0),
        "during the failover (60 s)",
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (stop + 60_000_000_000, end),
        Some(50.0),
        "after it",
    );
    ctx.finish(&bed);
    Ok(())
}

/// F5. The leader's rate steps by 25 ppm.
pub(super) fn fleet_freq_step(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = fleet_spec("fleet");
    // gm-sim steps its rate this long after it starts: after lock, tracking (~80 s) and the
    // path delays taken up (~2 more minutes), so the window before the step is clean.
    const STEP_AT_S: u64 = 300;
    spec.leaders[0].args = vec!["--rate-step-at".into(), format!("{STEP_AT_S}:25")];
    let mut bed = fleet_venue(ctx, spec, Duration::from_secs(30))?;
    let nodes = sync_nodes(&bed.spec);
    // The step is due STEP_AT_S after gm1's first Sync, which the probe heard.
    let first = bed
        .probe
        .points(bed.leader_uuid("gm1"))
        .first()
        .map(|p| p.0)
        .ok_or("the probe heard no Sync of gm1")?;
    let step = first + STEP_AT_S as i64 * 1_000_000_000;
    if sys::raw_ns() > step - 20_000_000_000 {
        ctx.note("the venue took too long to settle: less than 20 s before the step");
    }
    let from = sys::raw_ns().min(step - 20_000_000_000);
    while sys::raw_ns() < step + 150_000_000_000 {
        run_for(&mut bed, Duration::from_secs(5))?;
    }
    let to = sys::raw_ns();
    let before = probe_rate(ctx, &bed, "gm1", from, step - 1_000_000_000);
    let after = probe_rate(ctx, &bed, "gm1", step + 5_000_000_000, to);
    ctx.figure(
        "gm1: rate step measured by the probe",
        after - before,
        "ppm",
        Limit::Info,
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (from, to),
        Some(50.0),
        "throughout, the step inside",
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (step, step + 30_000_000_000),
        Some(50.0),
        "the 30 s after the step",
    );
    ctx.finish(&bed);
    Ok(())
}

/// The change of `node`'s UTC error (its clock − this host's realtime, which the upstream
/// serves) from raw `a` to raw `b`, ns: its phase change less realtime's against raw.
fn utc_error_change(bed: &Bed, node: &str, a: i64, b: i64) -> Option<f64> {
    let s = bed.samples(node);
    let pa = truth::phase_at(&s, a)?;
    let pb = truth::phase_at(&s, b)?;
    Some(pb - pa - bed.host_clock.rate_ppm * 1e-6 * (b - a) as f64)
}

/// F6. Upstream NTP off for 10 minutes, then the master restarts: the fleet holds together,
/// its UTC error grows at the leader's rate error alone, and the restart moves nobody.
pub(super) fn fleet_upstream_off(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = fleet_spec("fleet");
    // A leader 2 ppm fast against UTC: what the fleet's UTC error must grow at, alone.
    spec.leaders[0].drift_ppm = 2.0;
    let mut bed = fleet_venue(ctx, spec, Duration::from_secs(60))?;
    let nodes = sync_nodes(&bed.spec);
    let off = sys::raw_ns();
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (off - 60_000_000_000, off),
        Some(10.0),
        "before, with upstream",
    );
    bed.stop("ntp");
    run_for(&mut bed, Duration::from_secs(600))?;
    let back = sys::raw_ns();
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (off, back),
        Some(10.0),
        "10 min without upstream",
    );
    let leader_ppm = leader_rate(ctx, &bed, "gm1", off, back);
    let leader_err_ppm = leader_ppm - bed.host_clock.rate_ppm;
    ctx.figure(
        "gm1: rate error against UTC (realtime), measured",
        leader_err_ppm,
        "ppm",
        Limit::Info,
    );
    let (a, b) = (off + 1_000_000_000, back - 1_000_000_000);
    for n in &nodes {
        let growth = utc_error_change(&bed, n, a, b).unwrap_or(f64::NAN);
        let ppm = growth / (b - a) as f64 * 1e6;
        ctx.figure(
            format!(
                "{n}: UTC error growth without upstream ({:.1} µs in 10 min)",
                growth / 1e3
            ),
            ppm,
            "ppm",
            Limit::Info,
        );
        ctx.figure(
            format!("{n}: |UTC error growth − leader's rate error|"),
            (ppm - leader_err_ppm).abs(),
            "ppm",
            Limit::AtMost(0.1),
        );
    }
    let d_before = status(&bed, "m")?["status"]["fleet_authority"].clone();
    let clean = bed.stop("m");
    ctx.figure(
        "m: exited by itself on SIGTERM (1 = yes)",
        f64::from(u8::from(clean)),
        "",
        Limit::Equal(1.0),
    );
    let restart = sys::raw_ns();
    bed.start_node("m")?;
    let clients: Vec<String> = nodes.iter().filter(|n| *n != "m").cloned().collect();
    run_for(&mut bed, Duration::from_secs(5))?;
    let d_after = status(&bed, "m")?["status"]["fleet_authority"].clone();
    for k in ["epoch", "d_ns", "at_leader_ns"] {
        ctx.figure(
            format!("m: announced {k} after its restart − before"),
            d_after[k].as_f64().unwrap_or(f64::NAN) - d_before[k].as_f64().unwrap_or(f64::NAN),
            "",
            Limit::Equal(0.0),
        );
    }
    wait_locked(&mut bed, &["m".to_string()], restart, LOCK_LIMIT)?;
    super::fleet::wait_tracking(&mut bed, &["m".to_string()], Duration::from_secs(120))?;
    run_for(&mut bed, Duration::from_secs(90))?;
    let end = sys::raw_ns();
    for c in &clients {
        ctx.figure(
            format!("{c}: largest move between consecutive readings around the master's restart, beyond the leader's rate ± 20 ppm"),
            worst_jump_us(&bed.samples(c), restart - 10_000_000_000, end, leader_ppm, 20.0),
            "µs",
            Limit::AtMost(20.0),
        );
    }
    spread_figures(
        ctx,
        &bed,
        &clients,
        (restart, end),
        Some(10.0),
        "clients across the master's restart",
    );
    spread_figures(
        ctx,
        &bed,
        &nodes,
        (end - 30_000_000_000, end),
        Some(10.0),
        "all, the master back in the fleet",
    );
    ctx.finish(&bed);
    Ok(())
}
