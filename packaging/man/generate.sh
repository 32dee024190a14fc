#!/usr/bin/env bash
# The man pages, generated from the docs so that they say what the docs say:
#   dantesync(8)       = dantesync.8.head.md (synopsis, options)      + docs/daemon.md + .tail.md
#   dantesync.json(5)  = dantesync.json.5.head.md                     + docs/config.md + .tail.md
# Each doc's title line is dropped, its sections become the page's sections (man.lua).
#
#   bash packaging/man/generate.sh          rewrite packaging/man/dantesync.8, dantesync.json.5
#   bash packaging/man/generate.sh --check  exit 1 when a committed page is not what the docs give
#
# Needs pandoc (Debian 12's 2.17; scripts/install-deps.sh installs it). Another pandoc version
# may format differently: --check then names both versions.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

command -v pandoc >/dev/null || {
  echo "generate.sh: pandoc not found: apt-get install pandoc (or bash scripts/install-deps.sh)" >&2
  exit 1
}

# page NAME DOC: the man page NAME built from docs/DOC, on stdout.
page() {
  { cat "$1.head.md"; tail -n +2 "../../docs/$2"; cat "$1.tail.md"; } |
    pandoc --from markdown --to man --standalone --lua-filter man.lua
}

pages=("dantesync.8 daemon.md" "dantesync.json.5 config.md")
if [ "${1:-}" = --check ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  stale=0
  for p in "${pages[@]}"; do
    set -- $p
    page "$1" "$2" >"$tmp/$1"
    if ! cmp -s "$tmp/$1" "$1"; then
      echo "generate.sh: packaging/man/$1 is out of date with docs/$2 (or its head/tail):" >&2
      diff -u "$1" "$tmp/$1" | head -40 >&2 || true
      stale=1
    fi
  done
  if [ "$stale" = 1 ]; then
    echo "generate.sh: run 'bash packaging/man/generate.sh' and commit the pages" \
      "(this pandoc: $(pandoc --version | sed -n 1p); the pages name the one that made them" \
      "in their second line)" >&2
    exit 1
  fi
  echo "generate.sh: man pages are up to date with the docs"
  exit 0
fi
for p in "${pages[@]}"; do
  set -- $p
  page "$1" "$2" >"$1"
  echo "generate.sh: wrote packaging/man/$1"
done
