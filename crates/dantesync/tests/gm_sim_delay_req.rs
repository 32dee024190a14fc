//! `dantesync gm-sim` answering Delay_Req on loopback, and refusing to start on a busy
//! Delay_Req port.
//!
//! Every run has a hard time limit and the child is killed if a test fails; all traffic is
//! to 127.0.0.1.

mod support;

use std::net::UdpSocket;

use dantesync_core::wire::ptpv1::Flags;

use support::gm_sim::*;

#[test]
fn answers_delay_req_with_the_requesting_fields() {
    let delay_req_port = free_port();
    let port_text = delay_req_port.to_string();
    let sim = Sim::start(&[
        "--duration-s",
        "2",
        "--delay-req-port",
        &port_text,
        "--uptime-start-s",
        "5000",
    ]);
    let first = sim.wait_for_general(1);
    let follower = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sent_at = send_delay_req(&follower, delay_req_port, 4242);
    sim.wait_for_general(2);
    // Not a Delay_Req: ignored (a PTPv2 header, and a Follow_Up).
    let mut ptpv2 = vec![0u8; 44];
    ptpv2[1] = 2;
    follower
        .send_to(&ptpv2, ("127.0.0.1", delay_req_port))
        .unwrap();
    follower
        .send_to(&first[0].bytes, ("127.0.0.1", delay_req_port))
        .unwrap();
    send_delay_req(&follower, delay_req_port, 4243);
    let outcome = sim.finish();
    let summary = outcome.summary();
    assert!(
        outcome
            .banner()
            .contains(&format!("answers Delay_Req on 127.0.0.1:{delay_req_port}")),
        "{}",
        outcome.banner()
    );
    assert!(summary.contains("answered 2 Delay_Reqs in"), "{summary}");

    let responses = parse_delay_resps(&outcome.general);
    assert_eq!(responses.len(), 2, "{responses:?}");
    let follow_up_source = parse_follow_ups(&outcome.general)[0].datagram.from;
    for ((datagram, header, body), (own, requested)) in responses.iter().zip([(0, 4242), (1, 4243)])
    {
        assert_eq!(datagram.bytes.len(), 60);
        assert_eq!(header.source_uuid, DEFAULT_UUID);
        assert_eq!(header.sequence_id, own);
        assert_eq!(header.flags, Flags(0x000c));
        assert_eq!(body.requesting_source_communication_technology, 1);
        assert_eq!(body.requesting_source_uuid, FOLLOWER);
        assert_eq!(body.requesting_source_port_id, 1);
        assert_eq!(body.requesting_source_sequence_id, requested);
        // From the general socket, to the requester's general port.
        assert_eq!(datagram.from, follow_up_source);
        if cfg!(target_os = "linux") {
            assert_eq!(datagram.tos, Some(0xb8), "Delay_Resp TOS");
        }
    }
    // T4 is the leader's uptime when the request arrived: predicted from the first Sync's T1
    // and this clock (no drift asked), it lands within a few ms after the send.
    let pairs = pairs(&outcome);
    let predicted = pairs[0].t1() + ns_between(pairs[0].arrival(), sent_at);
    let t4 = responses[0].2.delay_receipt_timestamp.to_nanos();
    assert!(
        (-2_000_000..50_000_000).contains(&(t4 - predicted)),
        "T4 {t4} is {} ns from the predicted {predicted}",
        t4 - predicted
    );
    assert!(
        (5000 * NS_PER_S..5002 * NS_PER_S).contains(&t4),
        "T4 {t4} is not on the 5000 s uptime scale"
    );
}

#[test]
fn a_busy_delay_req_port_is_a_clear_error_and_nothing_is_sent() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let outcome = Sim::start(&["--delay-req-port", &port, "--count", "2"]).finish();
    assert_eq!(outcome.status.code(), Some(1), "{outcome:?}");
    assert!(
        outcome.stderr.starts_with(&format!(
            "dantesync gm-sim: the Delay_Req listener: cannot bind 127.0.0.1:{port}: "
        )),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains("--delay-req-port"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
    assert!(outcome.event.is_empty() && outcome.general.is_empty());
}
