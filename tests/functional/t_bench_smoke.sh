#!/usr/bin/env bash
# t_bench_smoke - the benchmarks' load generator (bench/milter-load) against
# the real daemon, with exact counts.
#
# Why: bench/run.sh (never run by this suite: tests do not time anything)
# believes what milter-load counts. A load generator that silently sends
# nothing, miscounts replies or ignores failures would make every benchmark
# figure meaningless. Here it sends 200 messages in 4 sessions through rules
# that reject every 4th message, tempfail every 10th (of the rest) and tag
# every 7th (of the rest) with a header; the reply counts must be exact, the
# daemon must have logged each message with the same action, and the same
# must hold over TCP with two messages per connection. Against a socket
# where nothing listens it must report the failures and exit non-zero.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# the generator: built next to the daemon (CMake target milter-load), else
# compiled here from its single source file
ML=${MILTER_LOAD:-$(dirname "$RMILTER_BIN")/bench/milter-load}
if [ ! -x "$ML" ]; then
    ML=$T/milter-load
    cc -std=c11 -D_GNU_SOURCE -O1 -Wall -Wextra -Werror -pthread -o "$ML" \
        "$FT_TOP/bench/milter-load.c" 2>"$T/cc.log" ||
        skip "milter-load is not built and does not compile here (see $T/cc.log)"
fi

new_port INET_PORT
RM_BIND="$RM_SOCK, inet:$INET_PORT@127.0.0.1" rm_config "$RM_CONF" <<'EOF'
rule { reject "bench reject"; header /^X-Milter-Load$/ /^reject$/; };
rule { tempfail "bench tempfail"; header /^X-Milter-Load$/ /^tempfail$/; };
rule { add_header "X-Bench" "tagged"; header /^X-Milter-Load$/ /^tag$/; };
EOF
start_rmilter

# expect N : the counts for messages 1..N with -m 4:reject -m 10:tempfail
# -m 7:tag (the first matching mark wins); sets E_REJECT E_TEMPFAIL E_TAG
# E_PASS
expect() {
    local i
    E_REJECT=0 E_TEMPFAIL=0 E_TAG=0 E_PASS=0
    for ((i = 1; i <= $1; i++)); do
        if ((i % 4 == 0)); then
            E_REJECT=$((E_REJECT + 1))
        elif ((i % 10 == 0)); then
            E_TEMPFAIL=$((E_TEMPFAIL + 1))
        else
            E_PASS=$((E_PASS + 1))
            ((i % 7 == 0)) && E_TAG=$((E_TAG + 1))
        fi
    done
    return 0
}

# run_load N ARGS... : milter-load with the marks; checks its exit status,
# every count of its RESULT line and the daemon's "msg done" lines
run_load() {
    local n=$1 out rc=0 res k v
    shift
    FT_SEQ=$((FT_SEQ + 1))
    out=$T/load.$FT_SEQ.out
    log_mark
    timeout 90 "$ML" -n "$n" -m 4:reject -m 10:tempfail -m 7:tag -w 20 "$@" >"$out" 2>&1 || rc=$?
    sed 's/^/    /' "$out" >&2
    [ "$rc" = 0 ] || fail "milter-load $* exited $rc"
    res=$(grep '^RESULT' "$out") || fail "no RESULT line from milter-load"
    expect "$n"
    # kv KEY : a value of the RESULT line
    kv() { sed -nE "s/.* $1=([^ ]*).*/\\1/p" <<<" $res"; }
    assert_eq "$n" "$(kv msgs)" "messages with a final reply"
    assert_eq "$E_REJECT" "$(kv reject)" "rejects"
    assert_eq "$E_TEMPFAIL" "$(kv tempfail)" "tempfails"
    assert_eq "$E_PASS" "$(($(kv accept) + $(kv continue)))" "accepted (accept + continue)"
    for k in discard quarantine connfail errors rcpt_reject rcpt_tempfail; do
        assert_eq 0 "$(kv "$k")" "$k"
    done
    assert_eq "$E_TAG" "$(kv mod_addheader)" "headers added"
    assert_match "header added: X-Bench x $E_TAG\$" "$(cat "$out")" "the added header's name"
    assert_match "reply: \"554 5\\.7\\.1 bench reject\" x $E_REJECT\$" "$(cat "$out")" "the reject text"
    assert_match "reply: \"451 4\\.7\\.1 bench tempfail\" x $E_TEMPFAIL\$" "$(cat "$out")" "the tempfail text"
    # the daemon saw every one of them: one summary line per message
    # shellcheck disable=SC2016 # expanded by eval, on every poll
    wait_until 10 eval '[ "$(log_lines "msg done: " | wc -l)" -ge "$n" ]' ||
        fail "the daemon logged $(log_lines 'msg done: ' | wc -l) messages, not $n"
    assert_eq "$n" "$(log_lines 'msg done: ' | wc -l)" "daemon summary lines"
    assert_eq "$E_REJECT" "$(log_lines 'msg done: .*action=reject' | wc -l)" "daemon: rejects"
    assert_eq "$E_TEMPFAIL" "$(log_lines 'msg done: .*action=tempfail' | wc -l)" "daemon: tempfails"
    v=$(log_lines 'msg done: .*client=[^;]*\[198\.18\.' | wc -l)
    assert_eq "$n" "$v" "daemon: clients from the generator's 198.18.0.0/15"
}

say "unix socket, 200 messages, 4 sessions, one message per connection"
run_load 200 -s "$(mt_spec "$RM_SOCK")" -c 4
say "TCP, 100 messages, 4 sessions, two messages per connection"
run_load 100 -s "inet:$INET_PORT@127.0.0.1" -c 4 -k 2

say "nothing listening: failures are counted, and the exit status says so"
rc=0
out=$("$ML" -s "unix:$T/nobody.sock" -n 5 -c 2 -q 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "milter-load against a missing socket exited $rc, not 1: $out"
assert_match ' msgs=0 ' "$out" "no message counted as done"
assert_match ' err_connect=5 ' "$out" "every message counted as a connect failure"

alive "$RM_PID" || fail "the daemon died"
stop_rmilter
