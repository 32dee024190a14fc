#!/usr/bin/env bash
# bench-snapshot.sh: how long sync-snapshot.py takes for a large fleet, and what sync-monitor.sh
# costs per round.
#
#   bash scripts/bench-snapshot.sh [hosts] [runs] [rounds]     (defaults 200, 10, 10)
#
# Starts `hosts` compact-only stub responders (scripts/query-stub.py, one process, one socket
# per address) on 127.0.1.1, 127.0.1.2, ... (Linux answers on all of 127.0.0.0/8; no address is
# added anywhere), then:
#   1. times `runs` snapshots of all of them, the whole process (python start included);
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

"$py" scripts/query-stub.py --count "$n" --first 127.0.1.1 --port "$port" >"$dir/stub.log" 2>&1 &
stub_pid=$!
for _ in $(seq 50); do
  grep -q ready "$dir/stub.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "ready $n" "$dir/stub.log" || { cat "$dir/stub.log"; exit 1; }

hosts=()
for i in $(seq 0 $((n - 1))); do
  hosts+=("127.0.$((1 + (i + 1) / 256)).$(((i + 1) % 256)):$port")
done

# 1. Snapshot wall time, whole process.
times_ms=()
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  "$py" scripts/sync-snapshot.py --brief --hosts "${hosts[@]}" >"$dir/snap.txt" || {
    cat "$dir/snap.txt"
    exit 1
  }
  t1=$(date +%s%N)
  times_ms+=($(((t1 - t0) / 1000000)))
done
head -n 1 "$dir/snap.txt" >&2
sorted=$(printf '%s\n' "${times_ms[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | sed -n "$(((runs + 1) / 2))p")
worst=$(printf '%s\n' "$sorted" | tail -n 1)
best=$(printf '%s\n' "$sorted" | head -n 1)

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
echo "| what | result |"
echo "|---|---|"
echo "| snapshot of $n stub hosts, whole process, $runs runs | median $median ms, best $best ms, worst $worst ms |"
echo "| sync-monitor.sh, $n hosts, $rounds rounds ($rows rows written) | $cpu_big ms CPU per round |"
echo "| sync-monitor.sh, 5 hosts, $rounds rounds | $cpu_small ms CPU per round |"
echo
echo "($("$py" --version 2>&1), $(nproc) cores, $(uname -sr))"
