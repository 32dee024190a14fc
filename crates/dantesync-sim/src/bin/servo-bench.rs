//! The servo benchmark: every scenario of SCENARIOS.md, scored on the true error.
//!
//!   cargo run --release -p dantesync-sim --bin servo-bench -- [--seeds N] [--only ID] [--out FILE]
//!   cargo run --release -p dantesync-sim --bin servo-bench -- --warm-start [--seeds N] [--out FILE]
//!
//! Prints one row per scenario (`--only F` keeps those whose id starts with F) and, with --out, writes the table as Markdown. With
//! --warm-start it prints the warm-start table instead (restarts from a right or wrong learned
//! frequency across jitter and Sync interval, 12 seeds unless --seeds says otherwise) and fails
//! if any run showed LOCK or NANO while the true error was beyond their threshold.

use std::fmt::Write as _;

use dantesync_sim::metrics::{check, compute, Metrics};
use dantesync_sim::{run, scenario, warm_start};

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |v| format!("{v:.2}"))
}

fn main() {
    let mut seeds = None;
    let mut out_file = None;
    let mut warm = false;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => {
                seeds = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .expect("--seeds takes a number"),
                )
            }
            "--warm-start" => warm = true,
            "--only" => only = Some(args.next().expect("--only takes a scenario id prefix")),
            "--out" => out_file = Some(args.next().expect("--out takes a file")),
            "-h" | "--help" => {
                println!("servo-bench [--warm-start] [--seeds N] [--only ID_PREFIX] [--out FILE]");
                return;
            }
            other => {
                eprintln!("servo-bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    if warm {
        warm_start_table(seeds.unwrap_or(12), out_file);
        return;
    }
    let seeds = seeds.unwrap_or(1);
    let mut md = String::new();
    writeln!(md, "| id | scenario | seed | LOCK s | NANO s | steady RMS ppm | steady max ppm | LS bound ppm (window) | dishonest s | targets | result |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let mut all_pass = true;
    for (base, targets) in scenario::standard().into_iter().chain(scenario::fleet()) {
        if only
            .as_ref()
            .is_some_and(|p| !base.name.starts_with(p.as_str()))
        {
            continue;
        }
        for seed in 1..=seeds {
            let sc = base.clone().with_seed(seed);
            let trace = run(&sc);
            let m: Metrics = compute(&trace, &sc, &targets);
            let checks = check(&m, &targets);
            let pass = checks.iter().all(|c| c.3);
            all_pass &= pass;
            let mut detail: Vec<String> = checks
                .iter()
                .map(|(what, got, want, ok)| {
                    format!("{what} {got} ({want}){}", if *ok { "" } else { " ✗" })
                })
                .collect();
            if sc.fleet.is_some() {
                detail.push(format!(
                    "ramps seen {}",
                    trace.final_status.fleet.ramp_detections
                ));
            }
            let row = format!(
                "| {} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} ({:.0} s, n={}) | {:.2} | {} | {} |",
                sc.name,
                sc.description,
                seed,
                fmt_opt(m.lock_s),
                fmt_opt(m.nano_s),
                m.steady_rms_ppm,
                m.steady_max_ppm,
                m.bound_ppm,
                m.window_s,
                m.window_samples,
                m.dishonest_s,
                detail.join("; "),
                if pass { "pass" } else { "FAIL" }
            );
            println!("{row}");
            writeln!(md, "{row}").unwrap();
        }
    }
    if let Some(path) = out_file {
        std::fs::write(&path, &md).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        eprintln!("servo-bench: table written to {path}");
    }
    if !all_pass {
        eprintln!("servo-bench: some targets were missed");
        std::process::exit(1);
    }
}

fn warm_start_table(seeds: u64, out_file: Option<String>) {
    let rows = warm_start::table(seeds);
    let md = warm_start::markdown(&rows);
    print!("{md}");
    if let Some(path) = out_file {
        std::fs::write(&path, &md).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        eprintln!("servo-bench: warm-start table written to {path}");
    }
    if rows
        .iter()
        .any(|r| r.dishonest_lock_s > 0.0 || r.dishonest_nano_s > 0.0)
    {
        eprintln!("servo-bench: LOCK or NANO was shown beyond its threshold");
        std::process::exit(1);
    }
}
