#!/usr/bin/env bash
# NTP server throughput: dantesync's built-in server against `chronyd -x` serving the same load
# on the same machine, one after the other, each on loopback inside a private network namespace
# (`unshare -n`; needs root). The load is crates/dantesync/examples/ntp_load.rs: SOCKETS
# sockets keep WINDOW requests each in flight for SECONDS and count the valid replies. Server
# CPU is utime+stime of the server process from /proc/PID/stat, before and after the load.
#
#   scripts/ntp-bench.sh [SECONDS] [SOCKETS] [WINDOW]        (defaults 10 4 16)
#
# dantesync runs with a simulated clock (the host clock is never touched) as a stratum 8 local
# reference, and with "rate_limit": false: its per-client limit would otherwise answer each of
# the few load sockets 4 times a second. chronyd runs with -x (never touches the clock),
# `local stratum 8`, `allow 127/8` and no `ratelimit` directive (chrony's default: no limit).
# Both use their defaults otherwise, and both are release builds / distribution binaries.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

seconds=${1:-10}
sockets=${2:-4}
window=${3:-16}

if [ -z "${NTP_BENCH_IN_NETNS:-}" ]; then
  command -v chronyd >/dev/null || {
    echo "ntp-bench: chronyd is missing: apt-get install chrony" >&2
    exit 1
  }
  cargo build --release -q -p dantesync --bin dantesync --example ntp_load
  exec unshare -n env NTP_BENCH_IN_NETNS=1 bash "$0" "$@"
fi

ip link set lo up
target_dir=${CARGO_TARGET_DIR:-target}
bin=$target_dir/release/dantesync
load=$target_dir/release/examples/ntp_load
dir=$(mktemp -d /tmp/ntp-bench.XXXXXX)
chmod 700 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_for() { # FILE TEXT
  for _ in $(seq 1 150); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ntp-bench: no \"$2\" in $1:" >&2
  cat "$1" >&2
  exit 1
}

# measure NAME PID PORT: one warm-up second, then the measured run; prints a table row.
measure() {
  "$load" "127.0.0.1:$3" 1 "$sockets" "$window" >/dev/null
  local before after out
  before=$(cpu_ticks "$2")
  out=$("$load" "127.0.0.1:$3" "$seconds" "$sockets" "$window")
  after=$(cpu_ticks "$2")
  echo "$out" >"$dir/$1.out"
  awk -v name="$1" -v ticks="$((after - before))" -v tck="$tck" -v line="$out" 'BEGIN {
    n = split(line, kv, " ");
    for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
    cpu_s = ticks / tck;
    printf "| %-21s | %10.0f | %23.1f%% | %31.1f | %d | %d | %d |\n",
      name, v["answered"] / v["seconds"], 100 * cpu_s / v["seconds"],
      1000 * cpu_s / v["answered"] * 1000, v["sent"], v["answered"], v["kod"] + v["invalid"]
  }'
}

rows=()

# --- dantesync ---------------------------------------------------------------------------
cat >"$dir/dantesync.json" <<EOF
{
  "clock": {"kind": "simulated", "drift_ppm": 0.0, "offset_ms": 0.0},
  "ptp": {"event_port": 31319, "general_port": 31320},
  "ntp_server_mode": {"enabled": true, "port": 123, "bind": "127.0.0.1", "local_stratum": 8,
                      "rate_limit": false},
  "query_api": {"enabled": false},
  "http_status": {"enabled": false},
  "state_file": "$dir/state.json",
  "log": {"level": "info"}
}
EOF
"$bin" --config "$dir/dantesync.json" >"$dir/dantesync.log" 2>&1 &
pid=$!
pids+=("$pid")
wait_for "$dir/dantesync.log" "serving NTP on"
rows+=("$(measure "dantesync $(git describe --always --dirty 2>/dev/null || echo)" "$pid" 123)")
kill "$pid"
wait "$pid" 2>/dev/null || true

# --- chronyd -x --------------------------------------------------------------------------
cat >"$dir/chrony.conf" <<EOF
port 123
bindaddress 127.0.0.1
local stratum 8
allow 127/8
cmdport 0
bindcmdaddress $dir/chronyd.sock
pidfile $dir/chronyd.pid
driftfile $dir/chrony.drift
EOF
chronyd -x -d -u root -f "$dir/chrony.conf" >"$dir/chronyd.log" 2>&1 &
pid=$!
pids+=("$pid")
wait_for "$dir/chronyd.log" "Disabled control of system clock"
sleep 0.5
rows+=("$(measure "chronyd $(chronyd --version | awk '{print $4}') -x" "$pid" 123)")
kill "$pid"
wait "$pid" 2>/dev/null || true

echo
echo "NTP server on loopback: $sockets sockets x $window requests in flight, $seconds s" \
  "($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo
echo "| server                | answered/s | server CPU (of one core) | server CPU ms per 1000 requests | sent | answered | KoD or invalid |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do echo "$r"; done
