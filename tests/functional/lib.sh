# shellcheck shell=bash disable=SC2034
# (SC2034: the globals set here, SMTP_REPLY, PF_PORTS, ..., are for the tests)
# lib.sh - helpers for the functional tests (source it from a t_*.sh).
#
# Every test runs the REAL daemon ($RMILTER_BIN) against real peers on
# loopback: a private Postfix relaying to smtp-sink, Sendmail, miltertest,
# and milter_client.py (a raw-protocol MTA for what miltertest cannot do).
# Each test owns one directory ($T) holding its config, the daemon log, the
# MTA logs and queues and the messages that arrived at the sink; run.sh
# prints them when the test fails. Every service started through these
# helpers is recorded with its PID in $T/pids and stopped by that PID when
# the test exits, whatever way it exits (trap); run.sh kills what is still
# left in $T/pids after a test, again by PID only.
#
# Conventions for tests:
#   - "set -euo pipefail", source this file, then call the helpers below;
#   - assert what a broken daemon would get wrong: SMTP replies, what the
#     sink received, the daemon's log lines; never wall-clock durations;
#   - every wait is bounded (the helpers take a timeout in seconds);
#   - exit 77 (skip "reason") when a precondition outside the daemon is
#     missing; any other non-zero exit is a failure.
#
# Main helpers (see each function's comment):
#   rm_config FILE <<EOF ... EOF      write a daemon config (socket, pidfile
#                                     lines prepended unless RM_HEADER=0)
#   start_rmilter CONFIG [ARGS]       run "$RMILTER_BIN -n -c CONFIG", wait
#                                     for its sockets; stop_rmilter [RC]
#   start_sink; start_postfix MILTER...; start_sendmail MILTER
#   send_mail [SWAKS ARGS]            -> $SMTP_REPLY, $SMTP_QID, $SMTP_RC
#   sink_wait_msg TOKEN               -> path of the arrived message
#   pf_wait_log REGEX; pf_queue_files QUEUE; pf_wait_queue_empty
#   run_mt SCRIPT.lua [-D k=v...]     miltertest; mclient [ARGS] <<EOF
#   new_port VAR; start_bg NAME CMD...  ports and backends for later tests
#   wait_for_log REGEX [TIMEOUT]; log_mark; log_since_mark
#   assert_eq / assert_match / assert_not_match / assert_file_match /
#   assert_file_not_match / assert_reply / fail / skip

set -o errtrace

FT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FT_TOP="$(cd "$FT_DIR/../.." && pwd)"
FT_NAME="$(basename "${0%.sh}")"
H="$FT_DIR/harness"
# shellcheck source=harness/common.sh
. "$H/common.sh"

RMILTER_BIN=${RMILTER_BIN:-$FT_TOP/build-asan/rmilter}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# the test's directory: run.sh passes FT_TEST_DIR; standalone runs get one
if [ -n "${FT_TEST_DIR:-}" ]; then
    T=$FT_TEST_DIR
    mkdir -p "$T"
else
    T=$(mktemp -d "${TMPDIR:-/tmp}/rmilter-ft-$FT_NAME.XXXXXX")
    echo "[$FT_NAME] test directory: $T" >&2
fi
# Postfix (user postfix) and smtp-sink (user nobody) must reach into it
chmod 755 "$T"
dir=$T
while [ "$dir" != / ] && [ "$(stat -c %U "$dir")" = root ]; do
    chmod o+x "$dir" 2>/dev/null || true
    dir=$(dirname "$dir")
done
unset dir
: >"$T/pids"

# --------------------------------------------------------------- messages

say() { printf '[%s] %s\n' "$FT_NAME" "$*" >&2; }

# fail MESSAGE... : the test failed (cleanup runs from the EXIT trap)
fail() {
    printf '[%s] FAIL: %s\n' "$FT_NAME" "$*" >&2
    exit 1
}

# skip REASON : the test cannot run here (exit 77; run.sh reports SKIP)
skip() {
    printf '[%s] SKIP: %s\n' "$FT_NAME" "$*" >&2
    exit 77
}

# ------------------------------------------------------------- assertions

# assert_eq EXPECTED ACTUAL [WHAT] : equal strings, else a unified diff
assert_eq() {
    [ "$1" == "$2" ] && return 0
    printf '[%s] %s: expected vs actual:\n' "$FT_NAME" "${3:-assert_eq}" >&2
    diff -u --label expected --label actual <(printf '%s\n' "$1") <(printf '%s\n' "$2") >&2 || true
    fail "${3:-values differ}"
}

# assert_match REGEX STRING [WHAT] : STRING matches the extended REGEX
assert_match() {
    grep -Eq -- "$1" <<<"$2" && return 0
    printf '[%s] %s: /%s/ does not match:\n%s\n' "$FT_NAME" "${3:-assert_match}" "$1" "$2" >&2
    fail "${3:-no match for /$1/}"
}

# assert_not_match REGEX STRING [WHAT]
assert_not_match() {
    grep -Eq -- "$1" <<<"$2" || return 0
    printf '[%s] %s: /%s/ unexpectedly matches:\n%s\n' "$FT_NAME" "${3:-assert_not_match}" "$1" \
        "$(grep -E -- "$1" <<<"$2")" >&2
    fail "${3:-unexpected match for /$1/}"
}

# assert_file_match REGEX FILE [WHAT] : some line of FILE matches
assert_file_match() {
    [ -f "$2" ] || fail "${3:-assert_file_match}: $2 does not exist"
    grep -Eq -- "$1" "$2" && return 0
    printf '[%s] %s: /%s/ not found in %s; its last lines:\n' "$FT_NAME" "${3:-assert_file_match}" "$1" "$2" >&2
    tail -n 20 "$2" | sed 's/^/    /' >&2
    fail "${3:-/$1/ not in $2}"
}

# assert_file_not_match REGEX FILE [WHAT] : no line of FILE matches
assert_file_not_match() {
    [ -f "$2" ] || return 0
    grep -Eq -- "$1" "$2" || return 0
    printf '[%s] %s: /%s/ unexpectedly in %s:\n' "$FT_NAME" "${3:-assert_file_not_match}" "$1" "$2" >&2
    grep -E -- "$1" "$2" | head -5 | sed 's/^/    /' >&2
    fail "${3:-/$1/ in $2}"
}

# assert_reply REGEX [WHAT] : the SMTP reply of the last send_mail matches
assert_reply() {
    grep -Eq -- "$1" <<<"$SMTP_REPLY" && return 0
    printf '[%s] %s: SMTP reply %q does not match /%s/; transcript %s:\n' \
        "$FT_NAME" "${2:-assert_reply}" "$SMTP_REPLY" "$1" "$SMTP_OUT" >&2
    grep -E '^(<-|<\*\*| ->) ' "$SMTP_OUT" | grep -vE '^ -> [^A-Z.]' | tail -n 15 | sed 's/^/    /' >&2
    fail "${2:-unexpected SMTP reply}"
}

# wait_until TIMEOUT_S CMD... : poll CMD every 50 ms until it succeeds
wait_until() {
    local t=$1 i
    shift
    for ((i = 0; i < t * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}

# -------------------------------------------------------------- processes

# track PID NAME : remember a service so it is stopped at exit by PID
track() { echo "$1 $2" >>"$T/pids"; }

FT_CLEANUP=()
# on_exit CMD : run CMD (a string, eval'd) at exit, before the services stop
on_exit() { FT_CLEANUP+=("$1"); }

ft_exit() {
    local rc=$? c
    trap - EXIT
    set +e
    for c in "${FT_CLEANUP[@]}"; do eval "$c" 2>/dev/null; done
    [ -n "${RM_PID:-}" ] && stop_rmilter any >/dev/null 2>&1
    [ -n "${SM_DIR:-}" ] && SM_DIR=$SM_DIR "$H/sendmail.sh" stop 2>/dev/null
    [ -n "${PF_DIR:-}" ] && PF_DIR=$PF_DIR SINK_PORT=$SINK_PORT "$H/postfix.sh" stop 2>/dev/null
    [ -n "${SINK_DIR:-}" ] && SINK_DIR=$SINK_DIR SINK_PORT=$SINK_PORT "$H/smtp-sink.sh" stop 2>/dev/null
    # anything else tracked (background clients, second daemons): by PID
    local pid name
    while read -r pid name; do
        if alive "$pid"; then
            say "stopping leftover $name (pid $pid)"
            stop_pid "$pid" 5
        fi
    done <"$T/pids"
    # a sanitizer report anywhere in the daemon logs fails the test
    if [ "$rc" -eq 0 ] && grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' \
        "$T"/rmilter*.log >/dev/null 2>&1; then
        say "FAIL: sanitizer report in $(grep -lE 'Sanitizer|runtime error:' "$T"/rmilter*.log | tr '\n' ' ')"
        rc=1
    fi
    if [ "$rc" -eq 0 ] && [ -n "${RM_VG_RE:-}" ] && grep -qE "$RM_VG_RE" "$T"/rmilter*.log 2>/dev/null; then
        say "FAIL: valgrind report in $(grep -lE "$RM_VG_RE" "$T"/rmilter*.log | tr '\n' ' ')"
        grep -hE -A12 "$RM_VG_RE" "$T"/rmilter*.log | head -40 >&2
        rc=1
    fi
    if [ "$rc" -eq 0 ]; then
        say "PASS"
    elif [ "$rc" -ne 77 ]; then
        say "failed (exit $rc); logs in $T"
    fi
    exit "$rc"
}
trap ft_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'say "error at line $LINENO: $BASH_COMMAND"' ERR

# ------------------------------------------------------------------ ports

# alloc_port : a TCP port free on 127.0.0.1 and ::1, from FT_PORT_BASE up
# (run.sh gives every test its own base; harness defaults such as 2525-2527,
# 6390, 11300, 3310, 783, 1133x, 5353 and 889x are below the range)
FT_NEXT_PORT=${FT_PORT_BASE:-24000}
alloc_port() {
    local p
    for ((p = FT_NEXT_PORT; p < FT_NEXT_PORT + 500; p++)); do
        if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q . &&
            ! ss -Htn "sport = :$p" 2>/dev/null | grep -q .; then
            FT_NEXT_PORT=$((p + 1))
            echo "$p"
            return 0
        fi
    done
    fail "no free port from $FT_NEXT_PORT"
}
# alloc_port assigns FT_NEXT_PORT in a subshell when used as $(alloc_port);
# use "new_port VAR" to allocate and remember in the current shell.
new_port() {
    local p
    p=$(alloc_port)
    FT_NEXT_PORT=$((p + 1))
    printf -v "$1" '%s' "$p"
}

# start_bg NAME CMD... : run CMD in the background (a backend such as
# redis-server or beanstalkd, in the foreground mode of its own), output to
# $T/NAME.log, tracked so it is stopped by PID at exit; its PID is in
# BG_PID_NAME (NAME: letters, digits, _). Wait for it with wait_tcp or
# wait_unix (harness/common.sh); stop it early with stop_bg NAME.
start_bg() {
    local name=$1
    shift
    "$@" >>"$T/$name.log" 2>&1 </dev/null &
    printf -v "BG_PID_$name" '%s' "$!"
    track "$!" "$name"
}
stop_bg() {
    local var="BG_PID_$1"
    [ -n "${!var:-}" ] || return 0
    stop_pid "${!var}" 10
    wait "${!var}" 2>/dev/null || true
    printf -v "$var" '%s' ""
}

# ------------------------------------------------------------ socket specs

# The daemon's syntax (also miltertest's): unix:/path, local:/path,
# inet:PORT@HOST, inet6:PORT@HOST. Conversions for the MTAs:
pf_spec() { # Postfix: unix:/path, inet:HOST:PORT
    case $1 in
    unix:* | local:*) echo "unix:${1#*:}" ;;
    inet:*) local r=${1#inet:}; echo "inet:${r#*@}:${r%@*}" ;;
    inet6:*) local r=${1#inet6:}; echo "inet:[${r#*@}]:${r%@*}" ;;
    *) fail "pf_spec: cannot convert '$1'" ;;
    esac
}
sm_spec() { # Sendmail: local:/path, inet:PORT@HOST, inet6:PORT@HOST
    case $1 in
    unix:* | local:*) echo "local:${1#*:}" ;;
    inet:* | inet6:*) echo "$1" ;;
    *) fail "sm_spec: cannot convert '$1'" ;;
    esac
}
mt_spec() { # miltertest and milter_client.py: unix:/path, inet:PORT@HOST
    case $1 in
    local:*) echo "unix:${1#local:}" ;;
    *) echo "$1" ;;
    esac
}

# ---------------------------------------------------------------- rmilter

RM_CONF=$T/rmilter.conf
RM_LOG=$T/rmilter.log
RM_SOCK=unix:$T/rmilter.sock # the daemon's main socket (its syntax)
RM_PIDFILE=$T/rmilter.pid
RM_PID=
RM_EXIT=
RM_LOG_MARK=0

# rm_config FILE : write a daemon config from stdin. Unless RM_HEADER=0,
# these lines come first: bind_socket = $RM_SOCK (or $RM_BIND, a list),
# socket_mode = 0666 (Postfix's smtpd runs as user postfix; the default
# mode is tested in t_daemon_hygiene), pidfile = $RM_PIDFILE.
rm_config() {
    local f=$1
    {
        echo "# $FT_NAME: generated by tests/functional/lib.sh"
        if [ "${RM_HEADER:-1}" = 1 ]; then
            echo "bind_socket = ${RM_BIND:-$RM_SOCK};"
            echo "socket_mode = 0666;"
            echo "pidfile = $RM_PIDFILE;"
        fi
        cat
    } >"$f"
}

# rm_sockets CONFIG : the listen sockets in CONFIG's bind_socket line(s)
rm_sockets() {
    sed -nE 's/^[[:space:]]*bind_socket[[:space:]]*=[[:space:]]*"?([^;"]*)"?[[:space:]]*;.*/\1/p' "$1" |
        tr ',' '\n' | sed -E 's/^[[:space:]]+|[[:space:]]+$//g' | grep -v '^$' || true
}

# wait_rmilter_sockets CONFIG PID [TIMEOUT] : wait until every socket of
# CONFIG listens (systemd/fd sockets are skipped); fails if PID dies
wait_rmilter_sockets() {
    local cfg=$1 pid=$2 t=${3:-20} s r
    while read -r s; do
        [ -n "$s" ] || continue
        case $s in
        unix:* | local:*) wait_unix "${s#*:}" "$t" "$pid" || return 1 ;;
        inet:*) r=${s#inet:}; wait_tcp "${r%@*}" "${r#*@}" "$t" "$pid" || return 1 ;;
        inet6:*) r=${s#inet6:}; r=${r//[\[\]]/}; wait_tcp "${r%%@*}" "${r#*@}" "$t" "$pid" || return 1 ;;
        *) ;; # systemd, fd:N: the sockets exist before the daemon
        esac
    done < <(rm_sockets "$cfg")
}

# RMILTER_VALGRIND=1: start_rmilter runs the daemon under valgrind's
# memcheck (full leak check, tests/valgrind.supp); valgrind's reports go to
# the daemon log, any error makes the exit status 99 (stop_rmilter then
# fails) and any report in a daemon log fails the test (ft_exit).
# RMILTER_WRAPPER: any other command prefix for the daemon (word-split).
RM_WRAP=()
if [ "${RMILTER_VALGRIND:-0}" = 1 ]; then
    # RMILTER_NO_JIT: PCRE2's JIT code reads subjects a word at a time,
    # which memcheck cannot follow; the interpreter serves instead
    RM_WRAP=(env RMILTER_NO_JIT=1 valgrind --quiet --error-exitcode=99 --leak-check=full
        --show-leak-kinds=definite --errors-for-leak-kinds=definite
        --track-origins=yes --num-callers=30 --child-silent-after-fork=yes
        "--suppressions=$FT_TOP/tests/valgrind.supp")
elif [ -n "${RMILTER_WRAPPER:-}" ]; then
    read -ra RM_WRAP <<<"$RMILTER_WRAPPER"
fi
# valgrind's report lines (with --quiet it prints nothing else but its
# own warnings, which are not matched)
RM_VG_RE='^==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|Argument .* of function .* has a fishy|[0-9,]+ bytes in [0-9,]+ blocks are definitely lost|Process terminating)'

# start_rmilter [CONFIG [ARGS...]] : start "$RMILTER_BIN -n -c CONFIG ARGS"
# (under $RM_WRAP, see RMILTER_VALGRIND) in the background (stderr and
# stdout appended to $RM_LOG), wait until it listens on every bind_socket
# of CONFIG. Sets RM_PID.
start_rmilter() {
    local cfg=${1:-$RM_CONF}
    [ $# -gt 0 ] && shift
    [ -x "$RMILTER_BIN" ] || fail "RMILTER_BIN=$RMILTER_BIN is not an executable (build it first)"
    [ -z "$RM_PID" ] || fail "start_rmilter: already running (pid $RM_PID)"
    echo "=== $(date '+%T.%3N') start: $RMILTER_BIN -n -c $cfg $*" >>"$RM_LOG"
    ${RM_WRAP[@]+"${RM_WRAP[@]}"} "$RMILTER_BIN" -n -c "$cfg" "$@" >>"$RM_LOG" 2>&1 </dev/null &
    RM_PID=$!
    track "$RM_PID" rmilter
    if ! wait_rmilter_sockets "$cfg" "$RM_PID" $((${#RM_WRAP[@]} ? 60 : 20)); then
        wait_exit "$RM_PID" 1 && RM_EXIT=$WAIT_RC
        tail -n 30 "$RM_LOG" | sed 's/^/    /' >&2
        RM_PID=
        fail "rmilter did not come up on $(rm_sockets "$cfg" | tr '\n' ' ')(exit status ${RM_EXIT:-still running})"
    fi
}

# wait_exit PID TIMEOUT_S : wait until PID (a child of this shell) exits;
# sets WAIT_RC to its exit status. Returns 1 on timeout (still running).
# (Not usable in $(...): a subshell cannot wait for its parent's children.)
WAIT_RC=
wait_exit() {
    local pid=$1 t=$2 i
    WAIT_RC=
    for ((i = 0; i < t * 20; i++)); do
        if ! alive "$pid"; then
            WAIT_RC=0
            wait "$pid" 2>/dev/null || WAIT_RC=$?
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# stop_rmilter [EXPECTED_RC|any] : SIGTERM the daemon, wait (bounded) for it
# to exit, check its exit status (default 0: a clean stop, no leak report)
stop_rmilter() {
    local want=${1:-0} pid=$RM_PID
    [ -n "$pid" ] || return 0
    RM_PID=
    kill -TERM "$pid" 2>/dev/null || true
    if wait_exit "$pid" 30; then
        RM_EXIT=$WAIT_RC
    else
        kill -KILL "$pid" 2>/dev/null || true
        wait_exit "$pid" 5 || true
        RM_EXIT=${WAIT_RC:-killed}
        [ "$want" = any ] || fail "rmilter (pid $pid) did not exit within 30 s of SIGTERM"
    fi
    echo "=== $(date '+%T.%3N') exit status $RM_EXIT" >>"$RM_LOG"
    if [ "$want" != any ] && [ "$RM_EXIT" != "$want" ]; then
        tail -n 30 "$RM_LOG" | sed 's/^/    /' >&2
        fail "rmilter exited with status $RM_EXIT after SIGTERM, expected $want"
    fi
    return 0
}

# rm_signal SIG : send SIG to the running daemon
rm_signal() { kill "-$1" "$RM_PID"; }

# log_mark : later wait_for_log / log_since_mark look only at newer lines
log_mark() { RM_LOG_MARK=$(wc -l <"$RM_LOG" 2>/dev/null || echo 0); }
log_since_mark() { tail -n "+$((RM_LOG_MARK + 1))" "$RM_LOG" 2>/dev/null || true; }

# wait_for_log REGEX [TIMEOUT_S] : a daemon log line after the mark matches
wait_for_log() {
    local re=$1 t=${2:-10}
    # shellcheck disable=SC2016 # expanded by eval, on every poll
    wait_until "$t" eval 'log_since_mark | grep -Eq -- "$re"' && return 0
    say "daemon log since the mark:"
    log_since_mark | tail -n 30 | sed 's/^/    /' >&2
    fail "no daemon log line /$re/ within ${t}s"
}

# log_lines REGEX : the daemon log lines after the mark that match REGEX
log_lines() { log_since_mark | grep -E -- "$1" || true; }

# -------------------------------------------------------------- smtp-sink

SINK_DIR=
SINK_PORT=
# start_sink : smtp-sink on a free port, dumping every message to
# $SINK_DIR/mail (sets SINK_PORT, SINK_DIR)
start_sink() {
    SINK_DIR=$T/sink
    new_port SINK_PORT
    SINK_DIR=$SINK_DIR SINK_PORT=$SINK_PORT "$H/smtp-sink.sh" start 2>>"$T/harness.log" ||
        fail "smtp-sink did not start (see harness.log)"
    track "$(cat "$SINK_DIR/smtp-sink.pid")" smtp-sink
}

# stop_sink : stop smtp-sink now (by PID), e.g. to make the next hop fail
stop_sink() {
    [ -n "$SINK_DIR" ] || return 0
    SINK_DIR=$SINK_DIR SINK_PORT=$SINK_PORT "$H/smtp-sink.sh" stop 2>>"$T/harness.log"
}

# sink_files TOKEN : files at the sink that contain TOKEN (fixed string)
sink_files() { grep -lF -- "$1" "$SINK_DIR"/mail/msg.* 2>/dev/null || true; }

# sink_wait_msg TOKEN [TIMEOUT_S] : wait until exactly one message holding
# TOKEN arrived and its file stopped growing; prints its path
sink_wait_msg() {
    local tok=$1 t=${2:-20} f s1 s2 i
    for ((i = 0; i < t * 20; i++)); do
        f=$(sink_files "$tok")
        if [ -n "$f" ]; then
            [ "$(wc -l <<<"$f")" -eq 1 ] || fail "more than one message with '$tok' at the sink: $f"
            s1=$(stat -c %s "$f")
            sleep 0.1
            s2=$(stat -c %s "$f")
            # smtp-sink closes the file when it answers the final dot
            [ "$s1" = "$s2" ] && grep -q . "$f" && { echo "$f"; return 0; }
        fi
        sleep 0.05
    done
    say "sink has: $(find "$SINK_DIR/mail" -type f -printf '%f ')"
    fail "no message with '$tok' arrived at the sink within ${t}s"
}

# sink_headers FILE : the header block of the message in a sink file
# (smtp-sink's own X-* envelope lines and Received: line included)
sink_headers() { tr -d '\r' <"$1" | sed '/^$/q'; }
# sink_body FILE : the body of the message in a sink file (CRLF -> LF)
sink_body() { tr -d '\r' <"$1" | sed '1,/^$/d'; }

# ---------------------------------------------------------------- postfix

PF_DIR=
PF_PORT=
PF_PORTS=()
# start_postfix MILTERS... : a private Postfix relaying to the sink (call
# start_sink first), one smtpd listener per argument, each with its own
# smtpd_milters (daemon syntax, e.g. "$RM_SOCK", comma separated for more
# than one; "" = no milter). Sets PF_PORTS (one per listener), PF_PORT (the
# first) and PF_DIR. PF_EXTRA: more main.cf lines.
start_postfix() {
    [ -n "$SINK_PORT" ] || fail "start_postfix: start_sink first"
    [ $# -gt 0 ] || set -- "$RM_SOCK"
    local spec s conv listeners="" port
    PF_DIR=$T/pf
    PF_PORTS=()
    for spec in "$@"; do
        conv=""
        if [ -n "$spec" ]; then
            for s in ${spec//,/ }; do conv+="${conv:+,}$(pf_spec "$s")"; done
        fi
        new_port port
        PF_PORTS+=("$port")
        listeners+="$port=$conv "
    done
    PF_PORT=${PF_PORTS[0]}
    PF_LISTENERS=$listeners PF_DIR=$PF_DIR SINK_PORT=$SINK_PORT "$H/postfix.sh" start 2>>"$T/harness.log" ||
        fail "postfix did not start (see harness.log, pf/maillog)"
    track "$(tr -dc 0-9 <"$PF_DIR/queue/pid/master.pid")" postfix-master
}

# stop_postfix : stop the test's Postfix now (by its master PID)
stop_postfix() {
    [ -n "$PF_DIR" ] || return 0
    PF_DIR=$PF_DIR SINK_PORT=$SINK_PORT "$H/postfix.sh" stop 2>>"$T/harness.log"
}

# pf_wait_log REGEX [TIMEOUT_S] : a line of Postfix's maillog matches
pf_wait_log() {
    local re=$1 t=${2:-20}
    wait_until "$t" grep -Eq -- "$re" "$PF_DIR/maillog" && return 0
    tail -n 20 "$PF_DIR/maillog" | sed 's/^/    /' >&2
    fail "no Postfix log line /$re/ within ${t}s"
}

# pf_queue_files QUEUE : files in one Postfix queue (hold, deferred, ...)
pf_queue_files() { find "$PF_DIR/queue/$1" -type f 2>/dev/null || true; }

# pf_wait_delivered QID [TIMEOUT_S] : Postfix relayed QID to the sink
pf_wait_delivered() { pf_wait_log "$1: to=<.*relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$SINK_PORT.*status=sent" "${2:-20}"; }

# pf_wait_queue_empty [TIMEOUT_S] : nothing in incoming/active/deferred
pf_queue_busy() { [ -n "$(find "$PF_DIR"/queue/{incoming,active,deferred,maildrop} -type f 2>/dev/null)" ]; }
pf_wait_queue_empty() {
    wait_until "${1:-20}" eval '! pf_queue_busy' && return 0
    postqueue -c "$PF_DIR/etc" -p >&2 || true
    fail "Postfix queue did not drain"
}

# --------------------------------------------------------------- sendmail

SM_DIR=
SM_PORT=
# start_sendmail MILTER : a private Sendmail (INPUT_MAIL_FILTER with F=T)
# relaying to the sink; MILTER in daemon syntax. Sets SM_PORT, SM_DIR.
start_sendmail() {
    [ -n "$SINK_PORT" ] || fail "start_sendmail: start_sink first"
    SM_DIR=$T/sm
    new_port SM_PORT
    SM_DIR=$SM_DIR SM_PORT=$SM_PORT SINK_PORT=$SINK_PORT SM_MILTER=$(sm_spec "$1") \
        "$H/sendmail.sh" start 2>>"$T/harness.log" || fail "sendmail did not start (see harness.log)"
    track "$(cat "$SM_DIR/sendmail.pid")" sendmail
}

# stop_sendmail : stop the test's Sendmail now (by PID)
stop_sendmail() {
    [ -n "$SM_DIR" ] || return 0
    SM_DIR=$SM_DIR "$H/sendmail.sh" stop 2>>"$T/harness.log"
}

# ------------------------------------------------------------------ swaks

FT_SEQ=0
SMTP_REPLY=
SMTP_QID=
SMTP_RC=
SMTP_OUT=
# send_mail [SWAKS ARGS...] : one SMTP transaction with swaks to
# 127.0.0.1:${SMTP_PORT:-$PF_PORT}; later arguments override the defaults
# (--from sender@example.org --to rcpt@example.test --helo client.test).
# Sets SMTP_REPLY (the final reply to the message, e.g. "250 2.0.0 Ok:
# queued as 4Xy..." or "554 5.7.1 ..."; the reply to an earlier command if
# the transaction ended there), SMTP_QID (Postfix/Sendmail queue id if
# queued), SMTP_RC (swaks' exit status), SMTP_OUT (the transcript file).
send_mail() {
    local port=${SMTP_PORT:-$PF_PORT}
    FT_SEQ=$((FT_SEQ + 1))
    SMTP_OUT=$T/swaks.$FT_SEQ.out
    SMTP_RC=0
    timeout 60 swaks --server "127.0.0.1:$port" --timeout 30 \
        --from sender@example.org --to rcpt@example.test --helo client.test \
        "$@" >"$SMTP_OUT" 2>&1 || SMTP_RC=$?
    # the reply after the final "." (multi-line: its last line), else the
    # last error reply swaks printed
    SMTP_REPLY=$(awk '
        /^ -> \.$/ { dot = 1; next }
        dot && /^(<-|<\*\*) +[0-9][0-9][0-9] / { sub(/^(<-|<\*\*) +/, ""); r = $0; dot = 0 }
        /^<\*\* +[0-9][0-9][0-9][ -]/ { sub(/^<\*\* +/, ""); e = $0 }
        END { print (r != "" ? r : e) }' "$SMTP_OUT")
    SMTP_QID=$(sed -nE 's/.*(queued as ([0-9A-Za-z]+)|250 2\.0\.0 ([0-9A-Za-z]+) Message accepted).*/\2\3/p' <<<"$SMTP_REPLY")
    say "swaks #$FT_SEQ -> ${SMTP_REPLY:-<no reply>}"
}

# new_token : a unique string to find one message at the sink
new_token() { echo "ft-$FT_NAME-$$-$RANDOM$RANDOM"; }

# ------------------------------------------------------------- miltertest

MT_OUT=
# run_mt SCRIPT [ARGS...] : miltertest -s mt/SCRIPT with -D sock=<socket of
# the daemon> and ARGS (e.g. -D qid=ABC); its output goes to $MT_OUT.
# Returns miltertest's exit status (0 = every check in the script passed).
run_mt() {
    local script=$1 rc=0
    shift
    FT_SEQ=$((FT_SEQ + 1))
    MT_OUT=$T/mt.$FT_SEQ.$(basename "$script" .lua).out
    timeout 60 miltertest -D "sock=$(mt_spec "${MT_SOCK:-$RM_SOCK}")" -D "mtdir=$FT_DIR/mt" "$@" -s "$FT_DIR/mt/$script" \
        >"$MT_OUT" 2>&1 || rc=$?
    return "$rc"
}

# expect_mt SCRIPT [ARGS...] : run_mt, which must pass
expect_mt() {
    run_mt "$@" && return 0
    local rc=$?
    sed 's/^/    /' "$MT_OUT" >&2
    fail "miltertest $1 failed (exit $rc)"
}

# ---------------------------------------------------------- milter_client

MC_OUT=
MC_RC=
# mclient [-s SOCK] [-t TIMEOUT] : run milter_client.py with the script on
# stdin against the daemon (default socket $RM_SOCK); output in $MC_OUT,
# exit status in $MC_RC (never fails by itself)
mclient() {
    local sock=$RM_SOCK
    if [ "${1:-}" = -s ]; then sock=$2; shift 2; fi
    FT_SEQ=$((FT_SEQ + 1))
    MC_OUT=$T/client.$FT_SEQ.out
    MC_RC=0
    timeout 60 "$PY" "$FT_DIR/milter_client.py" -s "$(mt_spec "$sock")" "$@" >"$MC_OUT" 2>&1 || MC_RC=$?
    say "milter_client #$FT_SEQ exit $MC_RC"
}

# expect_mclient [ARGS] : mclient, which must exit 0 (all its expects held)
expect_mclient() {
    mclient "$@"
    [ "$MC_RC" = 0 ] && return 0
    sed 's/^/    /' "$MC_OUT" >&2
    fail "milter_client script failed (exit $MC_RC)"
}

# mclient_bg NAME [-s SOCK] : like mclient, in the background (script on
# stdin, saved to $T/client.NAME.in); output in $T/client.NAME.out;
# mclient_wait NAME [TIMEOUT] sets MC_RC and MC_OUT
mclient_bg() {
    local name=$1 sock=$RM_SOCK
    shift
    if [ "${1:-}" = -s ]; then sock=$2; shift 2; fi
    cat >"$T/client.$name.in"
    timeout 90 "$PY" "$FT_DIR/milter_client.py" -s "$(mt_spec "$sock")" -f "$T/client.$name.in" "$@" \
        >"$T/client.$name.out" 2>&1 </dev/null &
    eval "MC_BG_$name=$!"
    track "$!" "client-$name"
}
mclient_wait() {
    local name=$1 t=${2:-30} var
    var="MC_BG_$name"
    wait_exit "${!var}" "$t" || fail "milter_client $name still running after ${t}s"
    MC_OUT=$T/client.$name.out
    MC_RC=$WAIT_RC
}
