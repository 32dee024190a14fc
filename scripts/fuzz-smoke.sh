#!/usr/bin/env bash
# Builds every cargo-fuzz target with libFuzzer instrumentation on the stable toolchain and runs
# each one for a bounded time, seeded with the real captures' payloads. A crash fails the run.
#
#   scripts/fuzz-smoke.sh [SECONDS_PER_TARGET]     (default 20)
#
# With cargo-fuzz and a nightly toolchain the same targets run as `cargo fuzz run <target>`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^dantesync-fuzz$')

# The same instrumentation cargo-fuzz asks rustc for, minus the sanitizer (which needs nightly).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-fuzz/target}
# An explicit --target keeps the instrumentation out of build scripts and proc macros, which
# would otherwise fail to link against the coverage callbacks.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --manifest-path fuzz/Cargo.toml --bins --target "$host"

for t in $targets; do
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus" fuzz/artifacts/$t
  # Seeds: the checked-in ones (real payloads taken from the shared captures).
  if [ -d fuzz/seeds/$t ]; then cp -n fuzz/seeds/$t/* "$corpus"/ 2>/dev/null || true; fi
  echo "fuzz: $t for ${secs}s"
  # -timeout: an input taking over 5 s is a hang and fails the run at once (libFuzzer's default
  # is 20 minutes); the outer timeout bounds the whole target even if libFuzzer itself stalls.
  timeout -k 10 $((secs + 120)) "$CARGO_TARGET_DIR/$host/release/$t" "$corpus" \
    -max_total_time="$secs" -timeout=5 -max_len=2048 \
    -artifact_prefix=fuzz/artifacts/$t/ -print_final_stats=1 2>&1 | tail -n 12
done
echo "fuzz: all targets ran without a crash"
