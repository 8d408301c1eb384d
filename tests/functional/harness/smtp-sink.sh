#!/usr/bin/env bash
# smtp-sink (from the postfix package) on 127.0.0.1:$SINK_PORT: the "next
# hop" of the test MTAs, so nothing ever leaves the machine. Every message is
# kept as one file under $SINK_DIR/mail/ (smtp-sink -d: the envelope as
# X-Client-Addr/X-Helo-Args/X-Mail-Args/X-Rcpt-Args lines, smtp-sink's own
# Received: line, then the message as it arrived), so tests can assert on
# the headers and the body that really arrived.
#
# Adapted from research/harness/smtp-sink.sh (directory and port from the
# caller, dumping always on).
#
#   smtp-sink.sh start|stop|status|count
# Env: SINK_DIR (required), SINK_PORT (required)
set -euo pipefail
export SVC=smtp-sink
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

DIR=${SINK_DIR:?SINK_DIR is required}
PORT=${SINK_PORT:?SINK_PORT is required}
PIDF=$DIR/smtp-sink.pid

start() {
    ensure_pkgs postfix
    if pid_alive "$PIDF"; then hlog "already running (pid $(cat "$PIDF"))"; return 0; fi
    port_free "$PORT"
    mkdir -p "$DIR/mail"
    chmod 755 "$DIR"
    chown nobody "$DIR/mail" # smtp-sink drops to nobody (-u) before writing
    : >"$DIR/counter"
    # -c: running counter "sess=N quit=N mesg=N\r" on stdout; -d: one file
    # per message (the template gets a random suffix); -u: drop root;
    # 100 = listen backlog. setsid: not in the test's process group.
    setsid smtp-sink -c -d "$DIR/mail/msg." -u nobody "127.0.0.1:$PORT" 100 \
        >"$DIR/counter" 2>"$DIR/smtp-sink.log" </dev/null &
    echo $! >"$PIDF"
    wait_tcp "$PORT" 127.0.0.1 10 "$(cat "$PIDF")" || hdie "not listening on $PORT"
    hlog "listening on 127.0.0.1:$PORT (pid $(cat "$PIDF"))"
}

count() { # messages received so far
    local last
    last=$(tr '\r' '\n' <"$DIR/counter" 2>/dev/null | grep mesg= | tail -1 || true)
    last=${last##*mesg=}
    echo "${last:-0}" | tr -dc '0-9'
    echo
}

case "${1:-}" in
start) start ;;
stop) stop_pidfile "$PIDF" ;;
status) if pid_alive "$PIDF"; then echo "running pid $(cat "$PIDF") mesg=$(count)"; else echo stopped; exit 1; fi ;;
count) count ;;
*) echo "usage: $0 start|stop|status|count" >&2; exit 2 ;;
esac
