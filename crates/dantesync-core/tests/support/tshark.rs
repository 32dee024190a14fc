//! Wireshark as an independent oracle for our wire formats: payloads are
//! wrapped into a pcap by `text2pcap` (dummy Ethernet + IPv4 192.0.2.1 →
//! 192.0.2.2 + UDP with the given ports) and dissected by `tshark`.
//!
//! If either tool is missing the helpers panic, unless the environment sets
//! `DANTESYNC_SKIP_TSHARK=1`, in which case they print a loud SKIPPED line and
//! return `None`. Wireshark dissects PTP by UDP port (319 event, 320 general)
//! and NTP by port 123, so pick the ports accordingly.
//!
//! # Field names (tshark 4.0; list them with `tshark -G fields`)
//!
//! PTPv1 fields have no `v1` in their names (PTPv2 ones are `ptp.v2.*`).
//!
//! Common header, every PTPv1 message:
//! `ptp.versionptp` (1), `ptp.versionnetwork`, `ptp.subdomain` (`_DFLT`),
//! `ptp.messagetype` (1 event, 2 general), `ptp.sourcecommunicationtechnology`,
//! `ptp.sourceuuid` (`00:1d:c1:a1:72:3c`), `ptp.sourceportid`,
//! `ptp.sequenceid`, `ptp.controlfield` (0 Sync, 1 Delay_Req, 2 Follow_Up,
//! 3 Delay_Resp, 4 Management), `ptp.flags` (`0x000c`), with the bits
//! `ptp.flags.li61`, `ptp.flags.li59`, `ptp.flags.boundary_clock`,
//! `ptp.flags.assist`, `ptp.flags.ext_sync`, `ptp.flags.parent_stats`,
//! `ptp.flags.sync_burst`.
//!
//! Sync and Delay_Req body (same layout, prefix `ptp.sdr.`):
//! `origintimestamp` (printed `699.212366780`), `origintimestamp_seconds`,
//! `origintimestamp_nanoseconds`, `epochnumber`, `currentutcoffset`,
//! `grandmastercommunicationtechnology`, `grandmasterclockuuid`,
//! `grandmasterportid`, `grandmastersequenceid`, `grandmasterclockstratum`,
//! `grandmasterclockidentifier` (`DFLT`), `grandmasterclockvariance`,
//! `grandmasterpreferred`, `grandmasterisboundaryclock`, `syncinterval` (-2),
//! `localclockvariance`, `localstepsremoved`, `localclockstratum`,
//! `localclockidentifier`, `parentcommunicationtechnology`, `parentuuid`,
//! `parentportfield`, `estimatedmastervariance`, `estimatedmasterdrift`,
//! `utcreasonable`.
//!
//! Follow_Up body: `ptp.fu.associatedsequenceid`,
//! `ptp.fu.preciseorigintimestamp`, `ptp.fu.preciseorigintimestamp_seconds`,
//! `ptp.fu.preciseorigintimestamp_nanoseconds`.
//!
//! Delay_Resp body: `ptp.dr.delayreceipttimestamp`,
//! `ptp.dr.delayreceipttimestamp_seconds`,
//! `ptp.dr.delayreceipttimestamp_nanoseconds`,
//! `ptp.dr.requestingsourcecommunicationtechnology`,
//! `ptp.dr.requestingsourceuuid`, `ptp.dr.requestingsourceportid`,
//! `ptp.dr.requestingsourcesequenceid`.
//!
//! Management: `ptp.mm.*` (e.g. `ptp.mm.managementmessagekey`,
//! `ptp.mm.targetuuid`, `ptp.mm.parameterlength`).
//!
//! NTP: `ntp.flags` (`0x5b`), `ntp.flags.li`, `ntp.flags.vn`,
//! `ntp.flags.mode`, `ntp.stratum`, `ntp.ppoll`, `ntp.precision`,
//! `ntp.rootdelay`, `ntp.rootdispersion`, `ntp.refid` (hex, `c101db74`),
//! `ntp.reftime`, `ntp.org`, `ntp.rec`, `ntp.xmt`, `ntp.keyid`, `ntp.mac`,
//! `ntp.ext`, `ntp.ext.type`, `ntp.ext.length`; mode 6 is `ntp.ctrl.*`,
//! mode 7 `ntp.priv.*`. The four timestamps print as dates
//! (`Dec 31, 2016 21:16:46.964892779 UTC`) and an all-zero one as `NULL`;
//! tshark 4.0 has no option to print them as numbers, so compare against the
//! date text or check the raw bytes yourself. Root delay and dispersion print
//! in seconds (`0.0123`).
//!
//! Problems: `_ws.malformed` (the dissector hit the end of the data or threw),
//! `_ws.expert`, `_ws.expert.message`, `_ws.expert.severity` (numeric:
//! 0x200000 chat, 0x400000 note, 0x600000 warning, 0x800000 error).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One UDP datagram to put in the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// Dummy addresses text2pcap puts in the IPv4 header (TEST-NET-1).
pub const SRC_IP: &str = "192.0.2.1";
pub const DST_IP: &str = "192.0.2.2";

/// `_ws.expert.severity` of a warning; errors are above it.
const EXPERT_WARNING: u32 = 0x0060_0000;

/// Dissects `packets` and returns, for every packet that matches
/// `display_filter` (all packets if it is empty), the values of `fields` in
/// order. A field absent from a packet is `""`; a field present several times
/// has its values joined with `,` (tshark's default aggregator).
///
/// Panics if a tool fails (an unknown field name makes tshark fail).
pub fn decode(
    packets: &[UdpPacket],
    display_filter: &str,
    fields: &[&str],
) -> Option<Vec<Vec<String>>> {
    decode_with_args(packets, display_filter, fields, &[])
}

/// [`decode`] with extra tshark arguments, e.g.
/// `&["-d", "udp.port==31900,json"]` to dissect a port as some protocol.
pub fn decode_with_args(
    packets: &[UdpPacket],
    display_filter: &str,
    fields: &[&str],
    extra_args: &[&str],
) -> Option<Vec<Vec<String>>> {
    if !tools_available() {
        return None;
    }
    let dir = TempDir::new();
    let pcap = write_pcap(&dir, packets);
    Some(run_tshark(
        &dir,
        &pcap,
        display_filter,
        fields,
        extra_args,
        ",",
    ))
}

/// How many of `packets` tshark marks as malformed (`_ws.malformed`).
pub fn malformed_count(packets: &[UdpPacket]) -> Option<usize> {
    decode(packets, "_ws.malformed", &["frame.number"]).map(|rows| rows.len())
}

/// Every expert message of severity warning or error, as
/// `"packet N: message"` with N counted from 0 like `packets`. Malformed
/// packets show up here too. An empty list means tshark found nothing wrong.
pub fn problems(packets: &[UdpPacket]) -> Option<Vec<String>> {
    if !tools_available() {
        return None;
    }
    let dir = TempDir::new();
    let pcap = write_pcap(&dir, packets);
    // A control character as aggregator: messages may contain commas.
    let rows = run_tshark(
        &dir,
        &pcap,
        &format!("_ws.expert.severity >= {EXPERT_WARNING}"),
        &["frame.number", "_ws.expert.severity", "_ws.expert.message"],
        &[],
        "\u{1f}",
    );
    let mut out = Vec::new();
    for row in rows {
        let frame: usize = row[0].parse().expect("frame.number is a number");
        for (severity, message) in row[1].split('\u{1f}').zip(row[2].split('\u{1f}')) {
            let severity: u32 = severity.parse().expect("expert severity is a number");
            if severity >= EXPERT_WARNING {
                out.push(format!("packet {}: {message}", frame - 1));
            }
        }
    }
    Some(out)
}

/// True if tshark and text2pcap both run; false (after a loud message) if
/// one is missing and `DANTESYNC_SKIP_TSHARK=1`; panics otherwise.
fn tools_available() -> bool {
    let missing: Vec<&str> = ["tshark", "text2pcap"]
        .into_iter()
        .filter(|tool| match Command::new(tool).arg("-v").output() {
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::NotFound => true,
            Err(e) => panic!("cannot run {tool}: {e}"),
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("DANTESYNC_SKIP_TSHARK").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: {} not found on PATH and DANTESYNC_SKIP_TSHARK=1: \
             tshark cross-check not run",
            missing.join(" and ")
        );
        return false;
    }
    panic!(
        "{} not found on PATH: install Wireshark's command-line tools \
         (Debian/Ubuntu: apt-get install tshark), or set DANTESYNC_SKIP_TSHARK=1 \
         to skip the tshark cross-checks",
        missing.join(" and ")
    );
}

/// A scratch directory removed when dropped, even if the test panics.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "dantesync-tshark-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Classic pcap: 24-byte file header, then 16-byte record headers.
const PCAP_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// Timestamp of the first packet (2023-11-14T22:13:20Z); the next ones follow
/// 1 ms apart, so every run dissects the same bytes.
const FIRST_PACKET_SECS: u32 = 1_700_000_000;

/// Writes `packets` into one pcap, in order, and returns its path.
///
/// text2pcap puts one port pair on every packet of a run, so each run of
/// consecutive packets with the same ports is converted on its own and the
/// outputs are concatenated (classic pcap: same header, records back to back).
fn write_pcap(dir: &TempDir, packets: &[UdpPacket]) -> PathBuf {
    assert!(!packets.is_empty(), "tshark harness: no packets to decode");
    let mut pcap: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut run_index = 0;
    while start < packets.len() {
        let ports = (packets[start].src_port, packets[start].dst_port);
        let end = packets[start..]
            .iter()
            .position(|p| (p.src_port, p.dst_port) != ports)
            .map_or(packets.len(), |n| start + n);
        let bytes = text2pcap(dir, run_index, &packets[start..end]);
        if pcap.is_empty() {
            pcap.extend_from_slice(&bytes);
        } else {
            assert_eq!(
                pcap[..PCAP_HEADER_LEN],
                bytes[..PCAP_HEADER_LEN],
                "text2pcap wrote different pcap headers for two runs"
            );
            pcap.extend_from_slice(&bytes[PCAP_HEADER_LEN..]);
        }
        start = end;
        run_index += 1;
    }
    restamp(&mut pcap, packets.len());
    let path = dir.path().join("packets.pcap");
    std::fs::write(&path, &pcap).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Runs text2pcap on one group of packets with the same ports.
fn text2pcap(dir: &TempDir, run_index: usize, packets: &[UdpPacket]) -> Vec<u8> {
    let dump = dir.path().join(format!("run{run_index}.txt"));
    let out = dir.path().join(format!("run{run_index}.pcap"));
    std::fs::write(&dump, hex_dump(packets))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", dump.display()));
    let ports = format!("{},{}", packets[0].src_port, packets[0].dst_port);
    let output = Command::new("text2pcap")
        .args([
            "-F",
            "pcap",
            "-4",
            &format!("{SRC_IP},{DST_IP}"),
            "-u",
            &ports,
        ])
        .arg(&dump)
        .arg(&out)
        .output()
        .expect("text2pcap runs");
    assert!(
        output.status.success(),
        "text2pcap failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(&out).unwrap_or_else(|e| panic!("cannot read {}: {e}", out.display()))
}

/// text2pcap's input: per packet, lines of a hex offset and up to 16 bytes;
/// an offset of 0 starts a new packet.
fn hex_dump(packets: &[UdpPacket]) -> String {
    let mut text = String::new();
    for packet in packets {
        assert!(
            !packet.payload.is_empty(),
            "tshark harness: text2pcap cannot write an empty payload"
        );
        for (line, chunk) in packet.payload.chunks(16).enumerate() {
            text.push_str(&format!("{:06x}", line * 16));
            for byte in chunk {
                text.push_str(&format!(" {byte:02x}"));
            }
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

/// Gives packet i the timestamp FIRST_PACKET_SECS + i ms (text2pcap uses
/// the wall clock) and checks that the file holds exactly `expected` packets.
fn restamp(pcap: &mut [u8], expected: usize) {
    let little_endian = match pcap[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        _ => panic!(
            "text2pcap did not write a microsecond pcap: {:02x?}",
            &pcap[..4]
        ),
    };
    let u32_at = |bytes: &[u8], at: usize| {
        let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let put = |value: u32| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let mut at = PCAP_HEADER_LEN;
    let mut count = 0u32;
    while at < pcap.len() {
        let ms = count % 1000;
        let secs = FIRST_PACKET_SECS + count / 1000;
        pcap[at..at + 4].copy_from_slice(&put(secs));
        pcap[at + 4..at + 8].copy_from_slice(&put(ms * 1000));
        let incl_len = u32_at(pcap, at + 8) as usize;
        at += RECORD_HEADER_LEN + incl_len;
        count += 1;
    }
    assert_eq!(at, pcap.len(), "text2pcap wrote a truncated pcap");
    assert_eq!(
        count as usize, expected,
        "text2pcap wrote {count} packets for {expected} payloads"
    );
}

/// Runs tshark over `pcap` and splits its `-T fields` output.
fn run_tshark(
    dir: &TempDir,
    pcap: &Path,
    display_filter: &str,
    fields: &[&str],
    extra_args: &[&str],
    aggregator: &str,
) -> Vec<Vec<String>> {
    assert!(
        !fields.is_empty(),
        "tshark harness: ask for at least one field"
    );
    let mut command = Command::new("tshark");
    // A private profile directory: the user's Wireshark preferences must not
    // change what the tests see.
    command
        .env("WIRESHARK_CONFIG_DIR", dir.path().join("wireshark-profile"))
        .arg("-n")
        .arg("-r")
        .arg(pcap)
        .args(["-T", "fields", "-E", "separator=/t", "-E", "quote=n"])
        .args(["-E", "occurrence=a", "-E"])
        .arg(format!("aggregator={aggregator}"))
        .args(extra_args);
    if !display_filter.is_empty() {
        command.args(["-Y", display_filter]);
    }
    for field in fields {
        command.args(["-e", field]);
    }
    let output = command.output().expect("tshark runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tshark failed ({}) with filter {display_filter:?} and fields {fields:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            let row: Vec<String> = line.split('\t').map(str::to_owned).collect();
            assert_eq!(
                row.len(),
                fields.len(),
                "tshark printed {line:?} for fields {fields:?}"
            );
            row
        })
        .collect()
}
