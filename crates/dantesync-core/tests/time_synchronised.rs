//! When the controller calls the time synchronised (what the built-in NTP server's leap
//! indicator and stratum rest on): from an NTP confirmation, through failed checks, until the
//! confirmation is ten minutes old.

use dantesync_core::{Controller, LocalTime, NtpMeasurement};

const T0: i64 = 1_785_427_891_000_000_000;
const S: i64 = 1_000_000_000;

fn at(s: i64) -> LocalTime {
    LocalTime::from_nanos(T0 + s * S)
}

#[test]
fn a_confirmation_holds_through_failed_checks_for_ten_minutes() {
    let mut c = Controller::new(Default::default(), at(0), 0.0);
    c.start(at(0));
    assert!(!c.status().time_synchronised);
    assert_eq!(c.status().time_confirmed, None);
    // Checks that find the clock right: the gate confirms the time (within a few checks).
    let good = NtpMeasurement {
        offset_ns: 20_000,
        delay_ns: 300_000,
    };
    let mut t = 0;
    while !c.status().time_synchronised {
        t += 10;
        assert!(t <= 60, "no confirmation after {t} s of agreeing checks");
        c.handle_ntp_result(at(t), good);
    }
    let confirmed = c.status().time_confirmed.expect("a confirmation time");
    assert_eq!(confirmed, at(t));
    // The upstream goes away: every check fails. The time stays synchronised, on the same
    // confirmation, for ten minutes...
    let mut f = t;
    while f < t + 590 {
        f += 30;
        c.handle_ntp_failure(at(f));
        let st = c.status();
        assert!(st.ntp_failing);
        assert!(st.time_synchronised, "{} s after the confirmation", f - t);
        assert_eq!(st.time_confirmed, Some(confirmed));
    }
    // ...and not after.
    c.handle_ntp_failure(at(t + 601));
    assert!(!c.status().time_synchronised);
    // A confirmation brings it back.
    let mut back = t + 601;
    while !c.status().time_synchronised {
        back += 10;
        assert!(
            back <= t + 661,
            "no confirmation after the upstream returned"
        );
        c.handle_ntp_result(at(back), good);
    }
    assert_eq!(c.status().time_confirmed, Some(at(back)));
}
