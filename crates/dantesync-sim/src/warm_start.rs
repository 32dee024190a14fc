//! Warm starts: a node restarted with a learned frequency (from its state file), right or
//! wrong, across timestamp jitter and Sync intervals. Scored on the truth: how soon LOCK comes,
//! and whether LOCK or NANO were ever shown while the true error was beyond their threshold
//! (never allowed: a prior only shortens acquisition, it never stands in for the data).

use std::fmt::Write as _;

use dantesync_core::servo::estimator::{early_look_factor, noise_inflation};
use dantesync_core::Mode;

use crate::run::run;
use crate::scenario::{Scenario, AM2};

/// How long each warm start runs: past the first NANO of every run (about 4, 12-16 and
/// 29-38 s at 1, 5 and 20 µs), so that the claims of LOCK and NANO are both checked, and no
/// longer (the sim test runs every case unoptimised).
pub fn duration_s(jitter_us: f64) -> f64 {
    if jitter_us <= 1.0 {
        30.0
    } else if jitter_us <= 5.0 {
        45.0
    } else {
        90.0
    }
}
/// The oscillator's natural drift in every case (S1's), so −50 ppm is the right prior.
pub const DRIFT_PPM: f64 = 50.0;
/// The timestamp jitters of the table, µs (σ): kernel timestamps on a quiet LAN, on a busy
/// one, and S1's.
pub const JITTERS_US: [f64; 3] = [1.0, 5.0, 20.0];
/// Sync intervals (log2 s): 125 ms and Dante's 250 ms.
pub const SYNC_LOG2: [i8; 2] = [-3, -2];
/// How wrong the learned frequency is, ppm (0 = right). Each wrong prior is run with both
/// signs.
pub const WRONG_BY_PPM: [f64; 4] = [0.0, 10.0, 40.0, 70.0];

/// One warm start: S1's world with the given jitter and Sync interval, restarted with a
/// frequency learned to 3 ppb against the same leader but `wrong_by_ppm` off the truth.
pub fn scenario(jitter_us: f64, sync_log2: i8, wrong_by_ppm: f64, seed: u64) -> Scenario {
    let mut sc = Scenario::baseline("warm", "S1, restarted with a learned frequency")
        .sync_interval(sync_log2)
        .with_seed(seed);
    sc.duration_s = duration_s(jitter_us);
    sc.network.jitter_us = jitter_us;
    sc.oscillator.drift_ppm = DRIFT_PPM;
    sc.learned = Some((-DRIFT_PPM + wrong_by_ppm, 0.003, AM2));
    sc
}

/// The earliest LOCK an honest test could show in this world, s since the start: the first
/// moment at which the servo's own test would pass if the fit's slope were exact and its
/// fitted noise the true σ, with the least-squares standard error σ·√(12/n)/T of n evenly
/// spaced samples (exactly σ/√(h²·n(n²−1)/12) for a spacing h), plus the one more sample a
/// move up waits for. Cold (and a wrong prior, which the data must first reject): the mode's
/// bound, 3 standard errors widened by the t quantile and the early-look boundary, below the
/// LOCK threshold. A right prior: its confirmation, 2 standard errors with the noise at its
/// 95 % bound and the early-look boundary, below the threshold. Real fits scatter around
/// both, so a run can lock a little earlier (a fit that looks quieter than it is) or later.
pub fn honest_lock_bound_s(jitter_us: f64, sync_log2: i8, right_prior: bool) -> f64 {
    const LOCK_PPM: f64 = 5.0;
    let h = 2f64.powi(i32::from(sync_log2));
    let first_s = first_sample_s(sync_log2);
    for n in 8..100_000usize {
        let nf = n as f64;
        let se = jitter_us / (h * h * nf * (nf * nf - 1.0) / 12.0).sqrt();
        let dof = nf - 2.0;
        let passes = if right_prior {
            let upper = (1.0 + 2.5 / (2.0 * dof).sqrt()) * early_look_factor(n);
            2.0 * se * upper < LOCK_PPM
        } else {
            3.0 * se * noise_inflation(dof) * early_look_factor(n) < LOCK_PPM
        };
        if passes {
            // Sample n (counted from 1) passes, sample n + 1 confirms.
            return first_s + nf * h;
        }
    }
    f64::INFINITY
}

/// When the first Sync of a warm-start run reaches the node, s since the start.
fn first_sample_s(sync_log2: i8) -> f64 {
    let mut sc = scenario(1.0, sync_log2, 0.0, 1);
    sc.duration_s = 2.0;
    run(&sc).packet_times_s.first().copied().unwrap_or(0.0)
}

/// What the runs of one case showed.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmRow {
    pub jitter_us: f64,
    pub sync_log2: i8,
    /// How wrong the prior was (both signs run), ppm; None for a cold start (no prior).
    pub wrong_by_ppm: Option<f64>,
    pub runs: usize,
    /// First LOCK of each run that locked, seconds since the start, sorted.
    pub lock_s: Vec<f64>,
    /// First NANO of each run that reached it, sorted.
    pub nano_s: Vec<f64>,
    /// Seconds, summed over the runs, of LOCK or NANO shown with the true error ≥ 5 ppm.
    pub dishonest_lock_s: f64,
    /// Seconds, summed over the runs, of NANO shown with the true error ≥ 0.5 ppm.
    pub dishonest_nano_s: f64,
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(0.5 * (sorted[n / 2 - 1] + sorted[n / 2])),
    }
}

impl WarmRow {
    pub fn lock_median_s(&self) -> Option<f64> {
        median(&self.lock_s)
    }

    pub fn lock_max_s(&self) -> Option<f64> {
        self.lock_s.last().copied()
    }

    pub fn nano_median_s(&self) -> Option<f64> {
        median(&self.nano_s)
    }
}

/// Runs one case over seeds `1..=seeds`; a wrong prior with both signs, None without prior.
pub fn run_case(jitter_us: f64, sync_log2: i8, wrong_by_ppm: Option<f64>, seeds: u64) -> WarmRow {
    run_seeds(jitter_us, sync_log2, wrong_by_ppm, 1..=seeds)
}

/// Runs one case over the given seeds; a wrong prior with both signs, None without prior.
pub fn run_seeds(
    jitter_us: f64,
    sync_log2: i8,
    wrong_by_ppm: Option<f64>,
    seeds: impl IntoIterator<Item = u64>,
) -> WarmRow {
    let signs: &[f64] = match wrong_by_ppm {
        Some(w) if w != 0.0 => &[1.0, -1.0],
        _ => &[1.0],
    };
    let mut row = WarmRow {
        jitter_us,
        sync_log2,
        wrong_by_ppm,
        runs: 0,
        lock_s: Vec::new(),
        nano_s: Vec::new(),
        dishonest_lock_s: 0.0,
        dishonest_nano_s: 0.0,
    };
    for seed in seeds {
        for sign in signs {
            let mut sc = scenario(
                jitter_us,
                sync_log2,
                sign * wrong_by_ppm.unwrap_or(0.0),
                seed,
            );
            if wrong_by_ppm.is_none() {
                sc.learned = None;
            }
            let trace = run(&sc);
            row.runs += 1;
            row.lock_s.extend(trace.first_switch(0.0, Mode::is_locked));
            row.nano_s
                .extend(trace.first_switch(0.0, |m| m == Mode::Nano));
            row.dishonest_lock_s += trace.dishonest_claims_s(5.0, f64::INFINITY, sc.duration_s);
            row.dishonest_nano_s += trace.dishonest_claims_s(f64::INFINITY, 0.5, sc.duration_s);
        }
    }
    row.lock_s.sort_by(f64::total_cmp);
    row.nano_s.sort_by(f64::total_cmp);
    row
}

/// Every case of the table: for each jitter and Sync interval, a cold start and each prior.
pub fn table(seeds: u64) -> Vec<WarmRow> {
    let mut rows = Vec::new();
    for jitter in JITTERS_US {
        for log2 in SYNC_LOG2 {
            rows.push(run_case(jitter, log2, None, seeds));
            for wrong in WRONG_BY_PPM {
                rows.push(run_case(jitter, log2, Some(wrong), seeds));
            }
        }
    }
    rows
}

fn secs(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |v| format!("{v:.2}"))
}

/// The table as Markdown.
pub fn markdown(rows: &[WarmRow]) -> String {
    let mut md = String::new();
    md.push_str("| σ µs | Sync ms | prior | runs | locked | honest bound s | LOCK median s | LOCK max s | NANO reached | NANO median s | LOCK shown, error ≥ 5 ppm (s) | NANO shown, error ≥ 0.5 ppm (s) |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let prior = match r.wrong_by_ppm {
            None => "none (cold)".to_string(),
            Some(0.0) => "right".to_string(),
            Some(w) => format!("±{w:.0} ppm wrong"),
        };
        writeln!(
            md,
            "| {:.0} | {:.0} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {:.2} | {:.2} |",
            r.jitter_us,
            1000.0 * 2f64.powi(i32::from(r.sync_log2)),
            prior,
            r.runs,
            r.lock_s.len(),
            honest_lock_bound_s(r.jitter_us, r.sync_log2, r.wrong_by_ppm == Some(0.0)),
            secs(r.lock_median_s()),
            secs(r.lock_max_s()),
            r.nano_s.len(),
            secs(r.nano_median_s()),
            r.dishonest_lock_s,
            r.dishonest_nano_s,
        )
        .unwrap();
    }
    md
}
