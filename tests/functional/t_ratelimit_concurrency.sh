#!/usr/bin/env bash
# t_ratelimit_concurrency - many sessions hit one bucket at the same instant,
# on two daemons sharing Redis, then on one daemon with the embedded store.
#
# Why: the original checked a bucket at RCPT and raised it at EOM, so N
# sessions at once all saw room. Here each RCPT takes from the bucket in
# one atomic step (a Lua script in Redis, one critical section in the
# embedded store), so however the sessions interleave, exactly burst
# recipients get through: 40 sessions (20 per daemon) against a burst of 5
# must accept exactly 5, and every session completes. milter_client.py
# drives the sessions; each waits at a barrier file before its RCPT, so
# they all arrive together.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"

# burst SOCKET NAME-PREFIX COUNT IP-BASE : COUNT background sessions that
# wait for $T/go before RCPT TO:<hot@example.test>
burst() {
    local sock=$1 pfx=$2 n=$3 base=$4 i
    for ((i = 1; i <= n; i++)); do
        mclient_bg "$pfx$i" -s "$sock" <<EOF
negotiate
connect host$i.example 4 $((40000 + i)) 192.0.$base.$i
helo host$i.example
macro M i Q$pfx$i
mail <s$i@sender.example>
wait_file $T/go 60
rcpt <hot@example.test>
data
eoh
eom
quit
EOF
    done
}

# collect PREFIX COUNT : wait for the sessions (in this shell: they are its
# children); sets OK and NO, the accepted and refused counts
collect() {
    local pfx=$1 n=$2 i ok=0 no=0
    for ((i = 1; i <= n; i++)); do
        mclient_wait "$pfx$i" 60
        [ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "session $pfx$i failed (exit $MC_RC)"; }
        if grep -q '^rcpt: continue$' "$MC_OUT"; then
            ok=$((ok + 1))
        elif grep -q '^rcpt: replycode 451 4\.7\.1 Rate limit exceeded$' "$MC_OUT"; then
            no=$((no + 1))
        else
            sed 's/^/    /' "$MC_OUT" >&2
            fail "session $pfx$i: unexpected RCPT reply"
        fi
        grep -q '^eom: ' "$MC_OUT" || fail "session $pfx$i did not complete"
    done
    OK=$ok
    NO=$no
}

# --- two daemons, one Redis ------------------------------------------------
start_redis R1
RM2_SOCK=unix:$T/rmilter-b.sock
conf() {
    cat <<EOF
redis { servers_limits = 127.0.0.1:$R1; }
limits { limit_to = 5:0.001; }
max_sessions = 100;
EOF
}
conf | rm_config "$RM_CONF"
{
    echo "bind_socket = $RM2_SOCK;"
    echo "socket_mode = 0666;"
    echo "pidfile = $T/rmilter-b.pid;"
    conf
} | RM_HEADER=0 rm_config "$T/rmilter-b.conf"
start_rmilter
start_rmilter2 "$T/rmilter-b.conf"

rm -f "$T/go"
burst "$RM_SOCK" a 20 2
burst "$RM2_SOCK" b 20 3
sleep 1 # let every session reach the barrier
touch "$T/go"
collect a 20
a_ok=$OK a_no=$NO
collect b 20
b_ok=$OK b_no=$NO
say "daemon A: $a_ok accepted, $a_no refused; daemon B: $b_ok accepted, $b_no refused"
assert_eq 5 "$((a_ok + b_ok))" "recipients accepted by both daemons together"
assert_eq 35 "$((a_no + b_no))" "recipients refused"
level=$(rcli "$R1" GET 'rl.to|hot@example.test')
assert_match '^[0-9]{13}:(5|4\.99[0-9]*)$' "$level" "the bucket holds the 5 accepted"
stop_rmilter2
stop_rmilter

# --- one daemon, the embedded store ---------------------------------------
cat <<'EOF' | rm_config "$RM_CONF"
limits { limit_to = 7:0.001; }
max_sessions = 100;
EOF
start_rmilter
rm -f "$T/go"
burst "$RM_SOCK" m 20 4
sleep 1
touch "$T/go"
collect m 20
m_ok=$OK m_no=$NO
say "embedded store: $m_ok accepted, $m_no refused"
assert_eq 7 "$m_ok" "recipients accepted from the embedded store"
assert_eq 13 "$m_no" "recipients refused"
stop_rmilter
