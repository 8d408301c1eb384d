#!/usr/bin/env bash
# t_fault_rspamd - no mail is lost while rspamd is stopped, hung, slow,
# answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): as
# t_fault_spamd, over rspamd's HTTP protocol (spamd { servers = r:... }):
# spamd on_failure applies (tempfail: 451; continue: delivered), never a
# reject; dead after maxerrors, revived after dead_time. The real backend
# is rspamd with its stock rules, offline (scan_lib.sh; ~10 s cold start);
# the messages are ham and are delivered while rspamd is healthy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/scan_lib.sh"
. "$FT_DIR/fault_lib.sh"

start_rspamd
FAULT_MODULE=spamd
FAULT_UPSTREAM=127.0.0.1:$RSPAMD_PORT
FAULT_HEALTHY=accepted
fault_conf() { # POLICY SERVERS
    cat <<EOC
spamd {
    servers = ${2//127.0.0.1/r:127.0.0.1};
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
fault_run down:continue stall:tempfail slow:continue garbage:tempfail close:continue peer:continue
