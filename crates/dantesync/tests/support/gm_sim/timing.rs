//! Times measured against this host's clock: arrivals, the leader's rate, percentiles.

use std::sync::Mutex;
use std::time::Instant;

use super::packets::Pair;

/// Signed ns from `a` to `b`.
pub fn ns_between(a: Instant, b: Instant) -> i128 {
    if b >= a {
        b.duration_since(a).as_nanos() as i128
    } else {
        -(a.duration_since(b).as_nanos() as i128)
    }
}

/// When each Sync arrived, ns from the first: the kernel's receive timestamps when the
/// platform gives them (CLOCK_REALTIME, which runs at CLOCK_MONOTONIC's rate: only steps
/// differ, and nothing steps the clock in these tests), else when recvmsg returned.
pub fn arrivals_ns(pairs: &[Pair]) -> Vec<i128> {
    let kernel: Option<Vec<i128>> = pairs.iter().map(|p| p.sync.datagram.kernel_ns).collect();
    match kernel {
        Some(times) => times.iter().map(|t| t - times[0]).collect(),
        None => pairs
            .iter()
            .map(|p| ns_between(pairs[0].arrival(), p.arrival()))
            .collect(),
    }
}

/// Tests whose numbers are times hold this, so that they do not run at the same time as
/// each other or as the tshark runs, which take the CPU for a second.
pub static TIMING: Mutex<()> = Mutex::new(());

pub fn timing_lock() -> std::sync::MutexGuard<'static, ()> {
    TIMING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Rate of the leader's T1 against this host's clock at the Syncs' arrival, ppm.
///
/// Arrival = send time + a delay that is never below its floor but sometimes far above it
/// (scheduling on a shared machine), so the fit is taken over the lower envelope: of each run
/// of `chunk` Syncs, the one that arrived soonest after its T1 (largest T1 − arrival).
pub fn rate_ppm(pairs: &[Pair], chunk: usize) -> f64 {
    let arrivals = arrivals_ns(pairs);
    let t0 = pairs[0].t1();
    let points: Vec<(f64, f64)> = pairs
        .iter()
        .zip(&arrivals)
        .collect::<Vec<_>>()
        .chunks(chunk)
        .filter(|c| c.len() == chunk)
        .map(|c| {
            c.iter()
                .map(|&(p, &x)| (x as f64, (p.t1() - t0 - x) as f64))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap()
        })
        .collect();
    assert!(points.len() >= 4, "too few points to fit: {}", points.len());
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx * 1e6
}

pub fn percentile(values: &mut [i128], p: f64) -> i128 {
    values.sort_unstable();
    let index = ((values.len() - 1) as f64 * p).round() as usize;
    values[index]
}
