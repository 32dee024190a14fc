#!/bin/sh
# compare-all-targets.sh: every node's clock at one moment, in one table sorted by offset.
#
#   compare-all-targets.sh [snapshot options]
#
# Options go to sync-snapshot.py (--hosts H [H ...], --hosts-file FILE, --reference HOST,
# --timeout S, --port P; default hosts: ~/.config/dantesync/hosts). The table lists the
# answering hosts from the most behind to the most ahead of the reference, each with its gap to
# the one above it, then the hosts that did not answer. Exit status as sync-snapshot.py's: 0
# when every host is SYNCED and locked, 1 otherwise, 2 on usage errors.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
tsv=$("$py" -S "$here/sync-snapshot.py" "$@" --tsv)
rc=$?
[ "$rc" -le 1 ] || exit "$rc"

printf '%s\n' "$tsv" | awk -F '\t' '
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
  name = ($(col["label"]) != "") ? $(col["label"]) " (" $(col["host"]) ")" : $(col["host"])
  if ($(col["reference"]) == "yes") { name = name " *"; ref = $(col["host"]) }
  if ($(col["offset_ms"]) == "") { off[++noff] = name "\t" $(col["status"]); next }
  n++
  key[n] = $(col["offset_ms"]) + 0
  line[n] = sprintf("%-34s %+12.3f %9.3f %-8s %-8s %-4s %s", name, $(col["offset_ms"]),
    $(col["uncertainty_ms"]), $(col["status"]), $(col["mode"]), $(col["locked"]), $(col["flags"]))
}
END {
  # Insertion sort by offset (a table of a venue: tens of hosts).
  for (i = 2; i <= n; i++) {
    k = key[i]; l = line[i]
    for (j = i - 1; j >= 1 && key[j] > k; j--) { key[j + 1] = key[j]; line[j + 1] = line[j] }
    key[j + 1] = k; line[j + 1] = l
  }
  printf "%-34s %12s %9s %10s %-8s %-8s %-4s %s\n", "HOST", "OFFSET ms", "+- ms", "GAP ms", "STATUS", "MODE", "LOCK", "FLAGS"
  for (i = 1; i <= n; i++) {
    gap = (i == 1) ? "" : sprintf("%+.3f", key[i] - key[i - 1])
    printf "%s\n", substr(line[i], 1, 57) sprintf(" %10s", gap) substr(line[i], 58)
  }
  for (i = 1; i <= noff; i++) {
    split(off[i], p, "\t")
    printf "%-34s %12s %9s %10s %s\n", p[1], "-", "-", "", p[2]
  }
  if (n > 0) printf "\nspread %.3f ms over %d answering host(s); reference %s (*)\n", key[n] - key[1], n, ref
  else print "\nno host answered"
}'
exit "$rc"
