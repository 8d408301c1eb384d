#!/usr/bin/env bash
# t_fault_clamd - no mail is lost while clamd is stopped, hung, slow,
# answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): when no scan
# result can be had, clamav on_failure applies (tempfail: 451, the message
# is never let through unscanned; accept: delivered), never a reject; the
# pool marks the server dead after maxerrors and revives it after
# dead_time. The real backend is clamd (scan_lib.sh); the messages are
# clean, so with clamd healthy every one is delivered. Counting:
# fault_lib.sh. (t_clamav_failure covers failover between two servers.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"
. "$FT_DIR/fault_lib.sh"

start_clamd
FAULT_MODULE=clamav
FAULT_UPSTREAM=127.0.0.1:$CLAMD_PORT
FAULT_HEALTHY=accepted
fault_conf() { # POLICY SERVERS
    cat <<EOC
clamav {
    servers = $2;
    connect_timeout = 500ms;
    results_timeout = 2s;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
    on_failure = $1;
}
EOC
}
fault_run down:tempfail stall:accept slow:tempfail garbage:tempfail close:accept peer:tempfail
