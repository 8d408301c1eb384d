#!/usr/bin/env bash
# t_beanstalk_failure - a beanstalkd that refuses, hangs or is gone never
# holds mail up, through Postfix.
#
# Why: copies are best effort. Every message here must be accepted and
# arrive at the sink, whatever beanstalkd does:
#   - JOB_TOO_BIG (beanstalkd -z smaller than the message): logged with
#     the fix ("raise beanstalkd -z"), counted as a failed copy, the
#     server is NOT marked dead (it answered) and the connection keeps
#     working (the next message's jobs go through);
#   - beanstalkd stopped: connects are refused, each failed put is logged;
#     after maxerrors the pool marks the server dead (one log line per
#     pool) and later messages do not try it at all (summary
#     "skipped(dead)");
#   - beanstalkd back on the same port: after dead_time the copies flow
#     again and the pool says the server is alive again;
#   - beanstalkd hung (SIGSTOP: connects succeed, nothing answers): the
#     put gives up at `timeout` and the message is delivered anyway.
# Only log lines and deliveries are asserted, never durations.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/beanstalk_lib.sh"

start_beanstalkd BS 2048
rm_config "$RM_CONF" <<EOF
beanstalk {
    servers = 127.0.0.1:$BS;
    copy_server = 127.0.0.1:$BS;
    tube = fail.test;
    send_beanstalk_headers = yes;
    send_beanstalk_copy = yes;
    connect_timeout = 500ms;
    timeout = 700ms;
    maxerrors = 2;
    error_time = 60s;
    dead_time = 2s;
}
EOF
start_rmilter
start_sink
start_postfix "$RM_SOCK"

TOK=
deliver() { # [SWAKS ARGS] : one message, which must arrive at the sink
    TOK=$(new_token)
    send_mail --h-Subject "$TOK" --body "body $TOK" "$@"
    assert_reply '^250 ' "accepted despite beanstalkd"
    sink_wait_msg "$TOK" >/dev/null
    wait_for_log "qid=$SMTP_QID;.*msg done|msg done: qid=$SMTP_QID;" 10
}
summary() { log_lines "msg done: qid=$SMTP_QID;"; }

# 1. JOB_TOO_BIG: the copy (3 KiB) is over -z 2048, the headers job is not
log_mark
body=$(for i in $(seq 1 40); do printf 'line %02d %s\n' "$i" "$(printf '%070d' 0)"; done)
deliver --body "$body"
wait_for_log "beanstalk: copy to 127\.0\.0\.1:$BS: JOB_TOO_BIG: beanstalkd max job size is smaller than the message \([0-9]+ bytes\): raise beanstalkd -z"
assert_match 'beanstalk=failed\(headers:[0-9]+ copy:too-big\) -> continue' "$(summary)"
deliver
assert_match 'beanstalk=sent\(headers:[0-9]+ copy:[0-9]+\)' "$(summary)" "the next message's jobs"
assert_eq "" "$(log_lines 'marked dead')" "JOB_TOO_BIG does not kill the server"
assert_eq 3 "$(bs_ready "$BS" fail.test)" "two headers jobs and one copy"

# 2. beanstalkd stopped
stop_beanstalkd "$BS"
log_mark
deliver
assert_match 'beanstalk=failed\(headers:failed copy:failed\) -> continue' "$(summary)"
assert_match "beanstalk: headers to 127\.0\.0\.1:$BS failed after 1 attempt: (connect|put): " "$(log_lines 'headers to')"
deliver
wait_for_log "upstream beanstalk: 127\.0\.0\.1:$BS marked dead after 2 errors"
wait_for_log "upstream beanstalk_copy: 127\.0\.0\.1:$BS marked dead after 2 errors"
deliver
assert_match 'beanstalk=none\(headers:skipped\(dead\) copy:skipped\(dead\)\)' "$(summary)" "a dead pool is not tried"

# 3. back on the same port: after dead_time (2 s) the copies resume
start_beanstalkd BS 2048 "$BS"
sleep 3 # past dead_time (2 s, even with 20% jitter): nothing to poll for
log_mark
deliver
assert_match 'beanstalk=sent\(headers:[0-9]+ copy:[0-9]+\)' "$(summary)" "copies after the restart"
wait_for_log "upstream beanstalk: 127\.0\.0\.1:$BS is alive again"
wait_for_log "upstream beanstalk_copy: 127\.0\.0\.1:$BS is alive again"
assert_eq 2 "$(bs_ready "$BS" fail.test)" "jobs in the restarted server"

# 4. hung: the puts time out, the message is delivered
bs_pid="BS_PID_$BS"
kill -STOP "${!bs_pid}"
on_exit "kill -CONT ${!bs_pid}"
log_mark
deliver
assert_match 'beanstalk=failed\(headers:failed copy:failed\) -> continue' "$(summary)"
assert_match 'failed after 1 attempt: (use|put): Connection timed out|timed out' "$(log_lines 'headers to')"
kill -CONT "${!bs_pid}"
pf_wait_queue_empty
stop_rmilter
