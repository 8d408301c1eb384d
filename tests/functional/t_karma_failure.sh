#!/usr/bin/env bash
# t_karma_failure - a karma server that fails must never hold mail up.
#
# Why: reputation is advisory. A server that stays silent, answers garbage,
# answers with an error (bad credentials) or is not there at all must cost
# at most the timeout, count as a failure for its pool (the pool marks it
# dead after maxerrors and says so in the log), and the message goes on
# per on_failure: by default (continue) it is delivered, tagged with the
# reason (X-Karma ... error=...), never rejected even when the client is
# listed; with on_failure = tempfail it gets 451 4.7.1. A silent server
# gets the retransmissions of the same query (same id) within the timeout.
# While the pool's only server is dead it is not asked at all (an outage
# costs no time per message); after dead_time it is asked again, the pool
# says it is alive again, and a listed client is rejected as usual.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/karma_lib.sh"
. "$FT_DIR/dns_lib.sh" # unfold

cat >"$KS_TABLE" <<'EOF'
192.0.2.66,-1000,listed in the test table
EOF
start_ks --login rmilter --credential s3cret

karma_conf() { # ON_FAILURE CREDENTIAL [SERVERS]
    rm_config "$RM_CONF" <<EOF
karma {
    servers = ${3:-127.0.0.1:$KS_PORT};
    login = rmilter;
    credential = $2;
    timeout = 600ms;
    retries = 2;
    maxerrors = 2;
    error_time = 60s;
    dead_time = 2s;
    reject_threshold = -500;
    on_failure = $1;
}
EOF
}
karma_conf continue s3cret
start_rmilter
start_sink
PF_EXTRA="smtpd_authorized_xclient_hosts = 127.0.0.0/8
mynetworks = 127.0.0.0/8, 192.0.2.0/24" start_postfix "$RM_SOCK"

TOK=
send() { # ADDR [SWAKS ARGS]
    local addr=$1
    shift
    TOK=$(new_token)
    send_mail --xclient "ADDR=$addr NAME=mx.client.test" --h-Subject "$TOK" \
        --body "body $TOK" "$@"
}
karma_header() {
    sink_headers "$(sink_wait_msg "$TOK")" | unfold | grep '^X-Karma:' || true
}
# delivered_with ERROR : accepted, tagged error=ERROR with no score
delivered_with() {
    assert_reply '^250 ' "delivered despite $1"
    assert_eq "X-Karma: score=0 verdict=neutral feedset=karmasphere.email-sender identities=ip4:192.0.2.66,domain:client.test,email:sender@example.org error=$1" \
        "$(karma_header)" "X-Karma with error=$1"
}

send 192.0.2.66
assert_reply '^550 5\.7\.1 karma scored too low: -1000 ' "the server works: listed client rejected"

# --- garbage: a bad reply fails the member at once; delivered (a working
# answer in between clears the member's error count)
ks_mode garbage
log_mark
send 192.0.2.66
delivered_with bad-reply
wait_for_log "karma: server 127\\.0\\.0\\.1:$KS_PORT sent a bad reply \\([0-9]+ bytes\\): offset 0: unexpected byte"
ks_mode normal
send 192.0.2.66
assert_reply '^550 5\.7\.1 ' "answers again"
ks_mode badtype
send 192.0.2.66
delivered_with bad-reply
ks_mode normal
send 192.0.2.66
assert_reply '^550 5\.7\.1 ' "answers again"

# --- silent: timeout after the retransmissions; delivered; after maxerrors
# the pool marks the server dead
ks_mode silent
log_mark
n0=$(ks_queries)
send 192.0.2.66
delivered_with timeout
assert_eq 3 "$(($(ks_queries) - n0))" "the query and 2 retransmissions reached the server"
assert_eq 1 "$(tail -n 3 "$KS_LOG" | sed -nE 's/.*"id": "([^"]*)".*/\1/p' | sort -u | wc -l)" "retransmissions reuse the id"
wait_for_log "karma: server 127\\.0\\.0\\.1:$KS_PORT: timeout"
wait_for_log "karma: score=0 verdict=neutral karma=failed \\(timeout\\)"
send 192.0.2.66
delivered_with timeout
wait_for_log "upstream karma: 127\\.0\\.0\\.1:$KS_PORT marked dead after 2 errors in [^:]*: timeout"

# --- dead: not even asked while dead_time runs (no time lost per message)
n0=$(ks_queries)
send 192.0.2.66
delivered_with dead
assert_eq "$n0" "$(ks_queries)" "a dead server is not asked"
wait_for_log "karma: score=0 verdict=neutral karma=failed \\(all servers are dead\\)"

# --- back after dead_time: asked again, the listed client rejected
ks_mode normal
sleep 2.1
send 192.0.2.66
assert_reply '^550 5\.7\.1 karma scored too low: -1000 ' "rejected again"
wait_for_log "upstream karma: 127\\.0\\.0\\.1:$KS_PORT is alive again"

# --- wrong credentials: an error reply is a failure, the mail flows
log_mark
karma_conf continue wrong
rm_signal HUP
wait_for_log "reloaded .*generation 2" 10
send 192.0.2.66
delivered_with server-error
wait_for_log "karma: server 127\\.0\\.0\\.1:$KS_PORT answered with an error: server error: Incorrect user and/or password\\."

# --- on_failure = tempfail: 451, never a reject; nobody listening: refused
log_mark
karma_conf tempfail s3cret
rm_signal HUP
wait_for_log "reloaded .*generation 3" 10
ks_mode silent
send 192.0.2.66
assert_reply '^451 4\.7\.1 ' "on_failure = tempfail"
wait_for_log "karma: failed at eom: server timeout; on_failure = tempfail"
ks_mode normal

log_mark
closed=
new_port closed
karma_conf continue s3cret "127.0.0.1:$closed"
rm_signal HUP
wait_for_log "reloaded .*generation 4" 10
send 192.0.2.66
assert_reply '^250 ' "no server listening: delivered"
assert_match 'error=refused$' "$(karma_header)" "error=refused"

pf_wait_queue_empty
stop_rmilter
