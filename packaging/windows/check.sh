#!/usr/bin/env bash
# Checks the Windows packaging without Windows (scripts/test.sh stage "windows"):
#
#   bash packaging/windows/check.sh [--exe PATH]    default exe: the debug cross-build
#                                                   (and dantesync-tray.exe beside it)
#
# 1. install.ps1 and uninstall.ps1 parse as PowerShell. PowerShell itself cannot be installed
#    here (no registry reachable from CI ships it), so ps-check/ parses them with the
#    tree-sitter PowerShell grammar (npm: tree-sitter-powershell's WebAssembly build, run by
#    web-tree-sitter), plus two checks by pattern; ps-check/check.mjs says which. The checker
#    is tested first: its self-test must reject broken scripts, and a copy of install.ps1 with
#    one brace removed must fail.
# 2. make-zip.sh builds the release zip: its entries, its .sha256 (sha256sum -c, and a damaged
#    copy must fail), and the example configuration that install.ps1 copies, checked with
#    `dantesync config check`.
# What only real Windows can show (the scripts running, the service) is in README.md.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

exe=target/x86_64-pc-windows-gnu/debug/dantesync.exe
[ "${1:-}" != --exe ] || exe=$2
tray=$(dirname "$exe")/dantesync-tray.exe
work=target/windows-check
rm -rf "$work"
mkdir -p "$work"

die() {
  echo "windows-check: FAILED: $*" >&2
  exit 1
}

command -v node >/dev/null || die "node missing (apt-get install -y nodejs)"
command -v npm >/dev/null || die "npm missing (apt-get install -y npm)"
npm ci --prefix packaging/windows/ps-check --silent
check() { node packaging/windows/ps-check/check.mjs "$@"; }

echo "windows-check: the PowerShell checker's self-test"
check --self-test
echo "windows-check: install.ps1 and uninstall.ps1"
check packaging/windows/install.ps1 packaging/windows/uninstall.ps1
# A real script broken by one character must fail the check.
sed '0,/^} finally {$/s//finally {/' packaging/windows/install.ps1 >"$work/broken.ps1"
cmp -s packaging/windows/install.ps1 "$work/broken.ps1" && die "could not break install.ps1 for the test"
if check "$work/broken.ps1" >"$work/broken.out"; then
  die "install.ps1 without the brace before 'finally' passed the check"
fi
echo "windows-check: install.ps1 with one brace removed is rejected: $(head -1 "$work/broken.out")"

echo "windows-check: the release zip"
[ -f "$exe" ] || cargo build -q -p dantesync --target x86_64-pc-windows-gnu
[ -f "$tray" ] || cargo build -q -p dantesync-tray --target x86_64-pc-windows-gnu
zip=$(bash packaging/windows/make-zip.sh --exe "$exe" --tray "$tray" --out "$work/zip" | tail -1)
entries=$(python3 -c '
import sys, zipfile
print(" ".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' "$zip")
for want in README.md config.example.json dantesync.exe dantesync-tray.exe install.ps1 uninstall.ps1; do
  [[ " $entries " == *" $want "* ]] || die "$zip lacks $want (has: $entries)"
done
(cd "$(dirname "$zip")" && sha256sum -c --quiet "$(basename "$zip").sha256") || die "the .sha256 does not match"
cp "$zip" "$work/damaged.zip"
printf 'x' | dd of="$work/damaged.zip" bs=1 seek=100 conv=notrunc status=none
sed "s/ .*/  damaged.zip/" "$zip.sha256" >"$work/damaged.zip.sha256"
if (cd "$work" && sha256sum -c --quiet damaged.zip.sha256 >/dev/null 2>&1); then
  die "a damaged zip passed its hash check"
fi
python3 -c '
import sys, zipfile
sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("config.example.json"))' "$zip" \
  >"$work/config.example.json"
cargo build -q -p dantesync
target/debug/dantesync config check "$work/config.example.json" >"$work/config-check.out" ||
  die "the example configuration in the zip is not valid: $(cat "$work/config-check.out")"
echo "windows-check: $(basename "$zip"): entries $entries; SHA-256 checked; a damaged copy is refused; config.example.json valid"
echo "windows-check: OK"
