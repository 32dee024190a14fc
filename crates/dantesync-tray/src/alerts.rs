//! Which state changes deserve a desktop notification, and how many: lock lost, NTP-only,
//! daemon offline, and back to normal after one of those. A flapping link must not bury the
//! engineer in pop-ups, so at most [`MAX_PER_WINDOW`] are shown per [`WINDOW_S`]; the ones held
//! back are counted and the next one shown says how many changes it summarises (the icon
//! always shows the current state, so nothing is lost but the pop-up). Pure logic: time is the
//! tray's monotonic clock in seconds, passed in.

use std::collections::VecDeque;

use crate::health::Shown;

pub const MAX_PER_WINDOW: usize = 3;
pub const WINDOW_S: f64 = 600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    LockLost,
    NtpOnly,
    Offline,
    BackToNormal,
}

impl Alert {
    pub fn summary(self) -> &'static str {
        match self {
            Alert::LockLost => "dantesync: lock lost",
            Alert::NtpOnly => "dantesync: NTP only",
            Alert::Offline => "dantesync: daemon offline",
            Alert::BackToNormal => "dantesync: back to normal",
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            Alert::LockLost => "The clock is no longer locked to the Dante leader's rate.",
            Alert::NtpOnly => {
                "No PTP from a Dante leader: holding the last frequency, NTP keeps time."
            }
            Alert::Offline => {
                "The dantesync service does not answer, or its status stopped updating."
            }
            Alert::BackToNormal => "Locked to the Dante leader again.",
        }
    }
}

/// A notification to show now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub alert: Alert,
    /// Alerts held back by the rate limit since the last one shown.
    pub held_back: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Starting,
    Good,
    Acquiring,
    NtpOnly,
    Offline,
}

fn class(shown: Shown) -> Class {
    match shown {
        Shown::Starting => Class::Starting,
        Shown::Lock | Shown::Nano => Class::Good,
        Shown::Acquiring => Class::Acquiring,
        Shown::NtpOnly => Class::NtpOnly,
        Shown::Unreachable | Shown::Stale => Class::Offline,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Alerts {
    previous: Option<Class>,
    /// A problem was alerted (shown or held back) since the last time things were good.
    troubled: bool,
    /// When the notifications of the current window were shown.
    shown_at: VecDeque<f64>,
    held_back: u32,
}

impl Alerts {
    pub fn new() -> Alerts {
        Alerts::default()
    }

    /// Feeds the state shown at `now_s`; returns the notification to show, if any.
    pub fn on_state(&mut self, now_s: f64, shown: Shown) -> Option<Notice> {
        let new = class(shown);
        let previous = self.previous.replace(new);
        if previous == Some(new) {
            return None;
        }
        let alert = match new {
            Class::Offline => Alert::Offline,
            Class::NtpOnly => Alert::NtpOnly,
            Class::Acquiring if previous == Some(Class::Good) => Alert::LockLost,
            Class::Good if self.troubled => Alert::BackToNormal,
            // Start-up (grey, then acquiring, then the first lock) is not news.
            Class::Starting | Class::Acquiring | Class::Good => return None,
        };
        self.troubled = alert != Alert::BackToNormal;
        while self
            .shown_at
            .front()
            .is_some_and(|&t| now_s - t >= WINDOW_S)
        {
            self.shown_at.pop_front();
        }
        if self.shown_at.len() >= MAX_PER_WINDOW {
            self.held_back += 1;
            return None;
        }
        self.shown_at.push_back(now_s);
        Some(Notice {
            alert,
            held_back: std::mem::take(&mut self.held_back),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut Alerts, steps: &[(f64, Shown)]) -> Vec<(f64, Notice)> {
        steps
            .iter()
            .filter_map(|&(t, s)| a.on_state(t, s).map(|n| (t, n)))
            .collect()
    }

    fn notice(alert: Alert) -> Notice {
        Notice {
            alert,
            held_back: 0,
        }
    }

    #[test]
    fn start_up_to_lock_is_quiet_then_each_problem_and_the_recovery_speak() {
        let mut a = Alerts::new();
        let got = feed(
            &mut a,
            &[
                (0.0, Shown::Starting),
                (1.0, Shown::Acquiring),
                (30.0, Shown::Lock),
                (40.0, Shown::Nano),
                (100.0, Shown::Acquiring),
                (160.0, Shown::Lock),
            ],
        );
        assert_eq!(
            got,
            vec![
                (100.0, notice(Alert::LockLost)),
                (160.0, notice(Alert::BackToNormal))
            ]
        );
    }

    #[test]
    fn ntp_only_and_offline_are_alerted_from_any_state() {
        let mut a = Alerts::new();
        let got = feed(
            &mut a,
            &[
                (0.0, Shown::Acquiring),
                (10.0, Shown::NtpOnly),
                (20.0, Shown::Unreachable),
                (21.0, Shown::Stale),
            ],
        );
        // Unreachable and stale are the same news.
        assert_eq!(
            got,
            vec![
                (10.0, notice(Alert::NtpOnly)),
                (20.0, notice(Alert::Offline))
            ]
        );
    }

    #[test]
    fn a_tray_started_while_the_daemon_is_down_says_so() {
        let mut a = Alerts::new();
        assert_eq!(
            a.on_state(0.0, Shown::Unreachable),
            Some(notice(Alert::Offline))
        );
        assert_eq!(a.on_state(1.0, Shown::Unreachable), None);
        // Once back, the first lock is a recovery.
        assert_eq!(a.on_state(5.0, Shown::Starting), None);
        assert_eq!(a.on_state(6.0, Shown::Acquiring), None);
        assert_eq!(
            a.on_state(40.0, Shown::Lock),
            Some(notice(Alert::BackToNormal))
        );
    }

    #[test]
    fn a_link_flapping_every_5_s_for_an_hour_gives_at_most_3_per_10_minutes() {
        let mut a = Alerts::new();
        a.on_state(0.0, Shown::Lock);
        let mut shown = Vec::new();
        let mut held_back_total = 0;
        let mut changes = 0;
        for i in 1..=720 {
            let t = f64::from(i) * 5.0;
            let state = if i % 2 == 1 {
                Shown::NtpOnly
            } else {
                Shown::Lock
            };
            changes += 1;
            if let Some(n) = a.on_state(t, state) {
                held_back_total += n.held_back;
                shown.push((t, n));
            }
        }
        // Sliding window: no 10 minutes hold more than 3.
        for (i, &(t, _)) in shown.iter().enumerate() {
            let in_window = shown[i..]
                .iter()
                .take_while(|&&(u, _)| u - t < WINDOW_S)
                .count();
            assert!(
                in_window <= MAX_PER_WINDOW,
                "{in_window} within 600 s of {t}"
            );
        }
        // One hour: 6 windows of 3.
        assert_eq!(shown.len(), 18);
        assert_eq!(changes, 720);
        // Every change is either shown or counted in the next one shown (the last few wait).
        // Between two windows' first notices (t = 20..=600 s), 117 changes wait; the last
        // window's tail (t = 3020..=3600 s) is still waiting when the hour ends.
        assert_eq!(held_back_total, 5 * 117);
        assert_eq!(held_back_total as usize + shown.len() + 117, changes);
        // The first of a new window reports what it summarises.
        assert_eq!(shown[0].1.held_back, 0);
        assert_eq!(shown[3].1.held_back, 117);
        assert_eq!(shown[3].0, 605.0);
    }
}
