#!/bin/sh
# sync-monitor.sh: log every node's clock offset through a show, one CSV row per round.
#
#   sync-monitor.sh [interval_s] [output.csv] [options] [snapshot options]
#
#   interval_s         seconds between rounds (default 10); rounds fall on multiples of it
#   output.csv         default sync_monitor_YYYYmmdd_HHMMSS.csv; an existing file with the same
#                      columns is appended to
#   --alert-cmd CMD    run CMD (with sh -c) when a host leaves or rejoins SYNCED; its
#                      environment carries SYNC_HOST, SYNC_LABEL, SYNC_STATUS (SYNCED, DRIFT,
#                      ERROR, OFFLINE), SYNC_PREVIOUS and SYNC_OFFSET_MS (empty when offline)
#   --alert-gap S      at most one alert per host every S seconds (default 60); a change that
#                      still holds when the gap has passed is alerted then
#   --rounds N         stop after N rounds (default: run until Ctrl-C)
#   snapshot options   --hosts H [H ...], --hosts-file FILE, --reference HOST, --timeout S,
#                      --port P: passed to sync-snapshot.py (default hosts:
#                      ~/.config/dantesync/hosts)
#
# Columns, as the earlier DanteSync's monitor wrote them (so its analysis keeps working):
# timestamp (Unix seconds), reference_host, one column per host (offset against the reference in
# ms, N/A when it does not answer), max_diff_ms and min_diff_ms (largest and smallest |offset| of
# the other hosts), spread_ms (max - min of every answering host's offset, the reference's 0
# included). Each round is a fresh sync-snapshot.py process whose row is appended and flushed
# at once: memory stays constant and a host that disappears and comes back is simply N/A
# meanwhile. Read the file with analyze-sync.py.
set -u

here=$(cd "$(dirname "$0")" && pwd)
snapshot="$here/sync-snapshot.py"
py=${PYTHON:-python3}

interval=10
output=""
alert_cmd=""
alert_gap=60
rounds=0
pass=""

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Shell-quotes one argument, so the pass-through list survives eval.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

positional=0
while [ $# -gt 0 ]; do
  case $1 in
    --alert-cmd) [ $# -ge 2 ] || usage; alert_cmd=$2; shift 2 ;;
    --alert-gap) [ $# -ge 2 ] || usage; alert_gap=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
    -h|--help) usage ;;
    --*) pass="$pass $(quote "$1")"; shift ;;
    *)
      if [ -n "$pass" ]; then
        # A value of a pass-through option (--hosts A B, --reference X).
        pass="$pass $(quote "$1")"
      elif [ $positional -eq 0 ]; then
        interval=$1; positional=1
      elif [ $positional -eq 1 ]; then
        output=$1; positional=2
      else
        usage
      fi
      shift
      ;;
  esac
done

case $interval in
  ''|*[!0-9.]*|*.*.*|.) echo "sync-monitor: interval must be a number of seconds, not '$interval'" >&2; exit 2 ;;
esac
# Zero (0, 0.0, .0) would query every node as fast as the machine can: not a monitor.
case $interval in
  *[1-9]*) ;;
  *) echo "sync-monitor: interval must be more than 0 seconds, not '$interval'" >&2; exit 2 ;;
esac
case $alert_gap in
  ''|*[!0-9.]*|*.*.*) echo "sync-monitor: --alert-gap wants a number of seconds" >&2; exit 2 ;;
esac
case $rounds in
  ''|*[!0-9]*) echo "sync-monitor: --rounds wants a whole number" >&2; exit 2 ;;
esac
command -v "$py" >/dev/null 2>&1 || { echo "sync-monitor: $py not found (set PYTHON)" >&2; exit 2; }
[ -n "$output" ] || output="sync_monitor_$(date +%Y%m%d_%H%M%S).csv"

header=$(eval "\"\$py\" -S \"\$snapshot\" $pass --monitor-header") || {
  echo "sync-monitor: cannot list the hosts (see above)" >&2
  exit 2
}
if [ -s "$output" ]; then
  if [ "$(head -n 1 "$output")" != "$header" ]; then
    echo "sync-monitor: $output has other columns; give another file" >&2
    exit 2
  fi
else
  printf '%s\n' "$header" >"$output" || exit 2
fi

state=$(mktemp "${TMPDIR:-/tmp}/sync-monitor-state.XXXXXX") || exit 2
trap 'rm -f "$state" "$state.tmp"; exit 0' INT TERM
trap 'rm -f "$state" "$state.tmp"' EXIT
# An empty file would not parse: start from no state.
rm -f "$state"

after=""
echo "sync-monitor: every ${interval} s into $output (Ctrl-C stops)"
n=0
while [ "$rounds" -eq 0 ] || [ "$n" -lt "$rounds" ]; do
  n=$((n + 1))
  out=$(eval "\"\$py\" -S \"\$snapshot\" $pass --monitor-row --align \"\$interval\" \$after --state \"\$state\" --alert-gap \"\$alert_gap\"")
  row=$(printf '%s\n' "$out" | sed -n 1p)
  case $row in
    [0-9]*)
      printf '%s\n' "$row" >>"$output"
      after="--after ${row%%,*}"
      ;;
    *)
      echo "[$(date +%H:%M:%S)] round $n failed; retrying next round" >&2
      sleep "$interval"
      continue
      ;;
  esac
  printf '%s\n' "$out" | sed -n 's/^INFO	/['"$(date +%H:%M:%S)"'] /p'
  if [ -n "$alert_cmd" ]; then
    us=$(printf '\037')
    printf '%s\n' "$out" | grep "^ALERT$us" | while IFS=$us read -r _ host label status before offset; do
      echo "[$(date +%H:%M:%S)] alert: $host $before -> $status"
      (
        SYNC_HOST=$host SYNC_LABEL=$label SYNC_STATUS=$status SYNC_PREVIOUS=$before \
          SYNC_OFFSET_MS=$offset
        export SYNC_HOST SYNC_LABEL SYNC_STATUS SYNC_PREVIOUS SYNC_OFFSET_MS
        sh -c "$alert_cmd" </dev/null
      ) &
    done
  fi
done
wait
