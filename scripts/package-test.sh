#!/usr/bin/env bash
# The Linux package and installer, tested as users install them, in scratch Debian 12 roots
# (debootstrap, entered with chroot): never on this machine's own files or services.
#
#   bash scripts/package-test.sh        (root; scripts/install-deps.sh installs what it needs)
#
# 1. The man pages are what packaging/man/generate.sh makes from the docs.
# 2. `cargo deb` builds the .deb, and a second one with a higher version from the same binary.
# 3. In a fresh root (with systemd and chrony): dpkg -i installs the files and the system user,
#    `systemd-analyze verify` accepts the unit, an upgrade keeps a modified config and the
#    state file, dpkg --purge removes them.
# 4. In another fresh root, with chrony enabled: install.sh / uninstall.sh round trips, never
#    overwriting a config, restoring exactly the time services that were enabled.
# 4b. The tray's own .deb (cargo deb -p dantesync-tray) in a fresh root: the binary, the menu
#    entry and the XDG autostart entry every desktop session starts; purge removes them.
# 5. The same root booted with systemd as PID 1 in a qemu guest (its own kernel and clock):
#    the service runs as packaged (user, capabilities, READY=1, watchdog, lock), restarts on
#    upgrade, and install.sh/uninstall.sh stop and start chrony (packaging/test/live-test.sh).
# The daemon is never started in a chroot: it would adjust the clock, which belongs to this
# machine; only the guest's clock may be adjusted. The root is made once (about 2 minutes, from deb.debian.org) and kept as a tarball
# in target/package-test/; delete it to make a new one.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
repo=$(pwd)

fail() {
  echo "package-test: FAIL: $*" >&2
  exit 1
}
step() { echo "package-test: $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (chroot, dpkg in a scratch root)"
for tool in pandoc debootstrap dpkg-deb chroot unshare qemu-system-x86_64 cpio; do
  command -v "$tool" >/dev/null || fail "$tool not found: bash scripts/install-deps.sh installs it"
done
cargo deb --version >/dev/null 2>&1 || fail "cargo-deb not found: bash scripts/install-deps.sh installs it"

work=$repo/target/package-test
mkdir -p "$work"
roots=()
cleanup() {
  for r in "${roots[@]}"; do
    rm -rf --one-file-system "$r"
  done
}
trap cleanup EXIT

# --- 1. man pages ----------------------------------------------------------------------------
bash packaging/man/generate.sh --check

# --- 2. the .deb -----------------------------------------------------------------------------
step "building the .deb (cargo deb: a release build)"
rm -rf "$work/deb"
mkdir -p "$work/deb"
# As the README says, into target/debian/.
rm -f target/debian/dantesync_*.deb
nice cargo deb -p dantesync >/dev/null
cp target/debian/dantesync_*.deb "$work/deb/"
deb1=$(ls "$work"/deb/dantesync_*.deb)
v1=$(dpkg-deb -f "$deb1" Version)
v2="$v1+pkgtest2"
nice cargo deb -p dantesync --no-build --deb-version "$v2" --output "$work/deb/" >/dev/null
deb2=$(ls "$work"/deb/dantesync_*pkgtest2*.deb)
step "built $(basename "$deb1") and $(basename "$deb2")"
dpkg-deb -c "$deb1" | awk '{ print "  " $1, $6 }'

bin=target/release/dantesync
# The shipped configuration is valid, and the man page names every flag and command of --help.
"$bin" config check packaging/linux/config.json >/dev/null ||
  fail "packaging/linux/config.json does not pass 'dantesync config check'"
help_words=$("$bin" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
help_cmds=$("$bin" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && $1 != "help" { print $1 }')
for w in $help_words $help_cmds; do
  grep -qF -- "$w" packaging/man/dantesync.8 ||
    fail "dantesync --help has '$w', packaging/man/dantesync.8 does not: add it to dantesync.8.head.md"
done
step "the man page covers --help: $(echo $help_words $help_cmds)"

# --- the scratch root ------------------------------------------------------------------------
# systemd for systemctl and systemd-analyze, chrony as the time service to put back, man-db so
# that the unit's man: links resolve (systemd-analyze verify runs them).
include=systemd,chrony,man-db
base=$work/bookworm-minbase-${include//,/-}.tar
if [ ! -s "$base" ]; then
  step "making a Debian 12 root (debootstrap --variant=minbase --include=$include)"
  tmp=$work/debootstrap
  rm -rf --one-file-system "$tmp"
  roots+=("$tmp")
  debootstrap --variant=minbase --include="$include" bookworm "$tmp" \
    http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
    fail "debootstrap failed (log: $work/debootstrap.log)"
  tar -C "$tmp" -cf "$base.new" .
  mv "$base.new" "$base"
  rm -rf --one-file-system "$tmp"
fi
# fresh_root NAME: root=$work/NAME, a new copy of the base root, removed at exit.
fresh_root() {
  root=$work/$1
  local r=$root
  rm -rf --one-file-system "$r"
  mkdir -p "$r"
  roots+=("$r")
  tar -C "$r" -xf "$base"
  # Package services must not start (as on the CI machine); there is no running systemd in
  # the root anyway, so systemctl only edits files.
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
}
# inroot ROOT CMD...: runs CMD in the root, with /proc mounted in a private mount namespace (so
# the mount ends with the command, also when it fails).
inroot() {
  local r=$1
  shift
  unshare --mount --propagation private -- sh -c \
    'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$r" /usr/bin/env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
exists() { [ -e "$1" ] || [ -L "$1" ]; }
expect_file() { exists "$1" || fail "$2: ${1#"$root"} is missing"; }
expect_gone() { ! exists "$1" || fail "$2: ${1#"$root"} is still there"; }
expect_link() { # PATH TARGET WHY
  [ "$(readlink "$1")" = "$2" ] || fail "$3: ${1#"$root"} -> '$(readlink "$1" || true)', expected -> $2"
}
verify_unit() { # ROOT UNIT
  local out
  out=$(inroot "$1" systemd-analyze verify "$2" 2>&1) || fail "systemd-analyze verify $2 failed: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $2 warns: $out"
  step "systemd-analyze verify $2: no warning"
}
wants=etc/systemd/system/multi-user.target.wants

# --- 3. dpkg -i, upgrade, purge --------------------------------------------------------------
fresh_root root-deb
cp "$deb1" "$deb2" "$root/tmp/"
step "dpkg -i $(basename "$deb1") in a clean Debian 12 root"
inroot "$root" dpkg -i "/tmp/$(basename "$deb1")"
for f in usr/bin/dantesync lib/systemd/system/dantesync.service etc/dantesync/config.json \
  usr/share/man/man8/dantesync.8.gz usr/share/man/man5/dantesync.json.5.gz \
  usr/share/doc/dantesync/daemon.md usr/share/doc/dantesync/config.md \
  usr/share/doc/dantesync/examples/full.json usr/share/doc/dantesync/copyright; do
  expect_file "$root/$f" "after dpkg -i"
done
cmp -s "$root/etc/dantesync/config.json" packaging/linux/config.json ||
  fail "the installed config is not packaging/linux/config.json"
inroot "$root" dpkg-query -W -f='${Conffiles}\n' dantesync | grep -q '^ /etc/dantesync/config.json ' ||
  fail "/etc/dantesync/config.json is not a conffile"
user=$(inroot "$root" getent passwd dantesync) || fail "no system user dantesync after dpkg -i"
uid=$(cut -d: -f3 <<<"$user")
[ "$uid" -lt 1000 ] || fail "dantesync's uid $uid is not a system uid"
[ "$(cut -d: -f7 <<<"$user")" = /usr/sbin/nologin ] || fail "dantesync can log in: $user"
# Numeric ids: this machine's own passwd does not know the root's users.
[ "$(stat -c %u:%g "$root/var/lib/dantesync")" = "$uid:$(cut -d: -f4 <<<"$user")" ] ||
  fail "/var/lib/dantesync is not dantesync's"
expect_gone "$root/$wants/dantesync.service" "a fresh install does not enable the service"
inroot "$root" dantesync --version | grep -q "^dantesync $(cut -d- -f1 <<<"$v1")" ||
  fail "the installed binary does not run in the root"
inroot "$root" dantesync config check /etc/dantesync/config.json >/dev/null ||
  fail "the installed config does not pass dantesync config check"
step "installed: files, conffile, user dantesync (uid $uid, nologin), /var/lib/dantesync, not enabled"
verify_unit "$root" /lib/systemd/system/dantesync.service

# The instance lock as the service takes it (user dantesync, RuntimeDirectory=dantesync gives
# RUNTIME_DIRECTORY=/run/dantesync) is the one a root daemon takes: while a root process holds
# /run/dantesync/dantesync.lock the service's daemon must refuse to start. It stops at the
# lock, before any clock; and as an unprivileged user without CAP_SYS_TIME, with clock writes
# forbidden, it could not touch the clock anyway.
# (systemd gives the folder and what is in it to the service's user when the service starts.)
mkdir -p "$root/run/dantesync"
touch "$root/run/dantesync/dantesync.lock"
chown -R "$uid:$(cut -d: -f4 <<<"$user")" "$root/run/dantesync"
rc=0
out=$(inroot "$root" flock --nonblock --close /run/dantesync/dantesync.lock \
  setpriv --reuid=dantesync --regid=dantesync --clear-groups --inh-caps=-all \
  env DANTESYNC_FORBID_CLOCK_WRITES=1 RUNTIME_DIRECTORY=/run/dantesync \
  timeout 20 dantesync --config /etc/dantesync/config.json 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q 'holds the lock file /run/dantesync/dantesync.lock' <<<"$out" ||
  fail "the service's daemon did not refuse while root holds the lock (exit $rc): $out"
rm -rf "$root/run/dantesync"
step "the service user's daemon refuses while root holds /run/dantesync/dantesync.lock"
inroot "$root" systemd-analyze security --offline=true /lib/systemd/system/dantesync.service |
  tail -1 | sed 's/^/package-test: systemd-analyze security: /'

# Upgrade: the administrator's config and the daemon's state survive.
cat >"$root/etc/dantesync/config.json" <<'JSON'
{
  "_note": "changed by the administrator",
  "ntp_server": ["10.77.8.2", "10.77.8.3"]
}
JSON
cp "$root/etc/dantesync/config.json" "$work/config.modified"
printf '{"frequency_ppm": 12.345}\n' >"$root/var/lib/dantesync/state.json"
cp "$root/var/lib/dantesync/state.json" "$work/state.saved"
inroot "$root" systemctl enable dantesync.service 2>/dev/null
expect_link "$root/$wants/dantesync.service" /lib/systemd/system/dantesync.service "systemctl enable"
step "dpkg -i $(basename "$deb2") (upgrade) over a modified config and a state file"
inroot "$root" dpkg -i "/tmp/$(basename "$deb2")" </dev/null
[ "$(inroot "$root" dpkg-query -W -f='${Version}' dantesync)" = "$v2" ] || fail "the upgrade did not install $v2"
cmp -s "$root/etc/dantesync/config.json" "$work/config.modified" || fail "the upgrade changed the modified config"
cmp -s "$root/var/lib/dantesync/state.json" "$work/state.saved" || fail "the upgrade changed the state file"
for f in config.json.dpkg-new config.json.dpkg-dist config.json.dpkg-old; do
  expect_gone "$root/etc/dantesync/$f" "after the upgrade"
done
expect_link "$root/$wants/dantesync.service" /lib/systemd/system/dantesync.service "the upgrade keeps it enabled"
step "upgraded to $v2: modified config, state file and enablement kept"

src=/opt/dantesync-src
mkdir -p "$root$src/target/release"
cp -r packaging "$root$src/"
cp "$bin" "$root$src/target/release/dantesync"
rc=0
out=$(inroot "$root" sh "$src/packaging/linux/install.sh" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q 'the dantesync package is installed' <<<"$out" ||
  fail "install.sh did not refuse beside the installed package (exit $rc): $out"
expect_gone "$root/usr/local/bin/dantesync" "install.sh beside the package"
step "install.sh refuses while the package is installed"

step "dpkg -r dantesync"
inroot "$root" dpkg -r dantesync
for f in usr/bin/dantesync lib/systemd/system/dantesync.service "$wants/dantesync.service"; do
  expect_gone "$root/$f" "after dpkg -r"
done
cmp -s "$root/etc/dantesync/config.json" "$work/config.modified" || fail "dpkg -r did not keep the config"
cmp -s "$root/var/lib/dantesync/state.json" "$work/state.saved" || fail "dpkg -r did not keep the state file"
step "removed: binary, unit and enable link gone, config and state kept"

step "dpkg --purge dantesync"
inroot "$root" dpkg --purge dantesync
for f in usr/bin/dantesync lib/systemd/system/dantesync.service etc/dantesync var/lib/dantesync \
  usr/share/man/man8/dantesync.8.gz usr/share/doc/dantesync "$wants/dantesync.service"; do
  expect_gone "$root/$f" "after dpkg --purge"
done
status=$(inroot "$root" dpkg-query -W -f='${Status}' dantesync 2>/dev/null || true)
[ -z "$status" ] || [[ "$status" == *not-installed ]] || fail "dpkg lists dantesync after --purge: $status"
inroot "$root" getent passwd dantesync >/dev/null || fail "purge removed the system user (Debian keeps them)"
step "purged: config, state, files and enable link gone (the system user stays, as Debian does)"

# --- 4. install.sh / uninstall.sh ------------------------------------------------------------
fresh_root root-sh
# Stand-ins for two more time services: openntpd enabled (restored at the end), ntp disabled
# (left disabled).
for u in openntpd ntp; do
  printf '[Unit]\nDescription=%s stand-in\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n' \
    "$u" >"$root/etc/systemd/system/$u.service"
done
inroot "$root" systemctl enable --quiet openntpd.service
before=$(cd "$root/etc/systemd/system" && find . -type l -printf '%p -> %l\n' | sort)
expect_link "$root/$wants/chrony.service" /lib/systemd/system/chrony.service "chrony enabled in the root"
expect_link "$root/etc/systemd/system/chronyd.service" /lib/systemd/system/chrony.service "chronyd alias"
mkdir -p "$root$src/target/release"
cp -r packaging "$root$src/"
cp "$bin" "$root$src/target/release/dantesync"

step "install.sh in a fresh root with chrony and openntpd enabled"
inroot "$root" sh "$src/packaging/linux/install.sh"
for f in usr/local/bin/dantesync etc/systemd/system/dantesync.service etc/dantesync/config.json \
  usr/local/share/man/man8/dantesync.8 usr/local/share/man/man5/dantesync.json.5; do
  expect_file "$root/$f" "after install.sh"
done
cmp -s "$root/etc/dantesync/config.json" packaging/linux/config.json || fail "install.sh wrote another config"
grep -qx 'ExecStart=/usr/local/bin/dantesync --config /etc/dantesync/config.json' \
  "$root/etc/systemd/system/dantesync.service" || fail "install.sh's unit does not run /usr/local/bin/dantesync"
inroot "$root" getent passwd dantesync >/dev/null || fail "install.sh made no user dantesync"
expect_link "$root/$wants/dantesync.service" /etc/systemd/system/dantesync.service "install.sh enables dantesync"
for f in "$wants/chrony.service" etc/systemd/system/chronyd.service "$wants/openntpd.service"; do
  expect_gone "$root/$f" "install.sh disables the conflicting services"
done
verify_unit "$root" /etc/systemd/system/dantesync.service
step "installed: binary, unit, config, man pages, user; chrony and openntpd disabled"

step "install.sh again (an upgrade in place) over a modified config"
printf '{"ntp_server": "10.77.8.9"}\n' >"$root/etc/dantesync/config.json"
cp "$root/etc/dantesync/config.json" "$work/config.modified"
inroot "$root" sh "$src/packaging/linux/install.sh"
cmp -s "$root/etc/dantesync/config.json" "$work/config.modified" || fail "install.sh overwrote an existing config"
[ "$(grep -c . "$root/etc/dantesync/install.state")" = "$(sort -u "$root/etc/dantesync/install.state" | grep -c .)" ] ||
  fail "install.sh recorded something twice: $(cat "$root/etc/dantesync/install.state")"
grep -qx 'disabled chrony.service' "$root/etc/dantesync/install.state" || fail "chrony's disabling was forgotten"

step "uninstall.sh"
inroot "$root" sh "$src/packaging/linux/uninstall.sh"
for f in usr/local/bin/dantesync etc/systemd/system/dantesync.service "$wants/dantesync.service" \
  usr/local/share/man/man8/dantesync.8 usr/local/share/man/man5/dantesync.json.5; do
  expect_gone "$root/$f" "after uninstall.sh"
done
after=$(cd "$root/etc/systemd/system" && find . -type l -printf '%p -> %l\n' | sort)
[ "$before" = "$after" ] || fail "uninstall.sh did not restore the enabled services:
$(diff <(echo "$before") <(echo "$after") || true)"
expect_gone "$root/$wants/ntp.service" "ntp was disabled before and stays so"
cmp -s "$root/etc/dantesync/config.json" "$work/config.modified" || fail "uninstall.sh removed the config"
step "uninstalled: files gone, chrony (with its chronyd alias) and openntpd enabled again, config kept"

inroot "$root" sh "$src/packaging/linux/uninstall.sh" >/dev/null || fail "a second uninstall.sh failed"
inroot "$root" sh "$src/packaging/linux/install.sh" >/dev/null
cmp -s "$root/etc/dantesync/config.json" "$work/config.modified" ||
  fail "install.sh overwrote the config kept by uninstall.sh"
expect_gone "$root/$wants/chrony.service" "the second install.sh disables chrony again"
step "uninstall.sh --purge"
inroot "$root" sh "$src/packaging/linux/uninstall.sh" --purge
for f in etc/dantesync var/lib/dantesync usr/local/bin/dantesync; do
  expect_gone "$root/$f" "after uninstall.sh --purge"
done
! inroot "$root" getent passwd dantesync >/dev/null || fail "--purge left the user install.sh created"
after=$(cd "$root/etc/systemd/system" && find . -type l -printf '%p -> %l\n' | sort)
[ "$before" = "$after" ] || fail "uninstall.sh --purge did not restore the enabled services"
step "purged: config, state and user gone, the time services as they were"

# --- 4b. the tray's package ------------------------------------------------------------------
step "building the tray's .deb (cargo deb -p dantesync-tray)"
rm -f target/debian/dantesync-tray_*.deb
nice cargo deb -p dantesync-tray >/dev/null
tray_deb=$(ls target/debian/dantesync-tray_*.deb)
cp "$tray_deb" "$work/deb/"
tray_deb=$work/deb/$(basename "$tray_deb")
fresh_root tray
cp "$tray_deb" "$root/tmp/"
inroot "$root" dpkg -i "/tmp/$(basename "$tray_deb")" >/dev/null
for f in usr/bin/dantesync-tray usr/share/applications/dantesync-tray.desktop \
  etc/xdg/autostart/dantesync-tray.desktop usr/share/doc/dantesync-tray/tray.md; do
  expect_file "$root/$f" "after dpkg -i of the tray"
done
autostart=$root/etc/xdg/autostart/dantesync-tray.desktop
for want in '[Desktop Entry]' 'Type=Application' 'Exec=dantesync-tray'; do
  grep -qxF "$want" "$autostart" || fail "the tray's autostart entry lacks the line '$want'"
done
# The installed binary runs in the root (its --help: no desktop needed) from the PATH that the
# autostart entry's Exec= relies on.
inroot "$root" dantesync-tray --help >"$work/tray-help.txt" ||
  fail "the installed dantesync-tray does not run in a Debian 12 root: $(cat "$work/tray-help.txt")"
grep -q "dantesync-tray" "$work/tray-help.txt" || fail "dantesync-tray --help says nothing of itself"
inroot "$root" dpkg --purge dantesync-tray >/dev/null
for f in usr/bin/dantesync-tray etc/xdg/autostart/dantesync-tray.desktop; do
  expect_gone "$root/$f" "after dpkg --purge of the tray"
done
rm -rf --one-file-system "$root"
step "tray: $(basename "$tray_deb") installs the binary, menu and XDG autostart entries in a clean Debian 12 root; purge removes them"

# --- 5. the same, live: the root booted with systemd as PID 1 in a qemu guest ----------------
# A chroot has no running systemd, so it cannot show the service starting under its hardening
# (user, capabilities, READY=1, the watchdog, the lock), the restart on upgrade, or install.sh
# and uninstall.sh stopping and starting chrony. The guest can: it has its own kernel and
# clock (software emulation), so the daemon and chrony may adjust that clock; this machine's
# is never touched. packaging/test/live-test.sh runs in the guest and reports on the console.
kernel_cache=target/qemu-kernel
if [ ! -s "$kernel_cache/vmlinuz" ]; then
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$pkg" ] || fail "no linux-image-*-cloud-amd64 known to apt (apt-get update first)"
  step "downloading $pkg for the guest"
  rm -rf "$work/kernel"
  mkdir -p "$work/kernel" "$kernel_cache"
  (cd "$work/kernel" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null)
  dpkg-deb -x "$work"/kernel/*.deb "$work/kernel/x"
  cp "$(ls "$work"/kernel/x/boot/vmlinuz-* | head -n 1)" "$kernel_cache/vmlinuz.tmp"
  mv "$kernel_cache/vmlinuz.tmp" "$kernel_cache/vmlinuz"
  echo "$pkg" >"$kernel_cache/package"
  rm -rf "$work/kernel"
fi
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 not found: bash scripts/install-deps.sh installs it"
fresh_root root-live
mkdir -p "$root/root/deb" "$root/root/src/target/release"
cp "$deb1" "$root/root/deb/v1.deb"
cp "$deb2" "$root/root/deb/v2.deb"
cp -r packaging "$root/root/src/"
cp "$bin" "$root/root/src/target/release/dantesync"
cp packaging/test/live-test.sh "$root/root/live-test.sh"
rm -f "$root/usr/sbin/policy-rc.d" # services start in the guest: that is what is tested
cat >"$root/etc/systemd/system/pkgtest.service" <<'UNIT'
[Unit]
Description=dantesync package test
After=basic.target chrony.service
[Service]
Type=oneshot
ExecStart=/bin/sh /root/live-test.sh
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/pkgtest.service "$root/$wants/pkgtest.service"
ln -s /lib/systemd/systemd "$root/init" # the root is the initramfs: systemd is PID 1
echo dantesync-test >"$root/etc/hostname"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$work/live-initrd.gz"
rm -rf --one-file-system "$root"
step "booting the root with systemd in a qemu guest (software emulation, about 4 minutes)"
console=$work/live-console.log
qemu_rc=0
timeout -k 10 600 qemu-system-x86_64 -accel tcg -cpu max -m 2048 -smp 2 -nographic -no-reboot \
  -nic none -kernel "$kernel_cache/vmlinuz" -initrd "$work/live-initrd.gz" \
  -append "console=ttyS0 panic=-1 systemd.show_status=0" </dev/null >"$console" 2>&1 || qemu_rc=$?
rm -f "$work/live-initrd.gz"
tr -d '\r' <"$console" | grep -a 'PKGTEST' | sed 's/^.*PKGTEST/PKGTEST/; s/^/package-test: guest: /'
[ "$qemu_rc" != 124 ] || fail "the guest did not finish within 600 s (console: $console)"
result=$(tr -d '\r' <"$console" | sed -n 's/^.*PKGTEST-RESULT=\([0-9]*\)$/\1/p' | tail -n 1)
[ -n "$result" ] || fail "the guest never reported its result (qemu exit $qemu_rc; console: $console)"
[ "$result" = 0 ] || fail "$result check(s) failed in the guest (above; console: $console)"
step "live: the service ran under systemd as packaged and as install.sh puts it"

echo "package-test: OK: man pages current; .deb install/upgrade/purge and install.sh/uninstall.sh round trips in Debian 12 roots, in a chroot and booted"
