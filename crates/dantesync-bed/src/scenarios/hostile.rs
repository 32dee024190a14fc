//! Scenarios about what should not be followed: garbage and floods, foreign leaders.

use super::*;

/// 9. Abuse.
pub(super) fn abuse(ctx: &mut Ctx) -> Result<(), String> {
    let mut spec = Spec::venue();
    spec.extra_hosts.push(("evil".into(), 66));
    let mut bed = locked_venue(ctx, spec, Duration::from_secs(10))?;
    let nodes = bed.node_names();
    // The query counter comes from the node's reply to its poller, from a reply sent after
    // `since`: right after the flood a node may answer late (its query socket's replies to the
    // spoofed, unresolvable sources wait for ARP), so wait up to 15 s for one and report how
    // long the node was silent rather than read an older reply (or none: that was the NaN).
    let count = |bed: &Bed, n: &str, since: i64| -> Result<(f64, f64, Option<Sample>), String> {
        let deadline = sys::raw_ns() + 15_000_000_000;
        let reply = loop {
            let s = bed.pollers[n].latest(2.0).filter(|x| x.raw > since);
            if s.is_some() || sys::raw_ns() > deadline || sys::stopping() {
                break s;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        Ok((
            bed.metric_sum(n, "dantesync_ptp_packets_dropped_total")?,
            bed.metric_sum(n, "dantesync_ntp_server_requests_dropped_total")?,
            reply,
        ))
    };
    let start = sys::raw_ns();
    let before: Vec<(f64, f64, Option<Sample>)> = nodes
        .iter()
        .map(|n| count(&bed, n, start))
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
    let flood_end = sys::raw_ns();
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
        let a = count(&bed, n, flood_end)?;
        // How long after the flood the node first answered its poller again (Info: a node
        // that never answers fails the query figure below).
        let first = truth::first_after(&bed.samples(n), flood_end, |_| true);
        ctx.figure(
            format!("{n}: first reply to its poller after the flood ended"),
            secs_since(flood_end, first),
            "s",
            Limit::Info,
        );
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
            match (a.2, b.2) {
                (Some(a), Some(b)) => a.query_dropped as f64 - b.query_dropped as f64,
                _ => f64::NAN,
            },
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
pub(super) fn foreign_spec(set: u8, allowlist: bool) -> Spec {
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
pub(super) fn foreign(ctx: &mut Ctx) -> Result<(), String> {
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
