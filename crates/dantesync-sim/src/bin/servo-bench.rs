//! The servo benchmark: every scenario of SCENARIOS.md, scored on the true error.
//!
//!   cargo run --release -p dantesync-sim --bin servo-bench -- [--seeds N] [--out FILE]
//!
//! Prints one row per scenario and, with --out, writes the table as Markdown.

use std::fmt::Write as _;

use dantesync_sim::metrics::{check, compute, Metrics};
use dantesync_sim::{run, scenario};

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), |v| format!("{v:.2}"))
}

fn main() {
    let mut seeds = 1u64;
    let mut out_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => {
                seeds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--seeds takes a number")
            }
            "--out" => out_file = Some(args.next().expect("--out takes a file")),
            "-h" | "--help" => {
                println!("servo-bench [--seeds N] [--out FILE]");
                return;
            }
            other => {
                eprintln!("servo-bench: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let mut md = String::new();
    writeln!(md, "| id | scenario | seed | LOCK s | NANO s | steady RMS ppm | steady max ppm | LS bound ppm (window) | dishonest s | targets | result |").unwrap();
    writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|").unwrap();
    let mut all_pass = true;
    for (base, targets) in scenario::standard() {
        for seed in 1..=seeds {
            let sc = base.clone().with_seed(seed);
            let trace = run(&sc);
            let m: Metrics = compute(&trace, &sc, &targets);
            let checks = check(&m, &targets);
            let pass = checks.iter().all(|c| c.3);
            all_pass &= pass;
            let detail: Vec<String> = checks
                .iter()
                .map(|(what, got, want, ok)| {
                    format!("{what} {got} ({want}){}", if *ok { "" } else { " ✗" })
                })
                .collect();
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
