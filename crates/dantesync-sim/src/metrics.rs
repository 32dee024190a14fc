//! Scores a run on the true error of the disciplined clock, never on its own opinion.

use dantesync_core::Mode;

use crate::run::{Trace, OBSERVE_EVERY_NS};
use crate::scenario::{Scenario, Targets};

/// Seconds at the end of a run that count as steady state.
pub const STEADY_S: f64 = 300.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// First LOCK (or NANO), seconds since the start.
    pub lock_s: Option<f64>,
    pub nano_s: Option<f64>,
    /// True frequency error when LOCK was first reported.
    pub error_at_first_lock_ppm: Option<f64>,
    pub steady_rms_ppm: f64,
    pub steady_max_ppm: f64,
    /// Time during which LOCK was claimed with |error| ≥ 5 ppm, or NANO with ≥ 0.5 ppm.
    pub dishonest_s: f64,
    /// σ·√(12/n)/T for the final window (n samples over T s) and the scenario's σ.
    pub bound_ppm: f64,
    pub window_s: f64,
    pub window_samples: usize,
    /// After the event: time to LOCK again (from the event, or from its end for a silence).
    pub relock_s: Option<f64>,
    pub max_error_after_event_ppm: Option<f64>,
    /// After the event: time until the error stays below 0.5 ppm.
    pub settle_s: Option<f64>,
    pub ntp_only_after_s: Option<f64>,
    pub holdover_max_ppm: Option<f64>,
    pub frequency_changes: u64,
    /// Fleet scenarios: true phase error to leader + D in steady state (µs), and its largest
    /// value in the event's window.
    pub fleet_rms_us: Option<f64>,
    pub fleet_max_us: Option<f64>,
    pub fleet_event_max_us: Option<f64>,
}

pub fn compute(trace: &Trace, scenario: &Scenario, targets: &Targets) -> Metrics {
    let obs = &trace.observations;
    let dt = OBSERVE_EVERY_NS as f64 * 1e-9;
    let lock_s = trace.first_switch(0.0, Mode::is_locked);
    let nano_s = trace.first_switch(0.0, |m| m == Mode::Nano);
    let error_at_first_lock_ppm = lock_s
        .and_then(|t| obs.iter().find(|o| o.t_s >= t))
        .map(|o| o.error_ppm);
    let steady: Vec<f64> = obs
        .iter()
        .filter(|o| o.t_s >= scenario.duration_s - STEADY_S)
        .map(|o| o.error_ppm)
        .collect();
    let steady_rms_ppm =
        (steady.iter().map(|e| e * e).sum::<f64>() / steady.len().max(1) as f64).sqrt();
    let steady_max_ppm = steady.iter().fold(0.0f64, |m, e| m.max(e.abs()));
    let dishonest_s = obs
        .iter()
        .filter(|o| {
            (o.mode.is_locked() && o.error_ppm.abs() >= 5.0)
                || (o.mode == Mode::Nano && o.error_ppm.abs() >= 0.5)
        })
        .count() as f64
        * dt;
    let status = &trace.final_status;
    let sigma_us = scenario.network.jitter_us;
    let n = status.window_samples.max(1) as f64;
    let bound_ppm = if status.window_s > 0.0 {
        sigma_us * (12.0 / n).sqrt() / status.window_s
    } else {
        f64::NAN
    };

    let mut m = Metrics {
        lock_s,
        nano_s,
        error_at_first_lock_ppm,
        steady_rms_ppm,
        steady_max_ppm,
        dishonest_s,
        bound_ppm,
        window_s: status.window_s,
        window_samples: status.window_samples,
        relock_s: None,
        max_error_after_event_ppm: None,
        settle_s: None,
        ntp_only_after_s: None,
        holdover_max_ppm: None,
        frequency_changes: trace.frequency_changes,
        fleet_rms_us: None,
        fleet_max_us: None,
        fleet_event_max_us: None,
    };
    if scenario.fleet.is_some() {
        let from = scenario.duration_s - STEADY_S;
        let steady: Vec<f64> = obs
            .iter()
            .filter(|o| o.t_s >= from)
            .map(|o| o.fleet_phase_ns.unwrap_or(f64::INFINITY) * 1e-3)
            .collect();
        m.fleet_rms_us =
            Some((steady.iter().map(|e| e * e).sum::<f64>() / steady.len().max(1) as f64).sqrt());
        m.fleet_max_us = Some(steady.iter().fold(0.0f64, |a, e| a.max(e.abs())));
        if let (Some(event), Some(window)) = (targets.event_s, targets.fleet_event_window_s) {
            m.fleet_event_max_us = Some(
                obs.iter()
                    .filter(|o| o.t_s >= event && o.t_s <= event + window)
                    .filter_map(|o| o.fleet_phase_ns)
                    .fold(0.0f64, |a, e| a.max(e.abs() * 1e-3)),
            );
        }
    }
    if let Some(event) = targets.event_s {
        let after: Vec<_> = obs.iter().filter(|o| o.t_s >= event).collect();
        m.max_error_after_event_ppm = Some(
            after
                .iter()
                .fold(0.0f64, |acc, o| acc.max(o.error_ppm.abs())),
        );
        let last_bad = after
            .iter()
            .rev()
            .find(|o| o.error_ppm.abs() >= 0.5)
            .map(|o| o.t_s + dt);
        m.settle_s = Some(last_bad.map_or(0.0, |t| t - event));
        let relock_from = targets.event_end_s.unwrap_or(event);
        // Re-lock: the first lock after the node noticed the event (left lock).
        if let Some(lost) = trace.first_switch(event, |m| !m.is_locked()) {
            m.relock_s = trace
                .first_switch(lost, Mode::is_locked)
                .map(|t| t - relock_from);
        }
        if let Some(end) = targets.event_end_s {
            // Measured from the last packet that reached the node before the silence.
            let last_packet = trace
                .packet_times_s
                .iter()
                .copied()
                .filter(|&t| t <= event)
                .fold(f64::NAN, f64::max);
            m.ntp_only_after_s = trace
                .first_switch(event, |mode| mode == Mode::NtpOnly)
                .filter(|&t| t < end)
                .map(|t| t - last_packet);
            m.holdover_max_ppm = Some(
                obs.iter()
                    .filter(|o| o.t_s >= event && o.t_s < end)
                    .fold(0.0f64, |acc, o| acc.max(o.error_ppm.abs())),
            );
        }
    }
    m
}

/// Each target against its measurement: (what, measured, target, passed).
pub fn check(m: &Metrics, t: &Targets) -> Vec<(String, String, String, bool)> {
    let mut rows = Vec::new();
    rows.push((
        "honest".into(),
        format!("{:.2} s dishonest", m.dishonest_s),
        format!("≤ {} s", t.dishonest_allowance_s),
        m.dishonest_s <= t.dishonest_allowance_s,
    ));
    let within = |v: Option<f64>, limit: f64| v.is_some_and(|v| v <= limit);
    let show =
        |v: Option<f64>, unit: &str| v.map_or("never".to_string(), |v| format!("{v:.2} {unit}"));
    if let Some(limit) = t.lock_within_s {
        rows.push((
            "LOCK".into(),
            show(m.lock_s, "s"),
            format!("≤ {limit} s"),
            within(m.lock_s, limit),
        ));
    }
    if let Some(limit) = t.nano_within_s {
        rows.push((
            "NANO".into(),
            show(m.nano_s, "s"),
            format!("≤ {limit} s"),
            within(m.nano_s, limit),
        ));
    }
    if let Some(limit) = t.steady_rms_ppm {
        rows.push((
            "steady RMS".into(),
            format!("{:.4} ppm", m.steady_rms_ppm),
            format!("≤ {limit} ppm"),
            m.steady_rms_ppm <= limit,
        ));
    }
    if let Some(limit) = t.relock_within_s {
        rows.push((
            "re-LOCK".into(),
            show(m.relock_s, "s"),
            format!("≤ {limit} s"),
            within(m.relock_s, limit),
        ));
    }
    if let Some(limit) = t.max_error_after_event_ppm {
        rows.push((
            "max error after event".into(),
            show(m.max_error_after_event_ppm, "ppm"),
            format!("≤ {limit} ppm"),
            within(m.max_error_after_event_ppm, limit),
        ));
    }
    if let Some(limit) = t.settle_within_s {
        rows.push((
            "< 0.5 ppm after step".into(),
            show(m.settle_s, "s"),
            format!("≤ {limit} s"),
            within(m.settle_s, limit),
        ));
    }
    if let Some(limit) = t.ntp_only_within_s {
        rows.push((
            "NtpOnly after silence".into(),
            show(m.ntp_only_after_s, "s"),
            format!("≤ {limit} s"),
            within(m.ntp_only_after_s, limit),
        ));
    }
    let us = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.2} µs"));
    if let Some(limit) = t.fleet_rms_us {
        rows.push((
            "phase RMS".into(),
            us(m.fleet_rms_us),
            format!("≤ {limit} µs"),
            m.fleet_rms_us.is_some_and(|v| v <= limit),
        ));
    }
    if let Some(limit) = t.fleet_max_us {
        rows.push((
            "phase max".into(),
            us(m.fleet_max_us),
            format!("≤ {limit} µs"),
            m.fleet_max_us.is_some_and(|v| v <= limit),
        ));
    }
    if let Some(limit) = t.fleet_event_max_us {
        rows.push((
            format!(
                "phase max {} s after event",
                t.fleet_event_window_s.unwrap_or(0.0)
            ),
            us(m.fleet_event_max_us),
            format!("≤ {limit} µs"),
            m.fleet_event_max_us.is_some_and(|v| v <= limit),
        ));
    }
    if let Some(limit) = t.holdover_ppm {
        rows.push((
            "holdover error".into(),
            show(m.holdover_max_ppm, "ppm"),
            format!("≤ {limit} ppm"),
            within(m.holdover_max_ppm, limit),
        ));
    }
    rows
}
