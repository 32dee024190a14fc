//! Prints what one scenario did, second by second: the truth beside the controller's claims.
//!
//!   cargo run --release -p dantesync-sim --bin sim-trace -- S5 [FROM_S] [TO_S] [SEED]

use dantesync_sim::{run, scenario};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((sc, _)) = args.first().and_then(|n| scenario::by_name(n)) else {
        eprintln!("usage: sim-trace S1..S9|F1..F8 [FROM_S] [TO_S] [SEED]");
        std::process::exit(2);
    };
    let num = |i: usize, d: f64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (from, to) = (num(1, 0.0), num(2, sc.duration_s));
    let sc = sc.with_seed(num(3, 1.0) as u64);
    let trace = run(&sc);
    println!(
        "{:>8} {:>9} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "t_s", "mode", "true_ppm", "claimed_ppm", "bound_ppm", "applied_ppm", "fleet_us"
    );
    for o in trace
        .observations
        .iter()
        .filter(|o| o.t_s >= from && o.t_s <= to)
    {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{:>8.2} {:>9} {:>12.4} {:>12} {:>12} {:>12.4} {:>12}",
            o.t_s,
            o.mode.name(),
            o.error_ppm,
            opt(o.claimed_drift_ppm),
            opt(o.claimed_bound_ppm),
            o.applied_ppm,
            opt(o.fleet_phase_ns.map(|p| p * 1e-3))
        );
    }
    for (t, n) in trace.notices.iter().filter(|(t, _)| *t >= from && *t <= to) {
        println!("{t:>8.2} {n:?}");
    }
}
