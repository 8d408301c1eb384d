#!/usr/bin/env bash
# t_garbage - bad input on the milter socket closes that one connection
# (with a log line saying why) and nothing else.
#
# Why: the socket is reachable by every local user with access to it, and a
# confused or hostile peer must not crash the daemon, hang it, or disturb
# other sessions. Cases, each on its own connection: HTTP text instead of
# the milter protocol, a huge length (0xffffffff), length 0, an unknown
# command, a packet over max_packet, a packet cut short by EOF, and (with a
# short read_timeout) a packet cut short by a stall and an idle session.
# A session opened before the garbage and held open across it must still
# complete normally afterwards, and a fresh miltertest session must pass.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

{
    echo 'read_timeout = 20s;'
    echo 'max_packet = 65536;'
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
start_rmilter

# session A: mid-transaction while the garbage arrives
mclient_bg A <<EOF2
negotiate
connect held.test 4 1234 192.0.2.50
helo held.test
macro M i HELDQ
mail <held@example.org>
rcpt <tagme@example.test>
touch $T/a.ready
wait_file $T/a.go 60
header Subject "held across garbage"
eoh
body "still here\r\n"
eom
expect '^addheader X-Rule: ?matched$'
expect '^(accept|continue)$'
quit
EOF2
wait_until 20 test -f "$T/a.ready" || { cat "$T/client.A.out" >&2; fail "session A did not get going"; }

# garbage CASE-NAME LOG-REGEX : the script on stdin must end with the
# daemon closing the connection (within 5 s, far below read_timeout), and
# the daemon must log why
garbage() {
    local name=$1 re=$2
    log_mark
    mclient -t 5
    grep -q '^expect_close: closed' "$MC_OUT" || {
        sed 's/^/    /' "$MC_OUT" >&2
        fail "$name: the daemon did not close the connection"
    }
    wait_for_log "conn [0-9]+: closing: .*$re" 5
    alive "$RM_PID" || fail "$name: the daemon died"
}

garbage "HTTP request" 'max_packet|length' <<'EOF2'
raw 474554202f20485454502f312e300d0a0d0a
expect_close 5
EOF2
garbage "length 0xffffffff" 'max_packet|length' <<'EOF2'
raw ffffffff4f
expect_close 5
EOF2
garbage "length 0" 'length 0' <<'EOF2'
raw 00000000
expect_close 5
EOF2
garbage "unknown command" 'unknown command' <<'EOF2'
negotiate
packet Z 00
expect_close 5
EOF2
garbage "over max_packet" 'max_packet' <<'EOF2'
negotiate
connect big.test 4 25 192.0.2.51
raw 000100014c
raw 58585858585858585858
raw 5858
expect_close 5
EOF2
garbage "truncated by EOF" 'middle of a packet' <<'EOF2'
negotiate
connect cut.test 4 25 192.0.2.52
raw 00000020486865
shutdown
expect_close 5
EOF2

# session A finishes normally, on its unchanged connection
touch "$T/a.go"
mclient_wait A 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "session A failed after the garbage"; }
wait_for_log 'msg done: qid=HELDQ; client=held\.test\[192\.0\.2\.50\]'
expect_mt multi_rcpt.lua -D qid=AFTERGARBAGE
wait_for_log 'msg done: qid=AFTERGARBAGE; '
stop_rmilter

# a stalled peer: closed by read_timeout (1 s here), mid-packet and idle
{
    echo 'read_timeout = 1s;'
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
start_rmilter
log_mark
mclient -t 15 <<'EOF2'
negotiate
raw 0000001048
expect_close 15
EOF2
grep -q '^expect_close: closed' "$MC_OUT" || fail "a stalled half packet was not closed by read_timeout"
wait_for_log 'conn [0-9]+: closing: read timeout' 5
log_mark
mclient -t 15 <<'EOF2'
negotiate
connect idle.test 4 25 192.0.2.53
expect_close 15
EOF2
grep -q '^expect_close: closed' "$MC_OUT" || fail "an idle session was not closed by read_timeout"
wait_for_log 'conn [0-9]+: closing: read timeout' 5
expect_mt multi_rcpt.lua -D qid=AFTERSTALL
stop_rmilter
