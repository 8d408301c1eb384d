#!/usr/bin/env bash
# t_sigterm_graceful - SIGTERM / SIGINT stop the daemon gracefully, with a
# deadline.
#
# Why: a restart must not lose the message an MTA is sending right now, and
# must not hang on a stuck MTA either. On SIGTERM: an idle session (no
# message in progress) is closed at once; a session in the middle of a
# message may finish it and gets its normal reply (the rule's reject); the
# daemon then exits 0 with its socket and pidfile removed. On SIGINT with a
# message that never completes: after shutdown_timeout the daemon says so in
# the log, closes the connection and exits 0 - long before read_timeout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

{
    echo 'shutdown_timeout = 2s;'
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
start_rmilter

mclient_bg BUSY <<EOF2
negotiate
connect busy.test 4 1000 192.0.2.80
helo evil.example
macro M i BUSYQ
mail <busy@example.org>
rcpt <rcpt@example.test>
touch $T/busy.ready
wait_file $T/busy.go 30
header Subject "finishing during the stop"
eoh
body "please finish me\r\n"
eom
expect '^replycode 554 5\.7\.1 No spam from this helo$'
quit
EOF2
mclient_bg IDLE <<EOF2
negotiate
connect idle.test 4 1001 192.0.2.81
helo idle.test
touch $T/idle.ready
expect_close 20
EOF2
wait_until 20 test -f "$T/busy.ready" -a -f "$T/idle.ready" || fail "the sessions did not get going"

log_mark
rm_signal TERM
wait_for_log 'SIGTERM received'
mclient_wait IDLE 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "the idle session was not closed at SIGTERM"; }
alive "$RM_PID" || fail "the daemon exited with a message in progress"
touch "$T/busy.go"
mclient_wait BUSY 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "the message in progress did not finish during the stop"; }
wait_for_log 'msg done: qid=BUSYQ; .*action=reject'
pid=$RM_PID
RM_PID=
wait_exit "$pid" 15 || fail "the daemon did not exit after its last session"
assert_eq 0 "$WAIT_RC" "exit status after SIGTERM"
[ ! -e "$T/rmilter.sock" ] || fail "socket left behind"
[ ! -e "$RM_PIDFILE" ] || fail "pidfile left behind"

# SIGINT, and a message that never completes: shutdown_timeout applies
start_rmilter
mclient_bg STUCK <<EOF2
negotiate
connect stuck.test 4 1002 192.0.2.82
helo stuck.test
mail <stuck@example.org>
rcpt <rcpt@example.test>
header Subject "never finishes"
touch $T/stuck.ready
expect_close 60
EOF2
wait_until 20 test -f "$T/stuck.ready" || fail "the stuck session did not get going"
log_mark
rm_signal INT
wait_for_log 'SIGINT received'
wait_for_log 'shutdown_timeout \(2000 ms\) passed; closing 1 connection' 20
mclient_wait STUCK 20
[ "$MC_RC" = 0 ] || { sed 's/^/    /' "$MC_OUT" >&2; fail "the stuck session was not closed at the deadline"; }
pid=$RM_PID
RM_PID=
wait_exit "$pid" 15 || fail "the daemon did not exit after shutdown_timeout"
assert_eq 0 "$WAIT_RC" "exit status after SIGINT"
