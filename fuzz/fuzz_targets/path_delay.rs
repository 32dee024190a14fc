//! Any sequence of datagrams on the PTP ports, timer ticks and send reports, through the
//! controller with path-delay measurement on: nothing panics, a Delay_Resp is only ever
//! matched to a request that was sent, and a delay is shown only in state `ok`.
#![no_main]
use dantesync_core::path_delay::{PathDelayConfig, PathDelayState};
use dantesync_core::wire::ptpv1::Uuid;
use dantesync_core::{Action, Controller, ControllerConfig, LocalTime};
use libfuzzer_sys::fuzz_target;

const ME: Uuid = Uuid([0x02, 0, 0, 0, 0, 0x07]);

fuzz_target!(|data: &[u8]| {
    let cfg = ControllerConfig {
        ntp: None,
        path_delay: Some(PathDelayConfig {
            interval_s: 1.0,
            identity: ME,
            seed: 5,
        }),
        ..ControllerConfig::default()
    };
    let mut now = 1_700_000_000_000_000_000i64;
    let mut c = Controller::new(cfg, LocalTime::from_nanos(now), 0.0);
    let mut sent: Vec<u16> = Vec::new();
    let mut pending: Vec<u16> = Vec::new();
    let take = |actions: Vec<Action>, pending: &mut Vec<u16>| {
        for a in actions {
            if let Action::SendDelayReq { sequence_id, bytes } = a {
                assert_eq!(bytes.len(), 124);
                pending.push(sequence_id);
            }
        }
    };
    take(c.start(LocalTime::from_nanos(now)), &mut pending);
    // Records: [kind, dt_hi, dt_lo, len, bytes...].
    let mut rest = data;
    while rest.len() >= 4 {
        let (kind, dt, len) = (rest[0], u16::from_be_bytes([rest[1], rest[2]]), rest[3]);
        rest = &rest[4..];
        now = now.saturating_add(i64::from(dt) * 100_000);
        let at = LocalTime::from_nanos(now);
        match kind % 4 {
            0 => take(c.tick(at), &mut pending),
            1 => {
                if let Some(seq) = pending.pop() {
                    sent.push(seq);
                    take(c.delay_req_sent(seq, at, kind & 0x10 != 0), &mut pending);
                }
            }
            2 => {
                if let Some(seq) = pending.pop() {
                    c.delay_req_not_sent(seq);
                }
            }
            _ => {
                let n = usize::from(len).min(rest.len());
                let (datagram, tail) = rest.split_at(n);
                rest = tail;
                take(c.handle_ptp(datagram, at), &mut pending);
            }
        }
        let pd = c.status().path_delay;
        assert!(pd.responses_matched <= pd.requests_sent);
        assert_eq!(pd.delay_ns.is_some(), pd.state == PathDelayState::Ok);
        assert_ne!(pd.state, PathDelayState::Off);
    }
});
