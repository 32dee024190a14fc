//! The command line of the `dantesync-bed` binary.
//!
//! `dantesync-bed list` | `dantesync-bed run [--jobs N] [--out FILE] [--bin PATH] [--work DIR] [SCENARIO...]`
//!
//! Runs the named scenarios (those of #12 without names), each in a fresh bed, two at a time by default
//! (`--jobs`: each waits mostly on the daemons, so two beds share 2 cores well), one at a time
//! when a fleet scenario is among them (their figures are microseconds, and two beds' frames
//! through the one release thread made its 99th percentile 0.3-0.8 ms), and
//! writes the report: to `docs/e2e-results.md` for a bare `run` (the scenarios of #12), to
//! `docs/e2e-fleet-results.md` for `run fleet` (the fleet timescale's, #14), else to
//! `<work>/e2e-results.md`, unless `--out` says where. Exits 1 when a scenario fails, 2 when
//! another run holds the machine-wide lock ([`crate::sys::RUN_LOCK`]): one bed at a time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::scenario::{Ctx, Outcome, Scenario};
use crate::{net, report, scenarios, sys};

fn usage() -> ! {
    eprintln!(
        "usage: dantesync-bed list\n       dantesync-bed run [--jobs N] [--out FILE] [--bin PATH] [--work DIR] [SCENARIO...]\n\
         SCENARIO is a name from `list` or its number; none: the scenarios of #12; `fleet`: the\n\
         fleet timescale's. --jobs: beds at a time (default 2, 1 with a fleet scenario). Needs root."
    );
    std::process::exit(2)
}

/// Runs the command line; exits the process.
pub fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for s in scenarios::ALL {
                println!("{:<12} {}", s.name, s.title);
            }
        }
        Some("run") => std::process::exit(run(&args[1..])),
        _ => usage(),
    }
}

/// Runs one scenario in namespace set `set`.
fn run_one(s: &Scenario, bin: &Path, work: &Path, set: u8) -> Outcome {
    eprintln!("=== [{}] {}", s.name, s.title);
    let mut ctx = Ctx {
        name: s.name,
        bin: bin.to_owned(),
        dir: work.join(s.name),
        set,
        figures: Vec::new(),
        notes: Vec::new(),
        emulator: Default::default(),
    };
    let t0 = Instant::now();
    let result = (s.run)(&mut ctx);
    let o = Outcome {
        name: s.name,
        title: s.title,
        figures: ctx.figures,
        notes: ctx.notes,
        error: result.err(),
        seconds: t0.elapsed().as_secs_f64(),
        emulator: ctx.emulator,
        work_dir: ctx.dir,
    };
    if let Some(e) = &o.error {
        eprintln!("[{}] ERROR: {e}", s.name);
    }
    eprintln!(
        "=== [{}] {} in {:.0} s (logs in {})",
        s.name,
        if o.passed() { "PASS" } else { "FAIL" },
        o.seconds,
        o.work_dir.display()
    );
    o
}

fn run(args: &[String]) -> i32 {
    let mut out: Option<PathBuf> = None;
    let mut bin: Option<PathBuf> = std::env::var_os("DANTESYNC_BIN").map(PathBuf::from);
    let mut work = PathBuf::from("target/bed");
    let mut jobs: Option<usize> = None;
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().map(PathBuf::from),
            "--bin" => bin = it.next().map(PathBuf::from),
            "--jobs" => {
                jobs = Some(
                    it.next()
                        .and_then(|j| j.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--work" => work = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            s if s.starts_with('-') => usage(),
            s => names.push(s.to_owned()),
        }
    }
    // The report goes to the docs only for a whole set: the ten of #12 (a bare `run`) or the
    // fleet's (`run fleet`).
    let doc = if names.is_empty() {
        Some("docs/e2e-results.md")
    } else if names == ["fleet"] {
        Some("docs/e2e-fleet-results.md")
    } else {
        None
    };
    let chosen: Vec<_> = if names.is_empty() {
        scenarios::ALL
            .iter()
            .filter(|s| !scenarios::is_fleet(s))
            .collect()
    } else if names == ["fleet"] {
        scenarios::ALL
            .iter()
            .filter(|s| scenarios::is_fleet(s))
            .collect()
    } else {
        names
            .iter()
            .map(|n| {
                scenarios::find(n).unwrap_or_else(|| {
                    eprintln!("dantesync-bed: no scenario {n:?} (see `dantesync-bed list`)");
                    std::process::exit(2)
                })
            })
            .collect()
    };
    // The daemon binary: next to this one (cargo builds both into the same directory).
    let bin = bin.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("dantesync")))
            .unwrap_or_else(|| PathBuf::from("dantesync"))
    });
    if !bin.exists() {
        eprintln!(
            "dantesync-bed: no daemon binary at {} (build it: cargo build --release -p dantesync, or give --bin)",
            bin.display()
        );
        return 2;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("dantesync-bed: needs root (network namespaces, packet sockets)");
        return 2;
    }
    // Every tool the scenarios use, checked before anything is built: a missing one fails the
    // run (it is never a silent skip).
    let missing: Vec<&str> = ["ip", "chronyd", "tshark"]
        .into_iter()
        .filter(|t| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "dantesync-bed: missing {} (sudo bash scripts/install-deps.sh installs them)",
            missing.join(", ")
        );
        return 2;
    }
    sys::install_stop_handler();
    let _lock = match sys::run_lock() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("dantesync-bed: {e}");
            return 2;
        }
    };
    // Before any thread or process starts, so that all inherit it: the link emulator's
    // release thread gets a CPU of its own, its memory cannot fault, idle CPUs wake at once
    // (held until the run ends). Each is best effort; the relay's measured error shows what
    // they bought.
    let pinned = sys::pin_bed_off_release_cpu();
    let locked = sys::lock_memory();
    let idle = sys::low_latency_idle();
    eprintln!(
        "dantesync-bed: release thread alone on CPU {}: {}; memory locked: {}; idle CPUs wake at once: {}",
        sys::RELEASE_CPU,
        if pinned { "yes" } else { "no (one CPU)" },
        if locked { "yes" } else { "no" },
        if idle.is_some() { "yes" } else { "no" },
    );
    let stale = net::clean_stale();
    if !stale.is_empty() {
        eprintln!(
            "dantesync-bed: removed leftovers of an earlier run: {}",
            stale.join(" ")
        );
    }
    let command = format!(
        "sudo target/release/dantesync-bed run{}{}",
        out.as_ref()
            .map(|p| format!(" --out {}", p.display()))
            .unwrap_or_default(),
        names.iter().map(|n| format!(" {n}")).collect::<String>()
    );
    let jobs = jobs.unwrap_or(if chosen.iter().any(|s| scenarios::is_fleet(s)) {
        1
    } else {
        2
    });
    let started = Instant::now();
    // Scenarios run `jobs` at a time, each in its own set of namespaces and addresses
    // (10.231.<set>.0/24), the longest first (the whole run then ends sooner: about 665 s
    // instead of 707 s for the 11 of them two at a time); the report keeps the listed order.
    let mut queue: Vec<usize> = (0..chosen.len()).collect();
    queue.sort_by_key(|&i| std::cmp::Reverse(chosen[i].typical_s));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for worker in 0..jobs.max(1) {
            let (next, done, chosen, bin, work) = (&next, &done, &chosen, &bin, &work);
            let queue = &queue;
            scope.spawn(move || loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if k >= queue.len() || sys::stopping() {
                    return;
                }
                let i = queue[k];
                let o = run_one(chosen[i], bin, work, worker as u8 + 1);
                done.lock().unwrap().push((i, o));
            });
        }
    });
    let mut outcomes = done.into_inner().unwrap();
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    let path = out.unwrap_or_else(|| match doc {
        Some(doc) => PathBuf::from(doc),
        None => work.join("e2e-results.md"),
    });
    let text = report::markdown(&outcomes, &command, started.elapsed().as_secs_f64());
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("dantesync-bed: cannot write {}: {e}", path.display());
        return 1;
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.name)
        .collect();
    eprintln!(
        "dantesync-bed: {} of {} scenarios passed in {:.0} s; report {}{}",
        outcomes.len() - failed.len(),
        outcomes.len(),
        started.elapsed().as_secs_f64(),
        path.display(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; FAILED: {}", failed.join(", "))
        }
    );
    if sys::stopping() || !failed.is_empty() || outcomes.len() < chosen.len() {
        1
    } else {
        0
    }
}
