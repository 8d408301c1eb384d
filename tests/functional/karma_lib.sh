# shellcheck shell=bash
# karma_lib.sh - a Karmasphere-compatible test server for a functional test
# (source it after lib.sh). Karmasphere itself is gone; karmasphere_server.py
# answers BQuery over UDP and TCP from a small table, written from the
# protocol description (research/karmasphere.md).
#
#   start_ks [ARGS]     the server on a free port (UDP and TCP), its table
#                       $KS_TABLE (write it first), mode from $KS_MODE_FILE;
#                       sets KS_PORT; stopped by PID at exit. ARGS go to the
#                       server (--login U --credential P, ...).
#   ks_mode MODE        switch the running server's mode (normal, silent,
#                       garbage, badtype, wrongid, error, slow)
#   ks_queries          the number of queries it received so far
#   ks_last             the last query, as a JSON line
#   ks_wait_queries N   wait until it has received N queries

KS_DIR=$T/ks
KS_TABLE=$KS_DIR/table.csv
KS_MODE_FILE=$KS_DIR/mode
KS_LOG=$KS_DIR/queries.log
KS_PORT=
mkdir -p "$KS_DIR"

start_ks() {
    local i
    new_port KS_PORT
    [ -f "$KS_MODE_FILE" ] || echo normal >"$KS_MODE_FILE"
    : >"$KS_LOG"
    "$PY" "$FT_DIR/karmasphere_server.py" --port "$KS_PORT" --table "$KS_TABLE" \
        --mode-file "$KS_MODE_FILE" --log "$KS_LOG" --pidfile "$KS_DIR/pid" "$@" \
        </dev/null >>"$KS_DIR/server.log" 2>&1 &
    track "$!" karmasphere_server
    KS_PID=$!
    # UDP and TCP are bound before the pidfile is written
    for ((i = 0; i < 200; i++)); do
        [ -s "$KS_DIR/pid" ] && tcp_listening "$KS_PORT" && return 0
        alive "$KS_PID" || break
        sleep 0.05
    done
    cat "$KS_DIR/server.log" >&2
    fail "karmasphere_server.py did not start on port $KS_PORT"
}

ks_mode() { echo "$1" >"$KS_MODE_FILE"; }
ks_queries() { grep -c . "$KS_LOG" 2>/dev/null || true; }
ks_last() { tail -n 1 "$KS_LOG"; }
ks_wait_queries() {
    local ks_want=$1
    # shellcheck disable=SC2016 # expanded by eval, on every poll
    wait_until "${2:-10}" eval '[ "$(ks_queries)" -ge "$ks_want" ]' ||
        fail "the karma server got $(ks_queries) queries, expected $ks_want"
}
