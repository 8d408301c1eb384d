#!/usr/bin/env bash
# t_fault_redis_limits - no mail is lost while the rate-limit Redis is
# stopped, hung, slow, answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): rate-limit
# buckets live in Redis and are taken at RCPT; when Redis fails, redis
# on_failure applies there (tempfail: the recipient gets 451; accept: the
# limit is not applied) and nothing is rejected or lost. The limit is far
# above what the test sends, so with Redis healthy every message is
# delivered and leaves a bucket in Redis. The counting is fault_lib.sh's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/redis_lib.sh"
. "$FT_DIR/fault_lib.sh"

start_redis REDIS
FAULT_MODULE=ratelimit
FAULT_UPSTREAM=127.0.0.1:$REDIS
# four recipients per message, each its own key: spread over both members
# of the peer phase's hashed pool
FAULT_SEND_ARGS=(--to "a{i}@example.test,b{i}@example.test,c{i}@example.test,d{i}@example.test")
FAULT_HEALTHY=accepted
fault_conf() { # POLICY SERVERS
    cat <<EOC
redis {
    servers_limits = $2;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
    connect_timeout = 500ms;
    read_timeout = 1s;
    on_failure = $1;
}
limits {
    limit_to = 100000:10000;
}
EOC
}
fault_healthy_check() {
    [ -n "$(rcli "$REDIS" --scan --pattern 'rl.*')" ] || fail "no rate-limit bucket in Redis"
}
fault_run down:accept stall:tempfail slow:accept garbage:accept close:tempfail peer:tempfail
