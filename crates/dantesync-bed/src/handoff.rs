//! Hand-off between relays. A frame one link's relay releases into the switch reaches the
//! other links' relays only after the bridge has flooded it to its ports, one after another
//! (the most recently added port first): measured with captures at both ends, 20 to 80 µs
//! depending on the port's place in that list. A relay that took its own arrival stamp as the
//! start of its link's delay counted that time on top, and since a Sync and the Delay_Req
//! answering it cross the bridge between different pairs of ports, the two directions of a
//! path differed by 30 to 85 µs, a different amount for every node: enough to move fleet-mode
//! nodes (which assume a symmetric path) tens of µs apart.
//!
//! So a relay records when it released each frame into the switch ([`record`]), and a relay
//! receiving a frame from the switch starts its link's delay at that release, when there is
//! one ([`released_at`]), rather than at its own arrival stamp: the bridge's time is absorbed
//! into the link's constant latency, as the relays' wake-ups are, and a path between two
//! emulated hosts takes the two links' latency, delay and jitter, the same both ways. Frames
//! from hosts on the bridge directly (the upstream NTP server, the probe) keep the arrival
//! stamp: every leader and node is behind an emulated link.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Releases are kept this long (ns): far longer than any bridge crossing.
const KEEP_NS: i64 = 50_000_000;
/// A release is taken as the start only if the frame arrived within this long after it (ns);
/// an older one with the same content is another frame.
pub const MAX_CROSSING_NS: i64 = 1_000_000;

#[derive(Default)]
struct Releases {
    at: HashMap<u64, i64>,
    order: VecDeque<(i64, u64)>,
}

static RELEASES: Mutex<Option<Releases>> = Mutex::new(None);

/// A relay released the frame with `key` ([`crate::linkwatch::frame_key`]) into the switch
/// at `at` (CLOCK_REALTIME ns).
pub fn record(key: u64, at: i64) {
    let mut guard = RELEASES.lock().unwrap();
    let r = guard.get_or_insert_with(Releases::default);
    while r.order.front().is_some_and(|&(t, _)| at - t > KEEP_NS) {
        let (t, k) = r.order.pop_front().unwrap();
        if r.at.get(&k) == Some(&t) {
            r.at.remove(&k);
        }
    }
    r.at.insert(key, at);
    r.order.push_back((at, key));
}

/// When the frame with `key`, which arrived from the switch at `arrival`, was released into
/// it by another relay; `None` when it came from a host on the bridge directly.
pub fn released_at(key: u64, arrival: i64) -> Option<i64> {
    let guard = RELEASES.lock().unwrap();
    let at = *guard.as_ref()?.at.get(&key)?;
    (at <= arrival && arrival - at <= MAX_CROSSING_NS).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_is_the_start_only_for_a_frame_that_crossed_just_after_it() {
        let key = 0x5eed_0001;
        record(key, 10_000_000_000);
        assert_eq!(released_at(key, 10_000_040_000), Some(10_000_000_000));
        // Before the release: another frame with the same content.
        assert_eq!(released_at(key, 9_999_000_000), None);
        // Too long after: the same.
        assert_eq!(released_at(key, 10_002_000_000), None);
        assert_eq!(released_at(0x5eed_0002, 10_000_040_000), None);
        // Old releases are forgotten as new ones come.
        record(0x5eed_0003, 10_100_000_000);
        assert_eq!(released_at(key, 10_000_040_000), None);
    }
}
