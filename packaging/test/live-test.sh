#!/bin/sh
# Runs inside the qemu guest of scripts/package-test.sh, a Debian 12 booted with systemd as
# PID 1 (the guest's own kernel and clock: the daemon may adjust it). Tries what a chroot
# cannot: the service started by systemd under its hardening, with its user, capabilities,
# sd_notify and watchdog; the restart on upgrade; install.sh/uninstall.sh stopping and
# starting chrony. Prints "PKGTEST ok|FAIL: ..." lines and "PKGTEST-RESULT=<failures>", then
# powers the guest off.
set -u
fails=0
check() {
    what=$1
    shift
    if "$@"; then
        echo "PKGTEST ok: $what"
    else
        echo "PKGTEST FAIL: $what"
        fails=$((fails + 1))
    fi
}
active() { systemctl is-active --quiet "$1"; }
inactive() { ! systemctl is-active --quiet "$1"; }
enabled() { [ "$(systemctl is-enabled "$1" 2>/dev/null)" = enabled ]; }
not_enabled() { ! enabled "$1"; }
main_pid() { systemctl show -p MainPID --value dantesync.service; }
prop() { systemctl show -p "$1" --value dantesync.service; }
# wait_active UNIT: up to 30 s (software emulation is slow).
wait_active() {
    i=0
    while [ $i -lt 30 ] && ! active "$1"; do
        sleep 1
        i=$((i + 1))
    done
    active "$1"
}
# The daemon's query API answers on loopback: `dantesync status` exits 1 (answered, not locked:
# there is no Dante leader here) rather than 3 (no answer).
answers() {
    i=0
    while [ $i -lt 20 ]; do
        dantesync status 127.0.0.1 >/tmp/status.txt 2>&1
        [ $? = 1 ] && return 0
        sleep 1
        i=$((i + 1))
    done
    cat /tmp/status.txt
    return 1
}
user_is_dantesync() {
    [ "$(awk '/^Uid:/ { print $3 }' "/proc/$1/status")" = "$(id -u dantesync)" ]
}
# CAP_SYS_TIME (25) and CAP_NET_BIND_SERVICE (10), nothing else.
caps_are_two() {
    [ "$(awk '/^CapEff:/ { print $2 }' "/proc/$1/status")" = 0000000002000400 ]
}
refused_by_lock() {
    out=$(dantesync --config /etc/dantesync/config.json 2>&1)
    rc=$?
    echo "$out" | tail -n 1
    [ $rc = 1 ] && echo "$out" | grep -q "process $1 holds the lock file /run/dantesync/dantesync.lock"
}

echo "PKGTEST start: $(uname -r), systemd $(systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p')"
check "chrony runs at boot" wait_active chrony.service

# --- the .deb, as the README says ----------------------------------------------------------
dpkg -i /root/deb/v1.deb >/dev/null
check "a fresh install does not start dantesync" inactive dantesync.service
# A short watchdog, so that a daemon that stops pinging is restarted within the test.
mkdir -p /etc/systemd/system/dantesync.service.d
printf '[Service]\nWatchdogSec=6\n' >/etc/systemd/system/dantesync.service.d/watchdog.conf
systemctl daemon-reload
systemctl disable --now chrony >/dev/null 2>&1
systemctl enable --now dantesync >/dev/null 2>&1
check "systemctl enable --now dantesync: active (READY=1 heard)" active dantesync.service
check "chrony stopped and disabled" sh -c '! systemctl is-active --quiet chrony && ! systemctl is-enabled --quiet chrony'
pid=$(main_pid)
check "the daemon runs as user dantesync" user_is_dantesync "$pid"
check "with CAP_SYS_TIME and CAP_NET_BIND_SERVICE only" caps_are_two "$pid"
check "its query API answers on 127.0.0.1:31900" answers
echo "PKGTEST status text: $(prop StatusText)"
check "it tells systemd its state (STATUS=)" test -n "$(prop StatusText)"
sleep 15
check "alive 15 s later with WatchdogSec=6 (pings heard, never restarted)" \
    sh -c "[ \"\$(systemctl show -p MainPID --value dantesync)\" = $pid ] && [ \"\$(systemctl show -p NRestarts --value dantesync)\" = 0 ]"
check "a second daemon started by hand as root is refused by the lock" refused_by_lock "$pid"
journalctl -b -u dantesync --no-pager -o cat | head -n 12 | sed 's/^/PKGTEST journal: /'

dpkg -i /root/deb/v2.deb >/dev/null
check "an upgrade restarts the running daemon on the new binary" \
    sh -c "wait_pid=\$(systemctl show -p MainPID --value dantesync); [ \"\$wait_pid\" != 0 ] && [ \"\$wait_pid\" != $pid ]"
check "active after the upgrade" wait_active dantesync.service
dpkg --purge dantesync >/dev/null
check "dpkg --purge stops it" inactive dantesync.service
rm -rf /etc/systemd/system/dantesync.service.d
systemctl daemon-reload
systemctl enable --now chrony >/dev/null 2>&1
check "chrony back" wait_active chrony.service

# --- install.sh / uninstall.sh on a running system -----------------------------------------
sh /root/src/packaging/linux/install.sh >/dev/null
# The shell remembers /usr/bin/dantesync, which the purge removed; install.sh's is in /usr/local.
hash -r
check "install.sh: dantesync active" wait_active dantesync.service
check "install.sh: chrony stopped" inactive chrony.service
check "install.sh: chrony disabled" not_enabled chrony.service
check "install.sh: the query API answers" answers
pid=$(main_pid)
check "install.sh: runs as user dantesync" user_is_dantesync "$pid"
sh /root/src/packaging/linux/install.sh >/dev/null
check "install.sh again (upgrade in place): restarted" \
    sh -c "p=\$(systemctl show -p MainPID --value dantesync); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ]"
sh /root/src/packaging/linux/uninstall.sh >/dev/null
check "uninstall.sh: dantesync stopped" inactive dantesync.service
check "uninstall.sh: chrony running again" wait_active chrony.service
check "uninstall.sh: chrony enabled again" enabled chrony.service

echo "PKGTEST-RESULT=$fails"
systemctl poweroff --no-block
