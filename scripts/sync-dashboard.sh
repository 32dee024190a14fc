#!/bin/sh
# sync-dashboard.sh: a live terminal view of every node, redrawn in place once a second.
#
#   sync-dashboard.sh [--interval S] [--history N] [snapshot options]
#
# Per host: status (SYNCED, DRIFT, ERROR, OFFLINE), mode, lock, offset from the reference,
# drift, leader and flags; then the spread and a sparkline of the spread over the last N rounds
# (default 180: three minutes at one round a second). Colours when the terminal has them; plain
# text when the output is not a terminal or NO_COLOR is set. Quits on q or Ctrl-C.
# Snapshot options (--hosts H [H ...], --hosts-file FILE, --reference HOST, --port P) go to
# sync-snapshot.py; default hosts: ~/.config/dantesync/hosts.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
interval=1
history_max=180
pass=""

quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
while [ $# -gt 0 ]; do
  case $1 in
    --interval) [ $# -ge 2 ] || exit 2; interval=$2; shift 2 ;;
    --history) [ $# -ge 2 ] || exit 2; history_max=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pass="$pass $(quote "$1")"; shift ;;
  esac
done
case $interval in
  ''|*[!0-9]*|0) echo "sync-dashboard: --interval wants a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
case $history_max in
  ''|*[!0-9]*|0) echo "sync-dashboard: --history wants a whole number, at least 1" >&2; exit 2 ;;
esac
command -v "$py" >/dev/null 2>&1 || { echo "sync-dashboard: $py not found (set PYTHON)" >&2; exit 2; }

colour=0
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ] && [ "$(tput colors 2>/dev/null || echo 0)" -ge 8 ]; then
  colour=1
fi
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
  *UTF-8*|*utf8*|*UTF8*|*utf-8*) spark="▁▂▃▄▅▆▇█" ;;
  *) spark="_.-=+*#@" ;;
esac

tty_state=""
if [ -t 0 ]; then
  tty_state=$(stty -g)
  # Keys arrive one at a time, unechoed; a read waits at most a tenth of a second.
  stty -icanon -echo min 0 time 1
fi
cleanup() {
  [ -z "$tty_state" ] || stty "$tty_state"
  [ "$colour" -eq 0 ] || printf '\033[0m\033[?25h'
  printf '\n'
}
trap 'cleanup; exit 0' INT TERM
trap 'cleanup' EXIT
[ "$colour" -eq 0 ] || printf '\033[?25l\033[2J'

esc=$(printf '\033')
history=""
count=0
while :; do
  started=$(date +%s)
  tsv=$(eval "\"\$py\" -S \"\$here/sync-snapshot.py\" $pass --tsv --timeout 0.3 --samples 2")
  rc=$?
  if [ "$rc" -gt 1 ]; then
    echo "sync-dashboard: sync-snapshot.py failed (status $rc)" >&2
    exit "$rc"
  fi
  spread=$(printf '%s\n' "$tsv" | awk -F '\t' '
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $(c["offset_ms"]) != "" { v = $(c["offset_ms"]) + 0; if (n == 0 || v > hi) hi = v; if (n == 0 || v < lo) lo = v; n++ }
    END { if (n) printf "%.3f", hi - lo; else printf "-" }')
  if [ "$spread" != "-" ]; then
    history="$history $spread"
    count=$((count + 1))
    if [ "$count" -gt "$history_max" ]; then
      history=${history# }
      history=" ${history#* }"
      count=$((count - 1))
    fi
  fi
  frame=$(printf '%s\n' "$tsv" | LC_ALL=C awk -F '\t' -v colour="$colour" -v hist="$history" \
    -v spark="$spark" -v spread="$spread" -v now="$(date '+%Y-%m-%d %H:%M:%S')" '
    function paint(s, code) { return colour ? "\033[" code "m" s "\033[0m" : s }
    function status_code(s) { return s == "SYNCED" ? "32" : s == "DRIFT" ? "33" : s == "OFFLINE" ? "90" : "31" }
    NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    {
      n++
      nm = ($(c["label"]) != "") ? $(c["label"]) : $(c["host"])
      if ($(c["reference"]) == "yes") { nm = nm " *"; ref = nm }
      st = $(c["status"])
      if (st != "SYNCED" || $(c["locked"]) != "yes") bad++
      off = ($(c["offset_ms"]) == "") ? "-" : sprintf("%+.3f", $(c["offset_ms"]))
      dr = ($(c["drift_ppm"]) == "") ? "-" : sprintf("%+.3f", $(c["drift_ppm"]))
      row[n] = sprintf("%-22s %s %-8s %-4s %11s %11s  %-17s %s", substr(nm, 1, 22),
        paint(sprintf("%-8s", st), status_code(st)), $(c["mode"]), $(c["locked"]), off, dr,
        $(c["leader"]), $(c["flags"]))
    }
    END {
      verdict = bad ? paint("NOT ALL SYNCED (" bad " of " n ")", "1;31") : paint("ALL SYNCED (" n " hosts)", "1;32")
      print "dantesync fleet   " now "   " verdict
      print ""
      printf "%-22s %-8s %-8s %-4s %11s %11s  %-17s %s\n", "HOST", "STATUS", "MODE", "LOCK", "OFFSET ms", "DRIFT us/s", "LEADER", "FLAGS"
      for (i = 1; i <= n; i++) print row[i]
      print ""
      k = split(hist, h, " ")
      hi = 0
      for (i = 1; i <= k; i++) if (h[i] + 0 > hi) hi = h[i] + 0
      line = ""
      levels = length(spark)
      utf = (levels > 8)
      if (utf) levels = 8
      for (i = 1; i <= k; i++) {
        lv = (hi > 0) ? int((h[i] / hi) * (levels - 1) + 0.5) : 0
        line = line (utf ? substr(spark, lv * 3 + 1, 3) : substr(spark, lv + 1, 1))
      }
      printf "spread %s ms   (reference %s)\n", spread, ref ? ref : "-"
      printf "last %d rounds, max %.3f ms: %s\n", k, hi, line
      print ""
      print "q quits"
    }')
  if [ "$colour" -eq 1 ]; then
    printf '\033[H%s\033[J' "$(printf '%s\n' "$frame" | sed "s/\$/${esc}[K/")"
  else
    printf '\n%s\n' "$frame"
  fi
  # Look for a q at least once a round (a slow round, with hosts offline, can take the whole
  # interval), then wait out the rest of it a tenth of a second at a time.
  while :; do
    if [ -n "$tty_state" ]; then
      key=$(dd bs=1 count=1 2>/dev/null)
      case $key in q|Q) exit 0 ;; esac
    else
      sleep 0.2
    fi
    [ $(($(date +%s) - started)) -lt "$interval" ] || break
  done
done
