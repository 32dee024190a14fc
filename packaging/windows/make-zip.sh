#!/usr/bin/env bash
# Builds the Windows release zip and its .sha256 from the cross-built dantesync.exe:
#
#   bash packaging/windows/make-zip.sh                  release build, into target/windows-release/
#   bash packaging/windows/make-zip.sh --exe PATH --tray PATH --out DIR    exes already built (tests)
#
# The zip holds, at its top level: dantesync.exe, dantesync-tray.exe, config.example.json (packaging/windows/
# config.json), install.ps1, uninstall.ps1, README.md and the license files that exist. Next to
# it, NAME.zip.sha256 in sha256sum's format ("<hash>  NAME.zip"), which install.ps1 checks.
# Prints the zip's path last.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.."

target=x86_64-pc-windows-gnu
exe=""
tray=""
out=target/windows-release
while [ $# -gt 0 ]; do
  case $1 in
  --exe) exe=$2; shift 2 ;;
  --tray) tray=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  *) echo "make-zip: unknown argument $1 (--exe PATH, --tray PATH, --out DIR)" >&2; exit 2 ;;
  esac
done
if [ -z "$exe" ] || [ -z "$tray" ]; then
  cargo build --release -p dantesync -p dantesync-tray --target "$target"
  exe=${exe:-target/$target/release/dantesync.exe}
  tray=${tray:-target/$target/release/dantesync-tray.exe}
fi
[ -f "$exe" ] || { echo "make-zip: no $exe" >&2; exit 1; }
[ -f "$tray" ] || { echo "make-zip: no $tray" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "make-zip: no version in Cargo.toml" >&2; exit 1; }
name=dantesync-$version-windows-x86_64
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$exe" "$stage/dantesync.exe"
cp "$tray" "$stage/dantesync-tray.exe"
cp packaging/windows/config.json "$stage/config.example.json"
cp packaging/windows/install.ps1 packaging/windows/uninstall.ps1 README.md "$stage/"
for f in LICENSE LICENSE-MIT LICENSE-APACHE; do
  [ ! -f "$f" ] || cp "$f" "$stage/"
done
rm -f "$out/$name.zip" "$out/$name.zip.sha256"
# Python's zipfile: no zip tool needed; entries at the top level, as install.ps1 expects.
python3 - "$stage" "$out/$name.zip" <<'PY'
import os, sys, zipfile
stage, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(stage)):
        z.write(os.path.join(stage, name), name)
PY
(cd "$out" && sha256sum "$name.zip" >"$name.zip.sha256")
echo "$out/$name.zip"
