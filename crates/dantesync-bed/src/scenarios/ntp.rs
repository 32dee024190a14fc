//! Scenarios about the upstream NTP servers: gone, or one of them wrong.

use super::*;

/// 4. Upstream NTP gone.
pub(super) fn upstream_gone(ctx: &mut Ctx) -> Result<(), String> {
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

/// Restarts server node `name` with its clock `offset_ms` off: a server whose time jumps.
pub(super) fn jump_server(bed: &mut Bed, name: &str, offset_ms: f64) -> Result<(), String> {
    bed.spec.node_mut(name).offset_ms = offset_ms;
    bed.stop(name);
    bed.start_node(name)
}

/// Steps (|Δ phase| > 100 ms between consecutive samples) after `from`, and the number of NTP
/// checks the node completed from `from` up to and including the first step.
pub(super) fn steps_after(s: &[Sample], from: i64) -> (usize, Option<usize>) {
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
pub(super) fn falseticker(ctx: &mut Ctx) -> Result<(), String> {
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
