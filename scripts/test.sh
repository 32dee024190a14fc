#!/usr/bin/env bash
# The one test command: everything CI checks, in order, stopping at the first failing stage.
#
#   bash scripts/test.sh
#
# Stages: fmt, clippy, test, ui, tray, windows, qemu-clock, monitoring, fuzz, servo-bench, package
# (see README.md). Each stage's output goes straight through; each is timed; the last line is
# a one-line summary.
#
# Needs: the Rust toolchain (rustup) on Debian 12. Everything else (tshark, the Windows target
# and linker, a C++ compiler, qemu, chrony, chromium...) is installed first by
# scripts/install-deps.sh, as root or through sudo. `bash .ci/run` (CI) runs this script.
#
# Opt-outs for a developer machine that lacks a tool (refused when CI is set):
#   DANTESYNC_SKIP_TSHARK=1    the tshark cross-checks print SKIPPED instead of failing
#   DANTESYNC_SKIP_WINDOWS=1   the Windows stage (cross-build, clippy, Wine, packaging) is skipped
#   DANTESYNC_SKIP_QEMU=1      the real-kernel clock test in a qemu guest is skipped
# Other knobs: FUZZ_SECONDS (per fuzz target, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

# No test may change this machine's clock: the clock backends refuse writes while this is set.
export DANTESYNC_FORBID_CLOCK_WRITES=1

started=$(date +%s)
shown=""
summary=""
current=""

fail() {
  {
    echo
    echo "test.sh: FAILED at stage '$current': $*"
    echo "test.sh: FAILED at stage '$current' after $(($(date +%s) - started)) s${summary:+ (passed before it: $summary)}"
  } >&2
  exit 1
}

# Runs one stage: `stage NAME COMMAND...`. Fails the whole run, naming the stage, if it fails.
# $shown, when set, is what the stage header prints instead of the command.
stage() {
  current=$1
  shift
  echo
  echo "==== test.sh: stage '$current': ${shown:-$*}"
  shown=""
  local t0 rc=0
  t0=$(date +%s)
  "$@" || rc=$?
  local dt=$(($(date +%s) - t0))
  if [ "$rc" -ne 0 ]; then
    fail "'$*' exited with status $rc after ${dt} s"
  fi
  echo "==== test.sh: stage '$current' passed in ${dt} s"
  summary="${summary:+$summary, }$current ${dt} s"
}

skipped() {
  echo
  echo "==== test.sh: stage '$1' SKIPPED: $2"
  summary="${summary:+$summary, }$1 SKIPPED"
}

# CI must run everything: an opt-out there would hide a missing install step.
if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
  for v in DANTESYNC_SKIP_TSHARK DANTESYNC_SKIP_WINDOWS DANTESYNC_SKIP_QEMU; do
    if [ -n "${!v:-}" ]; then
      current=preflight
      fail "$v is set but CI=$CI: CI runs every stage (unset $v)"
    fi
  done
fi

# Install what is missing (Debian packages, Rust components and targets): on a fresh machine
# this one command is all it takes. Without root or sudo it says what is missing, and the
# checks below say which stage needs it and how to skip that stage on this machine only.
current=install
if ! bash scripts/install-deps.sh; then
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    fail "scripts/install-deps.sh failed: CI installs everything it needs"
  fi
  echo "test.sh: could not install: $(bash scripts/install-deps.sh --missing)" >&2
fi

# Preflight: say what is missing and how to get it, before spending minutes on builds.
current=preflight
command -v cargo >/dev/null || fail "cargo not found: install Rust with rustup"
cargo fmt --version >/dev/null 2>&1 || fail "rustfmt missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || fail "clippy missing: rustup component add clippy"
if [ "${DANTESYNC_SKIP_TSHARK:-}" != 1 ]; then
  for tool in tshark text2pcap; do
    command -v "$tool" >/dev/null ||
      fail "$tool not found: the Wireshark cross-checks need it.
  Install: DEBIAN_FRONTEND=noninteractive apt-get install -y tshark   (or run 'sudo bash scripts/install-deps.sh')
  Or skip those checks on this machine only: DANTESYNC_SKIP_TSHARK=1 bash scripts/test.sh"
  done
fi
command -v c++ >/dev/null || fail "no C++ compiler (c++) for libFuzzer: apt-get install -y g++"

win_target=x86_64-pc-windows-gnu
win_linker=x86_64-w64-mingw32-gcc
win_missing=""
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$win_target" ]; then
  win_missing="the Rust target $win_target (rustup target add $win_target)"
fi
if ! command -v "$win_linker" >/dev/null; then
  win_missing="${win_missing:+$win_missing and }the linker $win_linker (apt-get install -y gcc-mingw-w64-x86-64)"
fi
if [ ! -x /usr/lib/wine/wine64 ]; then
  win_missing="${win_missing:+$win_missing and }Wine (apt-get install -y --no-install-recommends wine64)"
fi
if [ -n "$win_missing" ] && [ "${DANTESYNC_SKIP_WINDOWS:-}" != 1 ]; then
  fail "the Windows stage needs $win_missing.
  'sudo bash scripts/install-deps.sh' installs them; or skip that stage on this machine only:
  DANTESYNC_SKIP_WINDOWS=1 bash scripts/test.sh"
fi

echo "test.sh: versions"
rustc --version
cargo --version
cargo clippy --version
cargo fmt --version
command -v tshark >/dev/null && tshark --version | sed -n 1p
command -v "$win_linker" >/dev/null && "$win_linker" --version | sed -n 1p
[ -x /usr/lib/wine/wine64 ] && echo "wine64 $(/usr/lib/wine/wine64 --version 2>/dev/null)"
c++ --version | sed -n 1p
command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 --version | sed -n 1p
command -v chromium >/dev/null && chromium --version 2>/dev/null | sed -n 1p
echo "$(python3 --version 2>&1) at $(command -v python3), matplotlib $(python3 -c 'import matplotlib; print(matplotlib.__version__)' 2>/dev/null || echo missing), $(tmux -V 2>/dev/null || echo 'tmux missing')"
echo "node $(node --version 2>/dev/null || echo missing), npm $(npm --version 2>/dev/null || echo missing)"
echo "test.sh: CI=${CI:-} cwd=$(pwd) cores=$(nproc)"

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets -- -D warnings
# The log is kept only to total the per-binary "test result:" lines for the summary.
test_log=target/test-sh-cargo-test.log
# Two daemon tests mostly wait (NTP manners: two 64 s polls; the fleet authority: D announced
# and a coordinated correction, about 85 s): they run beside the rest, not after it, and are
# left out of the main run by name (--skip). Both outputs are printed and both must pass.
side_tests=(a_server_outside_the_lan_gets_one_request_per_64_s_after_its_initial_burst
  a_client_hears_the_masters_d_and_a_correction_asked_on_loopback)
cargo_test() {
  mkdir -p target
  local side_log=target/test-sh-side-tests.log side_rc=0 main_rc=0 skips=() t
  for t in "${side_tests[@]}"; do skips+=(--skip "$t"); done
  # Build every test binary first, so that the two runs below do not wait on each other's build.
  cargo test --workspace --no-run
  # --workspace here too: the same features as the main run, so nothing is built again.
  cargo test --workspace --test ntp_manners --test fleet_authority -- --exact "${side_tests[@]}" \
    >"$side_log" 2>&1 &
  local side=$!
  cargo test --workspace --no-fail-fast -- "${skips[@]}" 2>&1 | tee "$test_log" || main_rc=$?
  wait "$side" || side_rc=$?
  echo "==== test.sh: the tests run beside the others (${side_tests[*]}):"
  cat "$side_log"
  cat "$side_log" >>"$test_log"
  [ "$main_rc" -eq 0 ] && [ "$side_rc" -eq 0 ]
}
shown="cargo test --workspace --no-fail-fast (two waiting daemon tests beside it) | tee $test_log" \
  stage test cargo_test
tests_total=$(awk '/^test result:/ { p += $4; f += $6; i += $8 }
  END { printf "%d passed, %d failed, %d ignored", p, f, i }' "$test_log")
# The live status page in headless Chromium; without chromium or node it is skipped, except
# in CI, where a missing tool fails the run.
ui_missing=$(bash scripts/ui-test.sh --missing)
if [ -z "$ui_missing" ]; then
  stage ui bash scripts/ui-test.sh
elif [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
  current=ui
  fail "missing $ui_missing; 'sudo bash scripts/install-deps.sh' installs them"
else
  skipped ui "missing $ui_missing"
fi
# The tray under Xvfb with a tray host, its icon's colours read off screenshots; skipped
# without its tools, except in CI.
tray_missing=$(bash scripts/tray-test.sh --missing)
if [ -z "$tray_missing" ]; then
  stage tray bash scripts/tray-test.sh
elif [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
  current=tray
  fail "missing $tray_missing; 'sudo bash scripts/install-deps.sh' installs them"
else
  skipped tray "missing $tray_missing"
fi
if [ "${DANTESYNC_SKIP_WINDOWS:-}" = 1 ]; then
  skipped windows "DANTESYNC_SKIP_WINDOWS=1${win_missing:+ (missing: $win_missing)}"
else
  # The cross-build, clippy for the Windows target, the Windows binary and its unit tests
  # under Wine (scripts/wine-test.sh), then install.ps1/uninstall.ps1's syntax and the release
  # zip (packaging/windows/check.sh).
  windows_stage() {
    cargo build --workspace --target "$win_target" &&
      cargo clippy --workspace --all-targets --target "$win_target" -- -D warnings &&
      bash scripts/wine-test.sh &&
      bash packaging/windows/check.sh
  }
  shown="cargo build + clippy -D warnings --target $win_target; scripts/wine-test.sh; packaging/windows/check.sh" \
    stage windows windows_stage
fi
# The Linux clock backend's writes are tested only on a real kernel inside a throw-away qemu
# guest (software emulation): this machine's clock is never touched.
if [ "${DANTESYNC_SKIP_QEMU:-}" = 1 ]; then
  skipped qemu-clock "DANTESYNC_SKIP_QEMU=1"
else
  stage qemu-clock bash scripts/qemu-clock-test.sh
fi
stage monitoring sh scripts/monitoring-test.sh
stage fuzz bash scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-20}"
stage servo-bench cargo run --release -p dantesync-sim --bin servo-bench -- --out target/servo-bench.md
# The .deb and install.sh/uninstall.sh in scratch Debian 12 roots, and the man pages' freshness.
stage package bash scripts/package-test.sh

echo
skips=""
[ "${DANTESYNC_SKIP_TSHARK:-}" = 1 ] && skips="; tshark cross-checks SKIPPED"
echo "test.sh: OK in $(($(date +%s) - started)) s: $summary; cargo test: $tests_total$skips"
