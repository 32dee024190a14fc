#!/usr/bin/env bash
# Installs what the test command needs on Debian 12, and nothing that is already there:
# Debian packages, the Rust components and cross targets, and Python packages.
#
#   bash scripts/install-deps.sh            install what is missing (root, or sudo)
#   bash scripts/install-deps.sh --missing  print what is missing, install nothing
#
# `bash scripts/test.sh` runs it first, so a fresh machine needs no other step. Safe to re-run.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

export DEBIAN_FRONTEND=noninteractive
# tshark, text2pcap: Wireshark cross-checks of the wire codecs (and of the test bed's captures).
# gcc-mingw-w64-x86-64: linker for the Windows cross-build (and the ProcessPrng DLL for Wine).
# wine64: runs the Windows binary and its unit tests (scripts/wine-test.sh); Debian's has no
#   /usr/bin/wine, only /usr/lib/wine/wine64.
# g++: libFuzzer's C++ runtime for the fuzz smoke run.
# qemu-system-x86, busybox-static, cpio: the real-kernel clock test in a qemu guest.
# sntp, ntpsec-ntpdig, chrony, iproute2: NTP interop in network namespaces (query tools;
#   chronyd -x never touches a clock), and the multi-host test bed (crates/dantesync-bed), which
#   needs no iptables: its link emulator is its own.
# chromium, nodejs: the live status page's headless browser test (scripts/ui-test.sh).
# xvfb, imagemagick, dbus-daemon, dbus-bin, haskell-status-notifier-item-utils,
#   haskell-gtk-sni-tray-utils: the tray under a virtual X server with a StatusNotifierWatcher
#   and a standalone SNI tray host, read off screenshots (scripts/tray-test.sh).
# tmux: terminal programs driven by the tests.
# python3, python3-matplotlib: the monitoring tools' tests (analyze-sync.py --plot draws with
#   matplotlib).
# pandoc: the man pages from the docs; debootstrap: the scratch Debian roots of the package
#   test (scripts/package-test.sh).
packages=(tshark gcc-mingw-w64-x86-64 wine64 g++ qemu-system-x86 busybox-static cpio sntp ntpsec-ntpdig
  chrony iproute2 chromium nodejs tmux python3 python3-matplotlib pandoc debootstrap
  xvfb imagemagick dbus-daemon dbus-bin haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils)
rust_components=(clippy rustfmt)
rust_targets=(x86_64-pc-windows-gnu x86_64-unknown-linux-musl)
# Cargo tools, pinned: `cargo deb` builds the .deb (scripts/package-test.sh).
cargo_deb_version=3.8.0

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
missing_rust=()
installed_components=$(rustup component list --installed 2>/dev/null || true)
for c in "${rust_components[@]}"; do
  grep -q "^$c" <<<"$installed_components" || missing_rust+=("component $c")
done
installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in "${rust_targets[@]}"; do
  grep -qx "$t" <<<"$installed_targets" || missing_rust+=("target $t")
done

# The python3 first on PATH runs the monitoring scripts; when it is not Debian's (pyenv, a
# venv), python3-matplotlib does not reach it, so it gets matplotlib from pip.
missing_pip=()
if command -v python3 >/dev/null && ! python3 -c 'import matplotlib' 2>/dev/null; then
  missing_pip+=(matplotlib)
fi
missing_cargo=()
cargo deb --version 2>/dev/null | grep -qw "$cargo_deb_version" ||
  missing_cargo+=("cargo-deb@$cargo_deb_version")

if [ "${1:-}" = --missing ]; then
  echo "${missing[*]} ${missing_rust[*]} ${missing_pip[*]} ${missing_cargo[*]}" |
    sed 's/^ *//; s/ *$//; s/  */ /g'
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -E "$@"
  else
    echo "install-deps: need root to run: $*" >&2
    echo "install-deps: run 'sudo bash scripts/install-deps.sh', or install by hand: ${missing[*]}" >&2
    exit 1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  # wireshark-common asks whether non-root users may capture; answer "no" up front.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' |
    as_root debconf-set-selections
  as_root apt-get update -q
  # Packages must not start services: chrony's would discipline this machine's clock, which no
  # test may touch. policy-rc.d answering 101 ("action forbidden") is what invoke-rc.d and
  # deb-systemd-invoke ask; it is removed again after the install unless it was already there.
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    own_policy=1
  fi
  install_rc=0
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || install_rc=$?
  [ -z "$own_policy" ] || as_root rm -f "$policy"
  [ "$install_rc" -eq 0 ] || exit "$install_rc"
fi

# Whatever installed chrony (this run or an earlier one), its service must not run here.
if command -v systemctl >/dev/null && systemctl is-active --quiet chrony 2>/dev/null; then
  echo "install-deps: chrony.service is running and would adjust this machine's clock: stopping it"
  as_root systemctl stop chrony || true
fi

if [ "${#missing_rust[@]}" -gt 0 ]; then
  echo "install-deps: adding Rust ${missing_rust[*]}"
  rustup component add "${rust_components[@]}"
  rustup target add "${rust_targets[@]}"
fi

if [ "${#missing_pip[@]}" -gt 0 ] && ! python3 -c 'import matplotlib' 2>/dev/null; then
  echo "install-deps: matplotlib missing for $(command -v python3): installing it with pip"
  python3 -m pip install --quiet matplotlib
fi

if [ "${#missing_cargo[@]}" -gt 0 ]; then
  # Built from crates.io with its own lock file; a few minutes on 2 cores, once per machine.
  echo "install-deps: cargo install cargo-deb --version $cargo_deb_version --locked"
  nice cargo install cargo-deb --version "$cargo_deb_version" --locked
fi
