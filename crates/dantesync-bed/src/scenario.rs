//! What a scenario is and the tools every scenario uses: building its bed, waiting on what the
//! nodes do (bounded, interruptible by Ctrl-C, failing at once when a process dies) and
//! recording asserted figures. The scenarios themselves are in [`crate::scenarios`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bed::{Bed, Spec};
use crate::link::LinkStats;
use crate::sys;
use crate::truth::{self, Sample};

/// How a figure is judged.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    AtMost(f64),
    AtLeast(f64),
    Equal(f64),
    /// Shown, not asserted.
    Info,
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
    pub limit: Limit,
}

impl Figure {
    pub fn pass(&self) -> bool {
        match self.limit {
            Limit::AtMost(l) => self.value <= l,
            Limit::AtLeast(l) => self.value >= l,
            Limit::Equal(l) => self.value == l,
            Limit::Info => true,
        }
    }

    pub fn limit_text(&self) -> String {
        match self.limit {
            Limit::AtMost(l) => format!("≤ {l}"),
            Limit::AtLeast(l) => format!("≥ {l}"),
            Limit::Equal(l) => format!("= {l}"),
            Limit::Info => "—".into(),
        }
    }
}

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub title: &'static str,
    /// About how long it runs, s (measured on a 2-core machine): the longest start first, so
    /// that the parallel runs end close together.
    pub typical_s: u16,
    pub run: fn(&mut Ctx) -> Result<(), String>,
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: &'static str,
    pub title: &'static str,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    /// Why it could not complete (a process died, a wait ran out...).
    pub error: Option<String>,
    pub seconds: f64,
    pub emulator: LinkStats,
    pub work_dir: PathBuf,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.figures.iter().all(Figure::pass)
    }
}

/// A running scenario's context.
#[derive(Debug)]
pub struct Ctx {
    /// The scenario's name, which prefixes what it prints.
    pub name: &'static str,
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub set: u8,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    pub emulator: LinkStats,
}

impl Ctx {
    /// Builds this scenario's bed.
    pub fn bed(&mut self, spec: Spec) -> Result<Bed, String> {
        Bed::build(spec, self.set, &self.bin, &self.dir.join("bed"))
    }

    /// Records a figure (asserted unless `Limit::Info`) and prints it.
    pub fn figure(
        &mut self,
        what: impl Into<String>,
        value: f64,
        unit: &'static str,
        limit: Limit,
    ) {
        let f = Figure {
            what: what.into(),
            value: (value * 1000.0).round() / 1000.0,
            unit,
            limit,
        };
        eprintln!(
            "[{}] {} {:<60} {:>12.3} {:<4} {}",
            self.name,
            if f.pass() { "ok  " } else { "FAIL" },
            f.what,
            f.value,
            f.unit,
            f.limit_text()
        );
        self.figures.push(f);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        let t = text.into();
        eprintln!("[{}] note: {t}", self.name);
        self.notes.push(t);
    }

    /// Keeps the link emulator's statistics of `bed` for the report and writes the nodes'
    /// samples next to the logs (call before dropping it).
    pub fn finish(&mut self, bed: &Bed) {
        self.emulator.merge(&bed.link_stats());
        bed.write_samples();
    }
}

/// Waits up to `limit` for `done` to hold, polling every 100 ms. Fails when a process of the
/// bed has died, the host's clock was moved under it, or Ctrl-C was pressed. Returns the time it took.
pub fn wait_for(
    bed: &mut Bed,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&Bed) -> bool,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    loop {
        if done(bed) {
            return Ok(t0.elapsed());
        }
        check_alive(bed)?;
        if t0.elapsed() > limit {
            return Err(format!(
                "{what}: not within {} s\n{}",
                limit.as_secs(),
                bed.diagnose()
            ));
        }
        sys::sleep(Duration::from_millis(100))?;
    }
}

/// Runs for `d`, failing early if a process dies or Ctrl-C.
pub fn run_for(bed: &mut Bed, d: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        check_alive(bed)?;
        sys::sleep(Duration::from_millis(250).min(d.saturating_sub(t0.elapsed())))?;
    }
    check_alive(bed)
}

fn check_alive(bed: &mut Bed) -> Result<(), String> {
    bed.host_clock.check()?;
    let dead = bed.crashed();
    if dead.is_empty() {
        return Ok(());
    }
    Err(dead
        .iter()
        .map(|(n, tail)| format!("{n} exited:\n{tail}\n"))
        .collect())
}

/// Whether every named node's latest sample (within 1 s) is LOCK or NANO.
pub fn all_locked(bed: &Bed, nodes: &[String]) -> bool {
    nodes.iter().all(|n| {
        bed.pollers[n]
            .latest(1.0)
            .is_some_and(|s: Sample| s.locked())
    })
}

/// Waits until every node is locked; returns each node's time to its first lock, s, from
/// `since` (raw ns).
pub fn wait_locked(
    bed: &mut Bed,
    nodes: &[String],
    since: i64,
    limit: Duration,
) -> Result<Vec<(String, f64)>, String> {
    wait_for(bed, limit, "every node locked", |b| all_locked(b, nodes))?;
    Ok(nodes
        .iter()
        .map(|n| {
            let s = bed.samples(n);
            let t = truth::first_after(&s, since, Sample::locked)
                .map_or(f64::NAN, |x| (x.raw - since) as f64 / 1e9);
            (n.clone(), t)
        })
        .collect())
}
