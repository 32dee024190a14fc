#!/bin/sh
# Installs dantesync on a Linux machine with systemd but without dpkg (on Debian and Ubuntu,
# the .deb is the better way: upgrades and removal through apt). Run as root from the source
# tree after `cargo build --release -p dantesync`:
#
#   sudo sh packaging/linux/install.sh [--binary PATH] [--no-start]
#
# It installs, and records in /etc/dantesync/install.state what uninstall.sh must undo:
#   /usr/local/bin/dantesync                      the binary (default: target/release/dantesync)
#   /etc/systemd/system/dantesync.service         the unit, ExecStart pointing at /usr/local/bin
#   /usr/local/share/man/man8/dantesync.8, man5/dantesync.json.5
#   /etc/dantesync/config.json                    only when there is none: never overwritten
#   the system user `dantesync`                   when there is none
# It disables (and, on a running system, stops) every enabled conflicting time service
# (systemd-timesyncd, chrony, ntp, ntpsec, openntpd), remembering which, then enables dantesync
# and, on a running system and unless --no-start, (re)starts it. Running it again upgrades in
# place: the daemon is stopped, the binary and unit replaced, the config and state kept.
# Inside a chroot or image (no running systemd) nothing is started or stopped; enabling and
# disabling work there too (systemctl only edits the symlinks).
set -eu

die() {
    echo "install.sh: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
binary=""
start=1
while [ $# -gt 0 ]; do
    case $1 in
    --binary)
        [ $# -ge 2 ] || die "--binary needs a path"
        binary=$2
        shift 2
        ;;
    --no-start)
        start=0
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done

if [ -z "$binary" ]; then
    for candidate in "$here/dantesync" "$here/../../target/release/dantesync"; do
        if [ -x "$candidate" ]; then
            binary=$candidate
            break
        fi
    done
    [ -n "$binary" ] || die "no dantesync binary beside this script or in target/release:" \
        "build it (cargo build --release -p dantesync) or pass --binary PATH"
fi
[ "$(id -u)" = 0 ] || die "run as root (sudo sh $0)"
command -v systemctl >/dev/null || die "systemctl not found: this installer is for systemd machines"
if command -v dpkg-query >/dev/null &&
    dpkg-query -W -f='${Status}' dantesync 2>/dev/null | grep -q 'install ok installed'; then
    die "the dantesync package is installed: upgrade it with its .deb (apt install ./dantesync_*.deb)"
fi
version=$("$binary" --version) || die "$binary does not run on this machine"

unit_src=$here/../systemd/dantesync.service
man_src=$here/../man
for f in "$unit_src" "$man_src/dantesync.8" "$man_src/dantesync.json.5" "$here/config.json"; do
    [ -f "$f" ] || die "missing $f: run this script from the dantesync source tree"
done

prefix=/usr/local
unit=/etc/systemd/system/dantesync.service
state=/etc/dantesync/install.state
running=0
[ -d /run/systemd/system ] && running=1
conflicting="systemd-timesyncd.service chrony.service chronyd.service ntp.service ntpd.service
ntpsec.service openntpd.service"

mkdir -p /etc/dantesync
touch "$state"
# record LINE: remembers LINE for uninstall.sh, once.
record() {
    grep -qxF "$1" "$state" || echo "$1" >>"$state"
}

echo "install.sh: installing $version from $binary"
if ! getent group dantesync >/dev/null; then
    groupadd --system dantesync
fi
if ! getent passwd dantesync >/dev/null; then
    useradd --system --gid dantesync --home-dir /var/lib/dantesync --no-create-home \
        --shell /usr/sbin/nologin --comment "dantesync time sync" dantesync
    record "created-user dantesync"
    echo "install.sh: created the system user dantesync"
fi
install -d -o dantesync -g dantesync -m 0755 /var/lib/dantesync

if [ "$running" = 1 ] && systemctl is-active --quiet dantesync.service; then
    echo "install.sh: stopping the running dantesync (it saves its learned frequency)"
    systemctl stop dantesync.service
fi
# Copied beside, then renamed: an interrupted copy never leaves half a binary or unit.
install -d "$prefix/bin" "$prefix/share/man/man8" "$prefix/share/man/man5"
install -m 0755 "$binary" "$prefix/bin/dantesync.new"
mv -f "$prefix/bin/dantesync.new" "$prefix/bin/dantesync"
sed "s|^ExecStart=/usr/bin/dantesync|ExecStart=$prefix/bin/dantesync|" "$unit_src" >"$unit.new"
chmod 0644 "$unit.new"
mv -f "$unit.new" "$unit"
install -m 0644 "$man_src/dantesync.8" "$prefix/share/man/man8/dantesync.8"
install -m 0644 "$man_src/dantesync.json.5" "$prefix/share/man/man5/dantesync.json.5"
if [ -e /etc/dantesync/config.json ]; then
    echo "install.sh: kept the existing /etc/dantesync/config.json"
else
    install -m 0644 "$here/config.json" /etc/dantesync/config.json
    echo "install.sh: wrote /etc/dantesync/config.json (PTP-only until you set ntp_server)"
fi

for u in $conflicting; do
    # Only "enabled" is undone later; an alias (chronyd.service on Debian) goes with its unit.
    if [ "$(systemctl is-enabled "$u" 2>/dev/null || true)" = enabled ]; then
        if [ "$running" = 1 ] && systemctl is-active --quiet "$u"; then
            record "stopped $u"
            systemctl stop "$u"
        fi
        record "disabled $u"
        systemctl disable --quiet "$u"
        echo "install.sh: disabled $u (uninstall.sh enables it again)"
    fi
done

[ "$running" = 0 ] || systemctl daemon-reload
systemctl enable --quiet dantesync.service
echo "install.sh: enabled dantesync.service"
if [ "$running" = 1 ] && [ "$start" = 1 ]; then
    systemctl restart dantesync.service
    echo "install.sh: started dantesync.service (journalctl -u dantesync; dantesync status 127.0.0.1)"
elif [ "$running" = 0 ]; then
    echo "install.sh: systemd is not running here (a chroot or image): nothing started or stopped"
fi
