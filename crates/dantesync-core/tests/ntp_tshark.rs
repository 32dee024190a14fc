//! Wireshark as an independent decoder of what our NTP encoder writes: every header field
//! tshark reports must equal the value we put in.
//!
//! tshark 4.0 prints poll, precision, root delay and root dispersion as the raw unsigned wire
//! integers, the reference id as hex, and timestamps as dates truncated to the nanosecond, with
//! era 1 chosen when the top bit of the seconds is clear (RFC 4330's rule).

mod support;

use dantesync_core::wire::ntp::{Leap, Mode, NtpHeader, NtpTimestamp, ReferenceId, ShortTime};
use support::tshark::{self, UdpPacket};

const NS: i64 = 1_000_000_000;
/// 2026-07-30 12:00:00 UTC, the "now" of these packets and the pivot of every conversion.
const NOW: i64 = 1_785_412_800 * NS;

fn client_request() -> NtpHeader {
    NtpHeader {
        leap: Leap::Unsynchronized,
        version: 4,
        mode: Mode::Client,
        stratum: 0,
        poll: 6,
        precision: -25,
        root_delay: ShortTime::from_bits(0x0001_0000),
        root_dispersion: ShortTime::from_bits(0x0001_0000),
        reference_id: ReferenceId::INIT,
        reference_ts: NtpTimestamp::ZERO,
        origin_ts: NtpTimestamp::ZERO,
        receive_ts: NtpTimestamp::ZERO,
        transmit_ts: NtpTimestamp::from_unix_nanos(NOW + 123_456_789),
    }
}

fn server_reply() -> NtpHeader {
    NtpHeader {
        leap: Leap::InsertSecond,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: 10,
        precision: -20,
        root_delay: ShortTime::from_nanos_saturating(32_250_000),
        root_dispersion: ShortTime::from_bits(0x0000_0937),
        reference_id: ReferenceId::from_bytes([192, 0, 2, 7]),
        reference_ts: NtpTimestamp::from_unix_nanos(NOW - 60 * NS + NS / 2),
        origin_ts: client_request().transmit_ts,
        receive_ts: NtpTimestamp::from_unix_nanos(NOW + 124_000_001),
        transmit_ts: NtpTimestamp::from_unix_nanos(NOW + 124_031_977),
    }
}

/// A server in NTP era 1: 2040-02-29 23:59:59.75 UTC, leap day, second to last of the month.
fn era_one_reply() -> NtpHeader {
    let leap_day_2040 = 2_214_172_799 * NS + 3 * NS / 4;
    NtpHeader {
        leap: Leap::DeleteSecond,
        version: 3,
        mode: Mode::Broadcast,
        stratum: 1,
        poll: -2,
        precision: -29,
        root_delay: ShortTime::ZERO,
        root_dispersion: ShortTime::MAX,
        reference_id: ReferenceId::from_bytes(*b"GPS\0"),
        reference_ts: NtpTimestamp::from_unix_nanos(leap_day_2040 - NS),
        origin_ts: NtpTimestamp::ZERO,
        receive_ts: NtpTimestamp::ZERO,
        transmit_ts: NtpTimestamp::from_unix_nanos(leap_day_2040),
    }
}

fn kiss_of_death() -> NtpHeader {
    NtpHeader {
        leap: Leap::Unsynchronized,
        stratum: 0,
        poll: 4,
        precision: 0,
        root_delay: ShortTime::ZERO,
        root_dispersion: ShortTime::ZERO,
        reference_id: ReferenceId::RATE,
        reference_ts: NtpTimestamp::ZERO,
        receive_ts: NtpTimestamp::ZERO,
        ..server_reply()
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian: shift the year to start
/// in March so the leap day is last, then count 400-year cycles.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The date text tshark prints for `ts`: whole seconds from our era-aware conversion, the
/// fraction truncated to nanoseconds as tshark does.
fn tshark_date(ts: NtpTimestamp) -> String {
    if ts.is_zero() {
        return "NULL".to_owned();
    }
    let unix_seconds = ts.to_unix_nanos(NOW).div_euclid(NS);
    let (year, month, day) = civil_from_days(unix_seconds.div_euclid(86_400));
    let second_of_day = unix_seconds.rem_euclid(86_400);
    let nanos = (u64::from(ts.fraction()) * 1_000_000_000) >> 32;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {day:>2}, {year} {:02}:{:02}:{:02}.{nanos:09} UTC",
        MONTHS[month as usize - 1],
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

const FIELDS: [&str; 13] = [
    "ntp.flags.li",
    "ntp.flags.vn",
    "ntp.flags.mode",
    "ntp.stratum",
    "ntp.ppoll",
    "ntp.precision",
    "ntp.rootdelay",
    "ntp.rootdispersion",
    "ntp.refid",
    "ntp.reftime",
    "ntp.org",
    "ntp.rec",
    "ntp.xmt",
];

fn expected_fields(h: &NtpHeader) -> Vec<String> {
    let refid: String = h
        .reference_id
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    vec![
        h.leap.to_bits().to_string(),
        h.version.to_string(),
        h.mode.to_bits().to_string(),
        h.stratum.to_string(),
        (h.poll as u8).to_string(),
        (h.precision as u8).to_string(),
        h.root_delay.to_bits().to_string(),
        h.root_dispersion.to_bits().to_string(),
        refid,
        tshark_date(h.reference_ts),
        tshark_date(h.origin_ts),
        tshark_date(h.receive_ts),
        tshark_date(h.transmit_ts),
    ]
}

#[test]
fn date_formatting_matches_known_dates() {
    // Checked against tshark's own text for real packets (tcpdump/ntp.pcap, frame 2).
    let kod_transmit = NtpTimestamp::from_bits(0xdcf2_5a39_841d_6dc5);
    assert_eq!(
        tshark_date(kod_transmit),
        "Jun 19, 2017 14:12:09.516074047 UTC"
    );
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(25_626), (2040, 2, 29));
}

#[test]
fn tshark_reads_every_field_we_write() {
    let headers = [
        client_request(),
        server_reply(),
        kiss_of_death(),
        era_one_reply(),
    ];
    let ports = [(50_123, 123), (123, 50_123), (123, 50_123), (123, 123)];
    let packets: Vec<UdpPacket> = headers
        .iter()
        .zip(ports)
        .map(|(h, (src_port, dst_port))| UdpPacket {
            src_port,
            dst_port,
            payload: h.to_bytes().to_vec(),
        })
        .collect();
    let Some(rows) = tshark::decode(&packets, "ntp", &FIELDS) else {
        eprintln!("SKIPPED tshark_reads_every_field_we_write");
        return;
    };
    let expected: Vec<Vec<String>> = headers.iter().map(expected_fields).collect();
    assert_eq!(rows, expected);

    // Spot checks of the expectations themselves, so a shared mistake in both cannot hide.
    assert_eq!(expected[1][4..9], ["10", "236", "2114", "2359", "c0000207"]);
    assert_eq!(expected[0][12], "Jul 30, 2026 12:00:00.123456788 UTC");
    assert_eq!(expected[2][8], "52415445");
    assert_eq!(expected[3][4..6], ["254", "227"]);
    assert_eq!(expected[3][12], "Feb 29, 2040 23:59:59.750000000 UTC");
    assert_eq!(tshark::problems(&packets), Some(vec![]));
}

#[test]
fn tshark_sees_the_extension_fields_we_walk() {
    let datagrams = dantesync_pcap::read_udp(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/captures/tcpdump/ntp-time-ef.pcap"
    ))
    .unwrap();
    let packets: Vec<UdpPacket> = datagrams
        .iter()
        .map(|d| UdpPacket {
            src_port: d.src.port(),
            dst_port: d.dst.port(),
            payload: d.payload.clone(),
        })
        .collect();
    let Some(rows) = tshark::decode(&packets, "ntp", &["ntp.ext.type", "ntp.ext.length"]) else {
        eprintln!("SKIPPED tshark_sees_the_extension_fields_we_walk");
        return;
    };
    for (row, datagram) in rows.iter().zip(&datagrams) {
        let (_, ext) = NtpHeader::parse(&datagram.payload).unwrap();
        let types: Vec<String> = ext
            .fields
            .iter()
            .map(|f| format!("0x{:04x}", f.field_type))
            .collect();
        let lengths: Vec<String> = ext.fields.iter().map(|f| f.len.to_string()).collect();
        assert_eq!(row, &[types.join(","), lengths.join(",")]);
    }
    assert_eq!(rows.len(), 2);
}
