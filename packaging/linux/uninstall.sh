#!/bin/sh
# Undoes packaging/linux/install.sh, as root:
#
#   sudo sh packaging/linux/uninstall.sh [--purge]
#
# Stops and disables dantesync, removes the binary, the unit and the man pages, and enables
# again (and, on a running system, starts again) the time services install.sh disabled
# (stopped). /etc/dantesync/config.json and /var/lib/dantesync (the learned frequency) are
# kept, so that installing again picks them up; --purge removes them too, and the system user
# if install.sh created it. Running it again does nothing more.
set -eu

die() {
    echo "uninstall.sh: $*" >&2
    exit 1
}

purge=0
while [ $# -gt 0 ]; do
    case $1 in
    --purge)
        purge=1
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "run as root (sudo sh $0)"
command -v systemctl >/dev/null || die "systemctl not found: this uninstaller is for systemd machines"

prefix=/usr/local
unit=/etc/systemd/system/dantesync.service
state=/etc/dantesync/install.state
running=0
[ -d /run/systemd/system ] && running=1

if [ -e "$unit" ]; then
    if [ "$running" = 1 ] && systemctl is-active --quiet dantesync.service; then
        systemctl stop dantesync.service
        echo "uninstall.sh: stopped dantesync.service"
    fi
    systemctl disable --quiet dantesync.service
fi
removed=""
for f in "$unit" "$prefix/bin/dantesync" "$prefix/share/man/man8/dantesync.8" \
    "$prefix/share/man/man5/dantesync.json.5"; do
    if [ -e "$f" ]; then
        rm -f "$f"
        removed="$removed $f"
    fi
done
[ -z "$removed" ] || echo "uninstall.sh: removed$removed"
[ "$running" = 0 ] || systemctl daemon-reload

if [ -f "$state" ]; then
    for u in $(sed -n 's/^disabled //p' "$state"); do
        systemctl enable --quiet "$u"
        echo "uninstall.sh: enabled $u again"
    done
    if [ "$running" = 1 ]; then
        for u in $(sed -n 's/^stopped //p' "$state"); do
            systemctl start "$u"
            echo "uninstall.sh: started $u again"
        done
    fi
fi

if [ "$purge" = 1 ]; then
    if [ -f "$state" ] && grep -qx 'created-user dantesync' "$state"; then
        userdel dantesync 2>/dev/null || true
        groupdel dantesync 2>/dev/null || true
        echo "uninstall.sh: removed the system user dantesync"
    fi
    rm -rf /etc/dantesync /var/lib/dantesync /run/dantesync
    echo "uninstall.sh: removed /etc/dantesync and /var/lib/dantesync"
elif [ -f "$state" ]; then
    # The services are back: only the user is left to undo, by a later --purge.
    if grep -qx 'created-user dantesync' "$state"; then
        echo 'created-user dantesync' >"$state"
    else
        rm -f "$state"
    fi
    echo "uninstall.sh: kept /etc/dantesync/config.json and /var/lib/dantesync (--purge removes them)"
fi
