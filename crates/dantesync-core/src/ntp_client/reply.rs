//! One reply checked against the request in flight, and turned into a sample:
//! θ = ((T2 − T1) + (T3 − T4)) / 2 and δ = (T4 − T1) − (T3 − T2) (RFC 5905 §8).

use crate::time::LocalTime;
use crate::wire::ntp::{Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId};

/// One exchange's measurement, with what the server said about its own distance to UTC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Server time minus local time (positive = the local clock is behind), ns.
    pub offset_ns: i64,
    /// Round-trip delay, ns (never negative).
    pub delay_ns: i64,
    pub stratum: u8,
    pub root_delay_ns: i64,
    pub root_dispersion_ns: i64,
    /// The server's leap indicator: a leap second announced for the end of this month's last
    /// day (never `Unsynchronized`: such replies are refused).
    pub leap: Leap,
}

/// A Kiss-o'-Death code (RFC 5905 §7.4) the client acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kiss {
    /// Asking too often: back off.
    Rate,
    /// Access denied: stop asking this server.
    Deny,
    /// Access restricted: stop asking this server.
    Rstr,
}

impl Kiss {
    pub fn code(self) -> &'static str {
        match self {
            Kiss::Rate => "RATE",
            Kiss::Deny => "DENY",
            Kiss::Rstr => "RSTR",
        }
    }
}

/// Why a datagram gave no sample.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Not a reply to the request in flight (keep waiting for ours).
    NotOurs,
    /// Our reply, but unusable as a sample (unsynchronised server, no timestamps...).
    Refused(String),
    /// The server sent a Kiss-o'-Death the client must honour.
    Kiss(Kiss),
}

/// Checks a reply to the request sent with `transmit` at `t1`, received at `t4`.
pub fn evaluate(
    datagram: &[u8],
    transmit: NtpTimestamp,
    t1: LocalTime,
    t4: LocalTime,
) -> Result<Sample, Verdict> {
    let Ok((h, _)) = NtpHeader::parse(datagram) else {
        return Err(Verdict::NotOurs);
    };
    if h.mode != Mode::Server || h.origin_ts != transmit {
        return Err(Verdict::NotOurs);
    }
    if let Some(code) = h.kiss_code() {
        let id = ReferenceId::from_bytes(code);
        return Err(match id {
            ReferenceId::RATE => Verdict::Kiss(Kiss::Rate),
            ReferenceId::DENY => Verdict::Kiss(Kiss::Deny),
            ReferenceId::RSTR => Verdict::Kiss(Kiss::Rstr),
            // INIT, STEP and the rest: the server has no time to give yet.
            _ => Verdict::Refused(format!(
                "the server is not synchronised (stratum 0, code {})",
                String::from_utf8_lossy(&code).trim_end_matches('\0')
            )),
        });
    }
    if h.leap == Leap::Unsynchronized || h.stratum >= 16 {
        return Err(Verdict::Refused(format!(
            "the server is not synchronised (leap {:?}, stratum {})",
            h.leap, h.stratum
        )));
    }
    if h.receive_ts.is_zero() || h.transmit_ts.is_zero() {
        return Err(Verdict::Refused(
            "the reply carries no timestamps".to_owned(),
        ));
    }
    let t1 = i128::from(t1.nanos());
    let t4 = i128::from(t4.nanos());
    let pivot = t1 as i64;
    let t2 = h.receive_ts.to_unix_nanos_wide(pivot);
    let t3 = h.transmit_ts.to_unix_nanos_wide(pivot);
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let delay = (t4 - t1) - (t3 - t2);
    if delay < 0 {
        return Err(Verdict::Refused(format!("negative delay {delay} ns")));
    }
    let clamp = |v: i128| v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let short = |s: crate::wire::ntp::ShortTime| i64::try_from(s.to_nanos()).unwrap_or(i64::MAX);
    Ok(Sample {
        offset_ns: clamp(offset),
        delay_ns: clamp(delay),
        stratum: h.stratum,
        root_delay_ns: short(h.root_delay),
        root_dispersion_ns: short(h.root_dispersion),
        leap: h.leap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ntp::ShortTime;

    const T1: i64 = 1_785_427_891_000_000_000;

    fn reply(origin: NtpTimestamp, t2: i64, t3: i64) -> NtpHeader {
        NtpHeader {
            leap: Leap::NoWarning,
            mode: Mode::Server,
            stratum: 2,
            reference_id: ReferenceId::from_bytes([10, 0, 0, 1]),
            root_delay: ShortTime::from_seconds_f64(0.002),
            root_dispersion: ShortTime::from_seconds_f64(0.001),
            origin_ts: origin,
            receive_ts: NtpTimestamp::from_unix_nanos(t2),
            transmit_ts: NtpTimestamp::from_unix_nanos(t3),
            ..NtpHeader::client_request(NtpTimestamp::ZERO)
        }
    }

    fn at(t: i64) -> LocalTime {
        LocalTime::from_nanos(t)
    }

    #[test]
    fn offset_and_delay_follow_rfc5905() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        // The server is 3 ms ahead; 1 ms each way; it holds the request for 0.2 ms.
        let t2 = T1 + 1_000_000 + 3_000_000;
        let t3 = t2 + 200_000;
        let t4 = T1 + 2_200_000;
        let s = evaluate(&reply(tx, t2, t3).to_bytes(), tx, at(T1), at(t4)).unwrap();
        assert_eq!(s.offset_ns, 3_000_000);
        assert_eq!(s.delay_ns, 2_000_000);
        assert_eq!(s.stratum, 2);
        assert!((s.root_delay_ns - 2_000_000).abs() < 20_000, "{s:?}");
        assert!((s.root_dispersion_ns - 1_000_000).abs() < 20_000, "{s:?}");
    }

    #[test]
    fn replies_to_other_requests_are_not_ours() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let other = NtpTimestamp::from_unix_nanos(T1 - 1_000);
        let v = evaluate(&reply(other, T1, T1).to_bytes(), tx, at(T1), at(T1 + 10));
        assert_eq!(v, Err(Verdict::NotOurs));
        // Our own request echoed back (mode 3) is not a reply either.
        let v = evaluate(
            &NtpHeader::client_request(tx).to_bytes(),
            tx,
            at(T1),
            at(T1),
        );
        assert_eq!(v, Err(Verdict::NotOurs));
    }

    #[test]
    fn kiss_codes_are_told_apart_and_unsynchronised_servers_refused() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let kod = |id: ReferenceId| {
            let mut h = reply(tx, T1, T1);
            h.stratum = 0;
            h.reference_id = id;
            evaluate(&h.to_bytes(), tx, at(T1), at(T1 + 1_000))
        };
        assert_eq!(kod(ReferenceId::RATE), Err(Verdict::Kiss(Kiss::Rate)));
        assert_eq!(kod(ReferenceId::DENY), Err(Verdict::Kiss(Kiss::Deny)));
        assert_eq!(kod(ReferenceId::RSTR), Err(Verdict::Kiss(Kiss::Rstr)));
        assert!(matches!(kod(ReferenceId::INIT), Err(Verdict::Refused(m)) if m.contains("INIT")));
        let mut unsync = reply(tx, T1, T1);
        unsync.leap = Leap::Unsynchronized;
        assert!(matches!(
            evaluate(&unsync.to_bytes(), tx, at(T1), at(T1 + 1_000)),
            Err(Verdict::Refused(_))
        ));
        let mut s16 = reply(tx, T1, T1);
        s16.stratum = 16;
        assert!(matches!(
            evaluate(&s16.to_bytes(), tx, at(T1), at(T1 + 1_000)),
            Err(Verdict::Refused(_))
        ));
    }

    #[test]
    fn the_request_is_a_version_4_client_packet_carrying_t1() {
        let tx = NtpTimestamp::from_unix_nanos(T1);
        let bytes = NtpHeader::client_request(tx).to_bytes();
        assert_eq!(bytes[0] & 0b111, 3, "mode 3");
        assert_eq!((bytes[0] >> 3) & 0b111, 4, "version 4");
        assert_eq!(
            u64::from_be_bytes(bytes[40..48].try_into().unwrap()),
            tx.to_bits()
        );
    }

    proptest::proptest! {
        /// Any datagram, any times: a verdict, never a panic, and never a negative delay.
        #[test]
        fn any_datagram_is_judged_without_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120),
            t1 in proptest::num::i64::ANY,
            t4 in proptest::num::i64::ANY,
            echo in proptest::bool::ANY,
        ) {
            let mut bytes = bytes;
            let tx = NtpTimestamp::from_unix_nanos(t1);
            if echo && bytes.len() >= 48 {
                bytes[0] = (bytes[0] & !0b111) | 4; // mode 4
                bytes[24..32].copy_from_slice(&tx.to_bits().to_be_bytes());
            }
            if let Ok(s) = evaluate(&bytes, tx, at(t1), at(t4)) {
                proptest::prop_assert!(s.delay_ns >= 0);
            }
        }
    }
}
