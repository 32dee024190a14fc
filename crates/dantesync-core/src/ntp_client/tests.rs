//! The client across checks: selection, back-off, Kiss-o'-Death, and what gets logged.

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::wire::ntp::Leap;

const S: Duration = Duration::from_secs(1);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn burst(offset_ms: f64, delay_us: i64) -> BurstResult {
    BurstResult {
        offset_ns: (offset_ms * 1e6) as i64,
        delay_ns: delay_us * 1000,
        spread_ns: 20_000,
        samples: 4,
        kept: 2,
        stratum: 2,
        root_delay_ns: 0,
        root_dispersion_ns: 0,
        leap: Leap::NoWarning,
    }
}

fn answered(i: usize, offset_ms: f64) -> (usize, Outcome) {
    (
        i,
        Outcome::Answered {
            address: ip(i as u8 + 1),
            burst: burst(offset_ms, 300),
        },
    )
}

fn silent(i: usize) -> (usize, Outcome) {
    (
        i,
        Outcome::NoReply {
            address: Some(ip(i as u8 + 1)),
            why: "no reply within 300 ms".into(),
        },
    )
}

fn three() -> NtpClient {
    NtpClient::new(["a.lan", "b.lan", "c.lan"].map(String::from))
}

#[test]
fn the_server_250_ms_off_is_a_falseticker_and_the_two_agreeing_are_followed() {
    let mut c = three();
    let r = c.complete(
        S,
        vec![answered(0, 37.010), answered(1, 287.0), answered(2, 36.990)],
    );
    let combined = r.result.unwrap();
    assert_eq!(
        combined.measurement.offset_ns, 37_000_000,
        "mean of the two"
    );
    assert_eq!(combined.truechimers, 2);
    let states: Vec<SourceState> = c.status().iter().map(|s| s.state).collect();
    use SourceState::*;
    assert_eq!(states, [Truechimer, Falseticker, Truechimer]);
    // Every server changed from pending: three log lines, the falseticker's naming it.
    assert_eq!(r.changes.len(), 3);
    let b = &r.changes[1];
    assert_eq!((b.name.as_str(), b.to), ("b.lan", Falseticker));
    assert!(
        b.message.contains("not followed") && b.message.contains("+287.000 ms"),
        "{}",
        b.message
    );
    assert!(b.message.contains("2 of 3 servers agree"), "{}", b.message);
    // The same picture again logs nothing.
    let r = c.complete(
        2 * S,
        vec![answered(0, 37.020), answered(1, 287.0), answered(2, 36.980)],
    );
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(r.result.unwrap().measurement.offset_ns, 37_000_000);
}

#[test]
fn the_combined_offset_weighs_the_nearer_server_more() {
    let mut c = NtpClient::new(["near", "far"].map(String::from));
    let near = Outcome::Answered {
        address: ip(1),
        burst: burst(1.0, 0),
    };
    // 2 ms round trip: distance 1 ms + 1 ms floor + spread, twice the near one's.
    let far = Outcome::Answered {
        address: ip(2),
        burst: BurstResult {
            spread_ns: 0,
            ..burst(1.3, 2_000)
        },
    };
    let near_d = client::distance_ns(&burst(1.0, 0));
    let r = c.complete(S, vec![(0, near), (1, far)]).result.unwrap();
    let (w1, w2) = (1.0 / near_d, 1.0 / 2e6);
    let expected = (w1 * 1.0e6 + w2 * 1.3e6) / (w1 + w2);
    assert_eq!(r.measurement.offset_ns, expected.round() as i64);
    assert_eq!(r.upstream.addr, ip(1), "the nearer server is the upstream");
}

#[test]
fn two_servers_that_disagree_are_not_followed() {
    let mut c = NtpClient::new(["a", "b"].map(String::from));
    let r = c.complete(S, vec![answered(0, 0.0), answered(1, 250.0)]);
    let e = r.result.unwrap_err();
    assert!(e.contains("no majority"), "{e}");
    assert!(c.status().iter().all(|s| s.state == SourceState::Undecided));
    assert_eq!(r.changes.len(), 2);
}

#[test]
fn a_silent_server_backs_off_is_retried_and_comes_back() {
    let mut c = three();
    let t0 = 100 * S;
    let r = c.complete(t0, vec![answered(0, 0.0), silent(1), answered(2, 0.01)]);
    assert_eq!(
        r.result.unwrap().truechimers,
        2,
        "the two that answered agree"
    );
    let b = r.changes.iter().find(|c| c.name == "b.lan").unwrap();
    assert_eq!(b.to, SourceState::Unreachable);
    assert!(b.message.contains("asked again in 15 s"), "{}", b.message);
    assert_eq!(c.due(t0 + 10 * S), [0, 2], "skipped while backing off");
    // Silent again when retried: no new log line, a longer back-off.
    let t1 = t0 + 15 * S;
    assert_eq!(c.due(t1), [0, 1, 2]);
    let r = c.complete(t1, vec![answered(0, 0.0), silent(1), answered(2, 0.01)]);
    assert!(r.changes.is_empty(), "{:?}", r.changes);
    assert_eq!(c.status()[1].backoff_s, Some(30.0));
    assert_eq!(c.due(t1 + 29 * S), [0, 2]);
    // Back: a truechimer again, logged once, back-off gone.
    let t2 = t1 + 30 * S;
    let r = c.complete(
        t2,
        vec![answered(0, 0.0), answered(1, 0.005), answered(2, 0.01)],
    );
    assert_eq!(r.changes.len(), 1);
    assert_eq!(r.changes[0].to, SourceState::Truechimer);
    assert_eq!(c.status()[1].backoff_s, None);
    assert_eq!(c.due(t2 + S), [0, 1, 2]);
}

#[test]
fn kod_rate_backs_off_and_deny_or_rstr_drop_the_server() {
    let mut c = three();
    let kissed = |i: usize, kiss: Kiss| {
        (
            i,
            Outcome::Kissed {
                address: ip(i as u8 + 1),
                kiss,
            },
        )
    };
    let r = c.complete(
        S,
        vec![
            kissed(0, Kiss::Rate),
            kissed(1, Kiss::Deny),
            answered(2, 5.0),
        ],
    );
    assert_eq!(r.result.unwrap().measurement.offset_ns, 5_000_000);
    let st = c.status();
    assert_eq!(st[0].state, SourceState::RateLimited);
    assert_eq!(st[0].backoff_s, Some(60.0), "RATE: at least a minute");
    assert_eq!(
        (c.requests(0), c.requests(2)),
        (1, BURST),
        "one request per check after RATE"
    );
    assert_eq!(st[1].state, SourceState::Denied);
    assert!(r.changes[1].message.contains("DENY") && r.changes[1].message.contains("dropped"));
    assert_eq!(c.due(30 * S), [2]);
    assert_eq!(
        c.due(61 * S),
        [0, 2],
        "the denied server is never asked again"
    );
    assert_eq!(c.due(100_000 * S), [0, 2]);
    let r = c.complete(61 * S, vec![kissed(0, Kiss::Rate), kissed(2, Kiss::Rstr)]);
    assert_eq!(
        c.status()[0].backoff_s,
        Some(60.0),
        "doubling from 15 s stays under the floor"
    );
    assert_eq!(c.status()[2].state, SourceState::Denied);
    let e = r.result.unwrap_err();
    assert!(e.contains("RATE") && e.contains("RSTR"), "{e}");
    assert_eq!(c.due(1_000 * S), [0]);
}

#[test]
fn no_server_asked_or_none_usable_is_a_failure_that_says_why() {
    let mut c = NtpClient::new(["a"].map(String::from));
    let r = c.complete(S, vec![silent(0)]);
    assert!(r.result.unwrap_err().contains("no reply within 300 ms"));
    assert!(c.due(2 * S).is_empty());
    let r = c.complete(2 * S, vec![]);
    assert!(r.result.unwrap_err().contains("backing off"));
    let unsync = Outcome::Unsynchronised {
        address: ip(1),
        why: "the server is not synchronised (leap Unsynchronized, stratum 16)".into(),
    };
    let r = c.complete(20 * S, vec![(0, unsync)]);
    assert!(r.result.is_err());
    assert_eq!(r.changes[0].to, SourceState::Unsynchronised);
    assert_eq!(
        c.due(21 * S),
        [0],
        "a server that answers is not backed off"
    );
}

fn outcome() -> impl proptest::strategy::Strategy<Value = Outcome> {
    use proptest::prelude::*;
    let burst = (
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        0u32..9,
        any::<i64>(),
        any::<i64>(),
    )
        .prop_map(
            |(offset_ns, delay_ns, spread_ns, samples, rd, rdisp)| BurstResult {
                offset_ns,
                delay_ns,
                spread_ns,
                samples,
                kept: samples.div_ceil(2),
                stratum: 2,
                root_delay_ns: rd,
                root_dispersion_ns: rdisp,
                leap: Leap::NoWarning,
            },
        );
    prop_oneof![
        (any::<u8>(), burst).prop_map(|(a, burst)| Outcome::Answered {
            address: ip(a),
            burst
        }),
        any::<u8>().prop_map(|a| Outcome::Unsynchronised {
            address: ip(a),
            why: "unsynchronised".into()
        }),
        (any::<u8>(), 0..3u8).prop_map(|(a, k)| Outcome::Kissed {
            address: ip(a),
            kiss: [Kiss::Rate, Kiss::Deny, Kiss::Rstr][k as usize],
        }),
        proptest::option::of(any::<u8>()).prop_map(|a| Outcome::NoReply {
            address: a.map(ip),
            why: "silent".into()
        }),
    ]
}

proptest::proptest! {
    /// Any sequence of outcomes, even with absurd numbers or indexes out of range: no panic,
    /// a combined offset only with at least one truechimer, and a change reported exactly
    /// when a state changed.
    #[test]
    fn any_outcomes_are_handled(
        checks in proptest::collection::vec(
            proptest::collection::vec((0usize..5, outcome()), 0..6), 1..8),
    ) {
        let mut c = NtpClient::new(["a", "b", "c", "d"].map(String::from));
        for (k, outcomes) in checks.into_iter().enumerate() {
            let before: Vec<SourceState> = c.status().iter().map(|s| s.state).collect();
            let r = c.complete(Duration::from_secs(10 * k as u64), outcomes);
            let after: Vec<SourceState> = c.status().iter().map(|s| s.state).collect();
            let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            proptest::prop_assert_eq!(r.changes.len(), changed);
            if let Ok(combined) = r.result {
                proptest::prop_assert!(combined.truechimers >= 1);
                proptest::prop_assert!(after.contains(&SourceState::Truechimer));
            }
            for (i, s) in after.iter().enumerate() {
                if *s == SourceState::Denied {
                    proptest::prop_assert!(!c.due(Duration::from_secs(1 << 40)).contains(&i));
                }
            }
        }
    }
}

/// A client of one server `name` at `address`, the option's word on it being `locality`.
fn one(locality: Locality) -> NtpClient {
    NtpClient::with_locality([("ntp.example".to_owned(), locality)])
}

fn answered_from(i: usize, address: IpAddr) -> (usize, Outcome) {
    (
        i,
        Outcome::Answered {
            address,
            burst: burst(0.5, 300),
        },
    )
}

#[test]
fn an_outside_server_gets_an_initial_burst_then_one_request_per_64_s() {
    // A private address, but the option says the server is outside the LAN.
    let mut c = one(Locality::Outside);
    // The initial burst: the first two checks (a measurement and its confirmation), each a
    // full burst with requests 2 s apart.
    assert_eq!(c.due(Duration::ZERO), [0]);
    assert_eq!(
        (c.requests(0), c.spacing(0, ip(1))),
        (BURST, OUTSIDE_SPACING)
    );
    c.complete(7 * S, vec![answered_from(0, ip(1))]);
    assert_eq!(
        c.due(12 * S),
        [0],
        "the confirming check is part of the burst"
    );
    assert_eq!(c.requests(0), BURST);
    c.complete(19 * S, vec![answered_from(0, ip(1))]);
    // From then on: nothing sooner than 64 s after the last check that asked it ended...
    for t in [20, 30, 50, 82] {
        assert!(c.due(t * S).is_empty(), "asked again at {t} s");
        assert!(c.nothing_due(t * S), "{t} s: it rests, nothing failed");
    }
    assert_eq!(c.due(83 * S), [0]);
    assert!(!c.nothing_due(83 * S));
    // ...and one request at a time.
    assert_eq!(c.requests(0), 1);
    c.complete(83 * S, vec![answered_from(0, ip(1))]);
    assert!(c.due(146 * S).is_empty());
    assert_eq!(c.due(147 * S), [0]);
    assert_eq!(c.requests(0), 1);
    assert_eq!(c.status()[0].poll_s, Some(OUTSIDE_POLL.as_secs_f64()));
}

#[test]
fn a_lan_server_is_asked_with_a_burst_at_every_check() {
    for (locality, address) in [
        (Locality::ByAddress, ip(1)),
        (Locality::Lan, IpAddr::from([192, 0, 2, 7])),
    ] {
        let mut c = one(locality);
        for k in 0..5u32 {
            let t = S * (10 * k);
            assert_eq!(c.due(t), [0], "{locality:?} at {t:?}");
            assert_eq!((c.requests(0), c.spacing(0, address)), (BURST, LAN_SPACING));
            c.complete(t, vec![answered_from(0, address)]);
            assert!(!c.nothing_due(t + S));
        }
        assert_eq!(c.status()[0].poll_s, None, "the controller's pace");
    }
}

#[test]
fn by_address_a_server_outside_the_private_ranges_is_polled_every_64_s() {
    // 192.0.2.0/24 is set aside for documentation: no test ever sends to it.
    let mut c = one(Locality::ByAddress);
    let far = IpAddr::from([192, 0, 2, 1]);
    assert_eq!(c.spacing(0, far), OUTSIDE_SPACING);
    assert_eq!(c.spacing(0, ip(1)), LAN_SPACING);
    c.complete(S, vec![answered_from(0, IpAddr::from([192, 0, 2, 1]))]);
    c.complete(6 * S, vec![answered_from(0, IpAddr::from([192, 0, 2, 1]))]);
    assert!(c.due(30 * S).is_empty());
    assert_eq!(c.due(70 * S), [0]);
    assert_eq!(c.requests(0), 1);
}

#[test]
fn lan_addresses_are_private_link_local_loopback_and_ula() {
    let lan = [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.10.20",
        "127.0.0.2",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "fc00::7",
        "::ffff:10.0.0.1",
    ];
    let outside = [
        "172.15.0.1",
        "172.32.0.1",
        "192.0.2.1",
        "198.51.100.4",
        "100.64.0.1",
        "0.0.0.0",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "fec0::1",
    ];
    for a in lan {
        assert!(is_lan_address(a.parse().unwrap()), "{a} is on the LAN");
    }
    for a in outside {
        assert!(
            !is_lan_address(a.parse().unwrap()),
            "{a} is outside the LAN"
        );
    }
}

#[test]
fn an_outside_server_that_fails_is_never_asked_sooner_than_its_poll_interval() {
    let mut c = one(Locality::Outside);
    c.complete(S, vec![answered_from(0, ip(1))]);
    c.complete(6 * S, vec![answered_from(0, ip(1))]);
    // Silent at its first single request: the 15 s back-off does not bring it back early.
    c.complete(70 * S, vec![silent(0)]);
    assert_eq!(c.status()[0].state, SourceState::Unreachable);
    assert!(c.due(100 * S).is_empty());
    assert!(
        c.nothing_due(100 * S),
        "nothing new: its failure was reported by the check that found it"
    );
    assert_eq!(c.due(134 * S), [0]);
    assert_eq!(c.requests(0), 1);
    // KoD RATE: its back-off (60 s) and the poll interval, whichever is longer.
    c.complete(
        134 * S,
        vec![(
            0,
            Outcome::Kissed {
                address: ip(1),
                kiss: Kiss::Rate,
            },
        )],
    );
    assert!(c.due(197 * S).is_empty());
    assert_eq!(c.due(198 * S), [0]);
    assert_eq!(c.requests(0), 1);
}

#[test]
fn an_outside_server_silent_from_the_start_leaves_its_burst_after_two_checks() {
    let mut c = one(Locality::Outside);
    c.complete(S, vec![silent(0)]);
    assert_eq!(
        c.due(16 * S),
        [0],
        "15 s back-off, still in its initial burst"
    );
    assert_eq!(c.requests(0), BURST);
    c.complete(16 * S, vec![silent(0)]);
    // Second failure: 30 s back-off, but 64 s since it was last asked rules.
    assert!(c.due(79 * S).is_empty());
    assert_eq!(c.due(80 * S), [0]);
    assert_eq!(c.requests(0), 1);
}

#[test]
fn with_a_lan_and_an_outside_server_each_keeps_its_own_pace() {
    let mut c = NtpClient::with_locality([
        ("lan".to_owned(), Locality::Lan),
        ("far".to_owned(), Locality::Outside),
    ]);
    c.complete(S, vec![answered_from(0, ip(1)), answered_from(1, ip(2))]);
    c.complete(
        6 * S,
        vec![answered_from(0, ip(1)), answered_from(1, ip(2))],
    );
    assert_eq!(c.due(20 * S), [0]);
    assert!(!c.nothing_due(20 * S));
    c.complete(20 * S, vec![answered_from(0, ip(1))]);
    assert_eq!(
        c.status()[1].state,
        SourceState::Truechimer,
        "resting, not lost"
    );
    assert_eq!(c.due(70 * S), [0, 1]);
    assert_eq!((c.requests(0), c.requests(1)), (BURST, 1));
}

#[test]
fn nothing_is_due_only_while_a_server_rests_between_polls() {
    // No server at all, or every one backing off or refused: that stays a failure.
    let c = NtpClient::with_locality(Vec::<(String, Locality)>::new());
    assert!(!c.nothing_due(S));
    let mut c = one(Locality::Lan);
    c.complete(S, vec![silent(0)]);
    assert!(c.due(2 * S).is_empty());
    assert!(!c.nothing_due(2 * S));
}

/// A server's answer announcing `leap`.
fn announcing(i: usize, offset_ms: f64, leap: Leap) -> (usize, Outcome) {
    (
        i,
        Outcome::Answered {
            address: ip(i as u8 + 1),
            burst: BurstResult {
                leap,
                ..burst(offset_ms, 300)
            },
        },
    )
}

#[test]
fn the_leap_second_is_the_truechimers_majority() {
    let ins = Leap::InsertSecond;
    let leap_of = |outcomes: Vec<(usize, Outcome)>| {
        three().complete(S, outcomes).result.unwrap().upstream.leap
    };
    // Two of three truechimers announce it: passed on.
    assert_eq!(
        leap_of(vec![
            announcing(0, 1.0, ins),
            announcing(1, 1.1, ins),
            answered(2, 0.9)
        ]),
        ins
    );
    // One of three: not, even when it is the nearest server (the upstream named).
    let mut near = announcing(0, 1.0, ins);
    if let Outcome::Answered { burst, .. } = &mut near.1 {
        burst.delay_ns = 0;
    }
    assert_eq!(
        leap_of(vec![near, answered(1, 1.1), answered(2, 0.9)]),
        Leap::NoWarning
    );
    // A falseticker's announcement does not count: two truechimers, one of them announcing,
    // is no majority.
    assert_eq!(
        leap_of(vec![
            announcing(0, 1.0, ins),
            answered(1, 1.1),
            announcing(2, 250.0, ins)
        ]),
        Leap::NoWarning
    );
    let del = Leap::DeleteSecond;
    assert_eq!(
        client::majority_leap([del, del, Leap::NoWarning, Leap::InsertSecond, del]),
        del
    );
    assert_eq!(client::majority_leap([ins, del]), Leap::NoWarning);
    assert_eq!(client::majority_leap([]), Leap::NoWarning);
}
