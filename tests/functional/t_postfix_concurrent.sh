#!/usr/bin/env bash
# t_postfix_concurrent - many parallel SMTP sessions through Postfix.
#
# Why: sessions run on their own threads, and Postfix opens one milter
# connection per SMTP session; per-session state must never bleed between
# concurrent sessions. In parallel: smtp-source with 20 sessions sends 100
# messages to tagme@ (accepted, each must arrive at the sink with exactly
# one X-Rule header) while 4 loops of swaks send 40 from slow@ to b@ (each
# tempfailed, none may arrive; smtp-source itself stops at the first
# rejected message). Every message gets exactly one summary line with the
# right action, and no connection ends in an error.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rm_config "$RM_CONF" <"$FT_DIR/conf/rules.conf"
start_rmilter
start_sink
start_postfix "$RM_SOCK"

timeout 120 smtp-source -s 20 -m 100 -l 2048 -M src.test -f ok@example.org -t tagme@example.test \
    "127.0.0.1:$PF_PORT" >"$T/source-ok.out" 2>&1 &
ok_pid=$!
track "$ok_pid" smtp-source
slow_pids=()
for j in 1 2 3 4; do
    (
        for i in $(seq 10); do
            timeout 30 swaks --server "127.0.0.1:$PF_PORT" --from slow@example.org --to b@example.test \
                --helo "loop$j.test" --body "slow $j $i" 2>&1 | grep -E '^<\*\* .*' || true
        done
    ) >"$T/swaks-loop-$j.out" 2>&1 &
    slow_pids+=("$!")
    track "$!" swaks-loop
done
wait_exit "$ok_pid" 120 || fail "smtp-source did not finish"
assert_eq 0 "$WAIT_RC" "smtp-source exit status (every message accepted)"
for p in "${slow_pids[@]}"; do wait_exit "$p" 120 || fail "a swaks loop did not finish"; done
assert_eq 40 "$(cat "$T"/swaks-loop-*.out | grep -c '^<\*\* 451 4\.7\.1 Come back later$')" "tempfail replies the clients saw"

wait_until 30 test "$(log_lines 'msg done:' | wc -l)" -ge 140 ||
    fail "only $(log_lines 'msg done:' | wc -l) summary lines for 140 messages"
assert_eq 100 "$(log_lines 'msg done: .*from=<ok@example\.org>.*action=accept' | wc -l)" "accepted messages"
assert_eq 40 "$(log_lines 'msg done: .*from=<slow@example\.org>.*action=tempfail 451 4\.7\.1 Come back later' | wc -l)" "tempfailed messages"
assert_eq 140 "$(log_lines 'msg done:' | wc -l)" "one summary line per message"
assert_eq "" "$(log_lines 'closing:')" "no connection closed on an error"

pf_wait_queue_empty 60
n=$(find "$SINK_DIR/mail" -type f | wc -l)
assert_eq 100 "$n" "messages at the sink"
assert_eq "" "$(grep -L '^X-Rule: matched' "$SINK_DIR"/mail/msg.* || true)" "every message has X-Rule"
assert_eq "" "$(grep -c '^X-Rule:' "$SINK_DIR"/mail/msg.* | grep -v ':1$' || true)" "exactly one X-Rule each"
assert_eq "" "$(grep -l 'slow@example\.org' "$SINK_DIR"/mail/msg.* || true)" "no tempfailed message at the sink"
stop_rmilter
