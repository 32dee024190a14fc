#!/usr/bin/env bash
# bench-snapshot.sh: how long sync-snapshot.py takes for a large fleet, and what sync-monitor.sh
# costs per round.
#
#   bash scripts/bench-snapshot.sh [hosts] [runs] [rounds]     (defaults 200, 10, 10)
#
# Starts `hosts` stub responders (scripts/query-stub.py, one process, one socket per address)
# on 127.0.1.1, 127.0.1.2, ... (Linux answers on all of 127.0.0.0/8; no address is added
# anywhere), then:
#   1. times `runs` snapshots of all of them, the whole process (python start included), once
#      with stubs that answer the extended query (as dantesync does) and once with compact-only
#      ones (as the earlier DanteSync), and notes the largest |offset| reported (all are at 0);
#   2. runs sync-monitor.sh for `rounds` rounds one second apart and divides the CPU time
#      (user + system) of it and everything it starts by the rounds;
#   3. the same monitor run against 5 of the hosts, a small venue.
# Prints a Markdown table. The stubs are killed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
runs=${2:-10}
rounds=${3:-10}
py=${PYTHON:-python3}
port=31977
dir=$(mktemp -d)
stub_pid=""
cleanup() {
  [ -z "$stub_pid" ] || kill "$stub_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

start_stubs() {
  [ -z "$stub_pid" ] || { kill "$stub_pid"; wait "$stub_pid" 2>/dev/null || true; }
  "$py" scripts/query-stub.py "$@" --count "$n" --first 127.0.1.1 --port "$port" >"$dir/stub.log" 2>&1 &
  stub_pid=$!
  for _ in $(seq 50); do
    grep -q ready "$dir/stub.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "ready $n" "$dir/stub.log" || { cat "$dir/stub.log"; exit 1; }
}

hosts=()
for i in $(seq 1 "$n"); do
  hosts+=("127.0.$((1 + i / 256)).$((i % 256)):$port")
done

# Snapshot wall time (whole process), and the largest |offset| any run reported: every stub
# runs on this machine's clock, so that is the measurement's own error.
snapshots() {
  local times=() worst_off=0
  for _ in $(seq "$runs"); do
    local rc=0 t0 t1
    t0=$(date +%s%N)
    "$py" scripts/sync-snapshot.py --tsv --hosts "${hosts[@]}" >"$dir/snap.tsv" || rc=$?
    t1=$(date +%s%N)
    # 1 is a verdict (not all SYNCED); anything else is a failure.
    [ "$rc" -le 1 ] || { cat "$dir/snap.tsv"; exit 1; }
    times+=($(((t1 - t0) / 1000000)))
    worst_off=$(awk -F '\t' -v w="$worst_off" 'NR > 1 { v = $4 < 0 ? -$4 : $4; if (v > w) w = v }
      NR > 1 && $4 == "" { off++ } END { if (off) { print "offline" } else printf "%.3f", w }' "$dir/snap.tsv")
    [ "$worst_off" != offline ] || { echo "hosts did not answer:"; grep OFFLINE "$dir/snap.tsv" | head; exit 1; }
  done
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  echo "median $(printf '%s\n' "$sorted" | sed -n "$(((runs + 1) / 2))p") ms, best $(printf '%s\n' "$sorted" | head -n 1) ms, worst $(printf '%s\n' "$sorted" | tail -n 1) ms | $worst_off ms"
}

start_stubs --extended
extended=$(snapshots)
start_stubs
compact=$(snapshots)
start_stubs --extended

# 2./3. Monitor CPU per round: the children's user + system time, from `times` in a subshell.
monitor_cpu() {
  ( sh scripts/sync-monitor.sh 1 "$dir/mon.csv" --rounds "$rounds" --hosts "$@" >/dev/null
    times ) | tail -n 1 | awk -v r="$rounds" '{
      split($1, u, "m"); split($2, s, "m"); sub("s", "", u[2]); sub("s", "", s[2])
      printf "%.0f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 / r }'
}
rm -f "$dir/mon.csv"
cpu_big=$(monitor_cpu "${hosts[@]}")
rows=$(($(wc -l <"$dir/mon.csv") - 1))
rm -f "$dir/mon.csv"
cpu_small=$(monitor_cpu "${hosts[@]:0:5}")

echo
echo "| what | time | largest \|offset\| reported (all stubs are at 0) |"
echo "|---|---|---|"
echo "| snapshot of $n extended-query stubs, whole process, $runs runs | $extended |"
echo "| snapshot of $n compact-only stubs, whole process, $runs runs | $compact |"
echo
echo "| what | CPU (user + system) |"
echo "|---|---|"
echo "| sync-monitor.sh, $n extended-query stubs, $rounds rounds ($rows rows written) | $cpu_big ms per round |"
echo "| sync-monitor.sh, 5 of them, $rounds rounds | $cpu_small ms per round |"
echo
echo "($("$py" --version 2>&1), $(nproc) cores, $(uname -sr))"
