#!/usr/bin/env bash
# t_fault_karma - no mail is lost while the karma server is stopped, hung,
# slow, answering garbage or closing connections, over UDP and over TCP.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): reputation is
# advisory; when no server answers, karma on_failure applies (continue:
# delivered, tagged X-Karma ... error=...; tempfail: 451), never a reject,
# and the pool marks the server dead after maxerrors and revives it after
# dead_time. The real backend is karmasphere_server.py (Karmasphere itself
# is gone); the client, 192.0.2.77, is listed with a score above the reject
# threshold, so a healthy answer shows as "score=-200" at the sink. The
# counting is fault_lib.sh's. This file runs karma over UDP;
# t_fault_karma_tcp.sh sources it with FT_KARMA_TRANSPORT=tcp.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/karma_lib.sh"
. "$FT_DIR/dns_lib.sh" # unfold
. "$FT_DIR/fault_lib.sh"

echo '192.0.2.77,-200,known but not bad' >"$KS_TABLE"
start_ks

FAULT_MODULE=karma
FAULT_UPSTREAM=127.0.0.1:$KS_PORT
FAULT_PROTO=both
FAULT_HEALTHY=accepted
FAULT_SEND_ARGS=(--xclient "ADDR=192.0.2.77 NAME=mx.client.test")
PF_EXTRA="mynetworks = 127.0.0.0/8, 192.0.2.0/24"
KARMA_TRANSPORT=${FT_KARMA_TRANSPORT:-udp}
fault_conf() { # POLICY SERVERS
    cat <<EOC
karma {
    servers = $2;
    transport = $KARMA_TRANSPORT;
    timeout = 2s;
    retries = 1;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
    reject_threshold = -500;
    on_failure = $1;
}
EOC
}
# tempfail goes through the pipeline's failure line; under continue the
# module itself says the query failed and the message goes on
FAULT_FAIL_RE_FN() {
    case $1 in
    tempfail) echo 'karma: failed at eom: .*; on_failure = tempfail' ;;
    *) echo 'karma: score=0 verdict=neutral karma=failed \(' ;;
    esac
}
fault_healthy_check() {
    local f h
    for f in $(sink_files "$FAULT_TOKEN-"); do
        h=$(sink_headers "$f" | unfold | grep '^X-Karma:' || true)
        assert_match '^X-Karma: score=-200 ' "$h" "healthy X-Karma"
        assert_not_match 'error=' "$h" "healthy X-Karma"
    done
}

if [ "$KARMA_TRANSPORT" = udp ]; then
    fault_run down:continue stall:tempfail slow:continue garbage:tempfail close:continue peer:continue
else
    fault_run down:tempfail stall:continue slow:tempfail garbage:continue close:tempfail peer:tempfail
fi
