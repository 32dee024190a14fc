#!/bin/sh
# The monitoring tools' unit tests (parsing, statistics, the --plot picture), stdlib unittest.
# The tools against real daemons and stubs are `cargo test -p dantesync --test monitoring`.
#
#   sh scripts/monitoring-test.sh
#
# Needs python3 and, for the --plot test, matplotlib for that python3; under CI a missing one
# fails (`bash .ci/run` installs both), elsewhere the plot test is skipped with a message.
set -eu
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
command -v "$py" >/dev/null 2>&1 || { echo "monitoring-test: $py not found" >&2; exit 1; }
echo "monitoring-test: $("$py" --version 2>&1) at $(command -v "$py")"
if ! "$py" -c 'import matplotlib' 2>/dev/null; then
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    echo "monitoring-test: matplotlib missing for $py; 'bash .ci/run' installs it" >&2
    exit 1
  fi
  echo "monitoring-test: matplotlib missing for $py: the --plot test is SKIPPED"
fi
exec "$py" -m unittest discover -s scripts/tests -v
