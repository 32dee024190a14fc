//! The command line and the plan made from it.

use std::net::Ipv4Addr;
use std::time::Duration;

use clap::Parser;

use super::args::GmSimArgs;
use super::plan::Plan;
use super::uptime::Timebase;
// Kernel transmit stamps are a Linux feature; only its test block uses these.
#[cfg(target_os = "linux")]
use super::{args::TxStamps, schedule::kernel_tx_stamps, sockets::Sockets};

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
