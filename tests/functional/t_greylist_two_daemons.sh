#!/usr/bin/env bash
# t_greylist_two_daemons - two rmilter daemons share greylisting state on
# two Redis servers; the servers fail one after the other.
#
# Why: several MTAs must agree on greylisting: keys are sharded over the
# servers by consistent hashing, the same on every daemon, so a triplet
# greylisted by daemon A passes at daemon B after the timeout, and the
# white record B writes is seen by A. When a server fails, its keys' traffic
# moves to the other server per the upstream rules (maxerrors = 1 here:
# the first failure marks it dead), and while nothing answers the
# configured on_failure applies: A (accept) lets mail through, B
# (tempfail) answers 451 4.7.1. A server that hangs (SIGSTOP) costs one
# read_timeout, never a hung session; nothing crashes.
#
# Postfix listens twice: PF_PORTS[0] uses daemon A, PF_PORTS[1] daemon B.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"

start_redis R1
start_redis R2
RM2_SOCK=unix:$T/rmilter-b.sock
common() {
    cat <<EOF
redis {
    servers_grey = 127.0.0.1:$R1, 127.0.0.1:$R2;
    maxerrors = 1;
    error_time = 10s;
    dead_time = 60s;
    connect_timeout = 500ms;
    read_timeout = 1s;
    on_failure = $1;
}
greylisting {
    timeout = 2s;
    expire = 60s;
    expire_white = 60s;
}
EOF
}
common accept | rm_config "$RM_CONF"
{
    echo "bind_socket = $RM2_SOCK;"
    echo "socket_mode = 0666;"
    echo "pidfile = $T/rmilter-b.pid;"
    common tempfail
} | RM_HEADER=0 rm_config "$T/rmilter-b.conf"
start_rmilter
start_rmilter2 "$T/rmilter-b.conf"
start_sink
start_postfix "$RM_SOCK" "$RM2_SOCK"
PA=${PF_PORTS[0]}
PB=${PF_PORTS[1]}

rcpts=()
for i in $(seq 1 16); do rcpts+=("r$i@example.test"); done
all=$(IFS=,; echo "${rcpts[*]}")

# 1. A greylists all 16 triplets; the records land on both servers
log_mark
SMTP_PORT=$PA send_mail --from s@sender.example --to "$all" --body first
t0=$(date +%s.%N)
assert_reply '^451 4\.7\.1 Try again later$' "A: first attempt"
wait_for_log 'greylist=greylisted\(16 new, 0 early\)'
n1=$(rcli "$R1" --scan --pattern 'grey.*' | wc -l)
n2=$(rcli "$R2" --scan --pattern 'grey.*' | wc -l)
say "grey records: $n1 on redis 1, $n2 on redis 2"
assert_eq 16 "$((n1 + n2))" "16 grey records in all"

# 2. B sees A's records: too early, not new
rm2_mark
SMTP_PORT=$PB send_mail --from s@sender.example --to "$all" --body early
assert_reply '^451 4\.7\.1 Try again later$' "B: retry before timeout"
rm2_wait 'greylist=greylisted\(0 new, 16 early\)'    # B found A's 16 records

# 3. after timeout B passes them and writes the white records ...
sleep "$(awk -v t="$t0" -v n="$(date +%s.%N)" 'BEGIN { d = t + 2.3 - n; if (d < 0) d = 0; printf "%.3f", d }')"
tok=$(new_token)
SMTP_PORT=$PB send_mail --from s@sender.example --to "$all" --h-Subject "$tok" --body "$tok"
assert_reply '^250 ' "B: after timeout"
sink_wait_msg "$tok" >/dev/null
rm2_wait 'greylist: passed after 2s \(16 triplets' 
# ... which A reads
log_mark
SMTP_PORT=$PA send_mail --from s@sender.example --to "$all" --body white
assert_reply '^250 ' "A: whitelisted by B"
wait_for_log 'greylist=pass\(whitelisted\)'

# Which server holds which white record? X: one on redis 1, Y: one on 2.
# The grey records are dropped now, so that a triplet that moves to the
# other server finds nothing there and is plainly new.
X='' Y=
for r in "${rcpts[@]}"; do
    k=$(grey_key white. 127.0.0.0/24 s@sender.example "$r")
    if [ "$(rcli "$R1" EXISTS "$k")" = 1 ]; then X=${X:-$r}; fi
    if [ "$(rcli "$R2" EXISTS "$k")" = 1 ]; then Y=${Y:-$r}; fi
done
if [ -z "$X" ] || [ -z "$Y" ]; then
    fail "white records are not on both servers (X=$X Y=$Y)"
fi
say "X=$X (white record on redis 1), Y=$Y (on redis 2)"
for p in "$R1" "$R2"; do
    rcli "$p" --scan --pattern 'grey.*' | while read -r k; do rcli "$p" DEL "$k" >/dev/null; done
done

# 4. redis 2 hangs: B's session costs one read_timeout and gets B's
# on_failure (tempfail); redis 2 is now dead for B, Y's key moves to
# redis 1 where it is new
pause_redis "$R2"
rm2_mark
s=$(date +%s)
SMTP_PORT=$PB send_mail --from s@sender.example --to "$Y" --body hang
el=$(($(date +%s) - s))
assert_reply '^451 4\.7\.1 Temporary service failure, try again later$' "B: redis 2 hangs"
[ "$el" -lt 10 ] || fail "the session took ${el}s with a hung Redis (read_timeout 1s)"
rm2_wait 'greylist: failed at data: store failure.*on_failure = tempfail'
rm2_wait "upstream redis_grey: 127\.0\.0\.1:$R2.* marked dead"
SMTP_PORT=$PB send_mail --from s@sender.example --to "$Y" --body moved
assert_reply '^451 4\.7\.1 Try again later$' "B: Y moved to redis 1, new there"
rm2_wait "<$Y>: new, key"
resume_redis "$R2"

# 5. redis 1 dies: A lets the first message through (accept), marks it
# dead, and X's key moves to redis 2 where it is new
stop_redis "$R1"
log_mark
SMTP_PORT=$PA send_mail --from s@sender.example --to "$X" --body down1
assert_reply '^250 ' "A: redis 1 down, on_failure = accept"
wait_for_log 'greylist: failed at data: store failure: .*on_failure = continue'
wait_for_log "upstream redis_grey: 127\.0\.0\.1:$R1.* marked dead"
SMTP_PORT=$PA send_mail --from s@sender.example --to "$X" --body moved1
assert_reply '^451 4\.7\.1 Try again later$' "A: X moved to redis 2, new there"
wait_for_log "<$X>: new, key"
# Y's records on redis 2 still work at A
SMTP_PORT=$PA send_mail --from s@sender.example --to "$Y" --body y-on-2
assert_reply '^250 ' "A: Y still whitelisted on redis 2"

# 6. both down: each daemon's on_failure, quickly, and nobody crashes
stop_redis "$R2"
s=$(date +%s)
SMTP_PORT=$PA send_mail --from s@sender.example --to "$Y" --body both-a
assert_reply '^250 ' "A: both down, accept"
SMTP_PORT=$PB send_mail --from s@sender.example --to "$X" --body both-b
assert_reply '^451 4\.7\.1 Temporary service failure, try again later$' "B: both down, tempfail"
el=$(($(date +%s) - s))
[ "$el" -lt 15 ] || fail "two sessions took ${el}s with both servers down"
alive "$RM_PID" || fail "daemon A died"
alive "$RM2_PID" || fail "daemon B died"

pf_wait_queue_empty
stop_rmilter2
stop_rmilter
