#!/usr/bin/env bash
# The Windows build of dantesync run under Wine, as far as Wine goes (scripts/test.sh stage
# "windows", after the cross-build and the Windows clippy):
#
#   bash scripts/wine-test.sh            as root (a private network namespace: unshare -n)
#
# 1. The Windows unit tests of dantesync-clock and dantesync, with Wine as cargo's runner.
# 2. In a network namespace of its own (loopback only, a multicast route on lo; gone when the
#    script ends): the Windows daemon on a simulated clock (the host's clock is never touched)
#    with the query API, HTTP status and NTP server on loopback high ports. Checked from Linux:
#    the query API (Linux `dantesync status`), `dantesync.exe status` under Wine, HTTP
#    /api/status and /metrics, and an NTP request. Then a Linux `dantesync gm-sim` leader on
#    loopback multicast: the daemon must follow it (PTP multicast works under Wine) and lock.
# 3. Where Wine lacks an API the daemon must fall back and say so, in its log and its status:
#    SIO_TIMESTAMPING (user-space receive stamps) and GetSystemTimeAdjustmentPrecise (the
#    legacy SetSystemTimeAdjustment).
# 4. `dantesync.exe service install|status|uninstall` against Wine's service manager, and the
#    service started and stopped with sc.exe: it answers the query API and logs to ProgramData.
#
# Wine needs two things here (../shared/guide/TESTBED.md): `wine64` from Debian (no
# /usr/bin/wine: /usr/lib/wine/wine64), and bcryptprimitives.dll!ProcessPrng, which Wine 8.0
# lacks and Rust's std needs (a program exits with status 53 without it); the script builds that
# DLL with mingw from packaging/windows/wine/processprng.c into a scratch prefix's system32.
# Everything lives in target/wine-test/ (WINEPREFIX, logs, configs); every wait is bounded and
# every process (and wineserver) is stopped at the end, also on failure.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
TARGET=x86_64-pc-windows-gnu
EXE=target/$TARGET/debug/dantesync.exe
LINUX_BIN=target/debug/dantesync
OUT=target/wine-test
export WINEPREFIX="$PWD/$OUT/prefix" WINEDEBUG=-all
# No .NET (wine-mono) or HTML engine (wine-gecko): nothing here needs them, and without a
# network the prefix's creation must not offer to download them.
export WINEDLLOVERRIDES="mscoree,mshtml="
# No test changes this machine's clock; Wine passes the variable on to Windows programs.
export DANTESYNC_FORBID_CLOCK_WRITES=1

# Ports of the daemon under test: private to the namespace, above 1024 (no privilege needed).
PTP_EVENT=20319 PTP_GENERAL=20320 QUERY=20900 HTTP=20898 NTP=20123
LEADER=00:1d:c1:00:53:01 # gm-sim's default leader UUID
LOCK_LIMIT_S=${WINE_LOCK_LIMIT_S:-90}
# Without LOCK, the noise of the receive stamps the daemon reports must explain it: above this
# (µs) a lock within the wait cannot be honest; below it a missing LOCK is a failure.
NOISY_US=100

say() { echo "wine-test: $*"; }
# A Linux path as Wine's Z: drive shows it to Windows programs.
winpath() { printf 'Z:%s' "${1//\//\\}"; }
die() {
  echo "wine-test: FAILED: $*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Inside the private network namespace: the daemon and everything that talks to it.
# ---------------------------------------------------------------------------------------------
inside() {
  ip link set lo up
  ip route add 224.0.0.0/4 dev lo
  # Global: the EXIT trap runs after this function has returned.
  pids=()
  cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    "$WINESERVER" -k 2>/dev/null || true
    wait 2>/dev/null || true
  }
  trap cleanup EXIT

  local dir=$PWD/$OUT
  cat >"$dir/config.json" <<EOF
{
  "_about": "scripts/wine-test.sh: the Windows daemon under Wine, simulated clock, loopback",
  "clock": {"kind": "simulated", "drift_ppm": 50.0, "offset_ms": 0.0},
  "ptp": {"event_port": $PTP_EVENT, "general_port": $PTP_GENERAL},
  "query_api": {"enabled": true, "port": $QUERY, "bind": "127.0.0.1"},
  "http_status": {"enabled": true, "port": $HTTP, "bind": "127.0.0.1"},
  "ntp_server_mode": {"enabled": true, "port": $NTP, "bind": "127.0.0.1", "local_stratum": 8},
  "state_file": "$(winpath "$dir/state.json" | sed 's/\\/\\\\/g')"
}
EOF
  local config_win
  config_win=$(winpath "$dir/config.json")

  say "starting the Windows daemon under Wine (simulated clock, +50 ppm)"
  RUST_LOG=dantesync=info timeout 600 "$WINE" "$EXE" --config "$config_win" >"$dir/daemon.log" 2>&1 &
  pids+=($!)
  local daemon_pid=$!

  # The query API answers: the daemon is up (Wine's first start of a program takes seconds).
  local t0=$SECONDS status_rc=0
  while :; do
    status_rc=0
    "$LINUX_BIN" status 127.0.0.1 --port "$QUERY" --json --timeout-ms 300 >"$dir/status-linux.json" 2>&1 ||
      status_rc=$?
    [ "$status_rc" -ne 3 ] && break
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited:
$(cat "$dir/daemon.log")"
    [ $((SECONDS - t0)) -lt 60 ] || die "no answer on the query API after 60 s:
$(cat "$dir/daemon.log")"
    sleep 1
  done
  say "query API answered after $((SECONDS - t0)) s (Linux 'dantesync status' exit $status_rc)"
  [ "$status_rc" -eq 1 ] || die "Linux 'dantesync status' exit $status_rc, want 1 (answered, not locked)"

  # The Windows status command under Wine reads the same node.
  local wine_rc=0
  timeout 60 "$WINE" "$EXE" status 127.0.0.1 --port "$QUERY" --json >"$dir/status-wine.json" 2>&1 ||
    wine_rc=$?
  [ "$wine_rc" -eq 1 ] || die "'dantesync.exe status' under Wine: exit $wine_rc, want 1:
$(cat "$dir/status-wine.json")"
  # HTTP /api/status and /metrics, and one NTP request: from Linux, with Python's standard
  # library only (an independent client of the NTP wire format).
  python3 - "$dir" "$HTTP" "$NTP" <<'PY'
import json, socket, struct, sys, time, urllib.request
out, http, ntp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def fail(msg):
    sys.exit(f"wine-test: FAILED: {msg}")
linux = json.load(open(f"{out}/status-linux.json"))
wine = json.load(open(f"{out}/status-wine.json"))
for name, s in (("Linux", linux), ("Wine", wine)):
    if s.get("version") != "0.1.0" and not str(s.get("version", "")).startswith("0."):
        fail(f"{name} status: no version in {s}")
    if s["timestamping"]["query_rx"] != "user-space":
        fail(f"{name} status: query stamped {s['timestamping']}, want user-space under Wine")
if linux["mode"] != wine["mode"] or linux["version"] != wine["version"]:
    fail(f"Linux and Wine status disagree: {linux['mode']} / {wine['mode']}")
print(f"wine-test: status (Linux and under Wine): mode {linux['mode']}, version {linux['version']}")
doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http}/api/status", timeout=5))
node = doc["node"]
if node["clock"] != "simulated":
    fail(f"HTTP node.clock {node['clock']!r}")
adj = node.get("clock_adjustment") or ""
if not ("legacy" in adj and "GetSystemTimeAdjustmentPrecise" in adj):
    fail(f"HTTP node.clock_adjustment {adj!r}: Wine 8 lacks the precise API, the status must say so")
print(f"wine-test: HTTP /api/status: clock {node['clock']}, clock_adjustment {adj!r}")
metrics = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5).read().decode()
if "dantesync_build_info" not in metrics:
    fail("HTTP /metrics has no dantesync_build_info")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"\x23" + b"\0" * 47, ("127.0.0.1", ntp))  # LI 0, version 4, mode 3 (client)
reply, _ = s.recvfrom(512)
host = time.time()
if len(reply) < 48:
    fail(f"NTP reply of {len(reply)} bytes")
mode, stratum, refid = reply[0] & 7, reply[1], reply[12:16]
secs, frac = struct.unpack("!II", reply[40:48])
served = secs - 2208988800 + frac / 2**32
if (mode, stratum, refid) != (4, 8, b"LOCL"):
    fail(f"NTP reply mode {mode}, stratum {stratum}, refid {refid!r}: want 4, 8, LOCL")
if abs(served - host) > 0.5:
    fail(f"NTP transmit time {served - host:+.3f} s from the host's (simulated offset 0)")
print(f"wine-test: NTP server: mode 4, stratum 8, LOCL, {1e3 * (served - host):+.3f} ms from the host")
PY

  # A Dante leader on loopback multicast (the Linux gm-sim, 224.0.1.129 via lo).
  say "gm-sim (Linux) sending PTPv1 to 224.0.1.129 on lo; waiting up to $LOCK_LIMIT_S s for LOCK"
  timeout $((LOCK_LIMIT_S + 30)) "$LINUX_BIN" gm-sim --dest 224.0.1.129 --interface lo \
    --event-port "$PTP_EVENT" --general-port "$PTP_GENERAL" --delay-req-port 0 --drift-ppm 0 \
    --sync-interval-log2 -4 --duration-s $((LOCK_LIMIT_S + 20)) >"$dir/gm-sim.log" 2>&1 &
  pids+=($!)
  t0=$SECONDS
  local mode="" leader="" followed=""
  while [ $((SECONDS - t0)) -lt "$LOCK_LIMIT_S" ]; do
    sleep 2
    "$LINUX_BIN" status 127.0.0.1 --port "$QUERY" --json >"$dir/status-linux.json" 2>&1 || true
    read -r mode leader < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s.get("mode", "?"), (s.get("leader") or {}).get("uuid", "-"))' "$dir/status-linux.json" 2>/dev/null ||
      echo "? -")
    if [ -z "$followed" ] && [ "$leader" = "$LEADER" ]; then
      followed=$((SECONDS - t0))
      say "following the leader $leader over multicast after $followed s (mode $mode)"
    fi
    case $mode in LOCK | NANO) break ;; esac
  done
  [ -n "$followed" ] || die "the daemon never followed the leader (PTP multicast under Wine):
$(cat "$dir/status-linux.json")
$(tail -20 "$dir/daemon.log")"
  # Under Wine every datagram goes through wineserver, and the user-space stamp is read after
  # that: on a loaded machine its jitter is milliseconds, not the tens of µs of real Windows
  # without SIO_TIMESTAMPING. The servo then must not claim LOCK (it is honest about its
  # uncertainty); the check accepts that only when the daemon's own noise figure shows it.
  local noise sigma
  read -r noise sigma < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print(s.get("noise_us") or 0, s.get("drift_sigma_ppm") or 0)' "$dir/status-linux.json")
  case $mode in
  LOCK | NANO) say "mode $mode $((SECONDS - t0)) s after the leader started (timestamp noise $noise µs)" ;;
  *)
    python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' \
      "$noise" "$NOISY_US" || die "no LOCK within $LOCK_LIMIT_S s (mode $mode) although the \
timestamp noise is only $noise µs (drift sigma $sigma ppm):
$(grep -v DEBUG "$dir/daemon.log" | tail -20)"
    say "NO LOCK under Wine within $LOCK_LIMIT_S s: mode $mode, receive timestamp noise $noise µs, \
drift sigma $sigma ppm (user-space stamps after wineserver's socket path); the daemon rightly does \
not claim a lock it cannot support. LOCK on Windows is shown by real Windows only."
    ;;
  esac

  # Fallbacks where Wine lacks an API: said in the log and in the status.
  grep -q "SIO_TIMESTAMPING unavailable" "$dir/daemon.log" ||
    die "the log does not say that SIO_TIMESTAMPING is unavailable"
  grep -q "SetSystemTimeAdjustment (legacy: this Windows lacks GetSystemTimeAdjustmentPrecise)" \
    "$dir/daemon.log" || die "the log does not say that GetSystemTimeAdjustmentPrecise is missing"
  python3 - "$dir" "$HTTP" <<'PY'
import json, sys, urllib.request
out, http = sys.argv[1], int(sys.argv[2])
s = json.load(open(f"{out}/status-linux.json"))
if s["timestamping"]["ptp"] != "user-space":
    sys.exit(f"wine-test: FAILED: status timestamping.ptp {s['timestamping']['ptp']!r}, want user-space")
doc = json.load(urllib.request.urlopen(f"http://127.0.0.1:{http}/api/status", timeout=5))
if not doc["node"]["timestamping"].startswith("user space"):
    sys.exit(f"wine-test: FAILED: HTTP node.timestamping {doc['node']['timestamping']!r}")
print(f"wine-test: fallbacks said: PTP timestamps {doc['node']['timestamping']!r}; "
      f"clock adjustment {doc['node']['clock_adjustment']!r}")
PY
  grep -E "SIO_TIMESTAMPING|GetSystemTimeAdjustmentPrecise" "$dir/daemon.log" | sed 's/^/  log: /' | head -4

  # The service commands against Wine's service manager (services.exe): install (twice: the
  # second one updates), status, a start and a stop through sc.exe, the service answering the
  # query API and writing its rotated log, uninstall (twice). The foreground daemon goes first:
  # the service takes the same instance lock. The service's config is a simulated clock too:
  # Wine starts automatic services with each new session, and nothing here may touch a clock.
  kill "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  local svc_rc=0
  svc() { # svc WANT_RC ARGS...: dantesync.exe service ARGS under Wine, its exit code checked
    local want=$1 rc=0
    shift
    timeout 120 "$WINE" "$EXE" service "$@" >"$dir/service.log" 2>&1 || rc=$?
    sed 's/^/  service: /' "$dir/service.log"
    [ "$rc" -eq "$want" ] || die "'dantesync.exe service $*' under Wine: exit $rc, want $want"
  }
  svc 4 status
  say "service status under Wine: not installed (exit 4)"
  local svc_config=$dir/service-config.json
  sed -e "s/$QUERY/$((QUERY + 1))/" -e 's/state\.json/service-state.json/' "$dir/config.json" >"$svc_config"
  svc 0 install --config "$(winpath "$svc_config")"
  svc 3 status
  svc 0 install --config "$(winpath "$svc_config")"
  svc 3 status
  grep -q "start type: automatic\|automatic" "$dir/service.log" ||
    die "service status after install does not say automatic start"
  say "service installed twice (the second updated it), status: installed, stopped (exit 3)"
  timeout 60 "$WINE" sc.exe start DanteSync >"$dir/sc-start.log" 2>&1 || true
  local t1=$SECONDS answered=0
  while [ $((SECONDS - t1)) -lt 60 ]; do
    status_rc=0
    "$LINUX_BIN" status 127.0.0.1 --port "$((QUERY + 1))" --json --timeout-ms 300 >"$dir/status-service.json" 2>&1 ||
      status_rc=$?
    if [ "$status_rc" -ne 3 ]; then answered=1; break; fi
    sleep 1
  done
  [ "$answered" = 1 ] || die "the service never answered the query API within 60 s:
$(cat "$dir/sc-start.log")"
  svc 0 status
  say "the service runs under Wine's service manager and answers the query API ($((SECONDS - t1)) s)"
  timeout 60 "$WINE" sc.exe stop DanteSync >"$dir/sc-stop.log" 2>&1 || true
  local t2=$SECONDS stopped=0
  while [ $((SECONDS - t2)) -lt 30 ]; do
    svc_rc=0
    timeout 60 "$WINE" "$EXE" service status >"$dir/service.log" 2>&1 || svc_rc=$?
    if [ "$svc_rc" -eq 3 ]; then stopped=1; break; fi
    sleep 1
  done
  [ "$stopped" = 1 ] || die "the service did not stop within 30 s of sc.exe stop (status exit $svc_rc)"
  local svc_log=$WINEPREFIX/drive_c/ProgramData/DanteSync/logs/dantesync.log
  [ -s "$svc_log" ] || die "the service wrote no log at $svc_log"
  grep -q "service stop" "$svc_log" || die "the service's log does not record the stop:
$(tail -5 "$svc_log")"
  say "sc.exe stop: stopped (exit 3); its log $svc_log records the stop"
  svc 0 uninstall
  svc 4 status
  svc 0 uninstall
  say "service uninstalled twice: not installed (exit 4); what only real Windows can show is in README.md"
  say "inside the namespace: all checks passed"
}

if [ "${1:-}" = --inside ]; then
  inside
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Outside: tools, builds, the prefix, the unit tests; then the namespace part.
# ---------------------------------------------------------------------------------------------
[ -x "$WINE" ] || die "$WINE missing: apt-get install -y --no-install-recommends wine64 (scripts/install-deps.sh)"
command -v x86_64-w64-mingw32-gcc >/dev/null || die "x86_64-w64-mingw32-gcc missing: apt-get install -y gcc-mingw-w64-x86-64"
command -v unshare >/dev/null || die "unshare missing (util-linux)"
[ "$(id -u)" -eq 0 ] || die "needs root for its private network namespace (unshare -n); CI runs as root"

t_start=$SECONDS
rm -rf "$OUT"
mkdir -p "$OUT"
"$WINESERVER" -k 2>/dev/null || true
trap '"$WINESERVER" -k 2>/dev/null || true' EXIT

say "building the Windows and Linux binaries"
cargo build -q -p dantesync --target "$TARGET"
cargo build -q -p dantesync

say "a scratch Wine prefix in $WINEPREFIX"
timeout 120 "$WINE" wineboot --init >"$OUT/wineboot.log" 2>&1 || die "wineboot failed: $(cat "$OUT/wineboot.log")"
rc=0
timeout 60 "$WINE" "$EXE" --version >"$OUT/no-prng.log" 2>&1 || rc=$?
say "without ProcessPrng: 'dantesync.exe --version' exits $rc (53: Wine 8 lacks bcryptprimitives!ProcessPrng)"
x86_64-w64-mingw32-gcc -O2 -shared -o "$OUT/bcryptprimitives.dll" \
  packaging/windows/wine/processprng.c packaging/windows/wine/bcryptprimitives.def -ladvapi32
cp "$OUT/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
version=$(timeout 60 "$WINE" "$EXE" --version) || die "'dantesync.exe --version' fails under Wine even with ProcessPrng"
[ "$version" = "$("$LINUX_BIN" --version)" ] || die "'dantesync.exe --version' says '$version'"
say "with ProcessPrng: $version"

# The unit tests of the crates with Windows code (the clock backend, the daemon's Windows
# timestamps, lock file and service glue), compiled for Windows and run by Wine. The core and the
# simulator are platform-neutral and run on Linux in stage 'test'.
say "unit tests for $TARGET under Wine: dantesync-clock (lib), dantesync (bin)"
rc=0
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE" timeout 1500 \
  cargo test --target "$TARGET" -p dantesync-clock --lib -p dantesync --bins \
  >"$OUT/unit-tests.log" 2>&1 || rc=$?
grep -E '^(test result|     Running|---- |failures)' "$OUT/unit-tests.log" || true
[ "$rc" -eq 0 ] || die "unit tests under Wine failed, exit $rc:
$(grep -A12 -E '^---- |^error' "$OUT/unit-tests.log" | head -60)"
"$WINESERVER" -k 2>/dev/null || true
"$WINESERVER" -w 2>/dev/null || true

# A wineserver already running would hold the sockets outside the namespace: it was stopped
# above, so the one started inside is the namespace's own.
timeout 900 unshare -n bash "$0" --inside
say "OK in $((SECONDS - t_start)) s"
