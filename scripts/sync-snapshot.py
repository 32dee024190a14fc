#!/usr/bin/env python3
"""sync-snapshot.py: are all my machines in sync? One look at every dantesync node.

Asks every host at once over the UDP query API (port 31900, docs/query-api.md) and prints, per
host, its mode, lock, drift, applied frequency, leader, NTP state and its clock offset against
a reference node, with a verdict:

    SYNCED   within 1 ms of the reference
    DRIFT    1 to 5 ms from it
    ERROR    more than 5 ms from it
    OFFLINE  no answer (after one retry)

The offset is measured NTP-style from four timestamps (this machine's send and receive times,
the node's receive and send times from the extended reply), once for each host and once for the
reference: this machine's own clock cancels, and so does the query's travel time, up to half
its asymmetry. A node that answers only the 64-byte compact reply (an older dantesync, the
earlier DanteSync) carries one time: its offset is the midpoint estimate, +-RTT/2.

Exit status: 0 when every host is SYNCED and locked, 1 otherwise, 2 on usage errors.

    sync-snapshot.py                              hosts from ~/.config/dantesync/hosts
    sync-snapshot.py --hosts 10.0.0.5 10.0.0.6    these hosts (HOST or HOST:PORT)
    sync-snapshot.py --json | --csv | --brief

Standard library only; runs on Linux, macOS and Windows.
"""

import argparse
import csv
import io
import json
import os
import random
import select
import socket
import struct
import sys
import time

QUERY_PORT = 31900
NTP_PORT = 123
REQUEST_MAGIC = 0x4453594E  # "DSYN"
REPLY_MAGIC = 0x44535952  # "DSYR"
COMPACT_LEN = 64
EXTENDED_LEN = 384
EXTENDED_VERSION = 2
LEAP = {0: "none", 1: "insert", 2: "delete"}
KERNEL_SYNC = {0: None, 1: True, 2: False}
ABSENT = -(1 << 63)
MODES = {0: "INIT", 1: "ACQ", 2: "PROD", 3: "LOCK", 4: "NANO", 5: "NTP-ONLY"}
DEFAULT_HOSTS_FILE = os.path.join("~", ".config", "dantesync", "hosts")

# Verdict thresholds, |offset from the reference| in ms.
SYNCED_MS = 1.0
DRIFT_MS = 5.0
STATUS_ORDER = ["SYNCED", "DRIFT", "ERROR", "OFFLINE"]

# Compact reply byte 62.
FLAG_NTP_FAILING = 0x01
FLAG_SETTLED = 0x02
FLAG_NO_NTP_SERVER = 0x04
# Extended flags (offset 68).
XFLAG_NTP_FAILING = 1 << 2
XFLAG_LEADER = 1 << 6
XFLAG_PTP_ONLY = 1 << 9

# Linux: the kernel's receive timestamp (SO_TIMESTAMPNS) for T4; Python does not name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)

NTP_EPOCH_OFFSET = 2208988800


class UsageError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------


def parse_hosts_text(text):
    """Lines of `HOST [LABEL...]`; `#` starts a comment; blank lines are skipped."""
    hosts = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        hosts.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return hosts


def split_host_port(spec, default_port):
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address."""
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise UsageError("bad host %r: missing ']'" % spec)
        host, rest = spec[1:end], spec[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        if rest:
            raise UsageError("bad host %r" % spec)
        return host, default_port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError("bad port in %r" % spec)
        return host, int(port)
    return spec, default_port


# --------------------------------------------------------------------------------------------
# Wire format (docs/query-api.md)
# --------------------------------------------------------------------------------------------


def compact_request(request_id):
    return struct.pack(">II", REQUEST_MAGIC, request_id)


def extended_request(request_id, t1_ns):
    head = struct.pack(">IIB7xQ", REQUEST_MAGIC, request_id, EXTENDED_VERSION, t1_ns)
    return head + bytes(EXTENDED_LEN - len(head))


def _opt(v):
    return None if v == ABSENT else v


def uuid_text(b):
    return ":".join("%02x" % x for x in b)


def _text(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_reply(data):
    """A compact or extended reply as a dict, or None when it is not a query API reply."""
    if len(data) < COMPACT_LEN:
        return None
    magic, rid, sys_ns, mono, ptp_off, drift_ppb, adj_ppb = struct.unpack_from(">IIQQqii", data, 0)
    if magic != REPLY_MAGIC or data[40] not in MODES or data[41] > 1:
        return None
    (mono_hz, ntp_us, phase_us) = struct.unpack_from(">Qih", data, 48)
    flags = data[62]
    r = {
        "request_id": rid,
        "extended": False,
        "t3": sys_ns,
        "monotonic": mono,
        "monotonic_hz": mono_hz,
        "ptp_offset_ns": ptp_off,
        "drift_ppm": drift_ppb / 1000.0,
        "drift_sigma_ppm": None,
        "applied_ppm": adj_ppb / 1000.0,
        "mode": MODES[data[40]],
        "locked": data[41] == 1,
        "leader": uuid_text(data[42:48]) if any(data[42:48]) else None,
        "ntp_offset_ms": ntp_us / 1000.0,
        "ntp_server": None,
        "ntp_failing": bool(flags & FLAG_NTP_FAILING),
        "no_ntp_server": bool(flags & FLAG_NO_NTP_SERVER),
        "phase_us": float(phase_us),
        "version": None,
        # Extended version 2 (docs/query-api.md); None from an older node.
        "since_last_ptp_s": None,
        "ptp_packets_per_s": None,
        "external_steps": None,
        "clock_interference": None,
        "leap_pending": None,
        "kernel_synchronised": None,
    }
    if len(data) >= EXTENDED_LEN and data[64] != 0:
        length = struct.unpack_from(">H", data, 66)[0]
        if length >= EXTENDED_LEN and len(data) >= length:
            (xflags, t2, t1, t3) = struct.unpack_from(">IQQQ", data, 68)
            drift, sigma = struct.unpack_from(">qq", data, 96)
            applied = struct.unpack_from(">q", data, 128)[0]
            ntp_off = _opt(struct.unpack_from(">q", data, 176)[0])
            phase_ns = struct.unpack_from(">q", data, 216)[0]
            r.update(
                {
                    "extended": True,
                    "t1": t1,
                    "t2": t2,
                    "t3": t3,
                    "drift_ppm": None if _opt(drift) is None else drift / 1e6,
                    "drift_sigma_ppm": None if _opt(sigma) is None else sigma / 1e6,
                    "applied_ppm": applied / 1e6,
                    "leader": (
                        uuid_text(data[160:166]) if xflags & XFLAG_LEADER else None
                    ),
                    "ntp_offset_ms": None if ntp_off is None else ntp_off / 1e6,
                    "ntp_server": _text(data[304:336]) or None,
                    "ntp_failing": bool(xflags & XFLAG_NTP_FAILING),
                    "no_ntp_server": bool(xflags & XFLAG_PTP_ONLY) or r["no_ntp_server"],
                    "phase_us": phase_ns / 1e3,
                    "version": _text(data[288:304]),
                }
            )
            if data[64] >= 2:
                since, pps, steps, interference = struct.unpack_from(">qqQQ", data, 336)
                r.update(
                    {
                        "since_last_ptp_s": None if _opt(since) is None else since / 1e9,
                        "ptp_packets_per_s": None if _opt(pps) is None else pps / 1e3,
                        "external_steps": steps,
                        "clock_interference": interference,
                        "leap_pending": LEAP.get(data[368], "unknown"),
                        "kernel_synchronised": KERNEL_SYNC.get(data[369]),
                    }
                )
    return r


def exchange(reply, t1, t4):
    """(offset_ns, delay_ns, uncertainty_ns) of the node's clock against this machine's.

    Extended: NTP-style, theta = ((T2-T1) + (T3-T4)) / 2, delay = (T4-T1) - (T3-T2), error at
    most delay/2. Compact: the node's one time against the midpoint of send and receive, error
    at most RTT/2."""
    if reply["extended"]:
        t2, t3 = reply["t2"], reply["t3"]
        offset = ((t2 - t1) + (t3 - t4)) / 2.0
        delay = (t4 - t1) - (t3 - t2)
        return offset, delay, max(delay, 0) / 2.0
    rtt = t4 - t1
    return reply["t3"] - (t1 + t4) / 2.0, rtt, rtt / 2.0


def ntp_request(tx_ns):
    secs = tx_ns // 1_000_000_000 + NTP_EPOCH_OFFSET
    frac = ((tx_ns % 1_000_000_000) << 32) // 1_000_000_000
    return bytes([0x23]) + bytes(39) + struct.pack(">II", secs & 0xFFFFFFFF, frac)


def ntp_answer(data, sent):
    """The stratum of an NTP server reply to `sent`, or None."""
    if len(data) < 48 or data[0] & 7 != 4 or data[24:32] != sent[40:48]:
        return None
    return data[1]


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


class Host:
    def __init__(self, spec, label, port):
        self.spec = spec
        self.name, self.port = split_host_port(spec, port)
        self.label = label
        self.addr = None  # (family, sockaddr)
        self.error = None
        self.reply = None
        self.best = None  # (offset_ns, delay_ns, uncertainty_ns)
        self.samples = 0
        self.attempts = 0
        self.deadline = 0.0
        self.ntp_stratum = None


def resolve(hosts):
    """Addresses for every host (names looked up in parallel threads)."""

    def one(h):
        try:
            info = socket.getaddrinfo(h.name, h.port, 0, socket.SOCK_DGRAM)
            fam, _, _, _, sa = sorted(info, key=lambda i: i[0] != socket.AF_INET)[0]
            h.addr = (fam, sa)
        except (OSError, UnicodeError) as e:
            h.error = "does not resolve (%s)" % e

    names = []  # hosts that are not IPv4 literals
    for h in hosts:
        try:
            socket.inet_pton(socket.AF_INET, h.name)
            h.addr = (socket.AF_INET, (h.name, h.port))
        except OSError:
            names.append(h)
    if names:
        # Imported only when a name must be looked up: it costs every monitor round otherwise.
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(names))) as pool:
            list(pool.map(one, names))


class Link:
    """One UDP socket per address family, with kernel receive timestamps where there are."""

    def __init__(self, family):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            pass
        self.stamped = False
        if SO_TIMESTAMPNS is not None and hasattr(self.sock, "recvmsg"):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                self.stamped = True
            except OSError:
                pass

    def receive(self):
        """(data, sender, receive time ns) or None when nothing is waiting."""
        try:
            if self.stamped:
                data, anc, _, sender = self.sock.recvmsg(2048, 64)
                now = time.time_ns()
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                        s, ns = struct.unpack("@qq", raw[:16])
                        now = s * 1_000_000_000 + ns
                return data, sender, now
            data, sender = self.sock.recvfrom(2048)
            return data, sender, time.time_ns()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            # An ICMP "port unreachable" surfaces as an error on the next receive (Windows,
            # Linux for connected sockets): nothing to read, the host just stays unanswered.
            return "error"


def measure(hosts, timeout, samples, ntp_probe=True, ntp_port=NTP_PORT):
    """Queries every host at once: `samples` exchanges each (the least-delayed kept), one retry
    after `timeout` s for a host that has not answered, and one NTP request to each to find
    the node that serves NTP."""
    resolve(hosts)
    links = {}
    for h in hosts:
        if h.addr and h.addr[0] not in links:
            links[h.addr[0]] = Link(h.addr[0])
    pending = {}  # request id -> (host, form, t1)
    ntp_pending = {}  # (family, address) -> (host, request bytes)
    rid = random.getrandbits(32)

    def send(h, form):
        nonlocal rid
        rid = (rid + 1) & 0xFFFFFFFF
        t1 = time.time_ns()
        pkt = extended_request(rid, t1) if form == "x" else compact_request(rid)
        try:
            links[h.addr[0]].sock.sendto(pkt, h.addr[1])
        except OSError as e:
            h.error = "send failed (%s)" % e
            return
        pending[rid] = (h, form, t1)

    now = time.monotonic()
    active = [h for h in hosts if h.addr]
    for h in active:
        h.attempts = 1
        h.deadline = now + timeout
        send(h, "x")
    if ntp_probe:
        for h in active:
            req = ntp_request(time.time_ns())
            sa = (h.addr[1][0], ntp_port) + tuple(h.addr[1][2:])
            try:
                links[h.addr[0]].sock.sendto(req, sa)
                ntp_pending[(h.addr[0], sa[0])] = (h, req)
            except OSError:
                pass
    ntp_until = now + timeout
    while True:
        now = time.monotonic()
        for h in active:
            if h.samples == 0 and now >= h.deadline:
                if h.attempts < 2:
                    # One retry, in both forms: a node that drops the extended request (or a
                    # lost datagram) still gets a chance with the 8-byte one.
                    h.attempts = 2
                    h.deadline = now + timeout
                    send(h, "x")
                    send(h, "c")
            elif 0 < h.samples < samples and now >= h.deadline:
                h.samples = samples  # later samples lost: keep what came
        waiting = [
            h
            for h in active
            if h.samples < samples and not (h.attempts >= 2 and h.samples == 0 and now >= h.deadline)
        ]
        ntp_waiting = bool(ntp_pending) and now < ntp_until
        if not waiting and not ntp_waiting:
            break
        ends = [h.deadline for h in waiting] + ([ntp_until] if ntp_waiting else [])
        wait = max(0.0, min(ends) - now)
        ready, _, _ = select.select([l.sock for l in links.values()], [], [], wait)
        for link in links.values():
            if link.sock not in ready:
                continue
            while True:
                got = link.receive()
                if got is None:
                    break
                if got == "error":
                    continue
                data, sender, t4 = got
                if sender[1] == ntp_port and (link.sock.family, sender[0]) in ntp_pending:
                    h, req = ntp_pending[(link.sock.family, sender[0])]
                    stratum = ntp_answer(data, req)
                    if stratum is not None:
                        h.ntp_stratum = stratum
                        del ntp_pending[(link.sock.family, sender[0])]
                    continue
                r = parse_reply(data)
                if r is None or r["request_id"] not in pending:
                    continue
                h, form, t1 = pending.pop(r["request_id"])
                if form == "x" and r["extended"] and r["t1"] != t1:
                    continue
                if h.samples >= samples:
                    continue
                x = exchange(r, t1, t4)
                better = h.best is None or (r["extended"], -x[1]) > (
                    h.reply["extended"],
                    -h.best[1],
                )
                if better:
                    h.best, h.reply = x, r
                h.samples += 1
                if h.samples < samples:
                    h.deadline = time.monotonic() + timeout
                    send(h, "x" if r["extended"] or form == "x" else "c")
    for link in links.values():
        link.sock.close()
    for h in hosts:
        if h.reply is None and h.error is None:
            h.error = "no answer on UDP %d" % h.port


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


def classify(offset_ms):
    a = abs(offset_ms)
    if a < SYNCED_MS:
        return "SYNCED"
    if a <= DRIFT_MS:
        return "DRIFT"
    return "ERROR"


def choose_reference(hosts, requested=None):
    """(reference host, why). `requested` (a host spec) when it answers; else the node that
    serves NTP (named by the others as their NTP server, if several serve); else the first
    host that answers."""
    online = [h for h in hosts if h.reply]
    if requested is not None:
        for h in hosts:
            if requested in (h.spec, h.name, h.label):
                if h.reply:
                    return h, "as asked"
                break
    servers = [h for h in online if h.ntp_stratum is not None and 0 < h.ntp_stratum < 16]
    if servers:
        named = set()
        for h in online:
            s = h.reply.get("ntp_server")
            if s:
                # A node sends at most 32 bytes of the name: a long one may come cut, and a
                # cut name cannot be matched, but it must not stop the report.
                try:
                    named.add(split_host_port(s, NTP_PORT)[0])
                except UsageError:
                    continue
        for h in servers:
            if h.name in named or (h.addr and h.addr[1][0] in named):
                return h, "serves NTP to the others"
        return servers[0], "serves NTP"
    if online:
        return online[0], "first host that answers"
    return None, "no host answers"


def evaluate(hosts, requested=None, sample_rate=None):
    """The report as one dict (what --json prints)."""
    ref, why = choose_reference(hosts, requested)
    out = []
    for h in hosts:
        e = {
            "host": h.spec,
            "label": h.label,
            "address": h.addr[1][0] if h.addr else None,
            "status": "OFFLINE",
            "offset_ms": None,
            "uncertainty_ms": None,
            "rtt_ms": None,
            "mode": None,
            "locked": None,
            "leader": None,
            "flags": [],
            "reference": h is ref,
        }
        if h.reply is None:
            e["error"] = h.error
            out.append(e)
            continue
        r = h.reply
        e.update(
            {
                "extended": r["extended"],
                "method": "ntp-style" if r["extended"] else "midpoint",
                "mode": r["mode"],
                "locked": r["locked"],
                "leader": r["leader"],
                "drift_ppm": r["drift_ppm"],
                "drift_sigma_ppm": r["drift_sigma_ppm"],
                "applied_ppm": r["applied_ppm"],
                "ntp_server": r["ntp_server"],
                "ntp_offset_ms": r["ntp_offset_ms"],
                "ntp_state": (
                    "PTP only"
                    if r["no_ntp_server"]
                    else ("FAILING" if r["ntp_failing"] else "OK")
                ),
                "phase_us": r["phase_us"],
                "rtt_ms": h.best[1] / 1e6,
                "serves_ntp": h.ntp_stratum is not None and 0 < h.ntp_stratum < 16,
                "version": r["version"],
                "since_last_ptp_s": r["since_last_ptp_s"],
                "ptp_packets_per_s": r["ptp_packets_per_s"],
                "external_steps": r["external_steps"],
                "clock_interference": r["clock_interference"],
                "leap_pending": r["leap_pending"],
                "kernel_synchronised": r["kernel_synchronised"],
            }
        )
        if sample_rate and r["drift_ppm"] is not None:
            e["drift_samples_per_s"] = r["drift_ppm"] * sample_rate / 1e6
        if ref is not None:
            if h is ref:
                off, unc = 0.0, 0.0
            else:
                off = (h.best[0] - ref.best[0]) / 1e6
                unc = (h.best[2] + ref.best[2]) / 1e6
            e["offset_ms"], e["uncertainty_ms"] = off, unc
            e["status"] = classify(off)
        else:
            e["status"] = "UNKNOWN"
        flags = []
        if ref is not None and ref.reply and r["leader"] != ref.reply["leader"]:
            flags.append("other leader")
        if not r["locked"]:
            flags.append("not locked")
        if r["mode"] == "NTP-ONLY":
            flags.append("NTP-only")
        if r["ntp_failing"]:
            flags.append("NTP failing")
        if r["no_ntp_server"]:
            flags.append("no NTP server")
        if r["external_steps"]:
            flags.append("stepped by others")
        if r["clock_interference"]:
            flags.append("interference")
        if r["leap_pending"] in ("insert", "delete"):
            flags.append("leap " + r["leap_pending"])
        e["flags"] = flags
        out.append(e)
    verdict = overall(out)
    return {
        "reference": ref.spec if ref else None,
        "reference_reason": why,
        "requested_reference": requested,
        "verdict": verdict,
        "time": time.time(),
        "hosts": out,
    }


def overall(entries):
    """SYNCED when every host is SYNCED and locked; else the worst thing seen, in the order
    ERROR, OFFLINE, DRIFT, UNLOCKED (ERROR first: a node that answers with the wrong time does
    more harm than one that is silent)."""
    st = {e["status"] for e in entries}
    for word in ("ERROR", "UNKNOWN", "OFFLINE", "DRIFT"):
        if word in st:
            return word
    if not entries:
        return "ERROR"
    if any(not e["locked"] for e in entries):
        return "UNLOCKED"
    return "SYNCED"


def exit_code(report):
    return 0 if report["verdict"] == "SYNCED" else 1


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _num(v, fmt):
    return "-" if v is None else fmt % v


def name_of(e):
    return e["label"] or e["host"]


def text_report(rep, sample_rate=None, brief=False):
    lines = []
    hosts = rep["hosts"]
    ref = rep["reference"]
    n_ok = sum(1 for e in hosts if e["status"] == "SYNCED" and e["locked"])
    head = "%s: %d of %d hosts synced and locked" % (rep["verdict"], n_ok, len(hosts))
    if ref:
        head += "; reference %s (%s)" % (ref, rep["reference_reason"])
    if rep["requested_reference"] and rep["requested_reference"] != ref:
        head += "; asked-for reference %s does not answer" % rep["requested_reference"]
    online = [e["offset_ms"] for e in hosts if e["offset_ms"] is not None]
    if len(online) > 1:
        head += "; spread %.3f ms" % (max(online) - min(online))
    if brief:
        lines.append(head)
        for e in hosts:
            if e["status"] != "SYNCED" or not e["locked"]:
                what = e["status"]
                if e["offset_ms"] is not None:
                    what += " %+.3f ms" % e["offset_ms"]
                if e["flags"]:
                    what += " (%s)" % ", ".join(e["flags"])
                if e.get("error"):
                    what += ": %s" % e["error"]
                lines.append("  %-24s %s" % (name_of(e), what))
        return "\n".join(lines) + "\n"
    drift_head = "samples/s" if sample_rate else "drift us/s"
    cols = (
        "%-22s %-8s %-8s %-4s %12s %9s %8s %15s %9s %-17s %-8s %-16s %10s %9s  %s"
    )
    lines.append(
        cols
        % (
            "HOST",
            "STATUS",
            "MODE",
            "LOCK",
            "OFFSET ms",
            "+- ms",
            "RTT ms",
            drift_head,
            "applied",
            "LEADER",
            "NTP",
            "NTP SERVER",
            "NTP off ms",
            "phase us",
            "FLAGS",
        )
    )
    for e in hosts:
        nm = name_of(e) + (" *" if e["reference"] else "")
        if e["status"] == "OFFLINE":
            lines.append("%-22s %-8s %s" % (nm, "OFFLINE", e.get("error") or ""))
            continue
        if sample_rate:
            drift = _num(e.get("drift_samples_per_s"), "%+.4f")
        else:
            drift = _num(e["drift_ppm"], "%+.3f")
            if e["drift_sigma_ppm"] is not None:
                drift += " +-%.3f" % e["drift_sigma_ppm"]
        lines.append(
            cols
            % (
                nm,
                e["status"],
                e["mode"],
                "yes" if e["locked"] else "no",
                _num(e["offset_ms"], "%+.3f"),
                _num(e["uncertainty_ms"], "%.3f"),
                _num(e["rtt_ms"], "%.3f"),
                drift,
                _num(e["applied_ppm"], "%+.3f"),
                e["leader"] or "-",
                e["ntp_state"],
                (e["ntp_server"] or "-")[:16],
                _num(e["ntp_offset_ms"], "%+.3f"),
                _num(e["phase_us"], "%+.1f"),
                ", ".join(e["flags"]),
            )
        )
    lines.append("")
    lines.append(head)
    lines.append(
        "* reference. SYNCED < %g ms, DRIFT %g-%g ms, ERROR > %g ms from it; offsets of "
        "compact-only nodes are midpoint estimates (+-RTT/2)." % (SYNCED_MS, SYNCED_MS, DRIFT_MS, DRIFT_MS)
    )
    return "\n".join(lines) + "\n"


CSV_FIELDS = [
    "host",
    "label",
    "status",
    "offset_ms",
    "uncertainty_ms",
    "rtt_ms",
    "mode",
    "locked",
    "drift_ppm",
    "drift_sigma_ppm",
    "applied_ppm",
    "leader",
    "ntp_server",
    "ntp_state",
    "ntp_offset_ms",
    "phase_us",
    "method",
    "reference",
    "flags",
]


def csv_report(rep, tabs=False):
    """One row per host; `tabs`: tab-separated, unquoted (for the shell tools)."""
    buf = io.StringIO()
    if tabs:
        w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    else:
        w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for e in rep["hosts"]:
        row = []
        for k in CSV_FIELDS:
            v = e.get(k)
            if k == "flags":
                v = ";".join(v)
            elif isinstance(v, bool):
                v = "yes" if v else "no"
            elif isinstance(v, float):
                v = "%.6f" % v
            if tabs and isinstance(v, str):
                v = v.replace("\t", " ")
            row.append("" if v is None else v)
        w.writerow(row)
    return buf.getvalue()


def monitor_header(rep):
    """The monitor's CSV header; a label with a comma or a quote is quoted, CSV style."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(
        ["timestamp", "reference_host"]
        + [name_of(e) for e in rep["hosts"]]
        + ["max_diff_ms", "min_diff_ms", "spread_ms"]
    )
    return buf.getvalue()


def monitor_row(rep, timestamp):
    """One row of the monitor's CSV: offsets against the reference (N/A when offline);
    max_diff_ms and min_diff_ms are the largest and smallest |offset| of the other hosts, as
    the earlier DanteSync wrote them; spread_ms is max - min of the signed offsets of every
    answering host, the reference's 0 included."""
    cells = ["%.3f" % timestamp, rep["reference"] or "N/A"]
    offs, others = [], []
    for e in rep["hosts"]:
        if e["offset_ms"] is None:
            cells.append("N/A")
            continue
        cells.append("%.6f" % e["offset_ms"])
        offs.append(e["offset_ms"])
        if not e["reference"]:
            others.append(abs(e["offset_ms"]))
    if offs:
        cells += [
            "%.6f" % max(others, default=0.0),
            "%.6f" % min(others, default=0.0),
            "%.6f" % (max(offs) - min(offs)),
        ]
    else:
        cells += ["N/A", "N/A", "N/A"]
    return ",".join(cells)


def monitor_summary(rep):
    """The monitor's console line for one round."""
    hosts = rep["hosts"]
    offs = [e["offset_ms"] for e in hosts if e["offset_ms"] is not None]
    spread = "%.3f ms" % (max(offs) - min(offs)) if offs else "-"
    worst = max(hosts, key=lambda e: -1 if e["offset_ms"] is None else abs(e["offset_ms"]))
    text = "%s: spread %s, %d/%d online, reference %s" % (
        rep["verdict"],
        spread,
        len(offs),
        len(hosts),
        rep["reference"] or "none",
    )
    if offs:
        text += ", largest %s %+.3f ms" % (name_of(worst), worst["offset_ms"])
    return text


# --------------------------------------------------------------------------------------------
# Monitor state (sync-monitor.sh): alerts when a host leaves or rejoins SYNCED
# --------------------------------------------------------------------------------------------


def alerts(rep, state, now, min_gap_s):
    """Hosts whose SYNCED-ness differs from what was last alerted (or, at start, seen), at
    most one alert per host every `min_gap_s` s; a change hidden by the limit is alerted once
    the limit allows, if it still holds. Updates `state` in place."""
    out = []
    for e in rep["hosts"]:
        key = e["host"]
        ok = e["status"] == "SYNCED"
        s = state.get(key)
        if s is None:
            state[key] = {"ok": ok, "status": e["status"], "at": 0.0}
            continue
        if ok != s["ok"] and now - s["at"] >= min_gap_s:
            out.append((e, s["status"]))
            state[key] = {"ok": ok, "status": e["status"], "at": now}
    return out


def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def save_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------


def build_parser():
    p = argparse.ArgumentParser(
        description="One look at every dantesync node: offset from a reference, mode, lock, "
        "leader, NTP state. Exit 0 when every host is SYNCED and locked, 1 otherwise.",
    )
    p.add_argument("--hosts", nargs="+", metavar="H", help="hosts to ask (HOST or HOST:PORT)")
    p.add_argument(
        "--hosts-file",
        metavar="FILE",
        help="one host per line, optional label after it, '#' comments (default %s)"
        % DEFAULT_HOSTS_FILE,
    )
    p.add_argument(
        "--reference",
        metavar="HOST",
        help="the host the offsets are measured against (default: the node that serves NTP, "
        "else the first host)",
    )
    p.add_argument("--timeout", type=float, default=0.3, help="seconds per attempt (default 0.3)")
    p.add_argument("--port", type=int, default=QUERY_PORT, help="query API port (default 31900)")
    p.add_argument("--ntp-port", type=int, default=NTP_PORT, help=argparse.SUPPRESS)
    p.add_argument(
        "--samples",
        type=int,
        default=3,
        help="exchanges per host, the least-delayed kept (default 3)",
    )
    p.add_argument("--sample-rate", type=int, metavar="HZ", help="show drift in samples/s at HZ")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object")
    out.add_argument("--csv", action="store_true", help="one CSV row per host")
    out.add_argument("--brief", action="store_true", help="the verdict and the hosts not in sync")
    # For sync-monitor.sh and sync-dashboard.sh.
    out.add_argument("--tsv", action="store_true", help=argparse.SUPPRESS)
    out.add_argument("--monitor-header", action="store_true", help=argparse.SUPPRESS)
    out.add_argument("--monitor-row", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--align", type=float, metavar="S", help=argparse.SUPPRESS)
    p.add_argument("--after", type=float, metavar="TS", help=argparse.SUPPRESS)
    p.add_argument("--state", metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("--alert-gap", type=float, default=60.0, help=argparse.SUPPRESS)
    return p


def host_list(args):
    if args.hosts:
        return [(h, "") for h in args.hosts]
    path = os.path.expanduser(args.hosts_file or DEFAULT_HOSTS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            hosts = parse_hosts_text(f.read())
    except OSError as e:
        raise UsageError(
            "no hosts: give --hosts H [H ...] or --hosts-file FILE (%s: %s)" % (path, e.strerror)
        )
    if not hosts:
        raise UsageError("no hosts in %s" % path)
    return hosts


def main(argv=None):
    p = build_parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        if args.timeout <= 0 or args.samples < 1:
            raise UsageError("--timeout must be > 0 and --samples >= 1")
        specs = host_list(args)
        hosts = [Host(h, label, args.port) for h, label in specs]
    except UsageError as e:
        print("sync-snapshot: %s" % e, file=sys.stderr)
        return 2
    if args.align:
        # The monitor's rounds fall on multiples of the interval: the first one after the
        # previous round's (--after), at once when that is already past (a slow round).
        now = time.time()
        last = args.after if args.after is not None else now
        tick = (last // args.align + 1) * args.align
        if tick > now:
            time.sleep(tick - now)
    if args.monitor_header:
        # The columns come from the host list alone.
        print(monitor_header(evaluate(hosts)))
        return 0
    started = time.time()
    measure(hosts, args.timeout, args.samples, ntp_port=args.ntp_port)
    rep = evaluate(hosts, args.reference, args.sample_rate)
    if args.monitor_row:
        print(monitor_row(rep, started))
        print("INFO\t%s" % monitor_summary(rep))
        if args.state:
            state = load_state(args.state)
            for e, before in alerts(rep, state, started, args.alert_gap):
                off = "" if e["offset_ms"] is None else "%.6f" % e["offset_ms"]
                # Fields split by the unit separator: unlike a tab, an empty field survives
                # the shell's `read`.
                fields = (e["host"], e["label"], e["status"], before, off)
                print("ALERT\x1f" + "\x1f".join(fields))
            save_state(args.state, state)
    elif args.json:
        print(json.dumps(rep, indent=2))
    elif args.csv or args.tsv:
        sys.stdout.write(csv_report(rep, tabs=args.tsv))
    else:
        sys.stdout.write(text_report(rep, args.sample_rate, brief=args.brief))
    return exit_code(rep)


if __name__ == "__main__":
    sys.exit(main())
