#!/usr/bin/env bash
# The clock backend on a real Linux kernel: boots a Debian kernel in qemu (software emulation,
# no KVM needed) with an initramfs holding busybox and a static dantesync, runs
#   dantesync clock-test --i-understand-this-adjusts-the-clock
# in the guest (set +100 and -250 ppm and measure each against CLOCK_MONOTONIC_RAW, step +1.5 s
# and back), prints what it measured, and fails unless every measurement passed.
#
# Then, in the same guest, the daemon disciplines the guest's real kernel clock against a leader
# simulated on the guest's loopback (`dantesync gm-sim --timebase raw --drift-ppm 40`: its uptime
# runs on CLOCK_MONOTONIC_RAW, which the daemon's corrections cannot drag along) and must reach
# LOCK within 60 s; the clock's rate is then measured without changing it
# (`clock-test --measure-only`) and must be the leader's +40 ppm within 1 ppm. The daemon's NTP
# time comes from a second dantesync in the guest (a local_stratum master on loopback): once it
# is confirmed, adjtimex must report STA_UNSYNC clear and maxerror below 100 ms
# (`clock-test --kernel-status`), and a frequency set by another program
# (`clock-test --interfere-ppm`) must show in the daemon's status and log. Last, the guest's
# clock is set to a minute before the end of 30 June with an upstream announcing a leap second
# (`clock-test --serve-ntp --leap insert`): the daemon must arm the kernel, the kernel must
# insert 23:59:60 (`clock-test --watch-leap`), and the daemon must not correct the time around
# it. See scripts/qemu/init.
#
#   bash scripts/qemu-clock-test.sh
#
# Only the guest's clock is adjusted; nothing here touches this machine's clock.
#
# Needs (installed when missing, as root): qemu-system-x86, busybox-static, cpio; the Rust target
# x86_64-unknown-linux-musl (rustup); a Debian kernel package (apt-get download, cached under
# target/qemu-kernel).
# Knobs: QEMU_TIMEOUT (seconds for the whole guest run, default 300).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

started=$(date +%s)
timeout_s=${QEMU_TIMEOUT:-300}
target_dir=${CARGO_TARGET_DIR:-target}
cache=target/qemu-kernel
musl=x86_64-unknown-linux-musl
export DEBIAN_FRONTEND=noninteractive

say() { echo "qemu-clock-test: $*"; }
fail() {
  echo "qemu-clock-test: FAILED after $(($(date +%s) - started)) s: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -E "$@"
  else
    fail "need root to run: $*"
  fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/dantesync-qemu.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- tools -----------------------------------------------------------------------------------
missing=()
for p in qemu-system-x86 busybox-static cpio; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_updated=0
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  as_root apt-get update -q
  apt_updated=1
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
busybox=$(command -v busybox || echo /bin/busybox)
[ -x "$busybox" ] || fail "busybox not found after installing busybox-static"

if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$musl" ]; then
  rustup target add "$musl"
fi

# --- kernel ----------------------------------------------------------------------------------
# The cloud kernel is small and boots in about 3 s under emulation; its serial console, initramfs
# and devtmpfs are built in, so no modules are needed.
if [ ! -s "$cache/vmlinuz" ]; then
  find_kernel() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
  }
  pkg=$(find_kernel)
  if [ -z "$pkg" ] && [ "$apt_updated" = 0 ]; then
    as_root apt-get update -q
    pkg=$(find_kernel)
  fi
  [ -n "$pkg" ] || fail "no linux-image-*-cloud-amd64 package known to apt (apt-cache depends linux-image-cloud-amd64)"
  say "downloading $pkg"
  mkdir -p "$work/deb" "$cache"
  (cd "$work/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
  dpkg-deb -x "$work"/deb/*.deb "$work/kernel"
  cp "$(ls "$work"/kernel/boot/vmlinuz-* | head -n 1)" "$cache/vmlinuz.tmp"
  mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
  echo "$pkg" >"$cache/package"
fi
say "kernel: $(cat "$cache/package" 2>/dev/null || echo "$cache/vmlinuz")"

# --- the program under test ------------------------------------------------------------------
cargo build --release -p dantesync --target "$musl"
bin="$target_dir/$musl/release/dantesync"
[ -x "$bin" ] || fail "$bin was not built"

# --- initramfs: busybox, /init, dantesync ----------------------------------------------------
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$rootfs/bin/busybox"
cp "$bin" "$rootfs/bin/dantesync"
cp scripts/qemu/init "$rootfs/init"
chmod 755 "$rootfs/init" "$rootfs/bin/busybox" "$rootfs/bin/dantesync"
(cd "$rootfs" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$work/initrd.gz"

# --- boot ------------------------------------------------------------------------------------
say "booting the guest (software emulation, at most ${timeout_s} s)"
boot_started=$(date +%s)
qemu_rc=0
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -cpu max -m 512 -smp 1 -nographic -no-reboot \
  -kernel "$cache/vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 dantesync.daemon=1" </dev/null 2>&1 | tee "$work/console.log" || qemu_rc=$?
boot_s=$(($(date +%s) - boot_started))
[ "$qemu_rc" -ne 124 ] || fail "the guest did not finish within ${timeout_s} s"

marker() { tr -d '\r' <"$work/console.log" | sed -n "s/^$1=\([0-9]*\)$/\1/p" | tail -n 1; }
refused=$(marker DANTESYNC-CLOCK-TEST-REFUSED)
result=$(marker DANTESYNC-CLOCK-TEST-EXIT)
[ -n "$result" ] || fail "the guest never reported the clock test's result (qemu exit $qemu_rc; console above)"
[ "$refused" = 2 ] || fail "clock-test without --i-understand-this-adjusts-the-clock exited ${refused:-?}, expected 2"
[ "$result" = 0 ] || fail "clock-test failed in the guest (exit $result); its measurements are above"

discipline=$(marker DANTESYNC-DISCIPLINE-EXIT)
[ -n "$discipline" ] || fail "the guest never reported the daemon's discipline result (qemu exit $qemu_rc; console above)"
[ "$discipline" = 0 ] || fail "the daemon did not lock the guest clock to the simulated leader within 1 ppm (exit $discipline); the guest's log is above"
kernel_status=$(marker DANTESYNC-KERNEL-STATUS-EXIT)
[ "$kernel_status" = 0 ] || fail "after LOCK and a confirmed NTP time adjtimex did not report STA_UNSYNC clear with maxerror below 100 ms (exit ${kernel_status:-?}); the guest's log is above"
interference=$(marker DANTESYNC-INTERFERENCE-EXIT)
[ "$interference" = 0 ] || fail "another program's frequency change was not counted and logged by the daemon (exit ${interference:-?}); the guest's log is above"
leap=$(marker DANTESYNC-LEAP-EXIT)
[ "$leap" = 0 ] || fail "the leap second at 2026-06-30T23:59:60Z in the guest was not armed by the daemon, not applied by the kernel, or the daemon did not stay honest through it (exit ${leap:-?}); the guest's log is above"
say "PASSED: clock-test in the guest measured every setting within its limits, the daemon locked the guest's clock to the simulated leader within 1 ppm, told the kernel it is synchronised (maxerror below 100 ms) once NTP confirmed the time, reported another program's frequency change, and armed the kernel for an announced leap second that the kernel then inserted (guest run ${boot_s} s, total $(($(date +%s) - started)) s)"
