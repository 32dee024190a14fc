#!/usr/bin/env python3
"""query-stub.py: stand-in nodes that speak only the compact query (8-byte DSYN, 64-byte DSYR),
as the earlier DanteSync did, for testing and benchmarking the monitoring tools; with
--extended they also answer the extended query (docs/query-api.md) with its four timestamps.

Each node is a UDP socket on its own address answering every request of 8 bytes or more with
the 64-byte reply (an extended request gets the compact reply too, as from the earlier tool).
Its time is this machine's clock plus a fixed offset.

    query-stub.py --node 127.0.0.2:31900:+3.0 --node 127.0.0.3:31900:-8:LOCK:00:1d:c1:00:00:02
    query-stub.py --count 200 --first 127.0.1.1 --port 31900      (offsets 0, mode NANO)

A node is ADDR:PORT:OFFSET_MS[:MODE[:LEADER]]; MODE is INIT, ACQ, PROD, LOCK, NANO or NTP-ONLY
(default NANO), LEADER six hex bytes (default 00:1d:c1:00:53:01). Prints "ready N" once every
socket is bound; runs until killed. Standard library only.
"""

import argparse
import ipaddress
import select
import socket
import struct
import sys
import time

MODES = {"INIT": 0, "ACQ": 1, "PROD": 2, "LOCK": 3, "NANO": 4, "NTP-ONLY": 5}
DEFAULT_LEADER = "00:1d:c1:00:53:01"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def parse_node(spec):
    parts = spec.split(":")
    if len(parts) < 3:
        raise ValueError("node %r: want ADDR:PORT:OFFSET_MS[:MODE[:LEADER]]" % spec)
    addr, port, off = parts[0], int(parts[1]), float(parts[2])
    mode = parts[3].upper() if len(parts) > 3 else "NANO"
    leader = ":".join(parts[4:]) if len(parts) > 4 else DEFAULT_LEADER
    if mode not in MODES:
        raise ValueError("node %r: unknown mode %s" % (spec, mode))
    uuid = bytes(int(x, 16) for x in leader.split(":"))
    if len(uuid) != 6:
        raise ValueError("node %r: leader must be six bytes" % spec)
    return addr, port, off, MODES[mode], uuid


def reply(request_id, offset_ns, mode, uuid):
    locked = 1 if mode in (3, 4) else 0
    return (
        struct.pack(
            ">IIQQqiiBB6sQihBB",
            0x44535952,
            request_id,
            time.time_ns() + offset_ns,
            time.monotonic_ns(),
            123_456,  # raw PTP offset, ns
            150,  # drift 0.150 us/s
            -12_345,  # applied -12.345 ppm
            mode,
            locked,
            uuid,
            1_000_000_000,
            -42,  # last NTP offset, us
            7,  # accumulated phase, us
            0x02 if locked else 0,
            0,
        )
    )


def extended_reply(request_id, offset_ns, mode, uuid, t1, t2):
    """A version-1 extended reply (384 bytes): the compact reply, then T2, T1 and T3 and a
    few servo fields; the rest zero or absent."""
    b = bytearray(reply(request_id, offset_ns, mode, uuid)) + bytearray(384 - 64)
    b[64] = 1
    struct.pack_into(">HI", b, 66, 384, 1 << 6)  # length; flags: there is a leader
    struct.pack_into(">qq", b, 96, 150_000, 2_000)  # drift 0.15 +- 0.002 ppm
    struct.pack_into(">q", b, 128, -12_345_000)
    b[152:158] = uuid
    b[160:166] = uuid
    struct.pack_into(">qq", b, 176, -(1 << 63), -(1 << 63))  # no NTP check yet
    b[288:296] = b"stub-0.1"
    t3 = time.time_ns() + offset_ns
    struct.pack_into(">QQQ", b, 72, t2, t1, t3)
    struct.pack_into(">Q", b, 8, t3)
    return bytes(b)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--node", action="append", default=[], help="ADDR:PORT:OFFSET_MS[:MODE[:LEADER]]")
    p.add_argument("--count", type=int, default=0, help="this many nodes at consecutive addresses")
    p.add_argument("--first", default="127.0.1.1", help="first address of --count")
    p.add_argument("--port", type=int, default=31900)
    p.add_argument(
        "--extended",
        action="store_true",
        help="answer extended requests with the extended reply (T2 and T3), as dantesync does",
    )
    a = p.parse_args(argv)
    nodes = [parse_node(s) for s in a.node]
    first = ipaddress.ip_address(a.first)
    for i in range(a.count):
        nodes.append((str(first + i), a.port, 0.0, MODES["NANO"], bytes.fromhex("001dc1005301")))
    socks = {}
    # Linux: the kernel's receive time for T2 (Python does not name SO_TIMESTAMPNS).
    stamped = a.extended and sys.platform.startswith("linux")
    for addr, port, off, mode, uuid in nodes:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.setblocking(False)
        if stamped:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        socks[s.fileno()] = (s, int(off * 1e6), mode, uuid)
    print("ready %d" % len(socks), flush=True)
    poll = select.poll() if hasattr(select, "poll") else None
    if poll:
        for fd in socks:
            poll.register(fd, select.POLLIN)
    while True:
        if poll:
            ready = [fd for fd, _ in poll.poll()]
        else:
            ready = [s.fileno() for s in select.select([v[0] for v in socks.values()], [], [])[0]]
        for fd in ready:
            s, off, mode, uuid = socks[fd]
            while True:
                try:
                    if stamped:
                        data, anc, _, src = s.recvmsg(2048, 64)
                        rx = time.time_ns()
                        for level, kind, raw in anc:
                            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                                sec, ns = struct.unpack("@qq", raw[:16])
                                rx = sec * 1_000_000_000 + ns
                    else:
                        data, src = s.recvfrom(2048)
                        rx = time.time_ns()
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 8 or data[:4] != b"DSYN":
                    continue
                rid = struct.unpack(">I", data[4:8])[0]
                if a.extended and len(data) >= 384 and data[8] != 0:
                    t1 = struct.unpack(">Q", data[16:24])[0]
                    out = extended_reply(rid, off, mode, uuid, t1, rx + off)
                else:
                    out = reply(rid, off, mode, uuid)
                try:
                    s.sendto(out, src)
                except OSError:
                    pass


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
