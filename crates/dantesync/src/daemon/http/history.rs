//! The last hour of the status, for the live page's charts: a fixed-size ring of points taken
//! every [`STEP`], so memory stays bounded however long the daemon runs.

use std::collections::VecDeque;
use std::time::Duration;

use dantesync_core::{LocalTime, Status};
use serde_json::{json, Value};

/// How often a point is taken.
pub const STEP: Duration = Duration::from_secs(2);
/// One hour of points.
pub const CAPACITY: usize = 3600 / 2;

/// One sample of the status.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The disciplined clock's time, ms since the Unix epoch.
    pub t_ms: i64,
    pub mode_code: u8,
    pub drift_ppm: Option<f64>,
    pub applied_ppm: f64,
    /// The offset of an NTP check completed since the previous point; `None` between checks,
    /// so each measurement is plotted once.
    pub ntp_offset_us: Option<f64>,
}

#[derive(Debug)]
pub struct History {
    points: VecDeque<Point>,
    capacity: usize,
    last_ntp_at: Option<LocalTime>,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            points: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            last_ntp_at: None,
        }
    }

    /// Adds a point for `status` read at `now`; the oldest point goes when the ring is full.
    pub fn record(&mut self, status: &Status, now: LocalTime) {
        let ntp_offset_us = match status.ntp {
            Some(n) if self.last_ntp_at != Some(n.at) => {
                self.last_ntp_at = Some(n.at);
                Some(n.offset_ns as f64 / 1000.0)
            }
            _ => None,
        };
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(Point {
            t_ms: now.nanos().div_euclid(1_000_000),
            mode_code: status.mode.wire_code(),
            drift_ppm: status.drift_ppm,
            applied_ppm: status.applied_ppm,
            ntp_offset_us,
        });
    }

    /// The points later than `since_ms` (all with `None`), oldest first.
    pub fn since(&self, since_ms: Option<i64>) -> impl Iterator<Item = &Point> {
        let start = since_ms.map_or(0, |s| self.points.partition_point(|p| p.t_ms <= s));
        self.points.range(start..)
    }

    /// `{"step_s": 2, "capacity": 1800, "points": [{"t": ms, "mode": code, "drift_ppm": ..,
    /// "applied_ppm": .., "ntp_offset_us": ..}, ...]}`.
    pub fn to_json(&self, since_ms: Option<i64>) -> Value {
        let points: Vec<Value> = self
            .since(since_ms)
            .map(|p| {
                json!({
                    "t": p.t_ms,
                    "mode": p.mode_code,
                    "drift_ppm": p.drift_ppm,
                    "applied_ppm": p.applied_ppm,
                    "ntp_offset_us": p.ntp_offset_us,
                })
            })
            .collect();
        json!({
            "step_s": STEP.as_secs_f64(),
            "capacity": self.capacity,
            "points": points,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dantesync_core::controller::NtpStatus;
    use dantesync_core::{Controller, ControllerConfig};

    fn status() -> Status {
        Controller::new(ControllerConfig::default(), LocalTime::from_nanos(0), 3.0).status()
    }

    #[test]
    fn keeps_the_newest_points_up_to_its_capacity() {
        let mut h = History::new(3);
        let mut s = status();
        for i in 0..5 {
            s.applied_ppm = f64::from(i);
            h.record(&s, LocalTime::from_nanos(i64::from(i) * 2_000_000_000));
        }
        assert_eq!(h.since(None).count(), 3);
        let applied: Vec<f64> = h.since(None).map(|p| p.applied_ppm).collect();
        assert_eq!(applied, [2.0, 3.0, 4.0]);
        let later: Vec<i64> = h.since(Some(6_000)).map(|p| p.t_ms).collect();
        assert_eq!(later, [8_000]);
    }

    #[test]
    fn an_ntp_measurement_is_recorded_once() {
        let mut h = History::new(10);
        let mut s = status();
        s.ntp = Some(NtpStatus {
            offset_ns: -1500,
            delay_ns: 300_000,
            at: LocalTime::from_nanos(1_000),
        });
        h.record(&s, LocalTime::from_nanos(2_000_000_000));
        h.record(&s, LocalTime::from_nanos(4_000_000_000));
        let ntp: Vec<Option<f64>> = h.since(None).map(|p| p.ntp_offset_us).collect();
        assert_eq!(ntp, [Some(-1.5), None]);
        let doc = h.to_json(None);
        assert_eq!(doc["points"][0]["ntp_offset_us"], json!(-1.5));
        assert_eq!(doc["points"][1]["ntp_offset_us"], Value::Null);
        assert_eq!(doc["points"][1]["t"], json!(4_000));
    }
}
