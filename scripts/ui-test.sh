#!/usr/bin/env bash
# The live status page in headless Chromium (tests/ui): `npm ci`, then the Playwright test,
# which starts a daemon on a simulated clock and `dantesync gm-sim` on loopback and keeps a
# screenshot in target/ui/status-page.png.
#
#   bash scripts/ui-test.sh             run it
#   bash scripts/ui-test.sh --missing   print what is missing to run it (nothing: all there)
#
# Needs Debian's chromium (/usr/bin/chromium, or CHROMIUM=PATH) and node >= 20 with npm;
# playwright-core drives that browser and never downloads one. Without them the stage prints
# SKIPPED on a developer machine; with CI set it fails naming what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium=${CHROMIUM:-/usr/bin/chromium}
missing=()
[ -x "$chromium" ] || missing+=("chromium at $chromium (apt-get install -y chromium)")
command -v node >/dev/null || missing+=("node (apt-get install -y nodejs)")
command -v npm >/dev/null || missing+=("npm (apt-get install -y npm)")
if command -v node >/dev/null; then
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || missing+=("node >= 20 (found $(node --version)): playwright-core needs it")
fi
if [ "${1:-}" = --missing ]; then
  [ "${#missing[@]}" -eq 0 ] || echo "${missing[*]}"
  exit 0
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ -n "${CI:-}" ] && [ "${CI}" != "false" ]; then
    echo "ui-test: FAILED: missing ${missing[*]}; 'bash .ci/run' as root installs them" >&2
    exit 1
  fi
  echo "ui-test: SKIPPED: missing ${missing[*]}"
  exit 0
fi

# The daemon binary exactly as `cargo test --workspace` builds it (after the test stage this
# is a no-op; run alone, it builds what is stale, so the page tested is the current one).
bin=$(cargo test --workspace --no-run --message-format=json 2>/dev/null | node -e '
  let out = "";
  require("readline").createInterface({ input: process.stdin }).on("line", (l) => {
    const m = JSON.parse(l);
    if (m.reason === "compiler-artifact" && m.target.name === "dantesync" &&
        m.target.kind.includes("bin") && !m.profile.test && m.executable) out = m.executable;
  }).on("close", () => console.log(out));')
[ -x "$bin" ] || { echo "ui-test: FAILED: could not build the dantesync binary (cargo test --workspace --no-run)" >&2; exit 1; }
export DANTESYNC_BIN="$bin" CHROMIUM="$chromium"
npm ci --prefix tests/ui --no-audit --no-fund
npm test --prefix tests/ui
