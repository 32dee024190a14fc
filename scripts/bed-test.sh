#!/usr/bin/env bash
# The multi-host test bed as a stage of the test command: the scenarios of issue #12 (steady,
# failover, leader gone, upstream gone, falseticker, network trouble, cable pull, restart,
# abuse, foreign leaders, and the steady run without the link emulator), each in fresh network
# namespaces on a bridge with the real dantesync binary on simulated clocks, measured from
# outside. About 11 minutes on 2 cores, two beds at a time.
#
#   sudo bash scripts/bed-test.sh
#
# Needs root (namespaces, a bridge, raw sockets), chronyd, tshark and iproute2 (installed by
# scripts/install-deps.sh). This machine's clock is never touched: the nodes run simulated
# clocks and the upstream NTP server is `chronyd -x`. The report goes to target/e2e-results.md;
# docs/e2e-results.md is written by a bare `dantesync-bed run` (see README.md) or is a copy of
# this stage's report from a clean-clone CI run; its header names the command and the commit.
# One scenario by name, for debugging: `sudo target/release/dantesync-bed run trouble`.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

if [ "$(id -u)" != 0 ]; then
  echo "bed-test: needs root (network namespaces, a bridge, raw sockets): run the test command as root," >&2
  echo "  or skip this stage on this machine only: DANTESYNC_SKIP_BED=1 bash scripts/test.sh" >&2
  exit 1
fi

# After the package stage this is mostly done: cargo deb built dantesync in release.
cargo build --release -p dantesync -p dantesync-bed
exec target/release/dantesync-bed run --out target/e2e-results.md
