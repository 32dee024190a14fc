//! What the operating system is told about the clock, and what another program did to it.
//!
//! After every servo update the engine hands the status here:
//! - **Synchronisation status** (Linux adjtimex: STA_UNSYNC, `maxerror`, `esterror`). The clock
//!   counts as synchronised exactly when the built-in NTP server would serve it as such: NTP
//!   confirmed the time (`Status::time_synchronised` with an upstream of stratum 1–14), or the
//!   node is a master serving its own clock with `ntp_server_mode.local_stratum`. `maxerror` is
//!   then the root distance a client of this node would compute (the upstream's root delay / 2
//!   and root dispersion, half the measured round trip, and RFC 5905's 15 ppm for each second
//!   since NTP last confirmed the time), `esterror` half the measured round trip. The kernel
//!   adds 500 µs to `maxerror` every second by itself, so while synchronised the values are
//!   written again at least every [`REFRESH_EVERY`]; when the time is no longer confirmed
//!   STA_UNSYNC is set again (maxerror 16 s). `timedatectl` then says "System clock
//!   synchronized: yes" exactly while dantesync knows the time, and the kernel's 11-minute RTC
//!   sync runs only then.
//! - **Leap seconds**: the leap indicator the upstream servers' majority announces (and the
//!   built-in NTP server passes on, in June and December only) arms the kernel (STA_INS /
//!   STA_DEL) on the last day of June or December, UTC; the kernel then inserts 23:59:60 (it
//!   shows as 23:59:59 twice) or skips 23:59:59 by itself, exactly at midnight. It is disarmed
//!   as soon as the warning goes or the day is over.
//! - **Interference**: another program (chronyd, ntpd, timesyncd, an admin's `adjtimex`)
//!   changing the frequency or the status flags is seen at the next servo update (the clock
//!   compares what the kernel reports with what dantesync set), counted, and logged as a warning at most every
//!   [`INTERFERENCE_LOG_EVERY`] (the count says how many were not logged).
//!
//! Clocks without such a status (the simulated one, Windows: see docs/daemon.md) are left
//! alone and shown as "not applicable".

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use dantesync_clock::{Clock, LeapSecond, SyncStatus};
use dantesync_core::ntp_server::{utc_date, ServerConfig, ServerState, UpstreamInfo};
use dantesync_core::wire::ntp::Leap;
use dantesync_core::{LocalTime, Status};

/// While synchronised, `maxerror` is written again at least this often (the kernel grows it
/// by 500 µs per second between writes).
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);
/// At most one interference warning per this long; the others are counted.
pub const INTERFERENCE_LOG_EVERY: Duration = Duration::from_secs(60);
/// What the kernel is told while the time is not known: RFC 5905's MAXDISP, 16 s, which is
/// also the largest `maxerror` Linux keeps.
const UNSYNCHRONISED_ERROR_NS: u64 = 16_000_000_000;

/// What the status surfaces read; written by the engine task only.
#[derive(Debug, Default)]
pub struct KernelShared {
    /// 0: not applicable or not told yet, 1: unsynchronised, 2: synchronised.
    synchronised: AtomicU8,
    interference: AtomicU64,
    /// The leap second announced for the end of this month: 0 none, 1 insert, 2 delete.
    leap: AtomicU8,
}

impl KernelShared {
    /// Whether the kernel was last told the clock is synchronised; `None` for a clock that has
    /// no such status (or before the first update).
    pub fn synchronised(&self) -> Option<bool> {
        match self.synchronised.load(Ordering::Relaxed) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    /// Changes of the clock's frequency by another program seen since start.
    pub fn interference(&self) -> u64 {
        self.interference.load(Ordering::Relaxed)
    }

    /// The leap second the upstream servers' majority announces for the end of this month
    /// (as the built-in NTP server passes it on).
    pub fn leap_pending(&self) -> LeapSecond {
        match self.leap.load(Ordering::Relaxed) {
            1 => LeapSecond::Insert,
            2 => LeapSecond::Delete,
            _ => LeapSecond::None,
        }
    }
}

/// The engine's side: what was last written and logged.
#[derive(Debug)]
pub struct KernelSync {
    /// `ntp_server_mode.local_stratum` as served (PTP-only masters only).
    local_stratum: Option<u8>,
    /// What the kernel was last told (synchronised, leap second armed), and when.
    written: Option<(bool, LeapSecond, Instant)>,
    last_error: Option<String>,
    last_warning: Option<Instant>,
    /// Interference seen but not logged since the last warning.
    unlogged: u64,
}

impl KernelSync {
    pub fn new(local_stratum: Option<u8>) -> Self {
        Self {
            local_stratum,
            written: None,
            last_error: None,
            last_warning: None,
            unlogged: 0,
        }
    }

    /// After a servo update: tells the kernel the synchronisation status when it changed or
    /// is due for a refresh, and looks for another program's frequency change.
    pub fn update(
        &mut self,
        clock: &mut dyn Clock,
        status: &Status,
        upstream: Option<UpstreamInfo>,
        now: LocalTime,
        at: Instant,
        shared: &KernelShared,
    ) {
        let announced = announced_leap(status, upstream, now, self.local_stratum);
        let code = match announced {
            LeapSecond::None => 0,
            LeapSecond::Insert => 1,
            LeapSecond::Delete => 2,
        };
        if shared.leap.swap(code, Ordering::Relaxed) != code {
            match announced {
                LeapSecond::None => tracing::info!("no leap second announced any more"),
                leap => tracing::info!(
                    "the upstream servers announce a leap second ({}) at the end of this month",
                    leap.name()
                ),
            }
        }
        if clock.keeps_sync_status() {
            let wanted = sync_status(status, upstream, now, self.local_stratum);
            let due = match self.written {
                None => true,
                Some((told, leap, when)) => {
                    told != wanted.synchronised
                        || leap != wanted.leap
                        || (told && at.duration_since(when) >= REFRESH_EVERY)
                }
            };
            if due {
                self.write(clock, wanted, at, shared);
            }
        }
        match clock.foreign_adjustment() {
            Ok(Some(f)) => self.interfered(
                format!("{f}; dantesync sets its own frequency again"),
                at,
                shared,
            ),
            Ok(None) => {}
            Err(e) => self.failed(format!("cannot read the clock's frequency: {e}")),
        }
        match clock.foreign_status() {
            Ok(Some(f)) => self.interfered(
                format!("{f}; dantesync sets its own status again within a second"),
                at,
                shared,
            ),
            Ok(None) => {}
            Err(e) => self.failed(format!("cannot read the clock's status: {e}")),
        }
    }

    /// Another program's change: counted always, warned at most every
    /// INTERFERENCE_LOG_EVERY.
    fn interfered(&mut self, what: String, at: Instant, shared: &KernelShared) {
        shared.interference.fetch_add(1, Ordering::Relaxed);
        let due = self
            .last_warning
            .is_none_or(|t| at.duration_since(t) >= INTERFERENCE_LOG_EVERY);
        if due {
            let more = match std::mem::take(&mut self.unlogged) {
                0 => String::new(),
                n => format!(" ({n} more such changes since the last warning)"),
            };
            tracing::warn!("{what}{more}");
            self.last_warning = Some(at);
        } else {
            self.unlogged += 1;
            tracing::debug!("{what}");
        }
    }

    fn write(&mut self, clock: &mut dyn Clock, wanted: SyncStatus, at: Instant, s: &KernelShared) {
        match clock.set_sync_status(wanted) {
            Ok(()) => {
                let before = self.written.map(|(told, leap, _)| (told, leap));
                if before.map(|(_, leap)| leap) != Some(wanted.leap)
                    && (before.is_some() || wanted.leap != LeapSecond::None)
                {
                    match wanted.leap {
                        LeapSecond::None => tracing::info!("kernel: leap second disarmed"),
                        leap => tracing::info!(
                            "kernel: leap second armed ({}) for midnight UTC",
                            leap.name()
                        ),
                    }
                }
                let changed = before.map(|(told, _)| told) != Some(wanted.synchronised);
                if changed {
                    tracing::info!(
                        "kernel told: clock {} (maxerror {:.3} ms, esterror {:.3} ms)",
                        if wanted.synchronised {
                            "synchronised"
                        } else {
                            "not synchronised"
                        },
                        wanted.max_error_ns as f64 * 1e-6,
                        wanted.est_error_ns as f64 * 1e-6
                    );
                }
                self.written = Some((wanted.synchronised, wanted.leap, at));
                self.last_error = None;
                let code = if wanted.synchronised { 2 } else { 1 };
                s.synchronised.store(code, Ordering::Relaxed);
            }
            Err(e) => {
                self.failed(format!(
                    "cannot set the kernel's synchronisation status: {e}"
                ));
                // Try again at the next update; say nothing about a state the kernel lacks.
                self.written = None;
                s.synchronised.store(0, Ordering::Relaxed);
            }
        }
    }

    fn failed(&mut self, text: String) {
        if self.last_error.as_deref() != Some(text.as_str()) {
            tracing::warn!("{text}");
            self.last_error = Some(text);
        }
    }
}

fn served(
    status: &Status,
    upstream: Option<UpstreamInfo>,
    now: LocalTime,
    local_stratum: Option<u8>,
) -> ServerState {
    let cfg = ServerConfig {
        local_stratum,
        ..ServerConfig::default()
    };
    ServerState::from_status(status, upstream, now, &cfg)
}

/// The leap second the built-in NTP server announces at `now` (the upstream majority's, in
/// June and December).
pub fn announced_leap(
    status: &Status,
    upstream: Option<UpstreamInfo>,
    now: LocalTime,
    local_stratum: Option<u8>,
) -> LeapSecond {
    match served(status, upstream, now, local_stratum).leap {
        Leap::InsertSecond => LeapSecond::Insert,
        Leap::DeleteSecond => LeapSecond::Delete,
        Leap::NoWarning | Leap::Unsynchronized => LeapSecond::None,
    }
}

/// Whether `now` is on the day a leap second ends (30 June or 31 December, UTC). During an
/// inserted second Linux shows 23:59:59 again, still on that day, so the kernel stays armed
/// through it.
pub fn leap_day(now: LocalTime) -> bool {
    matches!(utc_date(now), (_, 6, 30) | (_, 12, 31))
}

/// What the kernel should be told, from the same state the built-in NTP server serves.
pub fn sync_status(
    status: &Status,
    upstream: Option<UpstreamInfo>,
    now: LocalTime,
    local_stratum: Option<u8>,
) -> SyncStatus {
    let served = served(status, upstream, now, local_stratum);
    if !served.synchronised {
        return SyncStatus {
            synchronised: false,
            max_error_ns: UNSYNCHRONISED_ERROR_NS,
            est_error_ns: UNSYNCHRONISED_ERROR_NS,
            leap: LeapSecond::None,
        };
    }
    let leap = match served.leap {
        Leap::InsertSecond if leap_day(now) => LeapSecond::Insert,
        Leap::DeleteSecond if leap_day(now) => LeapSecond::Delete,
        _ => LeapSecond::None,
    };
    let half_round_trip_ns = status.ntp.map_or(0, |n| n.delay_ns.max(0) as u64 / 2);
    let distance_s = served.root_delay_s / 2.0 + served.root_dispersion_s;
    let max_error_ns = ((distance_s * 1e9) as u64).min(UNSYNCHRONISED_ERROR_NS);
    SyncStatus {
        synchronised: true,
        max_error_ns: max_error_ns.max(half_round_trip_ns),
        est_error_ns: half_round_trip_ns,
        leap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dantesync_clock::{ClockError, ForeignAdjustment, ForeignStatus};
    use dantesync_core::controller::status::NtpStatus;
    use dantesync_core::Controller;
    use std::net::{IpAddr, Ipv4Addr};

    const T0: i64 = 1_785_427_891_000_000_000;
    const S: i64 = 1_000_000_000;

    /// A clock that keeps a kernel status and records what it is told; `foreign` plays
    /// another program's change, reported once.
    #[derive(Default)]
    struct Kernel {
        told: Vec<SyncStatus>,
        foreign: Option<ForeignAdjustment>,
        foreign_status: Option<ForeignStatus>,
    }

    impl Clock for Kernel {
        fn name(&self) -> &'static str {
            "kernel"
        }
        fn now(&self) -> LocalTime {
            LocalTime::from_nanos(T0)
        }
        fn set_frequency(&mut self, _: f64) -> Result<(), ClockError> {
            Ok(())
        }
        fn frequency(&self) -> Result<f64, ClockError> {
            Ok(0.0)
        }
        fn max_frequency(&self) -> f64 {
            500.0
        }
        fn step(&mut self, _: i64) -> Result<(), ClockError> {
            Ok(())
        }
        fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
            self.told.push(status);
            Ok(())
        }
        fn keeps_sync_status(&self) -> bool {
            true
        }
        fn foreign_adjustment(&mut self) -> Result<Option<ForeignAdjustment>, ClockError> {
            Ok(self.foreign.take())
        }
        fn foreign_status(&mut self) -> Result<Option<ForeignStatus>, ClockError> {
            Ok(self.foreign_status.take())
        }
    }

    fn status() -> Status {
        Controller::new(Default::default(), LocalTime::from_nanos(T0), 0.0).status()
    }

    /// Confirmed by NTP at T0: 2 ms round trip.
    fn confirmed() -> Status {
        let mut s = status();
        s.time_synchronised = true;
        s.time_confirmed = Some(LocalTime::from_nanos(T0));
        s.ntp = Some(NtpStatus {
            offset_ns: 300_000,
            delay_ns: 2_000_000,
            at: LocalTime::from_nanos(T0),
        });
        s
    }

    fn upstream() -> Option<UpstreamInfo> {
        Some(UpstreamInfo {
            stratum: 2,
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            root_delay_s: 0.010,
            root_dispersion_s: 0.020,
            leap: dantesync_core::wire::ntp::Leap::NoWarning,
        })
    }

    #[test]
    fn a_time_confirmed_by_ntp_is_reported_with_its_root_distance() {
        let at = |s: i64| LocalTime::from_nanos(T0 + s * S);
        let got = sync_status(&confirmed(), upstream(), at(0), None);
        // 10 ms / 2 + 20 ms upstream, + 2 ms / 2 measured round trip.
        assert!(got.synchronised);
        assert_eq!(got.max_error_ns, 26_000_000);
        assert_eq!(got.est_error_ns, 1_000_000);
        // 100 s later: + 15 ppm × 100 s = 1.5 ms.
        let later = sync_status(&confirmed(), upstream(), at(100), None);
        assert_eq!(later.max_error_ns, 27_500_000);
    }

    #[test]
    fn without_a_confirmed_time_the_kernel_hears_unsynchronised() {
        let now = LocalTime::from_nanos(T0);
        let lost = Status {
            time_synchronised: false,
            ..confirmed()
        };
        for (s, up) in [(lost, upstream()), (confirmed(), None), (status(), None)] {
            let got = sync_status(&s, up, now, None);
            assert!(!got.synchronised);
            assert_eq!(got.max_error_ns, 16_000_000_000);
        }
        // A PTP-only master serving its own clock is its own reference.
        let local = sync_status(&status(), None, now, Some(3));
        assert!(local.synchronised);
        assert_eq!((local.max_error_ns, local.est_error_ns), (0, 0));
    }

    #[test]
    fn the_kernel_is_told_on_a_change_and_refreshed_while_synchronised() {
        let mut k = Kernel::default();
        let shared = KernelShared::default();
        assert_eq!(shared.synchronised(), None);
        let mut sync = KernelSync::new(None);
        let t = Instant::now();
        let now = LocalTime::from_nanos(T0);
        let ms = |n: u64| t + Duration::from_millis(n);
        // At start: unsynchronised, told once (whatever an earlier program left there).
        sync.update(&mut k, &status(), None, now, ms(0), &shared);
        sync.update(&mut k, &status(), None, now, ms(5_000), &shared);
        assert_eq!(k.told.len(), 1);
        assert!(!k.told[0].synchronised);
        assert_eq!(shared.synchronised(), Some(false));
        // Confirmed: told at once, then refreshed no more than once a second.
        sync.update(&mut k, &confirmed(), upstream(), now, ms(5_100), &shared);
        assert_eq!(k.told.len(), 2);
        assert!(k.told[1].synchronised && k.told[1].max_error_ns < 100_000_000);
        assert_eq!(shared.synchronised(), Some(true));
        sync.update(&mut k, &confirmed(), upstream(), now, ms(5_600), &shared);
        assert_eq!(k.told.len(), 2);
        sync.update(&mut k, &confirmed(), upstream(), now, ms(6_100), &shared);
        assert_eq!(k.told.len(), 3);
        // Lost: STA_UNSYNC again at once.
        sync.update(&mut k, &status(), upstream(), now, ms(6_200), &shared);
        assert_eq!(k.told.len(), 4);
        assert!(!k.told[3].synchronised);
        assert_eq!(shared.synchronised(), Some(false));
    }

    #[test]
    fn interference_is_counted_every_time_and_logged_at_most_once_a_minute() {
        let mut k = Kernel::default();
        let shared = KernelShared::default();
        let mut sync = KernelSync::new(None);
        let t = Instant::now();
        let now = LocalTime::from_nanos(T0);
        let change = ForeignAdjustment {
            expected_ppm: 40.0,
            found_ppm: -20.0,
        };
        sync.update(&mut k, &status(), None, now, t, &shared);
        assert_eq!(shared.interference(), 0);
        for (i, secs) in [1u64, 2, 3, 70].into_iter().enumerate() {
            k.foreign = Some(change);
            let at = t + Duration::from_secs(secs);
            sync.update(&mut k, &status(), None, now, at, &shared);
            assert_eq!(shared.interference(), i as u64 + 1);
        }
        // Warned at 1 s and at 70 s; the two in between were counted, not logged.
        assert_eq!(sync.last_warning, Some(t + Duration::from_secs(70)));
        assert_eq!(sync.unlogged, 0);
        // Nothing new: nothing counted.
        sync.update(
            &mut k,
            &status(),
            None,
            now,
            t + Duration::from_secs(71),
            &shared,
        );
        assert_eq!(shared.interference(), 4);
        // A status change (another program clearing STA_UNSYNC, setting STA_PLL) counts too.
        k.foreign_status = Some(ForeignStatus {
            expected: 0x0040,
            found: 0x0001,
        });
        let at = t + Duration::from_secs(72);
        sync.update(&mut k, &status(), None, now, at, &shared);
        assert_eq!(shared.interference(), 5);
        assert_eq!(sync.unlogged, 1);
    }

    /// Confirmed by NTP at `unix_s`, the upstream announcing `leap`.
    fn confirmed_at(unix_s: i64, leap: Leap) -> (Status, Option<UpstreamInfo>, LocalTime) {
        let t = LocalTime::from_nanos(unix_s * S);
        let mut s = confirmed();
        s.time_confirmed = Some(t);
        let up = upstream().map(|u| UpstreamInfo { leap, ..u });
        (s, up, t)
    }

    #[test]
    fn the_kernel_is_armed_for_a_leap_second_on_the_last_day_of_june_or_december_only() {
        let arm = |unix_s: i64, leap: Leap| {
            let (s, up, t) = confirmed_at(unix_s, leap);
            sync_status(&s, up, t, None).leap
        };
        let ins = Leap::InsertSecond;
        // 2016-12-31 00:00:00 and 23:59:59 (the inserted second reads 23:59:59 again).
        assert_eq!(arm(1_483_142_400, ins), LeapSecond::Insert);
        assert_eq!(arm(1_483_228_799, ins), LeapSecond::Insert);
        // 2016-12-30 23:59:59: announced (served, shown) but not armed yet.
        assert_eq!(arm(1_483_142_399, ins), LeapSecond::None);
        let (s, up, t) = confirmed_at(1_483_142_399, ins);
        assert_eq!(announced_leap(&s, up, t, None), LeapSecond::Insert);
        // 2017-01-01 00:00:00: over.
        assert_eq!(arm(1_483_228_800, ins), LeapSecond::None);
        let (s, up, t) = confirmed_at(1_483_228_800, ins);
        assert_eq!(announced_leap(&s, up, t, None), LeapSecond::None);
        // 2026-06-30 12:00: a deletion.
        assert_eq!(arm(1_782_820_800, Leap::DeleteSecond), LeapSecond::Delete);
        // 2026-03-31 12:00: no leap second ends March.
        assert_eq!(arm(1_774_958_400, ins), LeapSecond::None);
        // Not synchronised: never armed.
        let (s, up, t) = confirmed_at(1_483_200_000, ins);
        let lost = Status {
            time_synchronised: false,
            ..s
        };
        assert_eq!(sync_status(&lost, up, t, None).leap, LeapSecond::None);
    }

    #[test]
    fn arming_and_disarming_reach_the_kernel_at_once() {
        let mut k = Kernel::default();
        let shared = KernelShared::default();
        let mut sync = KernelSync::new(None);
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        // 2016-12-31 23:59:58: armed.
        let (s, up, now) = confirmed_at(1_483_228_798, Leap::InsertSecond);
        sync.update(&mut k, &s, up, now, ms(0), &shared);
        assert_eq!(k.told.last().map(|t| t.leap), Some(LeapSecond::Insert));
        assert_eq!(shared.leap_pending(), LeapSecond::Insert);
        // 100 ms later the upstream withdrew it: disarmed at once, not at the next refresh.
        let (s, up, now) = confirmed_at(1_483_228_798, Leap::NoWarning);
        sync.update(&mut k, &s, up, now, ms(100), &shared);
        assert_eq!(k.told.len(), 2);
        assert_eq!(k.told[1].leap, LeapSecond::None);
        assert_eq!(shared.leap_pending(), LeapSecond::None);
    }

    #[test]
    fn a_clock_without_a_kernel_status_is_left_alone() {
        let mut sim = dantesync_clock::SimulatedClock::new(0.0, 0.0);
        let shared = KernelShared::default();
        let mut sync = KernelSync::new(Some(3));
        let now = LocalTime::from_nanos(T0);
        sync.update(
            &mut sim,
            &confirmed(),
            upstream(),
            now,
            Instant::now(),
            &shared,
        );
        assert_eq!(shared.synchronised(), None);
        assert_eq!(shared.interference(), 0);
    }
}
