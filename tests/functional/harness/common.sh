# shellcheck shell=bash
# Shared helpers for the loopback test-peer scripts in this directory
# (postfix.sh, smtp-sink.sh, sendmail.sh). Source it, don't run it.
#
# Copied from the team's research harness (research/harness/common.sh) and
# adapted for the functional tests: every service lives in a directory the
# caller names (one per test), is started in the background with a pidfile,
# and is stopped by that PID only (never pkill/killall by name). Readiness is
# checked with ss(8) rather than by connecting, so a milter never sees a
# stray probe connection.


hlog() { printf '[%s] %s\n' "${SVC:-harness}" "$*" >&2; }
hdie() { hlog "ERROR: $*"; exit 1; }

# ensure_pkgs PKG... : install missing Debian packages without starting
# services (CI installs them up front with scripts/install-deps.sh; this is
# the fallback for a developer machine)
ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ ! -x /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    hlog "installing: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            hdie "apt-get install ${missing[*]} failed"
    fi
}

# tcp_listening PORT [HOST] : true if something listens on HOST:PORT
# (HOST 127.0.0.1 by default; ::1 for IPv6)
tcp_listening() {
    local port=$1 host=${2:-127.0.0.1}
    [ "$host" = "::1" ] && host="[::1]"
    ss -Hltn "src $host:$port" 2>/dev/null | grep -q .
}

# unix_listening PATH : true if a listening unix socket is bound to PATH
unix_listening() {
    ss -Hxl 2>/dev/null | awk -v p="$1" '$5 == p { f = 1 } END { exit !f }'
}

# wait_tcp PORT [HOST [TIMEOUT_S [PID]]] : wait until HOST:PORT listens;
# gives up early if PID (a process id) died
wait_tcp() {
    local port=$1 host=${2:-127.0.0.1} t=${3:-30} pid=${4:-} i
    for ((i = 0; i < t * 20; i++)); do
        tcp_listening "$port" "$host" && return 0
        if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
        sleep 0.05
    done
    return 1
}

# wait_unix PATH [TIMEOUT_S [PID]] : wait until a unix socket listens at PATH
wait_unix() {
    local p=$1 t=${2:-30} pid=${3:-} i
    for ((i = 0; i < t * 20; i++)); do
        [ -S "$p" ] && unix_listening "$p" && return 0
        if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
        sleep 0.05
    done
    return 1
}

# port_free PORT... : die if something already listens on 127.0.0.1:PORT
# (e.g. a leftover instance whose pidfile is gone): never "succeed" against
# somebody else's server.
port_free() {
    local p
    for p in "$@"; do
        if tcp_listening "$p" || tcp_listening "$p" 0.0.0.0 ||
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            hdie "127.0.0.1:$p is already in use ($(ss -ltnpH "sport = :$p" 2>/dev/null | grep -o 'users:.*' | head -1))"
        fi
    done
}

# alive PID : true if PID runs and is not a zombie (daemons re-parented to
# PID 1 may stay zombies for a while before they are reaped)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# pid_alive PIDFILE : true if the pidfile names a live process
pid_alive() {
    local pf=$1 pid
    [ -s "$pf" ] || return 1
    pid=$(head -1 "$pf" | tr -dc '0-9')
    [ -n "$pid" ] && alive "$pid"
}

# stop_pid PID [TIMEOUT_S] : TERM the PID, wait, then KILL it
stop_pid() {
    local pid=$1 t=${2:-15} i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < t * 20; i++)); do
        alive "$pid" || return 0
        sleep 0.05
    done
    hlog "PID $pid did not exit after ${t}s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# stop_pidfile PIDFILE [TIMEOUT_S] : stop_pid on the pidfile's first line
stop_pidfile() {
    local pf=$1 t=${2:-15}
    if pid_alive "$pf"; then stop_pid "$(head -1 "$pf" | tr -dc '0-9')" "$t"; fi
    rm -f "$pf"
}
