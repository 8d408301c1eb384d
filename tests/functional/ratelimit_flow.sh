# shellcheck shell=bash
# ratelimit_flow.sh - rate limits through Postfix and swaks, shared by
# t_ratelimit_mem.sh (the embedded store) and t_ratelimit_redis.sh (a real
# redis-server). Source it after lib.sh (and redis_lib.sh).
#
# rl_flow [REDIS_PORT] runs with limit_to = 2:0.25 (a burst of 2, then one
# message every 4 s per recipient):
#   - one message to a, a, a: the third RCPT alone gets 451 4.7.1 "Rate
#     limit exceeded", the message is delivered;
#   - a message to b and a: only a is refused, the message reaches b;
#   - transactions the client abandons after RCPT do not count: b gets
#     exactly 2 delivered messages after two abandoned ones;
#   - after 4.2 s there is room for exactly one more message to a;
#   - with Redis, the bucket is a text "<ms>:<level>" with a TTL.

rl_now() { date +%s.%N; }
rl_sleep_until() {
    sleep "$(awk -v t="$1" -v n="$(rl_now)" 'BEGIN { d = t - n; if (d < 0) d = 0; printf "%.3f", d }')"
}

# rcpt_replies : the replies to the RCPT commands of the last send_mail
rcpt_replies() {
    awk '/^ -> RCPT TO:/ { r = 1; next } r && /^(<-|<\*\*) +[0-9]/ { sub(/^(<-|<\*\*) +/, ""); print; r = 0 }' "$SMTP_OUT"
}

rl_flow() {
    local rport=${1:-} tok t1 got
    {
        [ -n "$rport" ] && echo "redis { servers_limits = 127.0.0.1:$rport; }"
        cat <<'EOF'
limits {
    limit_to = 2:0.25;
}
EOF
    } | rm_config "$RM_CONF"
    start_rmilter
    start_sink
    start_postfix "$RM_SOCK"

    # the third RCPT to a is over the burst; only it is refused
    log_mark
    tok=$(new_token)
    send_mail --to a@example.test,a@example.test,a@example.test --h-Subject "$tok" --body "$tok"
    t1=$(rl_now)
    got=$(rcpt_replies)
    assert_match '^250 .*' "$(sed -n 1p <<<"$got")" "RCPT 1"
    assert_match '^250 .*' "$(sed -n 2p <<<"$got")" "RCPT 2"
    assert_eq '451 4.7.1 Rate limit exceeded' "$(sed -n 3p <<<"$got")" "RCPT 3"
    assert_reply '^250 ' "the message itself"
    sink_wait_msg "$tok" >/dev/null
    wait_for_log 'ratelimit: <a@example\.test> refused: bucket to full \(key rl\.to\|a@example\.test, level [0-9.]+ of burst 2, leaking 0\.25/s; room again in [0-9.]+s\)'
    wait_for_log 'msg done: .*ratelimit=limited\(1 of 3 recipients limited\)'
    if [ -n "$rport" ]; then
        assert_match '^[0-9]{13}:[0-9.e+-]+$' "$(rcli "$rport" GET 'rl.to|a@example.test')" "bucket as text"
        in_range "$(rcli "$rport" PTTL 'rl.to|a@example.test')" 1 10000 "bucket TTL (ms)"
    fi

    # b and a: exactly a is refused; the message reaches b only
    log_mark
    tok=$(new_token)
    send_mail --to b@example.test,a@example.test --h-Subject "$tok" --body "$tok"
    got=$(rcpt_replies)
    assert_match '^250 ' "$(sed -n 1p <<<"$got")" "RCPT b"
    assert_eq '451 4.7.1 Rate limit exceeded' "$(sed -n 2p <<<"$got")" "RCPT a"
    assert_reply '^250 ' "b's message"
    pf_wait_delivered "$SMTP_QID"
    assert_file_not_match "$SMTP_QID: to=<a@example\.test>" "$PF_DIR/maillog" "a must not get it"

    # an abandoned transaction (RSET after RCPT) gives its take back
    send_mail --to b@example.test --quit-after RCPT
    send_mail --to b@example.test --quit-after RCPT
    tok=$(new_token)
    send_mail --to b@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "b: aborted transactions did not count"
    send_mail --to b@example.test --body x
    assert_reply '^451 4\.7\.1 Rate limit exceeded' "b: 2 delivered, bucket full"

    # one per 4 s: after 4.2 s exactly one more for a
    rl_sleep_until "$(awk -v t="$t1" 'BEGIN { printf "%.3f", t + 4.2 }')"
    tok=$(new_token)
    send_mail --to a@example.test --h-Subject "$tok" --body "$tok"
    assert_reply '^250 ' "a after 4.2 s"
    send_mail --to a@example.test --body x
    assert_reply '^451 4\.7\.1 Rate limit exceeded' "a again at once"
    pf_wait_queue_empty
    stop_rmilter
}
