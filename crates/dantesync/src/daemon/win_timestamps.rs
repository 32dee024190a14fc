//! Windows receive timestamps without Npcap: the platform-neutral parts, tested on every OS.
//!
//! Windows 10 build 20348 and later (Server 2022) stamp UDP datagrams below the application
//! when a socket asks with the `SIO_TIMESTAMPING` ioctl; `WSARecvMsg` then hands the stamp over
//! as an `SO_TIMESTAMP` control message holding a UINT64. A software stamp is a
//! QueryPerformanceCounter (QPC) count (Microsoft, "Winsock timestamping",
//! <https://learn.microsoft.com/en-us/windows/win32/winsock/winsock-timestamping>), so it must
//! be turned into system time: right after the receive, a (QPC, system time) pair is read with
//! the system time between two QPC reads, and the packet's QPC count is placed relative to that
//! pair. Where the ioctl fails (older Windows, Wine) or a datagram comes without a stamp, the
//! pair's own system time — read right after the receive returned — is the stamp.
//!
//! The Win32 calls are in `sys_windows.rs`; here are the control-message walk, the QPC mapping
//! with exact integer arithmetic, and the choice of stamp with what the log says about it.

use dantesync_clock::units::filetime_to_unix_nanos;

/// SOL_SOCKET, the level of the SO_TIMESTAMP control message (ws2def.h: 0xffff).
pub const SOL_SOCKET: i32 = 0xffff;
/// SO_TIMESTAMP, the receive timestamp control message (mstcpip.h: 0x300A; Microsoft, "Winsock
/// timestamping"). Its data is one UINT64.
pub const SO_TIMESTAMP: i32 = 0x300A;

/// WSACMSGHDR (ws2def.h): `SIZE_T cmsg_len; INT cmsg_level; INT cmsg_type;`, data after it.
const CMSG_LEN_SIZE: usize = size_of::<usize>();
const CMSG_HEADER: usize = CMSG_LEN_SIZE + 2 * size_of::<i32>();
/// TYPE_ALIGNMENT(WSACMSGHDR): the alignment of its SIZE_T (WSA_CMSGHDR_ALIGN).
const CMSG_HEADER_ALIGN: usize = align_of::<usize>();
/// MAX_NATURAL_ALIGNMENT (ws2def.h): sizeof(ULONGLONG) on 64-bit Windows, sizeof(DWORD) on
/// 32-bit, i.e. the pointer width (WSA_CMSGDATA_ALIGN).
const CMSG_DATA_ALIGN: usize = size_of::<usize>();

/// How long ago a stamp may be, relative to the pair read after the receive, and still be taken
/// for a QPC count of this machine: a hardware stamp from the NIC's own clock, or garbage, lands
/// far outside.
const MAX_STAMP_AGE_SECS: i64 = 10;

fn align_up(n: usize, align: usize) -> Option<usize> {
    Some(n.checked_add(align - 1)? & !(align - 1))
}

/// The SO_TIMESTAMP value in a WSARecvMsg control buffer (the `Control.len` bytes Windows
/// filled), walked as WSA_CMSG_FIRSTHDR / WSA_CMSG_NXTHDR / WSA_CMSG_DATA do (mswsock.h). A
/// malformed header ends the walk.
pub fn find_timestamp(control: &[u8]) -> Option<u64> {
    let mut at = 0usize;
    while at.checked_add(CMSG_HEADER)? <= control.len() {
        let field = |from: usize, n: usize| &control[at + from..at + from + n];
        let len = usize::from_ne_bytes(field(0, CMSG_LEN_SIZE).try_into().ok()?);
        let level = i32::from_ne_bytes(field(CMSG_LEN_SIZE, 4).try_into().ok()?);
        let kind = i32::from_ne_bytes(field(CMSG_LEN_SIZE + 4, 4).try_into().ok()?);
        let end = at.checked_add(len)?;
        if len < CMSG_HEADER || end > control.len() {
            return None;
        }
        if level == SOL_SOCKET && kind == SO_TIMESTAMP {
            let data = at + align_up(CMSG_HEADER, CMSG_DATA_ALIGN)?;
            let bytes = control.get(data..data.checked_add(8)?.min(end))?;
            return Some(u64::from_ne_bytes(bytes.try_into().ok()?));
        }
        at = at.checked_add(align_up(len, CMSG_HEADER_ALIGN)?)?;
    }
    None
}

/// A system time read between two QPC reads: it belongs to some QPC count between them, taken
/// to be the middle. The narrower the pair, the less that guess can be wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sandwich {
    pub qpc_before: i64,
    /// GetSystemTimePreciseAsFileTime: 100 ns units since 1601.
    pub filetime: u64,
    pub qpc_after: i64,
}

impl Sandwich {
    /// Its width in QPC counts (negative only for a broken counter).
    pub fn width(&self) -> i64 {
        self.qpc_after.saturating_sub(self.qpc_before)
    }

    /// The system time it read, in ns since the Unix epoch.
    pub fn unix_nanos(&self) -> i64 {
        filetime_to_unix_nanos(self.filetime)
    }
}

/// The narrowest of some pairs read back to back (an interrupt or a context switch between the
/// reads of one widens it); pairs with a counter going backwards are ignored.
pub fn tightest(pairs: impl IntoIterator<Item = Sandwich>) -> Option<Sandwich> {
    pairs
        .into_iter()
        .filter(|p| p.width() >= 0)
        .min_by_key(Sandwich::width)
}

/// `n / d` rounded to the nearest integer, halves away from zero (`d > 0`).
fn div_round(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// Why a stamp was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// The QPC frequency is not positive (QueryPerformanceFrequency failed).
    NoFrequency,
    /// The stamp is after the pair read once the datagram was in hand.
    InTheFuture,
    /// The stamp is more than [`MAX_STAMP_AGE_SECS`] before the pair: not this machine's QPC
    /// (a NIC hardware clock) or garbage.
    TooOld,
}

/// The system time (ns since the Unix epoch) of a datagram stamped with QPC count `qpc`, placed
/// relative to `pair`, which was read after the receive. Exact: the count difference is scaled
/// in 128-bit integers (no overflow for any i64 counts), rounded to the nearest ns. The count
/// difference is converted at the nominal QPC rate while the system time runs at its adjusted
/// rate; the error is that adjustment times the stamp's age (100 ns for 100 ppm and 1 ms).
pub fn qpc_to_unix_nanos(qpc: i64, pair: &Sandwich, frequency: i64) -> Result<i64, Unusable> {
    if frequency <= 0 {
        return Err(Unusable::NoFrequency);
    }
    let (qpc, before, after, f) = (
        i128::from(qpc),
        i128::from(pair.qpc_before),
        i128::from(pair.qpc_after),
        i128::from(frequency),
    );
    if qpc > after {
        return Err(Unusable::InTheFuture);
    }
    if after - qpc > i128::from(MAX_STAMP_AGE_SECS) * f {
        return Err(Unusable::TooOld);
    }
    // In half counts, so the pair's middle (before + after) / 2 stays exact.
    let half_counts = 2 * qpc - (before + after);
    let offset_ns = div_round(half_counts * 1_000_000_000, 2 * f);
    // |offset| ≤ 10 s plus the pair's width: fits an i64 with room.
    Ok(pair.unix_nanos() + offset_ns as i64)
}

/// Why a datagram got a user-space stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// SIO_TIMESTAMPING (or finding WSARecvMsg) failed on this socket: the OS error.
    Unavailable(String),
    /// Timestamping is on, but the datagram came without an SO_TIMESTAMP control message.
    Missing,
    /// The stamp could not be mapped to system time.
    Unusable(Unusable),
}

/// How one datagram was stamped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stamped {
    /// The stack's SIO_TIMESTAMPING stamp, mapped to system time (ns since the Unix epoch).
    Kernel(i64),
    /// The system time read right after the receive returned, and why.
    UserSpace(i64, Fallback),
}

impl Stamped {
    pub fn unix_nanos(&self) -> i64 {
        match *self {
            Stamped::Kernel(ns) | Stamped::UserSpace(ns, _) => ns,
        }
    }

    pub fn is_kernel(&self) -> bool {
        matches!(self, Stamped::Kernel(_))
    }

    /// What the log and the status say about it.
    pub fn describe(&self) -> String {
        match self {
            Stamped::Kernel(_) => "kernel (SIO_TIMESTAMPING)".to_owned(),
            Stamped::UserSpace(_, Fallback::Unavailable(e)) => {
                format!("user space (SIO_TIMESTAMPING unavailable: {e})")
            }
            Stamped::UserSpace(_, Fallback::Missing) => {
                "user space (SIO_TIMESTAMPING is on but datagrams come without a timestamp; the \
                 adapter may not generate software timestamps)"
                    .to_owned()
            }
            Stamped::UserSpace(_, Fallback::Unusable(u)) => {
                let why = match u {
                    Unusable::NoFrequency => "QueryPerformanceFrequency failed",
                    Unusable::InTheFuture => "the stamp is later than the receive",
                    Unusable::TooOld => {
                        "the stamp is not a QPC count of this machine (NIC hardware timestamps?)"
                    }
                };
                format!("user space (SIO_TIMESTAMPING stamp unusable: {why})")
            }
        }
    }
}

/// The stamp of one datagram: `setup` is how enabling timestamping on its socket went,
/// `stamp` the SO_TIMESTAMP control message's value if there was one, `after` the pair read
/// right after the receive returned.
pub fn choose(
    setup: &Result<(), String>,
    stamp: Option<u64>,
    after: &Sandwich,
    frequency: i64,
) -> Stamped {
    let user = after.unix_nanos();
    if let Err(e) = setup {
        return Stamped::UserSpace(user, Fallback::Unavailable(e.clone()));
    }
    let Some(qpc) = stamp else {
        return Stamped::UserSpace(user, Fallback::Missing);
    };
    // A QPC count above i64::MAX cannot be this machine's (QPC is a LONGLONG).
    let mapped = i64::try_from(qpc)
        .map_err(|_| Unusable::TooOld)
        .and_then(|q| qpc_to_unix_nanos(q, after, frequency));
    match mapped {
        Ok(ns) => Stamped::Kernel(ns),
        Err(u) => Stamped::UserSpace(user, Fallback::Unusable(u)),
    }
}

/// Says each kind of stamp a socket gets once: a socket whose datagrams alternate between kinds
/// (loopback without stamps, multicast with) logs two lines, not one per datagram.
#[derive(Debug, Default)]
pub struct Report {
    said: Vec<String>,
}

impl Report {
    /// The line to log if this kind of stamp was not said before.
    pub fn note(&mut self, stamped: &Stamped) -> Option<String> {
        let text = stamped.describe();
        if self.said.contains(&text) {
            return None;
        }
        self.said.push(text.clone());
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control buffer as Windows lays it out: each message a WSACMSGHDR, its data at
    /// WSA_CMSG_DATA, the next at WSA_CMSGHDR_ALIGN(cmsg_len).
    fn control(messages: &[(i32, i32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(level, kind, data) in messages {
            let start = out.len();
            let data_at = align_up(CMSG_HEADER, CMSG_DATA_ALIGN).unwrap();
            let len = data_at + data.len();
            out.extend_from_slice(&len.to_ne_bytes());
            out.extend_from_slice(&level.to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.resize(start + data_at, 0);
            out.extend_from_slice(data);
            out.resize(start + align_up(len, CMSG_HEADER_ALIGN).unwrap(), 0);
        }
        out
    }

    const IPPROTO_IP: i32 = 0;
    const IP_PKTINFO: i32 = 19;

    #[test]
    fn finds_the_timestamp_after_other_messages() {
        let stamp = 0x0123_4567_89ab_cdefu64;
        let buf = control(&[
            (IPPROTO_IP, IP_PKTINFO, &[1, 2, 3, 4, 5, 6, 7, 8]),
            (IPPROTO_IP, 99, &[0xAA; 3]),
            (SOL_SOCKET, SO_TIMESTAMP, &stamp.to_ne_bytes()),
        ]);
        assert_eq!(find_timestamp(&buf), Some(stamp));
        let alone = control(&[(SOL_SOCKET, SO_TIMESTAMP, &42u64.to_ne_bytes())]);
        assert_eq!(alone.len(), CMSG_HEADER + 8);
        assert_eq!(find_timestamp(&alone), Some(42));
    }

    #[test]
    fn no_timestamp_or_malformed_gives_none() {
        assert_eq!(find_timestamp(&[]), None);
        assert_eq!(
            find_timestamp(&control(&[(IPPROTO_IP, IP_PKTINFO, &[0; 8])])),
            None
        );
        // Same type at another level is not it.
        assert_eq!(
            find_timestamp(&control(&[(IPPROTO_IP, SO_TIMESTAMP, &7u64.to_ne_bytes())])),
            None
        );
        let mut buf = control(&[(SOL_SOCKET, SO_TIMESTAMP, &7u64.to_ne_bytes())]);
        // A length beyond the buffer, one shorter than a header, one ending inside the data.
        for bad in [buf.len() + 1, CMSG_HEADER - 1, 0, usize::MAX] {
            buf[..CMSG_LEN_SIZE].copy_from_slice(&bad.to_ne_bytes());
            assert_eq!(find_timestamp(&buf), None, "cmsg_len {bad}");
        }
        buf[..CMSG_LEN_SIZE].copy_from_slice(&(CMSG_HEADER + 4).to_ne_bytes());
        assert_eq!(find_timestamp(&buf), None);
        // A truncated buffer (MSG_CTRUNC) holding half a header.
        assert_eq!(find_timestamp(&buf[..CMSG_HEADER - 2]), None);
    }

    const S: i64 = 1_000_000_000;
    /// 2026-01-01T00:00:00Z as a FILETIME count.
    const FT_2026: u64 = (11_644_473_600 + 1_767_225_600) * 10_000_000;
    const UNIX_2026: i64 = 1_767_225_600 * S;

    fn pair(before: i64, after: i64) -> Sandwich {
        Sandwich {
            qpc_before: before,
            filetime: FT_2026,
            qpc_after: after,
        }
    }

    #[test]
    fn maps_qpc_exactly_at_the_usual_frequencies_after_days_of_uptime() {
        let days = 86_400 * 400; // 400 days of uptime, in seconds
        for f in [10_000_000i64, 3_579_545, 24_000_000] {
            let now = days * f + 12_345;
            // The pair is 2 counts wide: its middle is now + 1.
            let p = pair(now, now + 2);
            assert_eq!(qpc_to_unix_nanos(now + 1, &p, f), Ok(UNIX_2026));
            // One second, and one count, before the middle.
            assert_eq!(qpc_to_unix_nanos(now + 1 - f, &p, f), Ok(UNIX_2026 - S));
            let one = (S as f64 / f as f64).round() as i64;
            assert_eq!(qpc_to_unix_nanos(now, &p, f), Ok(UNIX_2026 - one), "f {f}");
            // 3.5 ms before: exact to the rounded ns.
            let counts = f * 7 / 2000;
            let want =
                UNIX_2026 - div_round(i128::from(counts) * 1_000_000_000, i128::from(f)) as i64;
            assert_eq!(qpc_to_unix_nanos(now + 1 - counts, &p, f), Ok(want));
        }
    }

    #[test]
    fn an_odd_pair_width_puts_the_middle_on_a_half_count() {
        // 10 MHz: a count is 100 ns; the middle of (0, 1) is 50 ns after count 0.
        let p = pair(1_000, 1_001);
        assert_eq!(qpc_to_unix_nanos(1_000, &p, 10_000_000), Ok(UNIX_2026 - 50));
        assert_eq!(
            qpc_to_unix_nanos(990, &p, 10_000_000),
            Ok(UNIX_2026 - 1_050)
        );
    }

    #[test]
    fn extreme_counts_do_not_overflow() {
        let p = pair(i64::MAX - 10, i64::MAX);
        assert_eq!(
            qpc_to_unix_nanos(i64::MAX - 5, &p, 24_000_000),
            Ok(UNIX_2026)
        );
        assert_eq!(
            qpc_to_unix_nanos(i64::MIN, &p, 24_000_000),
            Err(Unusable::TooOld)
        );
    }

    #[test]
    fn stamps_from_the_future_the_distant_past_or_without_frequency_are_refused() {
        let f = 10_000_000;
        let p = pair(5_000 * f, 5_000 * f + 30);
        assert_eq!(
            qpc_to_unix_nanos(5_000 * f + 31, &p, f),
            Err(Unusable::InTheFuture)
        );
        assert!(qpc_to_unix_nanos(5_000 * f + 30, &p, f).is_ok());
        assert!(qpc_to_unix_nanos(4_990 * f + 30, &p, f).is_ok());
        assert_eq!(
            qpc_to_unix_nanos(4_990 * f + 29, &p, f),
            Err(Unusable::TooOld)
        );
        assert_eq!(
            qpc_to_unix_nanos(5_000 * f, &p, 0),
            Err(Unusable::NoFrequency)
        );
    }

    #[test]
    fn the_narrowest_pair_wins() {
        let pairs = [
            pair(100, 140),
            pair(200, 203),
            pair(300, 290),
            pair(400, 410),
        ];
        assert_eq!(tightest(pairs), Some(pair(200, 203)));
        assert_eq!(tightest([pair(5, 4)]), None);
    }

    #[test]
    fn choice_and_what_is_said() {
        let f = 10_000_000;
        let p = pair(50 * f, 50 * f + 2);
        let ok = Ok(());
        let k = choose(&ok, Some((50 * f - f / 1000) as u64), &p, f);
        assert_eq!(k, Stamped::Kernel(UNIX_2026 - S / 1000 - 100));
        assert_eq!(k.describe(), "kernel (SIO_TIMESTAMPING)");

        let failed = Err("WSAEINVAL (10022)".to_owned());
        let u = choose(&failed, Some(50 * f as u64), &p, f);
        assert_eq!(u.unix_nanos(), UNIX_2026);
        assert!(!u.is_kernel());
        assert_eq!(
            u.describe(),
            "user space (SIO_TIMESTAMPING unavailable: WSAEINVAL (10022))"
        );

        let missing = choose(&ok, None, &p, f);
        assert_eq!(missing, Stamped::UserSpace(UNIX_2026, Fallback::Missing));
        let alien = choose(&ok, Some(u64::MAX), &p, f);
        assert_eq!(
            alien,
            Stamped::UserSpace(UNIX_2026, Fallback::Unusable(Unusable::TooOld))
        );
        assert!(alien.describe().contains("not a QPC count"));

        let mut report = Report::default();
        assert_eq!(
            report.note(&k).as_deref(),
            Some("kernel (SIO_TIMESTAMPING)")
        );
        assert!(report.note(&missing).is_some());
        for _ in 0..10 {
            assert_eq!(report.note(&k), None);
            assert_eq!(report.note(&missing), None);
        }
        assert!(report.note(&alien).is_some());
    }
}
