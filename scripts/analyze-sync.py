#!/usr/bin/env python3
"""analyze-sync.py: the report after a show, from sync-monitor.sh's CSV (or the earlier
DanteSync's, which has the same columns).

    analyze-sync.py sync_monitor_20260101_190000.csv [--plot out.png] [--json]
                    [--jump-ms 1.0] [--drift-ppm 1.0]

Prints the duration, samples and interval; the spread's max, mean, p95 and p99; per host the
mean, standard deviation, max |offset| and time offline; anomalies (jumps between consecutive
rounds above --jump-ms, offline stretches, hosts whose offset moved steadily, with the rate in
ppm); and a grade with the rule it follows. --plot draws each host's offset and the spread over
time (needs matplotlib; without it the report still prints and the exit status is 3).

Exit status: 0 report printed, 2 usage error or unreadable file, 3 plot asked but matplotlib
missing. Standard library only (matplotlib for --plot).
"""

import argparse
import csv
import json
import math
import sys

# A steady drift must have moved the offset by at least this much to be reported.
MIN_DRIFT_MOVE_MS = 0.1
# ...and moved it by this many times the scatter of the points around the fitted line.
DRIFT_LINE_RATIO = 10.0
FIXED = ("timestamp", "reference_host", "max_diff_ms", "min_diff_ms", "spread_ms")

# Grades, on the spread's 99th percentile (ms), and what each means.
GRADES = [
    (0.5, "EXCELLENT"),
    (1.0, "GOOD"),
    (5.0, "FAIR"),
    (math.inf, "POOR"),
]
GRADE_RULE = (
    "grade from the spread's p99: EXCELLENT < 0.5 ms, GOOD < 1 ms, FAIR < 5 ms, else POOR; "
    "one step lower when any host was offline for more than 5% of the rounds"
)


def value(cell):
    """A number, or None for N/A, empty or garbage."""
    if cell is None:
        return None
    cell = cell.strip()
    if not cell or cell.upper() == "N/A":
        return None
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def percentile(data, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not data:
        return None
    s = sorted(data)
    k = (len(s) - 1) * p / 100.0
    f = int(math.floor(k))
    c = min(f + 1, len(s) - 1)
    return s[f] + (k - f) * (s[c] - s[f])


def read_csv(path):
    """(hosts, rows): rows are dicts with float 'timestamp', 'reference', 'spread' (or None)
    and 'offsets' {host: float or None}, sorted by time."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "timestamp" not in reader.fieldnames:
            raise ValueError("%s: no 'timestamp' column: not a sync-monitor CSV" % path)
        hosts = [c for c in reader.fieldnames if c not in FIXED]
        rows = []
        for raw in reader:
            ts = value(raw.get("timestamp"))
            if ts is None:
                continue
            offsets = {h: value(raw.get(h)) for h in hosts}
            spread = value(raw.get("spread_ms"))
            rows.append(
                {
                    "timestamp": ts,
                    "reference": (raw.get("reference_host") or "").strip(),
                    "spread": spread,
                    "offsets": offsets,
                }
            )
    rows.sort(key=lambda r: r["timestamp"])
    return hosts, rows


def linear_fit(xs, ys):
    """(slope, residual standard deviation) of a least-squares line."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    res = [y - (my + slope * (x - mx)) for x, y in zip(xs, ys)]
    return slope, math.sqrt(sum(r * r for r in res) / n)


def analyze(hosts, rows, jump_ms=1.0, drift_ppm=1.0):
    """Everything the report says, as one dict (what --json prints)."""
    if not rows:
        return {"samples": 0, "hosts": {}, "anomalies": [], "grade": "NO DATA", "grade_rule": GRADE_RULE}
    ts = [r["timestamp"] for r in rows]
    intervals = [b - a for a, b in zip(ts, ts[1:])]
    interval = sorted(intervals)[len(intervals) // 2] if intervals else None
    spreads = [r["spread"] for r in rows if r["spread"] is not None]
    rep = {
        "start": ts[0],
        "end": ts[-1],
        "duration_s": ts[-1] - ts[0],
        "samples": len(rows),
        "interval_s": interval,
        "references": sorted({r["reference"] for r in rows if r["reference"]}),
        "spread_ms": {
            "max": max(spreads) if spreads else None,
            "mean": sum(spreads) / len(spreads) if spreads else None,
            "p95": percentile(spreads, 95),
            "p99": percentile(spreads, 99),
        },
        "hosts": {},
        "anomalies": [],
    }
    step = interval or 0.0
    for h in hosts:
        vals = [(r["timestamp"], r["offsets"][h]) for r in rows]
        online = [(t, v) for t, v in vals if v is not None]
        offline = len(vals) - len(online)
        st = {"samples": len(online), "offline_samples": offline, "offline_s": offline * step}
        if online:
            ys = [v for _, v in online]
            mean = sum(ys) / len(ys)
            st.update(
                {
                    "mean_ms": mean,
                    "std_ms": math.sqrt(sum((y - mean) ** 2 for y in ys) / len(ys)),
                    "max_abs_ms": max(abs(y) for y in ys),
                }
            )
        rep["hosts"][h] = st
        # Offline stretches: consecutive N/A rounds.
        run = None
        for i, (t, v) in enumerate(vals):
            if v is None and run is None:
                run = i
            if run is not None and (v is not None or i == len(vals) - 1):
                end = i - 1 if v is not None else i
                rep["anomalies"].append(
                    {
                        "kind": "offline",
                        "host": h,
                        "from": vals[run][0],
                        "to": vals[end][0],
                        "samples": end - run + 1,
                    }
                )
                run = None
        # Jumps between consecutive rounds that both have a value.
        for (t0, a), (t1, b) in zip(vals, vals[1:]):
            if a is not None and b is not None and abs(b - a) > jump_ms:
                rep["anomalies"].append(
                    {"kind": "jump", "host": h, "at": t1, "from_ms": a, "to_ms": b, "jump_ms": b - a}
                )
        # A steady drift: a clear slope (at least --drift-ppm, moving the offset by at least
        # MIN_DRIFT_MOVE_MS over the log), the points close to its line (the move is more than
        # DRIFT_LINE_RATIO times the scatter around it, so a step is not taken for a drift).
        if len(online) >= 3:
            xs = [t for t, _ in online]
            slope_ms_per_s, resid = linear_fit(xs, [v for _, v in online])
            ppm = slope_ms_per_s * 1e3  # ms/s = 1000 ppm; so ppm = slope * 1e3
            moved = abs(slope_ms_per_s) * (xs[-1] - xs[0])
            st["rate_ppm"] = ppm
            if abs(ppm) >= drift_ppm and moved >= MIN_DRIFT_MOVE_MS and moved > DRIFT_LINE_RATIO * resid:
                rep["anomalies"].append(
                    {"kind": "drift", "host": h, "rate_ppm": ppm, "moved_ms": slope_ms_per_s * (xs[-1] - xs[0])}
                )
    p99 = rep["spread_ms"]["p99"]
    grade = "NO DATA"
    if p99 is not None:
        i = next(i for i, (limit, _) in enumerate(GRADES) if p99 < limit)
        worst_off = max((s["offline_samples"] for s in rep["hosts"].values()), default=0)
        if worst_off > 0.05 * len(rows):
            i = min(i + 1, len(GRADES) - 1)
        grade = GRADES[i][1]
    rep["grade"] = grade
    rep["grade_rule"] = GRADE_RULE
    return rep


def fmt(v, f="%.3f"):
    return "-" if v is None else f % v


def when(t):
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def duration(s):
    s = int(round(s))
    return "%dh %02dm %02ds" % (s // 3600, s % 3600 // 60, s % 60)


def text(rep, path):
    out = ["analyze-sync: %s" % path, ""]
    if not rep["samples"]:
        return "\n".join(out + ["No data rows."]) + "\n"
    out.append("Duration:  %s (%s to %s)" % (duration(rep["duration_s"]), when(rep["start"]), when(rep["end"])))
    out.append("Samples:   %d, interval %s s" % (rep["samples"], fmt(rep["interval_s"], "%.1f")))
    out.append("Reference: %s" % (", ".join(rep["references"]) or "-"))
    sp = rep["spread_ms"]
    out.append("")
    out.append("Spread (ms): max %s  mean %s  p95 %s  p99 %s" % (fmt(sp["max"]), fmt(sp["mean"]), fmt(sp["p95"]), fmt(sp["p99"])))
    out.append("")
    out.append("%-20s %10s %9s %10s %10s %10s" % ("HOST", "MEAN ms", "STD ms", "MAX|off|", "RATE ppm", "OFFLINE"))
    for h, s in rep["hosts"].items():
        out.append(
            "%-20s %10s %9s %10s %10s %10s"
            % (
                h,
                fmt(s.get("mean_ms"), "%+.3f"),
                fmt(s.get("std_ms")),
                fmt(s.get("max_abs_ms")),
                fmt(s.get("rate_ppm"), "%+.3f"),
                "%d (%ds)" % (s["offline_samples"], s["offline_s"]) if s["offline_samples"] else "0",
            )
        )
    out.append("")
    out.append("Anomalies:")
    if not rep["anomalies"]:
        out.append("  none")
    for a in rep["anomalies"]:
        if a["kind"] == "jump":
            out.append("  %s jump %s: %+.3f -> %+.3f ms (%+.3f)" % (when(a["at"]), a["host"], a["from_ms"], a["to_ms"], a["jump_ms"]))
        elif a["kind"] == "offline":
            out.append("  %s offline %s for %d rounds (to %s)" % (when(a["from"]), a["host"], a["samples"], when(a["to"])))
        else:
            out.append("  drift %s: %+.3f ppm (moved %+.3f ms)" % (a["host"], a["rate_ppm"], a["moved_ms"]))
    out.append("")
    out.append("Grade: %s" % rep["grade"])
    out.append("  (%s)" % rep["grade_rule"])
    return "\n".join(out) + "\n"


def plot(hosts, rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    t0 = rows[0]["timestamp"] if rows else 0
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for h in hosts:
        xs = [(r["timestamp"] - t0) / 60 for r in rows]
        ys = [r["offsets"][h] if r["offsets"][h] is not None else float("nan") for r in rows]
        ax1.plot(xs, ys, marker=".", label=h)
    ax1.set_ylabel("offset from reference (ms)")
    ax1.legend(loc="best", fontsize="small")
    ax1.grid(True, alpha=0.3)
    ax2.plot(
        [(r["timestamp"] - t0) / 60 for r in rows],
        [r["spread"] if r["spread"] is not None else float("nan") for r in rows],
        color="black",
        marker=".",
    )
    ax2.set_ylabel("spread (ms)")
    ax2.set_xlabel("minutes since start")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description="Report on a sync-monitor.sh CSV.")
    p.add_argument("csv")
    p.add_argument("--plot", metavar="OUT.png", help="draw each host's offset and the spread")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--jump-ms", type=float, default=1.0, help="jump threshold between rounds (1 ms)")
    p.add_argument("--drift-ppm", type=float, default=1.0, help="steady drift threshold (1 ppm)")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        hosts, rows = read_csv(a.csv)
    except (OSError, ValueError, csv.Error) as e:
        print("analyze-sync: %s" % e, file=sys.stderr)
        return 2
    rep = analyze(hosts, rows, a.jump_ms, a.drift_ppm)
    if a.json:
        print(json.dumps(rep, indent=2))
    else:
        sys.stdout.write(text(rep, a.csv))
    if a.plot:
        if not rows:
            print("analyze-sync: no rows to plot", file=sys.stderr)
            return 2
        if not plot(hosts, rows, a.plot):
            print(
                "analyze-sync: --plot needs matplotlib, which this Python (%s) lacks: "
                "python3 -m pip install matplotlib, or apt-get install python3-matplotlib"
                % sys.executable,
                file=sys.stderr,
            )
            return 3
        print("analyze-sync: plot written to %s" % a.plot, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
