"""Unit tests of the monitoring tools' parsing and statistics (stdlib only).

    python3 -m unittest discover -s scripts/tests -v      (or scripts/monitoring-test.sh)

The --plot test needs matplotlib; without it the test is skipped, except under CI, where it
fails.
"""

import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)


def load(name):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), os.path.join(SCRIPTS, name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


snap = load("sync-snapshot.py")
ana = load("analyze-sync.py")


def compact_reply(rid=7, t3=1_000_000_000_000, mode=4, locked=1, uuid=b"\x00\x1d\xc1\x00\x53\x01", flags=0x02):
    return struct.pack(
        ">IIQQqiiBB6sQihBB",
        0x44535952, rid, t3, 55, -1234, -33_700, 12_345, mode, locked, uuid, 10**9, -250, -40, flags, 0,
    )


def extended_reply(t1, t2, t3, xflags=(1 << 6) | (1 << 9), server=b""):
    b = bytearray(compact_reply(t3=t3)) + bytearray(384 - 64)
    b[64] = 1
    struct.pack_into(">HIQQQ", b, 66, 384, xflags, t2, t1, t3)
    struct.pack_into(">qq", b, 96, -33_700_000, 2_500)  # drift -33.7 ppm +- 0.0025
    struct.pack_into(">q", b, 128, 12_345_000)
    b[160:166] = b"\x00\x1d\xc1\x00\x53\x02"
    struct.pack_into(">q", b, 176, -(1 << 63))  # no NTP offset yet
    struct.pack_into(">q", b, 216, -40_400)
    b[288:293] = b"0.1.0"
    b[304 : 304 + len(server)] = server
    return bytes(b)


class Hosts(unittest.TestCase):
    def test_hosts_file(self):
        text = "# venue\n10.0.0.1 foh desk\n\n  10.0.0.2   # no label\nnode-c.lan:31901 stage # c\n"
        self.assertEqual(
            snap.parse_hosts_text(text),
            [("10.0.0.1", "foh desk"), ("10.0.0.2", ""), ("node-c.lan:31901", "stage")],
        )

    def test_host_port(self):
        self.assertEqual(snap.split_host_port("a.lan", 31900), ("a.lan", 31900))
        self.assertEqual(snap.split_host_port("10.0.0.1:4000", 31900), ("10.0.0.1", 4000))
        self.assertEqual(snap.split_host_port("[fe80::1]:4000", 31900), ("fe80::1", 4000))
        self.assertEqual(snap.split_host_port("fe80::1", 31900), ("fe80::1", 31900))
        with self.assertRaises(snap.UsageError):
            snap.split_host_port("a:b", 31900)


class Wire(unittest.TestCase):
    def test_compact(self):
        r = snap.parse_reply(compact_reply(flags=0x02 | 0x04))
        self.assertFalse(r["extended"])
        self.assertEqual(r["mode"], "NANO")
        self.assertTrue(r["locked"])
        self.assertAlmostEqual(r["drift_ppm"], -33.7)
        self.assertAlmostEqual(r["applied_ppm"], 12.345)
        self.assertEqual(r["leader"], "00:1d:c1:00:53:01")
        self.assertAlmostEqual(r["ntp_offset_ms"], -0.25)
        self.assertEqual(r["phase_us"], -40.0)
        self.assertTrue(r["no_ntp_server"])
        self.assertFalse(r["ntp_failing"])

    def test_not_a_reply(self):
        self.assertIsNone(snap.parse_reply(b"DSYR" + bytes(60)[:59]))
        bad = bytearray(compact_reply())
        bad[40] = 9
        self.assertIsNone(snap.parse_reply(bytes(bad)))
        self.assertIsNone(snap.parse_reply(b"XXXX" + compact_reply()[4:]))

    def test_extended(self):
        r = snap.parse_reply(extended_reply(1, 2, 3, server=b"10.0.0.1"))
        self.assertTrue(r["extended"])
        self.assertEqual((r["t1"], r["t2"], r["t3"]), (1, 2, 3))
        self.assertAlmostEqual(r["drift_sigma_ppm"], 0.0025)
        self.assertEqual(r["leader"], "00:1d:c1:00:53:02")
        self.assertIsNone(r["ntp_offset_ms"])
        self.assertEqual(r["ntp_server"], "10.0.0.1")
        self.assertTrue(r["no_ntp_server"])
        self.assertEqual(r["version"], "0.1.0")
        self.assertAlmostEqual(r["phase_us"], -40.4)

    def test_extended_version_2(self):
        # A version-1 reply (an older node): the version-2 fields are unknown, not zero.
        b = bytearray(extended_reply(1, 2, 3))
        r = snap.parse_reply(bytes(b))
        self.assertIsNone(r["since_last_ptp_s"])
        self.assertIsNone(r["external_steps"])
        # Version 2: the same bytes, with the fields in what version 1 reserved.
        b[64] = 2
        struct.pack_into(">qqQQBB", b, 336, 180_000_000, 8_000, 2, 3, 1, 1)
        r = snap.parse_reply(bytes(b))
        self.assertAlmostEqual(r["since_last_ptp_s"], 0.18)
        self.assertAlmostEqual(r["ptp_packets_per_s"], 8.0)
        self.assertEqual((r["external_steps"], r["clock_interference"]), (2, 3))
        self.assertEqual(r["leap_pending"], "insert")
        self.assertIs(r["kernel_synchronised"], True)
        self.assertEqual(r["version"], "0.1.0")
        struct.pack_into(">q", b, 336, -(1 << 63))
        b[369] = 0
        r = snap.parse_reply(bytes(b))
        self.assertIsNone(r["since_last_ptp_s"])
        self.assertIsNone(r["kernel_synchronised"])

    def test_requests(self):
        self.assertEqual(snap.compact_request(5), b"DSYN\x00\x00\x00\x05")
        x = snap.extended_request(5, 0x0102030405060708)
        self.assertEqual(len(x), 384)
        self.assertEqual(x[8], 2)
        self.assertEqual(x[16:24], bytes(range(1, 9)))

    def test_exchange(self):
        # Node 5 ms ahead, 100 us each way, 20 us inside the node.
        t1 = 1_000_000_000
        t2 = t1 + 100_000 + 5_000_000
        t3 = t2 + 20_000
        t4 = t1 + 220_000
        r = snap.parse_reply(extended_reply(t1, t2, t3))
        off, delay, unc = snap.exchange(r, t1, t4)
        self.assertEqual((off, delay, unc), (5_000_000, 200_000, 100_000))
        # Compact: the node's one time against the midpoint, +-RTT/2.
        c = snap.parse_reply(compact_reply(t3=t3))
        off, delay, unc = snap.exchange(c, t1, t4)
        self.assertEqual((off, delay, unc), (t3 - (t1 + t4) / 2, 220_000, 110_000))


def entry(host, status, offset, locked=True, ref=False, label=""):
    return {"host": host, "label": label, "status": status, "offset_ms": offset, "locked": locked, "reference": ref}


class Verdicts(unittest.TestCase):
    def test_classes(self):
        self.assertEqual(snap.classify(0.999), "SYNCED")
        self.assertEqual(snap.classify(-1.0), "DRIFT")
        self.assertEqual(snap.classify(5.0), "DRIFT")
        self.assertEqual(snap.classify(-5.01), "ERROR")

    def test_overall(self):
        self.assertEqual(snap.overall([entry("a", "SYNCED", 0)]), "SYNCED")
        self.assertEqual(snap.overall([entry("a", "SYNCED", 0, locked=False)]), "UNLOCKED")
        self.assertEqual(snap.overall([entry("a", "SYNCED", 0), entry("b", "DRIFT", 2)]), "DRIFT")
        self.assertEqual(snap.overall([entry("a", "OFFLINE", None), entry("b", "DRIFT", 2)]), "OFFLINE")
        self.assertEqual(snap.overall([entry("a", "OFFLINE", None), entry("b", "ERROR", 9)]), "ERROR")
        self.assertEqual(snap.exit_code({"verdict": "SYNCED"}), 0)
        self.assertEqual(snap.exit_code({"verdict": "UNLOCKED"}), 1)

    def test_a_cut_ntp_server_name_does_not_stop_the_report(self):
        # A node sends at most 32 bytes of its server's name: a long IPv6 one loses its `]`.
        master = snap.Host("10.0.0.1", "", 31900)
        master.reply, master.ntp_stratum = {"ntp_server": ""}, 3
        client = snap.Host("10.0.0.2", "", 31900)
        client.reply = {"ntp_server": "[2001:db8:85a3:0:0:8a2e:370:7334"}
        ref, why = snap.choose_reference([master, client])
        self.assertIs(ref, master)
        self.assertEqual(why, "serves NTP")

    def test_the_monitor_refuses_an_interval_of_zero(self):
        for interval in ["0", "0.0", ".0", "."]:
            r = subprocess.run(
                ["sh", os.path.join(SCRIPTS, "sync-monitor.sh"), interval, os.devnull, "--hosts", "127.0.0.1"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            self.assertEqual(r.returncode, 2, (interval, r.stderr))
            self.assertIn("interval must be", r.stderr)

    def test_monitor_row(self):
        rep = {
            "reference": "m",
            "hosts": [
                entry("m", "SYNCED", 0.0, ref=True),
                entry("a", "DRIFT", -2.5),
                entry("b", "SYNCED", 0.5),
                entry("c", "OFFLINE", None),
            ],
        }
        self.assertEqual(snap.monitor_header(rep), "timestamp,reference_host,m,a,b,c,max_diff_ms,min_diff_ms,spread_ms")
        self.assertEqual(
            snap.monitor_row(rep, 1700000000.25),
            "1700000000.250,m,0.000000,-2.500000,0.500000,N/A,2.500000,0.500000,3.000000",
        )

    def test_alerts_are_rate_limited(self):
        state = {}
        rep = lambda st: {"hosts": [entry("a", st, 0.0 if st == "SYNCED" else None)]}
        self.assertEqual(snap.alerts(rep("SYNCED"), state, 100, 60), [])  # first round: no change
        got = snap.alerts(rep("OFFLINE"), state, 110, 60)
        self.assertEqual([(e["status"], before) for e, before in got], [("OFFLINE", "SYNCED")])
        # Back within the gap: held back...
        self.assertEqual(snap.alerts(rep("SYNCED"), state, 130, 60), [])
        self.assertEqual(snap.alerts(rep("SYNCED"), state, 160, 60), [])
        # ...and told once the gap has passed, since it still holds.
        got = snap.alerts(rep("SYNCED"), state, 171, 60)
        self.assertEqual([(e["status"], before) for e, before in got], [("SYNCED", "OFFLINE")])
        # DRIFT -> ERROR is no change of SYNCED-ness.
        snap.alerts(rep("DRIFT"), state, 300, 60)
        self.assertEqual(snap.alerts(rep("ERROR"), state, 400, 60), [])


# Ten rounds 10 s apart; spreads 0.1 .. 1.0; host "b" drifts +0.01 ms per round (1 ppm), "c"
# jumps by 2 ms at round 6 and is offline for rounds 8 and 9.
HAND_CSV = "timestamp,reference_host,m,b,c,max_diff_ms,min_diff_ms,spread_ms\n" + "".join(
    "%d,m,0.000,%s,%s,0,0,%.1f\n"
    % (
        1_700_000_000 + 10 * i,
        "%.3f" % (0.2 + 0.01 * i),
        "N/A" if i in (7, 8) else ("%.3f" % (0.1 if i < 5 else 2.1)),
        0.1 * (i + 1),
    )
    for i in range(10)
)


class Analysis(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(fd, "w") as f:
            f.write(HAND_CSV)
        self.hosts, self.rows = ana.read_csv(self.path)
        self.rep = ana.analyze(self.hosts, self.rows)

    def tearDown(self):
        os.unlink(self.path)

    def test_overview(self):
        r = self.rep
        self.assertEqual(self.hosts, ["m", "b", "c"])
        self.assertEqual(r["samples"], 10)
        self.assertEqual(r["duration_s"], 90)
        self.assertEqual(r["interval_s"], 10)
        sp = r["spread_ms"]
        self.assertAlmostEqual(sp["max"], 1.0)
        self.assertAlmostEqual(sp["mean"], 0.55)
        # Linear between ranks: p95 at rank 8.55 of 0.1..1.0 -> 0.955; p99 -> 0.991.
        self.assertAlmostEqual(sp["p95"], 0.955)
        self.assertAlmostEqual(sp["p99"], 0.991)

    def test_hosts(self):
        b, c = self.rep["hosts"]["b"], self.rep["hosts"]["c"]
        self.assertAlmostEqual(b["mean_ms"], 0.245)
        self.assertAlmostEqual(b["max_abs_ms"], 0.29)
        self.assertAlmostEqual(b["std_ms"], 0.01 * (99 / 12) ** 0.5)  # population std of 0..9
        self.assertAlmostEqual(b["rate_ppm"], 1.0)
        self.assertEqual((c["offline_samples"], c["offline_s"]), (2, 20))
        self.assertAlmostEqual(c["max_abs_ms"], 2.1)

    def test_anomalies(self):
        an = self.rep["anomalies"]
        jumps = [a for a in an if a["kind"] == "jump"]
        self.assertEqual(len(jumps), 1)
        self.assertEqual((jumps[0]["host"], jumps[0]["at"]), ("c", 1_700_000_050))
        self.assertAlmostEqual(jumps[0]["jump_ms"], 2.0)
        off = [a for a in an if a["kind"] == "offline"]
        self.assertEqual([(a["host"], a["samples"], a["from"]) for a in off], [("c", 2, 1_700_000_070)])
        drift = [a for a in an if a["kind"] == "drift"]
        self.assertEqual([a["host"] for a in drift], [])  # 1 ppm for 90 s moves 0.09 ms: too little
        rep = ana.analyze(self.hosts, self.rows, drift_ppm=0.5)
        self.assertEqual([a["host"] for a in rep["anomalies"] if a["kind"] == "drift"], [])
        ana_min = ana.MIN_DRIFT_MOVE_MS
        try:
            ana.MIN_DRIFT_MOVE_MS = 0.05
            rep = ana.analyze(self.hosts, self.rows)
            d = [a for a in rep["anomalies"] if a["kind"] == "drift"]
            self.assertEqual([a["host"] for a in d], ["b"])
            self.assertAlmostEqual(d[0]["rate_ppm"], 1.0)
        finally:
            ana.MIN_DRIFT_MOVE_MS = ana_min

    def test_grade(self):
        # p99 0.991 ms: GOOD; c offline 2 of 10 rounds (> 5%): one step lower.
        self.assertEqual(self.rep["grade"], "FAIR")

    def test_earlier_layout_with_blank_and_garbage_cells(self):
        fd, p = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(fd, "w") as f:
            f.write("timestamp,reference_host,develbox,strih.lan,max_diff_ms,min_diff_ms,spread_ms\n")
            f.write("1700000000.123456789,develbox,0.000,.412000,.412,.412,0\n")
            f.write("1700000010.5,develbox,0.000,,0,999999,0\n")
        try:
            hosts, rows = ana.read_csv(p)
            rep = ana.analyze(hosts, rows)
            self.assertEqual(rep["hosts"]["strih.lan"]["offline_samples"], 1)
            self.assertAlmostEqual(rep["hosts"]["strih.lan"]["mean_ms"], 0.412)
        finally:
            os.unlink(p)

    def test_json_cli(self):
        out = subprocess.run(
            [sys.executable, os.path.join(SCRIPTS, "analyze-sync.py"), self.path, "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertEqual(json.loads(out.stdout)["samples"], 10)

    def test_plot_is_a_real_picture(self):
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            if os.environ.get("CI") not in (None, "", "false"):
                self.fail("matplotlib missing for %s; CI must have it" % sys.executable)
            self.skipTest("matplotlib is not installed for %s" % sys.executable)
        with tempfile.TemporaryDirectory() as d:
            png = os.path.join(d, "out.png")
            subprocess.run(
                [sys.executable, os.path.join(SCRIPTS, "analyze-sync.py"), self.path, "--plot", png],
                capture_output=True,
                check=True,
            )
            w, h, colours, dark = png_stats(png)
        self.assertGreater(w, 300)
        self.assertGreater(h, 200)
        # Not blank: lines in several colours, and some dark (axes, text) pixels.
        self.assertGreater(colours, 10)
        self.assertGreater(dark, 500)


def png_stats(path):
    """(width, height, distinct colours, dark pixels) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    colours, dark = set(), 0
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        for x in range(0, stride, bpp):
            px = bytes(line[x : x + 3])
            colours.add(px)
            if sum(px) < 200:
                dark += 1
        prev = line
    return w, h, len(colours), dark


if __name__ == "__main__":
    unittest.main()
