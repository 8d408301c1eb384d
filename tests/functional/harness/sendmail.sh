#!/usr/bin/env bash
# Sendmail 8.17 as a test MTA on 127.0.0.1:$SM_PORT, with one milter
# (INPUT_MAIL_FILTER), relaying everything to smtp-sink on
# 127.0.0.1:$SINK_PORT.
#
# Debian's sendmail-bin conflicts with postfix (both provide
# mail-transport-agent), so it is NOT installed: the two .debs are fetched
# with "apt-get download" and unpacked with dpkg-deb -x into $SM_ROOT; only
# their plain library deps are installed (scripts/install-deps.sh lists them
# in TEST_PKGS). Adapted from research/harness/sendmail.sh, which documents
# the pitfalls handled here:
#   - Sendmail qualifies and resolves its own host name through libc (a DNS
#     query to the machine's resolver, off loopback) and sleeps 60 s when it
#     cannot: it runs in "unshare -m" with our /etc/hosts and /etc/resolv.conf
#     (nameserver 127.0.0.1) bind-mounted, so no lookup leaves loopback;
#   - Listen=1024 (the default backlog of 10 drops SYNs), no_default_msa
#     (else it also listens on 0.0.0.0:587), TrustStickyBit (milter socket
#     under /tmp), load-average throttles off;
#   - it logs only through syslog(3): unless a live syslogd owns /dev/log, a
#     tiny python listener binds /dev/log and writes $SM_DIR/maillog; it is
#     removed again at stop (only if it is ours).
#
#   sendmail.sh install|start|stop|status|log
# Env: SM_DIR (required), SM_PORT (required), SINK_PORT (required),
#      SM_MILTER  sendmail socket spec: local:/path or inet:PORT@127.0.0.1
#      SM_MILTER_FLAGS (T: tempfail when the milter is down)
#      SM_ROOT (/opt/sendmail): where the .debs are unpacked
set -euo pipefail
export SVC=sendmail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

ROOT=${SM_ROOT:-/opt/sendmail}
SM=$ROOT/usr/libexec/sendmail/sendmail
CFDIR=$ROOT/usr/share/sendmail/cf
SM_DEPS=(m4 libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3 libwrap0)

install_sendmail() {
    [ -x "$SM" ] && [ -f "$CFDIR/m4/cf.m4" ] && return 0
    ensure_pkgs "${SM_DEPS[@]}"
    local tmp d
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    # apt-get download needs the package lists; a fresh machine may have none
    (cd "$tmp" && apt-get download sendmail-bin sendmail-cf >/dev/null 2>&1) ||
        { apt-get update -qq && (cd "$tmp" && apt-get download sendmail-bin sendmail-cf >/dev/null 2>&1); } ||
        { rm -rf "$tmp"; hdie "apt-get download sendmail-bin sendmail-cf failed"; }
    mkdir -p "$ROOT"
    for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$ROOT"; done
    rm -rf "$tmp"
    [ -x "$SM" ] || hdie "sendmail binary not found after unpacking"
    hlog "unpacked into $ROOT"
}

DIR=${SM_DIR:-}
PORT=${SM_PORT:-}
SINK=${SINK_PORT:-}
PIDF=$DIR/sendmail.pid

write_config() {
    mkdir -p "$DIR/mqueue"
    chmod 755 "$DIR"
    chmod 700 "$DIR/mqueue"
    echo "hosts files" >"$DIR/service.switch"
    # Sendmail must be able to qualify its own host name (uname -n) or it
    # sleeps 60 s ("My unqualified host name (vm) unknown").
    local h
    h=$(hostname -s 2>/dev/null || uname -n)
    printf '127.0.0.1\t%s.harness.test %s mta2.test localhost\n::1\t%s.harness.test %s localhost\n' \
        "$h" "$h" "$h" "$h" >"$DIR/hosts"
    printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$DIR/resolv.conf"
    : >"$DIR/local-host-names"
    local milter=""
    if [ -n "${SM_MILTER:-}" ]; then
        milter="INPUT_MAIL_FILTER(\`rmilter', \`S=${SM_MILTER}, F=${SM_MILTER_FLAGS-T}, T=C:10s;S:20s;R:20s;E:30s')dnl
define(\`confMILTER_MACROS_CONNECT', \`j, _, {daemon_name}, {if_name}, {if_addr}, {client_addr}, {client_port}, {client_name}')dnl
define(\`confMILTER_MACROS_ENVFROM', \`i, {auth_type}, {auth_authen}, {auth_ssf}, {auth_author}, {mail_mailer}, {mail_host}, {mail_addr}')dnl
define(\`confMILTER_MACROS_ENVRCPT', \`i, {rcpt_mailer}, {rcpt_host}, {rcpt_addr}')dnl
define(\`confMILTER_MACROS_EOH', \`i')dnl
define(\`confMILTER_MACROS_EOM', \`i, {msg_id}')dnl
define(\`confMILTER_LOG_LEVEL', \`6')dnl"
    fi
    cat >"$DIR/sendmail.mc" <<EOF
divert(-1)
  functional-test sendmail: loopback only, everything relayed to smtp-sink
divert(0)dnl
include(\`$CFDIR/m4/cf.m4')dnl
VERSIONID(\`rmilter functional tests')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mta2.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$DIR/service.switch')dnl
define(\`confHOSTS_FILE', \`$DIR/hosts')dnl
define(\`confCW_FILE', \`$DIR/local-host-names')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`QUEUE_DIR', \`$DIR/mqueue')dnl
define(\`confPID_FILE', \`$DIR/sendmail-own.pid')dnl
define(\`STATUS_FILE', \`$DIR/statistics')dnl
define(\`confHELP_FILE', \`')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confQUEUE_LA', \`1000')dnl
define(\`confREFUSE_LA', \`1000')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confMAX_DAEMON_CHILDREN', \`200')dnl
define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl
define(\`confMIN_FREE_BLOCKS', \`100')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`SMART_HOST', \`[127.0.0.1]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $SINK')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MTA, Port=$PORT, Addr=127.0.0.1, Listen=1024')dnl
$milter
MAILER(\`smtp')dnl
EOF
    m4 "$DIR/sendmail.mc" >"$DIR/sendmail.cf"
    chmod 644 "$DIR/sendmail.cf"
}

start_syslog() {
    pid_alive "$DIR/syslog.pid" && return 0
    if [ -S /dev/log ] && /usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM); s.connect("/dev/log")' 2>/dev/null; then
        hlog "a syslogd owns /dev/log: sendmail's log lines go there"
        return 0
    fi
    rm -f /dev/log
    setsid /usr/bin/python3 -c '
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log"); os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
' "$DIR/maillog" </dev/null >/dev/null 2>&1 &
    echo $! >"$DIR/syslog.pid"
    for _ in $(seq 100); do [ -S /dev/log ] && return 0; sleep 0.02; done
    hlog "warning: syslog listener did not start (no sendmail log)"
}

start() {
    : "${DIR:?SM_DIR is required}" "${PORT:?SM_PORT is required}" "${SINK:?SINK_PORT is required}"
    install_sendmail
    if pid_alive "$PIDF"; then hlog "already running (pid $(cat "$PIDF"))"; return 0; fi
    port_free "$PORT"
    write_config
    start_syslog
    # -bD: daemon in the foreground (no fork), so the PID we record is the
    # daemon's. unshare execs (no fork) and so does sh.
    # shellcheck disable=SC2016 # $1 belongs to the inner sh
    setsid unshare -m sh -c 'mount --bind "$1/hosts" /etc/hosts &&
        mount --bind "$1/resolv.conf" /etc/resolv.conf && shift && exec "$@"' sh "$DIR" \
        "$SM" -C "$DIR/sendmail.cf" -bD -q1m -L sm-rmilter-test \
        >"$DIR/sendmail.log" 2>&1 </dev/null &
    echo $! >"$PIDF"
    wait_tcp "$PORT" 127.0.0.1 60 "$(cat "$PIDF")" || { cat "$DIR/sendmail.log" >&2; hdie "not listening on $PORT"; }
    hlog "listening on 127.0.0.1:$PORT (pid $(cat "$PIDF")); milter='${SM_MILTER:-}'"
}

stop() {
    : "${DIR:?SM_DIR is required}"
    stop_pidfile "$PIDF" 20
    if pid_alive "$DIR/syslog.pid"; then
        stop_pidfile "$DIR/syslog.pid" 5
        rm -f /dev/log
    fi
}

case "${1:-}" in
install) install_sendmail ;;
start) start ;;
stop) stop ;;
status) if pid_alive "$PIDF"; then echo "running pid $(cat "$PIDF")"; else echo stopped; exit 1; fi ;;
log) tail -n "${2:-30}" "$DIR/maillog" ;;
*) echo "usage: $0 install|start|stop|status|log" >&2; exit 2 ;;
esac
