#!/usr/bin/env bash
# t_fault_beanstalk - copies to beanstalkd never hold mail up or lose it:
# beanstalkd stopped, hung, slow, answering garbage or closing connections.
#
# Why (DESIGN.md "Failure policy", issue 10 "Reliability"): the beanstalk
# copies are best effort with the fixed policy on_failure = continue: a
# failed put is logged, the pool marks the server dead after maxerrors and
# revives it after dead_time, and every message is still delivered. The
# counting is fault_lib.sh's; with beanstalkd healthy every message's
# headers become a job (bad_backend saw the put go through).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$FT_DIR/fault_lib.sh"

command -v beanstalkd >/dev/null || skip "beanstalkd is not installed"
new_port BS_PORT
mkdir -p "$T/beanstalkd"
start_bg beanstalkd beanstalkd -l 127.0.0.1 -p "$BS_PORT" -b "$T/beanstalkd" -z 10485760
# shellcheck disable=SC2154 # set by start_bg
wait_tcp "$BS_PORT" 127.0.0.1 10 "$BG_PID_beanstalkd" || fail "beanstalkd did not start"

FAULT_MODULE=beanstalk
FAULT_UPSTREAM=127.0.0.1:$BS_PORT
FAULT_HEALTHY=accepted
fault_conf() { # POLICY (always continue: not configurable) SERVERS
    cat <<EOC
beanstalk {
    servers = $2;
    send_beanstalk_headers = yes;
    tube = faults;
    connect_timeout = 500ms;
    timeout = 1s;
    maxerrors = 2;
    error_time = 30s;
    dead_time = ${FAULT_DEAD_TIME}s;
}
EOC
}
fault_healthy_check() {
    # the last job in the tube holds this batch's headers
    local n
    n=$("$PY" - "$BS_PORT" "$FAULT_TOKEN" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
f = s.makefile("rb")
def cmd(c):
    s.sendall(c + b"\r\n")
    return f.readline()
cmd(b"watch faults")
found = 0
while True:
    r = cmd(b"reserve-with-timeout 0").split()
    if r[0] != b"RESERVED":
        break
    body = f.read(int(r[2]) + 2)
    found += sys.argv[2].encode() in body
    cmd(b"delete " + r[1])
print(found)
PYEOF
)
    [ "$n" -ge 1 ] || fail "no job with this batch's headers in beanstalkd"
}
fault_run down:continue stall:continue slow:continue garbage:continue close:continue peer:continue
