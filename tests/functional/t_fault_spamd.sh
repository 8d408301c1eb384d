#!/usr/bin/env bash
# t_fault_spamd - no mail is lost while SpamAssassin's spamd is stopped,
# hung, slow, answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): when no scan
# result can be had, spamd on_failure applies (tempfail: 451; continue:
# delivered unscanned), never a reject; the pool marks the server dead
# after maxerrors and revives it after dead_time. The real backend is
# spamd with Debian's rules, offline (scan_lib.sh); the messages are ham,
# so with spamd healthy every one is delivered. Counting: fault_lib.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"
. "$FT_DIR/fault_lib.sh"

start_spamd
FAULT_MODULE=spamd
FAULT_UPSTREAM=127.0.0.1:$SPAMD_PORT
FAULT_HEALTHY=accepted
fault_conf() { # POLICY SERVERS
    cat <<EOC
spamd {
    servers = $2;
    connect_timeout = 500ms;
    results_timeout = 4s;
    retry_count = 0;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
    on_failure = $1;
}
EOC
}
fault_run down:tempfail stall:continue slow:tempfail garbage:continue close:tempfail peer:tempfail
