#!/usr/bin/env bash
# t_clamav_failure - clamd that is stopped, hung (accepts and never
# answers) or speaking garbage, through Postfix; then a dead server left
# alone for dead_time while its healthy peer serves.
#
# Why: an unreachable or broken scanner must never let a message through
# unscanned when on_failure = tempfail (451 4.7.1, no reject either), must
# be marked dead in its pool after maxerrors failures (one log line naming
# the reason: a hung server counts as a failure once results_timeout
# passes), must not be tried while dead when another member is alive, and
# must be tried again once dead_time has passed. on_failure = accept lets
# the message through. Assertions are on replies and on the order of log
# lines, never on durations.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"

clam_conf() { # SERVERS [EXTRA]
    rm_config "$RM_CONF" <<EOF
log_level = debug;
clamav {
    servers = $1;
    connect_timeout = 1s;
    results_timeout = 1s;
    maxerrors = 2;
    error_time = 60s;
    dead_time = 2s;
    on_failure = ${2:-tempfail};
}
EOF
}
reload() {
    log_mark
    rm_signal HUP
    wait_for_log 'reloaded .*generation'
}

start_sink
printf 'a plain body\n' >"$T/body.txt"

# 1. each failure mode on a server of its own: tempfail twice, then dead
new_port P_STOP # nothing listens there
start_fake hung hang P_HUNG
start_fake garbage garbage P_GARB
first=1
for mode in STOP:refused HUNG:timeout GARB:protocol; do
    var=P_${mode%%:*}
    port=${!var}
    why=${mode#*:}
    clam_conf "127.0.0.1:$port"
    if [ "$first" = 1 ]; then
        start_rmilter
        start_postfix "$RM_SOCK"
        first=0
    else
        reload
    fi
    log_mark
    for i in 1 2; do
        send_mail --h-Subject "$why $i" --body "$T/body.txt"
        assert_reply '^451 4\.7\.1 ' "$why: on_failure = tempfail"
    done
    wait_for_log "upstream clamav: 127\.0\.0\.1:$port marked dead after 2 errors in .*: $why"
    wait_for_log "msg done: .*clamav=error\(127\.0\.0\.1:$port: $why.*\) -> tempfail.*action=tempfail 451 4\.7\.1"
done
assert_match accept "$(cat "$T/hung.log")" "the hung server got the connections"

# 2. on_failure = accept: the hung server's message goes through
new_port P_HUNG2
stop_bg hung
start_fake hung2 hang P_HUNG2
clam_conf "127.0.0.1:$P_HUNG2" accept
reload
tok=$(new_token)
send_mail --h-Subject "accept $tok" --body "$T/body.txt"
assert_reply '^250 ' "on_failure = accept"
sink_wait_msg "$tok" >/dev/null
wait_for_log 'msg done: .*clamav=error\(.*timeout\) -> accept'

# 3. dead_time: a refused member beside a healthy one
start_fake good clamd P_GOOD
new_port P_DEAD
clam_conf "127.0.0.1:$P_DEAD, 127.0.0.1:$P_GOOD"
reload
# round robin keeps coming back to the dead-to-be member; a refused
# connect fails over to the healthy member, so mail still passes
dead_re="upstream clamav: 127\.0\.0\.1:$P_DEAD marked dead after 2 errors"
for i in 1 2 3 4 5 6 7 8; do
    send_mail --h-Subject "pool $i" --body "$T/body.txt"
    assert_reply '^250 ' "failover to the healthy member ($i)"
    log_since_mark | grep -Eq "$dead_re" && break
done
wait_for_log "$dead_re"
log_mark
for i in 1 2 3; do
    send_mail --h-Subject "while dead $i" --body "$T/body.txt"
    assert_reply '^250 '
done
wait_for_log 'msg done: .*clamav=clean'
assert_eq "" "$(log_lines "eom: clamav (connecting|retry) 127\.0\.0\.1:$P_DEAD")" "not tried while dead"
assert_eq "" "$(log_lines "upstream clamav: 127\.0\.0\.1:$P_DEAD is alive again")" "not revived early"
sleep 2.2 # dead_time
log_mark
for i in 1 2; do
    send_mail --h-Subject "after dead_time $i" --body "$T/body.txt"
    assert_reply '^250 '
done
wait_for_log "upstream clamav: 127\.0\.0\.1:$P_DEAD is alive again"
wait_for_log "eom: clamav (connecting|retry) 127\.0\.0\.1:$P_DEAD"
stop_rmilter
