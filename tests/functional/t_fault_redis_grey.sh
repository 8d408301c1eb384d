#!/usr/bin/env bash
# t_fault_redis_grey - no mail is lost while the greylisting Redis is
# stopped, hung, slow, answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): greylisting
# state lives in Redis; when Redis fails, the configured redis on_failure
# applies (tempfail: 451; accept: the check passes) and nothing is ever
# rejected or lost. The pool marks the server dead after maxerrors and
# revives it after dead_time. fault_lib.sh has the counting; here is only
# what makes it Redis greylisting. Greylisting's timeout is an hour, so
# with Redis healthy every message is greylisted ("Try again later"), and
# a message that passes proves the on_failure = accept path.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/fault_lib.sh"

start_redis REDIS
FAULT_MODULE=greylist
FAULT_UPSTREAM=127.0.0.1:$REDIS
# four recipients per message, each its own key: spread over both members
# of the peer phase's hashed pool
FAULT_SEND_ARGS=(--to "a{i}@example.test,b{i}@example.test,c{i}@example.test,d{i}@example.test")
FAULT_HEALTHY=tempfailed
FAULT_HEALTHY_RE='^451 4\.7\.1 Try again later'
fault_conf() { # POLICY SERVERS
    cat <<EOC
redis {
    servers_grey = $2;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
    connect_timeout = 500ms;
    read_timeout = 1s;
    on_failure = $1;
}
greylisting {
    timeout = 1h;
    expire = 1d;
}
EOC
}
fault_healthy_check() {
    [ -n "$(rcli "$REDIS" --scan --pattern 'grey.*')" ] || fail "no greylisting record in Redis"
}
fault_run down:tempfail stall:accept slow:tempfail garbage:tempfail close:accept peer:tempfail
