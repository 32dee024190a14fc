//! One second of the demo as the user sees it: a table of the nodes, what is still missing
//! for convergence, and the verdict.

use std::time::Duration;

use dantesync_core::wire::query::QueryReply;

use super::nodes::NodeSpec;

/// The phase spread below which the nodes count as in step, ns.
pub const SPREAD_LIMIT_NS: f64 = 1_000_000.0;
/// How long the nodes must stay converged before the verdict.
pub const HOLD: Duration = Duration::from_secs(5);

/// A node's part in time sync, as shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Client,
    RateOnly,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Master => "NTP master",
            Role::Client => "NTP client",
            Role::RateOnly => "rate only",
        }
    }
}

/// One node at one moment.
#[derive(Clone, Debug)]
pub struct Row {
    pub spec: NodeSpec,
    pub role: Role,
    /// Its query API's answer; `None` if it did not answer.
    pub reply: Option<QueryReply>,
    /// Its clock minus the master's (node A's), ns; 0 for A itself.
    pub phase_ns: Option<f64>,
}

/// Every node at one moment.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Since the demo started.
    pub elapsed: Duration,
    pub limit: Duration,
    pub rows: Vec<Row>,
    /// Whether time (phase) sync is part of the run, or rate sync only.
    pub time_sync: bool,
    /// What the master's NTP port says about itself ("stratum 8, refid LOCL"), if it answers.
    pub master_ntp: Option<String>,
}

impl Frame {
    /// Largest minus smallest phase over the nodes; `None` while one is unknown.
    pub fn spread_ns(&self) -> Option<f64> {
        let phases: Option<Vec<f64>> = self.rows.iter().map(|r| r.phase_ns).collect();
        let phases = phases?;
        let max = phases.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = phases.iter().copied().fold(f64::INFINITY, f64::min);
        (!phases.is_empty()).then_some(max - min)
    }

    /// What keeps the nodes from counting as converged now; empty when nothing does.
    pub fn missing(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.rows {
            let name = row.spec.name;
            match &row.reply {
                None => out.push(format!("{name} does not answer")),
                Some(r) if !r.mode.is_locked() => out.push(format!("{name} is {}", r.mode)),
                Some(_) => {}
            }
        }
        if self.time_sync {
            match self.spread_ns() {
                None => out.push("the phase spread is unknown".to_owned()),
                Some(s) if s >= SPREAD_LIMIT_NS => {
                    out.push(format!("the phase spread is {} (≥ 1 ms)", ms(s)));
                }
                Some(_) => {}
            }
        }
        out
    }

    /// What is missing, in a line under 80 columns.
    fn waiting(&self) -> String {
        let mut parts: Vec<String> = self
            .rows
            .iter()
            .filter_map(|row| match &row.reply {
                None => Some(format!("{} silent", row.spec.name)),
                Some(r) if !r.mode.is_locked() => Some(format!("{} {}", row.spec.name, r.mode)),
                Some(_) => None,
            })
            .collect();
        if self.time_sync && self.spread_ns().is_none_or(|s| s >= SPREAD_LIMIT_NS) {
            parts.push("phase spread < 1 ms".to_owned());
        }
        match (parts.is_empty(), self.time_sync) {
            (false, _) => format!("waiting for: {}", parts.join(", ")),
            (true, true) => "in step".to_owned(),
            (true, false) => "all locked (rate only: nothing corrects the time)".to_owned(),
        }
    }

    fn modes(&self) -> String {
        self.rows
            .iter()
            .map(|r| {
                let mode = r
                    .reply
                    .map_or("no answer".to_owned(), |r| r.mode.to_string());
                format!("{} {mode}", r.spec.name)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn spread_text(&self) -> String {
        self.spread_ns().map_or("unknown".to_owned(), ms)
    }

    /// The table, one string per line, each under 80 columns.
    pub fn table(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "dantesync demo: {} s of at most {} s",
                self.elapsed.as_secs(),
                self.limit.as_secs()
            ),
            format!(
                "{:<4} {:<10} {:<12} {:<8} {:>9} {:>9} {:>9} {:>9}",
                "node", "role", "own clock", "mode", "drift", "applied", "last NTP", "vs A"
            ),
            format!(
                "{:<4} {:<10} {:<12} {:<8} {:>9} {:>9} {:>9} {:>9}",
                "", "", "", "", "µs/s", "ppm", "ms", "ms"
            ),
        ];
        for (i, row) in self.rows.iter().enumerate() {
            let clock = format!("{:+.0}ppm {:+.0}ms", row.spec.drift_ppm, row.spec.offset_ms);
            let (mode, drift, applied) = match &row.reply {
                Some(r) => (
                    r.mode.to_string(),
                    format!("{:+.3}", f64::from(r.drift_rate_ppb) / 1000.0),
                    format!("{:+.3}", f64::from(r.frequency_adjustment_ppb) / 1000.0),
                ),
                None => ("silent".to_owned(), "-".to_owned(), "-".to_owned()),
            };
            out.push(format!(
                "{:<4} {:<10} {:<12} {:<8} {:>9} {:>9} {:>9} {:>9}",
                row.spec.name,
                row.role.name(),
                clock,
                mode,
                drift,
                applied,
                self.ntp_cell(row),
                phase_cell(row, i == 0),
            ));
        }
        out.push(format!("phase spread {}", self.spread_text()));
        out.push(self.waiting());
        out
    }

    /// The same in one line, for a log or a pipe.
    pub fn line(&self) -> String {
        let nodes: Vec<String> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let Some(r) = &row.reply else {
                    return format!("{} silent", row.spec.name);
                };
                let mut s = format!(
                    "{} {} {:+.3} ppm",
                    row.spec.name,
                    r.mode,
                    f64::from(r.frequency_adjustment_ppb) / 1000.0
                );
                if row.role == Role::Client {
                    s.push_str(&format!(" ntp {}", self.ntp_cell(row)));
                }
                // The first node is the reference.
                if i > 0 {
                    s.push_str(&format!(" vs A {}", phase_cell(row, false)));
                }
                s
            })
            .collect();
        format!(
            "[{:>3} s] {} | spread {}",
            self.elapsed.as_secs(),
            nodes.join(" | "),
            self.spread_text()
        )
    }

    fn ntp_cell(&self, row: &Row) -> String {
        match (row.role, &row.reply) {
            (Role::Master, _) => match &self.master_ntp {
                Some(_) => "serving".to_owned(),
                None => "silent".to_owned(),
            },
            (Role::Client, Some(r)) if r.flags.ntp_failing() => "failing".to_owned(),
            (Role::Client, Some(r)) => format!("{:+.3}", f64::from(r.last_ntp_offset_us) / 1000.0),
            _ => "-".to_owned(),
        }
    }

    /// The last words: why the demo ends, with the numbers.
    pub fn verdict(&self, converged_at: Option<Duration>) -> String {
        let modes = self.modes();
        match converged_at {
            Some(at) if self.time_sync => format!(
                "verdict: all {} nodes locked ({modes}) and the phase spread is {} (< 1 ms), \
                 held for {} s; converged after {:.1} s. Time comes from the NTP master A ({}), \
                 rate from the leader.",
                self.rows.len(),
                self.spread_text(),
                HOLD.as_secs(),
                at.as_secs_f64(),
                self.master_ntp.as_deref().unwrap_or("silent now"),
            ),
            Some(at) => format!(
                "verdict (rate sync only): all {} nodes locked ({modes}), held for {} s; \
                 locked after {:.1} s. Their clocks now run at the leader's rate, but nothing \
                 corrects their time: the phase spread is {}.",
                self.rows.len(),
                HOLD.as_secs(),
                at.as_secs_f64(),
                self.spread_text(),
            ),
            None => format!(
                "verdict: not converged within {} s: {}",
                self.limit.as_secs(),
                self.missing().join("; ")
            ),
        }
    }
}

/// The node's phase against the reference (the first node), ms.
fn phase_cell(row: &Row, reference: bool) -> String {
    match row.phase_ns {
        _ if reference => "ref".to_owned(),
        Some(p) => format!("{:+.3}", p / 1e6),
        None => "?".to_owned(),
    }
}

/// "0.042 ms".
fn ms(ns: f64) -> String {
    format!("{:.3} ms", ns / 1e6)
}

/// How long the nodes have been converged without a break.
#[derive(Debug, Default)]
pub struct Hold {
    since: Option<Duration>,
}

impl Hold {
    /// Records whether the nodes are converged at `elapsed`; the moment they became so once
    /// that has lasted [`HOLD`].
    pub fn update(&mut self, elapsed: Duration, converged: bool) -> Option<Duration> {
        if !converged {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(elapsed);
        (elapsed.saturating_sub(since) >= HOLD).then_some(since)
    }
}

#[cfg(test)]
mod tests {
    use dantesync_core::wire::query::{AccumulatedPhase, ReplyFlags};
    use dantesync_core::Mode;

    use super::super::nodes::NODES;
    use super::*;

    fn reply(mode: Mode, applied_ppb: i32, ntp_us: i32) -> QueryReply {
        QueryReply {
            request_id: 1,
            system_time_ns: 0,
            monotonic_counter: 0,
            ptp_offset_ns: 0,
            drift_rate_ppb: 12,
            frequency_adjustment_ppb: applied_ppb,
            mode,
            is_locked: mode.is_locked(),
            grandmaster_uuid: [0; 6],
            monotonic_frequency_hz: 1_000_000_000,
            last_ntp_offset_us: ntp_us,
            accumulated_phase: AccumulatedPhase::ZERO,
            flags: ReplyFlags::new(false, mode.is_locked()),
        }
    }

    fn frame(modes: [Mode; 3], phases: [Option<f64>; 3], time_sync: bool) -> Frame {
        let roles = if time_sync {
            [Role::Master, Role::Client, Role::Client]
        } else {
            [Role::RateOnly; 3]
        };
        Frame {
            elapsed: Duration::from_secs(42),
            limit: Duration::from_secs(120),
            rows: (0..3)
                .map(|i| Row {
                    spec: NODES[i],
                    role: roles[i],
                    reply: Some(reply(modes[i], -45_000 + 30_000 * i as i32, 12)),
                    phase_ns: phases[i],
                })
                .collect(),
            time_sync,
            master_ntp: time_sync.then(|| "stratum 8, refid LOCL".to_owned()),
        }
    }

    #[test]
    fn converged_needs_every_node_locked_and_a_small_spread() {
        let good = frame(
            [Mode::Nano, Mode::Lock, Mode::Nano],
            [Some(0.0), Some(120_000.0), Some(-300_000.0)],
            true,
        );
        assert_eq!(good.spread_ns(), Some(420_000.0));
        assert!(good.missing().is_empty(), "{:?}", good.missing());
        let acq = frame(
            [Mode::Nano, Mode::Acq, Mode::Nano],
            [Some(0.0), Some(6e6), Some(-9e6)],
            true,
        );
        assert_eq!(
            acq.missing(),
            ["B is ACQ", "the phase spread is 15.000 ms (≥ 1 ms)"]
        );
        let unknown = frame([Mode::Lock; 3], [Some(0.0), None, Some(1.0)], true);
        assert_eq!(unknown.missing(), ["the phase spread is unknown"]);
        // Rate sync only: the spread is shown but not asked for.
        let rate = frame([Mode::Lock; 3], [Some(0.0), Some(6e6), Some(-9e6)], false);
        assert!(rate.missing().is_empty());
    }

    #[test]
    fn verdicts_carry_the_numbers() {
        let good = frame(
            [Mode::Nano, Mode::Lock, Mode::Nano],
            [Some(0.0), Some(120_000.0), Some(-300_000.0)],
            true,
        );
        let v = good.verdict(Some(Duration::from_millis(31_400)));
        assert!(
            v.starts_with(
                "verdict: all 3 nodes locked (A NANO, B LOCK, C NANO) and the phase spread \
                 is 0.420 ms (< 1 ms), held for 5 s; converged after 31.4 s."
            ),
            "{v}"
        );
        assert!(v.contains("(stratum 8, refid LOCL)"), "{v}");
        let rate = frame([Mode::Lock; 3], [Some(0.0), Some(6e6), Some(-9e6)], false);
        let v = rate.verdict(Some(Duration::from_secs(20)));
        assert!(
            v.starts_with("verdict (rate sync only): all 3 nodes locked (A LOCK, B LOCK, C LOCK)"),
            "{v}"
        );
        assert!(v.ends_with("the phase spread is 15.000 ms."), "{v}");
        let bad = frame(
            [Mode::Nano, Mode::Prod, Mode::Nano],
            [Some(0.0), Some(2e6), Some(0.0)],
            true,
        );
        assert_eq!(
            bad.verdict(None),
            "verdict: not converged within 120 s: B is PROD; the phase spread is 2.000 ms (≥ 1 ms)"
        );
    }

    #[test]
    fn the_table_fits_a_terminal() {
        let f = frame(
            [Mode::NtpOnly, Mode::Lock, Mode::Nano],
            [Some(0.0), Some(-123_456_789.0), Some(9_000_000.0)],
            true,
        );
        let lines = f.table();
        assert_eq!(lines.len(), 3 + 3 + 2);
        assert_eq!(lines[6], "phase spread 132.457 ms");
        assert_eq!(lines[7], "waiting for: A NTP-ONLY, phase spread < 1 ms");
        for line in &lines {
            assert!(line.chars().count() < 80, "{line:?}");
        }
        assert!(
            lines[3].starts_with("A    NTP master +45ppm +0ms  NTP-ONLY"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains("-45.000"), "{}", lines[3]);
        assert!(lines[3].ends_with("  serving       ref"), "{}", lines[3]);
        assert!(lines[4].ends_with("   +0.012  -123.457"), "{}", lines[4]);
        let line = f.line();
        assert!(
            line.starts_with(
                "[ 42 s] A NTP-ONLY -45.000 ppm | B LOCK -15.000 ppm ntp +0.012 vs A -123.457"
            ),
            "{line}"
        );
        assert!(line.ends_with("| spread 132.457 ms"), "{line}");
    }

    #[test]
    fn the_hold_restarts_on_any_break() {
        let mut hold = Hold::default();
        let s = Duration::from_secs;
        assert_eq!(hold.update(s(10), true), None);
        assert_eq!(hold.update(s(14), true), None);
        assert_eq!(hold.update(s(15), false), None);
        assert_eq!(hold.update(s(16), true), None);
        assert_eq!(hold.update(s(21), true), Some(s(16)));
    }
}
