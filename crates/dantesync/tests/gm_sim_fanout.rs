//! `dantesync gm-sim` with several `--dest`: one leader timescale reaching several followers
//! on loopback, each on its own ports, as `dantesync demo` uses it. All traffic is to
//! 127.0.0.1; the run is bounded by `--count` and a hard limit.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dantesync_core::wire::ptpv1::Message;

const HARD_TIMEOUT: Duration = Duration::from_secs(30);

/// One follower's pair of sockets; reads what has arrived once the leader is done.
struct Follower {
    event: UdpSocket,
    general: UdpSocket,
}

impl Follower {
    fn bind() -> Follower {
        let bind = || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            s
        };
        Follower {
            event: bind(),
            general: bind(),
        }
    }

    fn dest(&self) -> String {
        format!(
            "127.0.0.1:{}:{}",
            self.event.local_addr().unwrap().port(),
            self.general.local_addr().unwrap().port()
        )
    }

    /// (sequence id, originTimestamp ns) of every Sync received.
    fn syncs(&self) -> Vec<(u16, i128)> {
        drain(&self.event)
            .into_iter()
            .map(|m| match m {
                Message::Sync(h, b) => (h.sequence_id, b.origin_timestamp.to_nanos()),
                other => panic!("not a Sync on the event port: {other:?}"),
            })
            .collect()
    }

    /// (associated sequence id, preciseOriginTimestamp ns) of every Follow_Up received.
    fn follow_ups(&self) -> Vec<(u16, i128)> {
        drain(&self.general)
            .into_iter()
            .map(|m| match m {
                Message::FollowUp(_, b) => (
                    b.associated_sequence_id,
                    b.precise_origin_timestamp.to_nanos(),
                ),
                other => panic!("not a Follow_Up on the general port: {other:?}"),
            })
            .collect()
    }
}

fn drain(socket: &UdpSocket) -> Vec<Message> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(Message::parse(&buf[..n]).expect("a PTPv1 message"));
    }
    out
}

#[test]
fn one_timescale_reaches_every_destination() {
    let followers: Vec<Follower> = (0..3).map(|_| Follower::bind()).collect();
    // Two destinations as a comma list, one with a second --dest.
    let list = format!("{},{}", followers[0].dest(), followers[1].dest());
    let mut child = Command::new(env!("CARGO_BIN_EXE_dantesync"))
        .args(["gm-sim", "--bind", "127.0.0.1", "--delay-req-port", "0"])
        .args(["--dest", &list, "--dest", &followers[2].dest()])
        .args(["--count", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > HARD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gm-sim still running after {HARD_TIMEOUT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("to 3 destinations ("), "{}", lines[0]);
    for f in &followers {
        let e = f.event.local_addr().unwrap();
        let g = f.general.local_addr().unwrap();
        assert!(lines[0].contains(&format!("{e} and {g}")), "{}", lines[0]);
    }
    assert!(
        lines[1].contains(
            "sent 24 Syncs and 24 Follow_Ups to 3 destinations (sequence ids 2796..=2803)"
        ),
        "{}",
        lines[1]
    );

    let syncs: Vec<Vec<(u16, i128)>> = followers.iter().map(Follower::syncs).collect();
    let follow_ups: Vec<Vec<(u16, i128)>> = followers.iter().map(Follower::follow_ups).collect();
    let ids: Vec<u16> = (2796..=2803).collect();
    for (i, (s, f)) in syncs.iter().zip(&follow_ups).enumerate() {
        assert_eq!(
            s.iter().map(|x| x.0).collect::<Vec<_>>(),
            ids,
            "Syncs of {i}"
        );
        assert_eq!(
            f.iter().map(|x| x.0).collect::<Vec<_>>(),
            ids,
            "Follow_Ups of {i}"
        );
    }
    let mut spreads = Vec::new();
    for k in 0..ids.len() {
        // One Sync per sequence id: the same originTimestamp at every destination.
        assert_eq!(syncs[1][k].1, syncs[0][k].1, "Sync {k}");
        assert_eq!(syncs[2][k].1, syncs[0][k].1, "Sync {k}");
        // Each Follow_Up's T1 is read just before its own destination's Sync is sent: never
        // before the Sync's originTimestamp, in the order the destinations were given, and
        // all within a moment of each other (one timescale, not three).
        let t1: Vec<i128> = follow_ups.iter().map(|f| f[k].1).collect();
        assert!(t1[0] >= syncs[0][k].1, "T1 {t1:?} before origin");
        assert!(t1[0] <= t1[1] && t1[1] <= t1[2], "T1 out of order: {t1:?}");
        spreads.push(t1[2] - t1[0]);
    }
    // Three timescales would be seconds apart; one is within a moment. The median keeps a
    // sender preempted between two destinations (a loaded machine) from failing the check.
    assert!(median(&spreads) < 5_000_000, "T1 spreads {spreads:?}");
    assert!(
        spreads.iter().all(|s| *s < 100_000_000),
        "T1 spreads {spreads:?}"
    );
    // 250 ms between Syncs on the leader's uptime, at every destination: the median interval
    // (one late send lengthens one interval and shortens the next, not the schedule).
    for f in &follow_ups {
        let intervals: Vec<i128> = f.windows(2).map(|w| w[1].1 - w[0].1).collect();
        let m = median(&intervals);
        assert!(
            (m - 250_000_000).abs() < 10_000_000,
            "median interval {m} ns of uptime: {intervals:?}"
        );
        let span = f[7].1 - f[0].1;
        assert!(
            (span - 7 * 250_000_000).abs() < 250_000_000,
            "7 intervals took {span} ns of uptime"
        );
    }
}

fn median(values: &[i128]) -> i128 {
    let mut v = values.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}
