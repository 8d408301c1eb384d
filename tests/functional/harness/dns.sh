#!/usr/bin/env bash
# A private authoritative DNS server (NSD) for one functional test: it
# serves every $DNS_DIR/zones/<zone>.zone on 127.0.0.1:$DNS_PORT (UDP and
# TCP) and nothing else. Authoritative only: it never recurses, so no query
# ever leaves loopback; names outside its zones get REFUSED, which resolvers
# report as a temporary failure (SPF temperror). The machine's resolver and
# /etc/resolv.conf are never touched: the daemon under test is pointed at
# this server with dns { nameserver = 127.0.0.1:$DNS_PORT; }.
#
# Adapted from research/harness/dns.sh (directory, port and zones from the
# caller; no default zones).
#
#   dns.sh start|stop|status|reload
# Env: DNS_DIR (required; zones in $DNS_DIR/zones), DNS_PORT (required)
set -euo pipefail
export SVC=dns
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

DIR=${DNS_DIR:?DNS_DIR is required}
PORT=${DNS_PORT:?DNS_PORT is required}
PIDF=$DIR/nsd.pid

write_config() {
    local z n=0
    {
        cat <<EOF
server:
  ip-address: 127.0.0.1@$PORT
  port: $PORT
  do-ip6: no
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$DIR/zones"
  zonelistfile: "$DIR/zone.list"
  xfrdfile: "$DIR/xfrd.state"
  xfrdir: "$DIR"
  pidfile: "$DIR/nsd-own.pid"
  logfile: "$DIR/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
  reuseport: no
remote-control:
  control-enable: no
EOF
        for z in "$DIR"/zones/*.zone; do
            [ -f "$z" ] || continue
            printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "$(basename "$z" .zone)" "$z"
            n=$((n + 1))
        done
    } >"$DIR/nsd.conf"
    [ "$n" -gt 0 ] || hdie "no zone files in $DIR/zones"
    nsd-checkconf "$DIR/nsd.conf" || hdie "bad nsd.conf"
    for z in "$DIR"/zones/*.zone; do
        nsd-checkzone "$(basename "$z" .zone)" "$z" >/dev/null || hdie "bad zone file $z"
    done
}

start() {
    ensure_pkgs nsd bind9-dnsutils
    if pid_alive "$PIDF"; then hlog "already running (pid $(cat "$PIDF"))"; return 0; fi
    port_free "$PORT"
    write_config
    # -d: stay in the foreground (we own the PID); setsid: not in the
    # test's process group
    setsid nsd -d -c "$DIR/nsd.conf" </dev/null >"$DIR/nsd.out" 2>&1 &
    echo $! >"$PIDF"
    wait_tcp "$PORT" 127.0.0.1 10 "$(cat "$PIDF")" ||
        { cat "$DIR/nsd.out" "$DIR/nsd.log" >&2 2>/dev/null; hdie "not listening on $PORT"; }
    # TCP listens before the zones are loaded: wait for a real answer
    local z i
    z=$(basename "$(ls "$DIR"/zones/*.zone | head -1)" .zone)
    for ((i = 0; i < 100; i++)); do
        dig +time=1 +tries=1 @127.0.0.1 -p "$PORT" SOA "$z" 2>/dev/null | grep -q 'status: NOERROR' && break
        sleep 0.05
    done
    hlog "serving $(ls "$DIR"/zones/*.zone | xargs -n1 basename | sed 's/\.zone$//' | tr '\n' ' ')on 127.0.0.1:$PORT (pid $(cat "$PIDF"))"
}

case "${1:-}" in
start) start ;;
stop) stop_pidfile "$PIDF" 10 ;;
status) if pid_alive "$PIDF"; then echo "running pid $(cat "$PIDF")"; else echo stopped; exit 1; fi ;;
reload) kill -HUP "$(cat "$PIDF")" ;;
*) echo "usage: $0 start|stop|status|reload" >&2; exit 2 ;;
esac
