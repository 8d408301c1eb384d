#!/usr/bin/env bash
# t_abuse_stall - 300 connections that open and stall do not stop the
# daemon from serving others, are closed after read_timeout, and leave
# nothing behind.
#
# Why (issue 10 "MTA-side abuse"): a peer that connects and then sends
# nothing (or stops after negotiating, or in the middle of a packet) holds
# a session. With hundreds of them open, a normal session must still
# complete; each stalled one must be closed by the daemon once
# read_timeout (5 s here) passes, with a log line; afterwards the daemon's
# file descriptors must be back to what they were before, and its threads
# too except for the idle session threads kept for reuse: at most IDLE_MAX
# more (RM_WORKER_IDLE_MAX in src/milter/engine.h; they exit after 30 s
# idle, longer than this test waits) - not one per stalled connection
# (/proc/PID/task and /proc/PID/fd counted, after a warm-up session), and
# the daemon must stop cleanly (exit 0: under ASan, no leak). RSS is only
# printed: the allocator (and ASan's quarantine) keeps freed memory, so it
# does not return to the baseline even without a leak. Connections are
# counted at the client too: every one must see the daemon close it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N_IDLE=100 N_NEGO=100 N_HALF=100
IDLE_MAX=16 # keep in step with RM_WORKER_IDLE_MAX
N=$((N_IDLE + N_NEGO + N_HALF))
{
    echo 'read_timeout = 5s;'
    cat "$FT_DIR/conf/rules.conf"
} | rm_config "$RM_CONF"
start_rmilter
ulimit -n 4096 2>/dev/null || true

tasks() { find "/proc/$RM_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }
fds() { find "/proc/$RM_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$RM_PID/status"; }
conns_open() { # sessions the daemon has open (its log: opened - closed)
    local o c
    o=$(grep -c 'conn [0-9]*: open' "$RM_LOG" || true)
    c=$(grep -cE 'conn [0-9]+: (close|closing)' "$RM_LOG" || true)
    echo $((o - c))
}

# warm-up: one full session, so that lazily made things (thread pools,
# caches, regexp JIT) exist before the baseline is taken
expect_mt multi_rcpt.lua -D qid=WARMUP
wait_for_log 'msg done: qid=WARMUP; '
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 10 eval '[ "$(conns_open)" = 0 ]' || fail "the warm-up session did not close"
base_tasks=$(tasks) base_fds=$(fds) base_rss=$(rss_kb)
say "baseline: $base_tasks threads, $base_fds fds, ${base_rss} kB RSS"

# the stalling peers: N_IDLE connect and send nothing, N_NEGO negotiate and
# then stall, N_HALF negotiate, CONNECT, and send 3 bytes of a packet
cat >"$T/stall.py" <<'PYEOF'
import os, select, socket, struct, sys, time
sock, n_idle, n_nego, n_half, ready = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
conns = []
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    return s
def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data
def negotiate(s):
    s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x1FFFFF)))
    s.settimeout(10)
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    return struct.unpack(">I", s.recv(n, socket.MSG_WAITALL)[9:13])[0]
for _ in range(n_idle):
    conns.append(connect())
for _ in range(n_nego):
    s = connect(); negotiate(s); conns.append(s)
for _ in range(n_half):
    s = connect(); proto = negotiate(s)
    s.sendall(pkt(b"C", b"stall.test\x004\x00\x19192.0.2.9\x00"))
    if not proto & 0x1000:  # SMFIP_NR_CONN: no reply to wait for
        s.recv(64)  # its reply
    s.sendall(b"\x00\x00\x00")  # 3 of the 4 length bytes of the next packet
    conns.append(s)
open(ready, "w").close()
print("open: %d" % len(conns), flush=True)
# wait until the daemon has closed every one (read returns EOF)
left = set(conns)
end = time.monotonic() + 60
while left and time.monotonic() < end:
    r, _, _ = select.select(list(left), [], [], 0.5)
    for s in r:
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            left.discard(s)
            s.close()
print("closed by the daemon: %d, still open: %d" % (len(conns) - len(left), len(left)), flush=True)
sys.exit(1 if left else 0)
PYEOF
log_mark
"$PY" "$T/stall.py" "${RM_SOCK#unix:}" "$N_IDLE" "$N_NEGO" "$N_HALF" "$T/stall.ready" \
    >"$T/stall.out" 2>&1 </dev/null &
STALL_PID=$!
track "$STALL_PID" stall-client
wait_until 30 test -f "$T/stall.ready" || { cat "$T/stall.out" >&2; fail "the stalling peers did not all connect"; }
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 10 eval '[ "$(conns_open)" -ge '"$N"' ]' || fail "the daemon has $(conns_open) sessions open, expected $N"
say "while stalled: $(tasks) threads, $(fds) fds, $(rss_kb) kB RSS, $(conns_open) sessions"

# a normal session completes while the $N stalled ones are open
expect_mt multi_rcpt.lua -D qid=DURINGSTALL
wait_for_log 'msg done: qid=DURINGSTALL; client=multi\.test\[192\.0\.2\.10\].*action=accept'
n_timeouts=$(log_lines 'closing: read timeout' | wc -l)
[ "$n_timeouts" = 0 ] || fail "precondition: stalled connections were already closed ($n_timeouts) before the normal session ended"

# every stalled connection is closed by the daemon after read_timeout
wait_exit "$STALL_PID" 60 || fail "the stalling client is still waiting"
cat "$T/stall.out" >&2
[ "$WAIT_RC" = 0 ] || fail "not every stalled connection was closed by the daemon"
assert_eq "$N" "$(log_lines 'conn [0-9]+: closing: read timeout' | wc -l)" "'closing: read timeout' lines"

# and leaves nothing behind
# shellcheck disable=SC2016 # expanded by eval, on every poll
wait_until 10 eval '[ "$(tasks)" -le "$((base_tasks + IDLE_MAX))" ] && [ "$(fds)" = "$base_fds" ]' || true
after_tasks=$(tasks) after_fds=$(fds) after_rss=$(rss_kb)
say "after: $after_tasks threads, $after_fds fds, ${after_rss} kB RSS"
[ "$after_tasks" -le "$((base_tasks + IDLE_MAX))" ] ||
    fail "threads not back to the baseline: $after_tasks, more than $base_tasks + $IDLE_MAX idle session threads"
assert_eq "$base_fds" "$after_fds" "file descriptors back to the baseline"
alive "$RM_PID" || fail "the daemon died"

expect_mt multi_rcpt.lua -D qid=AFTERSTALL
wait_for_log 'msg done: qid=AFTERSTALL; '
stop_rmilter
