# shellcheck shell=bash
# redis_lib.sh - real redis-server instances and a second daemon for the
# greylisting, ratelimit and replies tests. Source it after lib.sh.
#
#   start_redis VAR        a redis-server on a free port (no persistence)
#                          in $T/redis-<port>/; VAR gets the port, and
#                          REDIS_PID_<port> its pid (tracked: stopped by
#                          PID at exit)
#   stop_redis PORT        TERM it by PID and wait (bounded)
#   pause_redis PORT       SIGSTOP it (connects succeed, nothing answers);
#   resume_redis PORT      SIGCONT
#   rcli PORT ARGS...      redis-cli against it
#   start_rmilter2 CONFIG  a second daemon (log $T/rmilter-b.log): RM2_PID
#   stop_rmilter2          TERM it, wait (bounded), exit status must be 0
#   rm2_mark; rm2_wait RE  log_mark / wait_for_log for the second daemon
#   in_range V LOW HIGH W  an integer within bounds (TTLs)
#   grey_key PREFIX NET FROM RCPT
#                          the greylisting key of a triplet, computed here
#                          as greylist_key.h documents it
command -v redis-server >/dev/null || skip "redis-server is not installed"
command -v redis-cli >/dev/null || skip "redis-cli is not installed"

start_redis() {
    local var=$1 port dir
    new_port port
    dir=$T/redis-$port
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --daemonize no \
        </dev/null >/dev/null 2>&1 &
    local pid=$!
    track "$pid" "redis-$port"
    wait_tcp "$port" 127.0.0.1 20 "$pid" || fail "redis-server on $port did not start"
    printf -v "REDIS_PID_$port" '%s' "$pid"
    printf -v "$var" '%s' "$port"
    say "redis-server on 127.0.0.1:$port (pid $pid)"
}

redis_pid() {
    local v="REDIS_PID_$1"
    echo "${!v}"
}

stop_redis() {
    local pid
    pid=$(redis_pid "$1")
    kill -CONT "$pid" 2>/dev/null || true
    stop_pid "$pid" 10
    wait_until 10 eval "! tcp_listening $1" || fail "redis on $1 still listens"
    say "redis-server on $1 stopped"
}

pause_redis() { kill -STOP "$(redis_pid "$1")"; say "redis-server on $1 paused"; }
resume_redis() { kill -CONT "$(redis_pid "$1")"; say "redis-server on $1 resumed"; }

rcli() {
    local port=$1
    shift
    timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

RM2_PID=
RM2_LOG=$T/rmilter-b.log
start_rmilter2() {
    local cfg=$1
    echo "=== $(date '+%T.%3N') start: $RMILTER_BIN -n -c $cfg" >>"$RM2_LOG"
    "$RMILTER_BIN" -n -c "$cfg" >>"$RM2_LOG" 2>&1 </dev/null &
    RM2_PID=$!
    track "$RM2_PID" rmilter-b
    wait_rmilter_sockets "$cfg" "$RM2_PID" 20 || {
        tail -n 30 "$RM2_LOG" | sed 's/^/    /' >&2
        fail "the second rmilter did not come up"
    }
}

stop_rmilter2() {
    local pid=$RM2_PID
    [ -n "$pid" ] || return 0
    RM2_PID=
    kill -TERM "$pid" 2>/dev/null || true
    wait_exit "$pid" 30 || fail "the second rmilter did not exit within 30 s"
    echo "=== $(date '+%T.%3N') exit status $WAIT_RC" >>"$RM2_LOG"
    [ "$WAIT_RC" = 0 ] || fail "the second rmilter exited with status $WAIT_RC"
}

grey_key() {
    "$PY" - "$@" <<'EOF'
import hashlib, sys
prefix, net, frm, rcpt = sys.argv[1:5]
print(prefix + hashlib.sha256(net.encode() + b"\0" + frm.encode() + b"\0" + rcpt.encode()).hexdigest())
EOF
}

# rm2_mark / rm2_wait REGEX [TIMEOUT_S] : like log_mark / wait_for_log,
# for the second daemon's log
RM2_MARK=0
rm2_mark() { RM2_MARK=$(wc -l <"$RM2_LOG" 2>/dev/null || echo 0); }
rm2_since() { tail -n "+$((RM2_MARK + 1))" "$RM2_LOG" 2>/dev/null || true; }
rm2_wait() {
    local re=$1 t=${2:-10}
    # shellcheck disable=SC2016 # expanded by eval, on every poll
    wait_until "$t" eval 'rm2_since | grep -Eq -- "$re"' && return 0
    rm2_since | tail -n 30 | sed 's/^/    /' >&2
    fail "no line /$re/ in the second daemon's log within ${t}s"
}

# in_range VALUE LOW HIGH WHAT : LOW <= VALUE <= HIGH (integers)
in_range() {
    [[ "$1" =~ ^-?[0-9]+$ ]] || fail "$4: '$1' is not a number"
    if [ "$1" -lt "$2" ] || [ "$1" -gt "$3" ]; then
        fail "$4: $1 is not in [$2, $3]"
    fi
}
